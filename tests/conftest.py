"""Fixtures shared by the whole suite.

One LocalCluster (3 masters, 1 replica each) serves every cluster test of a
run. After the run, the suite fails if any process or directory of a
LocalCluster is left behind.

The report header names the server binary and the redis-py version of the
run. With ``REDIS_SERVER_EXPECT`` set (``redis 7``, ``valkey 8.1``, ...), the
run stops before any test unless the binary found is that product and
version, so a test environment never quietly tests another server.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import rediscluster
from rediscluster.testing import (
    LocalCluster,
    ServerNotFoundError,
    find_server_binary,
    server_name,
    server_version,
)

# pid -> directory of every LocalCluster node this run started, for the check
# after the run.
_STARTED: dict[int, Path] = {}
_DIRECTORIES: list[Path] = []


def describe_server() -> str:
    """Return the server binary the harness uses, with its product and version."""
    try:
        binary = find_server_binary()
    except ServerNotFoundError as exc:
        return f"none found: {exc}"
    version = ".".join(map(str, server_version(binary)))
    return f"{server_name(binary)} {version} ({binary})"


def check_expected_server(expected: str) -> None:
    """Raise pytest.UsageError unless the server binary matches ``expected``.

    ``expected`` is a product and a version prefix, such as ``redis 7`` or
    ``valkey 8.1``.
    """
    product, _, prefix = expected.strip().partition(" ")
    try:
        binary = find_server_binary()
    except ServerNotFoundError as exc:
        raise pytest.UsageError(
            f"REDIS_SERVER_EXPECT={expected!r}, but no server binary was "
            f"found: {exc}"
        ) from exc
    name = server_name(binary)
    version = ".".join(map(str, server_version(binary)))
    expected_parts = prefix.split(".") if prefix else []
    if name != product or version.split(".")[: len(expected_parts)] != expected_parts:
        raise pytest.UsageError(
            f"REDIS_SERVER_EXPECT={expected!r}, but the server binary is "
            f"{name} {version} at {binary}; set REDIS_SERVER to a matching "
            f"binary or unset REDIS_SERVER_EXPECT"
        )


def pytest_configure(config: pytest.Config) -> None:
    expected = os.environ.get("REDIS_SERVER_EXPECT")
    if expected:
        check_expected_server(expected)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"server: {describe_server()}",
        f"redis-py: {redis.__version__}",
    ]


def track(cluster: LocalCluster) -> None:
    """Remember a cluster's processes and directory for the leak check."""
    for node in cluster.nodes:
        if node.process is not None:
            _STARTED[node.process.pid] = node.directory
    _DIRECTORIES.append(cluster.directory)


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(masters=3, replicas=1) as local:
        track(local)
        yield local


def flush(cluster: LocalCluster) -> None:
    """Delete every key on every master of cluster."""
    for node in cluster.masters:
        client = node.client()
        try:
            client.flushall()
        finally:
            client.close()


@pytest.fixture
def rc(cluster: LocalCluster) -> Iterator[rediscluster.RedisCluster]:
    """A client on the shared cluster, which starts and ends the test empty."""
    flush(cluster)
    client = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    yield client
    client.close()
    flush(cluster)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = [pid for pid in _STARTED if _alive(pid)]
    dirs = [str(d) for d in _DIRECTORIES if d.exists()]
    if left or dirs:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            f"LocalCluster left processes {left} and directories {dirs} "
            f"behind in {tempfile.gettempdir()}"
        )
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def proxied_cluster() -> Iterator[LocalCluster]:
    """Three masters, each behind a FaultProxy that starts with no delay."""
    with LocalCluster(masters=3, replicas=0, proxy_delay=0.0) as local:
        track(local)
        yield local
