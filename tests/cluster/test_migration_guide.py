"""The parameter tables of docs/migration.rst, checked against a real cluster.

The rows come from the document itself, so a parameter named there is tested
with the outcome written there: "same", "translated", "ignored" and "differs"
must create a working client, "rejected ``Error``" must raise that error.
Each row needs a value here (``VALUES``), unless the table writes it as
``name=literal``.
"""

from __future__ import annotations

import ast
import builtins
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import rediscluster
from rediscluster.testing import LocalCluster

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migration.rst"
WORKING = ("same", "translated", "ignored", "differs")

_TABLE = re.compile(r"^\.\. list-table:: (?P<title>\S+)")
_PARAMETER = re.compile(r"^   \* - ``(?P<cell>[^`]+)``\s*$")
_OUTCOME = re.compile(
    r"^     - (?P<outcome>same|translated|ignored|differs|rejected)"
    r"(?: ``(?P<error>\w+)``)?\s*$"
)


@dataclass(frozen=True)
class Row:
    """One parameter row: the table it is in, its first cell, its outcome."""

    table: str
    cell: str
    outcome: str
    error: Optional[str]

    @property
    def name(self) -> str:
        return self.cell.split("=", 1)[0]

    @property
    def id(self) -> str:
        return f"{self.table}:{self.cell}"


def read_rows(text: str) -> list[Row]:
    """Return the parameter rows of every list-table in the guide."""
    rows: list[Row] = []
    table: Optional[str] = None
    lines = text.splitlines()
    for number, line in enumerate(lines):
        started = _TABLE.match(line)
        if started:
            table = started.group("title")
            continue
        parameter = _PARAMETER.match(line)
        if parameter is None or table is None:
            continue
        outcome = _OUTCOME.match(lines[number + 1])
        if outcome is None:
            raise AssertionError(
                f"{GUIDE.name} line {number + 2}: the outcome of "
                f"{parameter.group('cell')!r} must be one of {WORKING} or "
                f"rejected ``Error``, got {lines[number + 1]!r}"
            )
        rows.append(
            Row(table, parameter.group("cell"), outcome.group("outcome"),
                outcome.group("error"))
        )
    return rows


ROWS = read_rows(GUIDE.read_text())

Kwargs = Callable[[LocalCluster], dict[str, Any]]


def first_address(cluster: LocalCluster) -> tuple[str, int]:
    node = cluster.startup_nodes[0]
    return str(node["host"]), int(node["port"])


GUIDE_USER, GUIDE_PASSWORD = "migration-guide", "migration-guide-pw"


@pytest.fixture(scope="module", autouse=True)
def guide_user(cluster: LocalCluster) -> Iterator[None]:
    """An ACL user with a password on every node, for the credential rows."""
    rule = (GUIDE_USER, "on", f">{GUIDE_PASSWORD}", "~*", "&*", "+@all")
    for node in cluster.nodes:
        with node.client() as client:
            client.execute_command("ACL", "SETUSER", *rule)
    yield
    for node in cluster.nodes:
        with node.client() as client:
            client.execute_command("ACL", "DELUSER", GUIDE_USER)


def with_nodes(**extra: Any) -> Kwargs:
    return lambda cluster: {"startup_nodes": cluster.startup_nodes, **extra}


def host_and_port(cluster: LocalCluster) -> dict[str, Any]:
    host, port = first_address(cluster)
    return {"host": host, "port": port}


def port_as_text(cluster: LocalCluster) -> dict[str, Any]:
    host, port = first_address(cluster)
    return {"host": host, "port": str(port)}


def own_url(cluster: LocalCluster) -> dict[str, Any]:
    host, port = first_address(cluster)
    return with_nodes(url=f"redis://{host}:{port}")(cluster)


def redis_py_nodes(cluster: LocalCluster) -> dict[str, Any]:
    from redis.cluster import ClusterNode

    nodes = [ClusterNode(str(n["host"]), int(n["port"])) for n in cluster.startup_nodes]
    return {"startup_nodes": nodes}


def cache_config(cluster: LocalCluster) -> dict[str, Any]:
    from redis.cache import CacheConfig

    return with_nodes(cache_config=CacheConfig(), protocol=3)(cluster)


def event_dispatcher(cluster: LocalCluster) -> dict[str, Any]:
    from redis.event import EventDispatcher

    return with_nodes(event_dispatcher=EventDispatcher())(cluster)


