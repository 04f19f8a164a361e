"""Pytest fixtures that run an application's tests against a real Redis Cluster.

Enable the plugin in the top-level ``conftest.py``::

    pytest_plugins = ["rediscluster.testing.pytest_plugin"]

or for one run with ``pytest -p rediscluster.testing.pytest_plugin``. Installing
rediscluster does not enable it, so other test runs stay unchanged.

Fixtures:

* ``local_cluster`` (session): a :class:`LocalCluster`, started on first use.
* ``cluster_client`` (function): a :class:`rediscluster.RedisCluster` on it;
  every master is flushed before and after the test.
* ``fault_proxy`` (function): a :class:`FaultProxies` for a second cluster
  whose nodes sit behind fault proxies; faults are cleared after the test.
* ``rediscluster_settings`` (session): the parsed options.
* ``rediscluster_client_kwargs`` (function): keywords for every client the
  fixtures create; override it in a conftest to change them.
* ``rediscluster_proxied_cluster`` (session): the cluster behind ``fault_proxy``.

Every fixture and option name starts with ``rediscluster`` except the three
main fixtures, so that they do not clash with an application's own names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import rediscluster
from rediscluster.testing.fault_proxies import FaultProxies
from rediscluster.testing.local_cluster import LocalCluster
from rediscluster.testing.plugin_settings import (
    SETTINGS,
    ClusterSettings,
    RawValue,
    SettingsError,
    parse_settings,
)
from rediscluster.testing.server import (
    ServerNotFoundError,
    find_server_binary,
    server_name,
    server_version,
)

__all__ = [
    "cluster_client",
    "fault_proxy",
    "local_cluster",
    "rediscluster_client_kwargs",
    "rediscluster_proxied_cluster",
    "rediscluster_settings",
]

_SETTINGS_KEY = pytest.StashKey[ClusterSettings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "rediscluster", "Redis Cluster fixtures (rediscluster.testing.pytest_plugin)"
    )
    for setting in SETTINGS:
        group.addoption(
            setting.option,
            dest=setting.ini,
            default=None,
            metavar=setting.metavar,
            help=setting.help,
        )
        parser.addini(setting.ini, help=setting.help, default=None)


def _raw_values(config: pytest.Config) -> dict[str, RawValue]:
    """Collect each setting's text, from its option or else from its ini key."""
    ini_dir = config.inipath.parent if config.inipath else config.rootpath
    raw_values: dict[str, RawValue] = {}
    for setting in SETTINGS:
        from_option = config.getoption(setting.ini)
        from_ini = config.getini(setting.ini)
        if from_option is not None:
            raw_values[setting.name] = RawValue(
                str(from_option), setting.option, config.invocation_params.dir
            )
        # An empty ini value counts as unset. NOTE: only pytest 9 was run; older
        # releases may return "" for a missing key, which this also covers.
        elif from_ini is not None and from_ini != "":
            raw_values[setting.name] = RawValue(
                str(from_ini), _ini_origin(config, setting.ini), ini_dir
            )
    return raw_values


def _ini_origin(config: pytest.Config, key: str) -> str:
    """Return the source of an ini key's value, ``-o`` or the ini file, for messages."""
    overrides = config.getoption("override_ini") or []
    if any(item.split("=", 1)[0].strip() == key for item in overrides):
        return f"-o {key}"
    if config.inipath is None:
        return f"ini key {key}"
    return f"ini key {key} in {config.inipath}"


def pytest_configure(config: pytest.Config) -> None:
    # Checked at start-up, so a typo fails the run at once, not at the first
    # test that needs a cluster.
    try:
        settings = parse_settings(_raw_values(config))
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from error
    config.stash[_SETTINGS_KEY] = settings


def pytest_report_header(config: pytest.Config) -> str:
    settings = config.stash[_SETTINGS_KEY]
    try:
        binary = settings.server_binary or find_server_binary()
        version = ".".join(str(part) for part in server_version(binary))
        server = f"{server_name(binary)} {version} at {binary}"
    except (ServerNotFoundError, ValueError) as error:
        first_line = str(error).splitlines()[0]
        server = f"no usable server binary ({first_line})"
    return f"rediscluster: {settings.describe()}, {server}"