def maint_config(cluster: LocalCluster) -> dict[str, Any]:
    from redis.maint_notifications import MaintNotificationsConfig

    # Switched off: redis-py 7 rejects the automatic mode on RESP2
    # connections, which this suite uses.
    config = MaintNotificationsConfig(enabled=False)
    return with_nodes(maint_notifications_config=config)(cluster)


def metadata_resolver(cluster: LocalCluster) -> dict[str, Any]:
    from redis.commands.metadata import StaticMetadataResolver

    return with_nodes(metadata_resolver=StaticMetadataResolver())(cluster)


def strategy_member(cluster: LocalCluster) -> dict[str, Any]:
    from redis.cluster import LoadBalancingStrategy

    member = LoadBalancingStrategy.ROUND_ROBIN_REPLICAS
    return with_nodes(load_balancing_strategy=member)(cluster)


# Keyword arguments per row, by (table, cell) or by cell alone.
VALUES: dict[Any, Kwargs] = {
    "host": host_and_port,
    "port": port_as_text,
    "startup_nodes": with_nodes(),
    ("redis-py", "startup_nodes"): redis_py_nodes,
    "max_connections": with_nodes(max_connections=4),
    "init_slot_cache": with_nodes(init_slot_cache=False),
    "readonly_mode": with_nodes(readonly_mode=True),
    "read_from_replicas": with_nodes(read_from_replicas=True),
    "reinitialize_steps": with_nodes(reinitialize_steps=None),
    ("redis-py", "reinitialize_steps"): with_nodes(reinitialize_steps=3),
    "skip_full_coverage_check": with_nodes(skip_full_coverage_check=True),
    "nodemanager_follow_cluster": with_nodes(nodemanager_follow_cluster=True),
    "cluster_down_retry_attempts": with_nodes(cluster_down_retry_attempts=2),
    "host_port_remap": with_nodes(
        host_port_remap=[{"from_host": "192.0.2.1", "to_host": "127.0.0.1"}]
    ),
    "connection_class": with_nodes(connection_class=redis.connection.Connection),
    "connection_pool": with_nodes(connection_pool=redis.ConnectionPool()),
    # The test cluster's default user has no password. redis-py 5 rejects a
    # password there and later versions ignore it, so these rows use a user
    # that has one.
    "password": with_nodes(username=GUIDE_USER, password=GUIDE_PASSWORD),
    "username": with_nodes(username=GUIDE_USER, password=GUIDE_PASSWORD),
    "decode_responses": with_nodes(decode_responses=True),
    "socket_timeout": with_nodes(socket_timeout=2.0),
    "socket_connect_timeout": with_nodes(socket_connect_timeout=2.0),
    "ssl": with_nodes(ssl=False),
    "retry": with_nodes(retry=Retry(NoBackoff(), 2)),
    "cluster_error_retry_attempts": with_nodes(cluster_error_retry_attempts=2),
    "require_full_coverage": with_nodes(require_full_coverage=False),
    "load_balancing_strategy": strategy_member,
    "dynamic_startup_nodes": with_nodes(dynamic_startup_nodes=False),
    "url": own_url,
    "address_remap": with_nodes(address_remap=lambda address: address),
    "cache_config": cache_config,
    "event_dispatcher": event_dispatcher,
    "maint_notifications_config": maint_config,
    "metadata_resolver": metadata_resolver,
    "policy_resolver": with_nodes(policy_resolver=None),
    "topology_refresh_min_interval": with_nodes(topology_refresh_min_interval=1.0),
    "connection_pool_class": with_nodes(connection_pool_class=redis.ConnectionPool),
    "unix_socket_path": with_nodes(unix_socket_path="/nonexistent/redis.sock"),
    "protocol": with_nodes(protocol=3),
    "client_name": with_nodes(client_name="migration-guide"),
    "health_check_interval": with_nodes(health_check_interval=30),
}


def warned(records: list[logging.LogRecord]) -> bool:
    return any(record.levelno == logging.WARNING for record in records)


Check = Callable[[rediscluster.RedisCluster, list[logging.LogRecord]], None]


def retries_are(count: int) -> Check:
    def check(rc: rediscluster.RedisCluster, records: list[logging.LogRecord]) -> None:
        assert rc.retry_budget()[0] == count

    return check


def check_replica_reads(rc: rediscluster.RedisCluster, _: Any) -> None:
    assert rc.read_from_replicas is True


def check_coverage_skipped(rc: rediscluster.RedisCluster, _: Any) -> None:
    assert rc.topology.skip_full_coverage_check is True


def steps_are(count: int) -> Check:
    def check(rc: rediscluster.RedisCluster, records: list[logging.LogRecord]) -> None:
        assert rc.topology.reinitialize_steps == count

    return check


def check_warning(rc: rediscluster.RedisCluster, records: list[Any]) -> None:
    assert warned(records)


def check_per_node_bound(rc: rediscluster.RedisCluster, _: Any) -> None:
    assert {node.pool.max_connections for node in rc.get_nodes()} == {4}


def check_rule_applied(rc: rediscluster.RedisCluster, _: Any) -> None:
    assert rc.topology.remap(("192.0.2.1", 7000)) == ("127.0.0.1", 7000)


def check_decoded(rc: rediscluster.RedisCluster, _: Any) -> None:
    assert rc.get("migration:key") == "value"


# Checks of the documented effect, beyond a working client.
CHECKS: dict[Any, Check] = {
    "readonly_mode": check_replica_reads,
    "read_from_replicas": check_replica_reads,
    "require_full_coverage": check_coverage_skipped,
    "skip_full_coverage_check": check_coverage_skipped,
    "cluster_down_retry_attempts": retries_are(2),
    "cluster_error_retry_attempts": retries_are(2),
    "retry": retries_are(2),
    "reinitialize_steps": steps_are(5),
    ("redis-py", "reinitialize_steps"): steps_are(3),
    "reinitialize_steps=0": steps_are(0),
    "max_connections_per_node=False": check_warning,
    "init_slot_cache": check_warning,
    "dynamic_startup_nodes": check_warning,
    "max_connections": check_per_node_bound,
    "host_port_remap": check_rule_applied,
    "decode_responses": check_decoded,
}


def lookup(table: dict[Any, Any], row: Row) -> Any:
    return table.get((row.table, row.cell), table.get(row.cell))


def kwargs_for(row: Row, cluster: LocalCluster) -> dict[str, Any]:
    """Return the constructor keywords that pass the row's parameter."""
    if "=" in row.cell:
        return with_nodes(**{row.name: ast.literal_eval(row.cell.split("=", 1)[1])})(
            cluster
        )
    build_kwargs = lookup(VALUES, row)
    assert build_kwargs is not None, f"no test value for {row.id}; add one to VALUES"
    try:
        return dict(build_kwargs(cluster))
    except ImportError as exc:
        pytest.skip(f"{row.id} needs a newer redis-py: {exc}")


def error_class(name: str) -> type[BaseException]:
    found = getattr(builtins, name, None) or getattr(rediscluster, name, None)
    assert isinstance(found, type) and issubclass(found, BaseException), (
        f"{name} in {GUIDE.name} is neither a builtin nor a rediscluster error"
    )
    return found


def test_guide_has_both_tables() -> None:
    tables = {row.table for row in ROWS}
    assert tables == {"redis-py-cluster", "redis-py"}


def test_guide_values_all_used() -> None:
    cells = {row.cell for row in ROWS} | {(row.table, row.cell) for row in ROWS}
    unused = [key for key in [*VALUES, *CHECKS] if key not in cells]
    assert unused == []


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_guide_parameter_outcome(
    row: Row, cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    kwargs = kwargs_for(row, cluster)

    if row.outcome == "rejected":
        assert row.error is not None, f"{row.id} is rejected without an error name"
        with pytest.raises(error_class(row.error)):
            rediscluster.RedisCluster(**kwargs).close()
        return

    caplog.set_level(logging.WARNING, logger="rediscluster")
    rc = rediscluster.RedisCluster(**kwargs)
    try:
        records = list(caplog.records)
        assert rc.set("migration:key", "value")
        if rc.read_from_replicas:
            # Replication is asynchronous: let the replica have the write.
            owner = rc.get_node_from_key("migration:key")
            rc.execute_command("WAIT", 1, 2000, target_nodes=owner)
        check = lookup(CHECKS, row)
        if check is not None:
            check(rc, records)
        # A read from a replica could see the delete if both were in one
        # pipeline, so the delete comes after.
        with rc.pipeline() as pipe:
            [value] = pipe.get("migration:key").execute()
        assert value in (b"value", "value")
        assert rc.delete("migration:key") == 1
    finally:
        rc.close()