def _start_cluster(settings: ClusterSettings, **shape: Any) -> LocalCluster:
    options: dict[str, Any] = {
        "masters": settings.masters,
        "replicas": settings.replicas,
        "server_binary": settings.server_binary,
        "ready_timeout": settings.ready_timeout,
    }
    options.update(shape)
    return LocalCluster(**options).start()


def _flush_masters(cluster: LocalCluster) -> None:
    """Delete every key on every master, talking to each server's own port.

    The servers' own ports bypass any proxy, so a fault left in place cannot
    block the flush.
    """
    for node in cluster.masters:
        with node.client(socket_timeout=10.0) as client:
            client.flushall()


@pytest.fixture(scope="session")
def rediscluster_settings(pytestconfig: pytest.Config) -> ClusterSettings:
    """The cluster shape set by the ``--rediscluster-*`` options and ini keys."""
    return pytestconfig.stash[_SETTINGS_KEY]


@pytest.fixture
def rediscluster_client_kwargs() -> dict[str, Any]:
    """Keywords for every ``RedisCluster`` that the plugin's fixtures create.

    Empty by default. Override this fixture in a conftest to change them, for
    example to return ``{"decode_responses": True}``.
    """
    return {}


@pytest.fixture(scope="session")
def local_cluster(rediscluster_settings: ClusterSettings) -> Iterator[LocalCluster]:
    """A real cluster on loopback ports, shared by every test of the session.

    Started on first use (about 2 to 3 s), stopped with its directory removed
    at the end of the session. Tests share its nodes, so a test that kills,
    fails over or reshards nodes must start a :class:`LocalCluster` of its own.
    """
    cluster = _start_cluster(rediscluster_settings)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster_client(
    local_cluster: LocalCluster, rediscluster_client_kwargs: dict[str, Any]
) -> Iterator[rediscluster.RedisCluster]:
    """A client on ``local_cluster``, whose masters are flushed around the test.

    The flush after the test runs even when the test fails, so the next test
    starts from an empty cluster. The client is closed after the test.
    """
    _flush_masters(local_cluster)
    client = rediscluster.RedisCluster(
        startup_nodes=local_cluster.startup_nodes, **rediscluster_client_kwargs
    )
    try:
        yield client
    finally:
        client.close()
        _flush_masters(local_cluster)


@pytest.fixture(scope="session")
def rediscluster_proxied_cluster(
    rediscluster_settings: ClusterSettings,
) -> Iterator[LocalCluster]:
    """A second cluster with a :class:`FaultProxy` in front of every node.

    It has the configured number of masters and no replicas: a replica's
    replication link would go through its master's proxy, so a fault meant for
    clients (a cut with a count, say) could land on that link. The nodes talk
    to each other on the cluster bus, which bypasses the proxies, so a
    blackholed node is not marked as failing. Started on first use of
    ``fault_proxy`` and stopped at the end of the session.
    """
    cluster = _start_cluster(rediscluster_settings, replicas=0, proxy_delay=0.0)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def fault_proxy(
    rediscluster_proxied_cluster: LocalCluster,
    rediscluster_client_kwargs: dict[str, Any],
) -> Iterator[FaultProxies]:
    """The proxies of ``rediscluster_proxied_cluster`` and a client factory.

    Build clients with ``fault_proxy.client(...)``: their traffic goes through
    the proxies, while a client on ``local_cluster`` is never affected. Select
    a proxy with ``for_key``, ``for_slot`` or ``for_node``, then call its
    ``set_delay``, ``cut_after``, ``blackhole`` or ``reset_connections``. Run
    one command on a new client before setting a fault (see
    :meth:`FaultProxies.client`).

    After the test, every fault is cleared, the clients are closed and every
    master is flushed. Trade-offs of this design:

    * A second cluster costs about 2 to 3 s more, once per session, and only
      in sessions that use this fixture.
    * Each proxy is a Python process that forwards every byte, so a round trip
      costs more than on ``local_cluster`` even with no fault set.
    * Faults are shared by the whole session's proxied cluster, so tests that
      use them must not run concurrently in one process. Each pytest-xdist
      worker is a separate process that starts clusters of its own.
    """
    proxies = FaultProxies(rediscluster_proxied_cluster, rediscluster_client_kwargs)
    proxies.heal()
    _flush_masters(rediscluster_proxied_cluster)
    try:
        yield proxies
    finally:
        proxies.reset()
        _flush_masters(rediscluster_proxied_cluster)
