"""Pipelines and reads when one node's network fails, and nodes that leave.

Every node of the module's cluster sits behind a FaultProxy, so a fault set on
one proxy hits one node only. Each pipeline spans all three masters. The
commands of the faulty node may fail, but every other command must return its
right result.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.backoff import NoBackoff
from redis.retry import Retry

import rediscluster
from rediscluster import OutcomeUnknownError
from rediscluster.testing import LocalCluster, ServerNode
from rediscluster.topology import ClusterNode

from .conftest import write_figures

VALUE_SIZE = 120
KEY_COUNT = 60
# Larger than the replies to the handshake of a new connection (HELLO 3 and
# CLIENT SETINFO), so a new connection can get a reply through before the cut.
CUT_BYTES = 1000

FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def proxied() -> Iterator[LocalCluster]:
    """3 masters with 1 replica each, every node behind a proxy with no delay."""
    from conftest import track

    with LocalCluster(masters=3, replicas=1, proxy_delay=0.0) as local:
        track(local)
        yield local
        write_figures("network_faults", FIGURES)


@pytest.fixture
def heal_after(proxied: LocalCluster) -> Iterator[None]:
    """Clear every proxy fault after the test, even when it fails."""
    yield
    for node in proxied.nodes:
        if node.proxy is not None:
            node.proxy.heal()


def make_client(cluster: LocalCluster, **options: Any) -> rediscluster.RedisCluster:
    return rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes, **options)


def server_of(cluster: LocalCluster, node: ClusterNode) -> ServerNode:
    """Return the server process behind the address a client uses for node."""
    for server in cluster.nodes:
        if f"{server.host}:{server.announced_port}" == node.name:
            return server
    raise LookupError(f"no server of {cluster!r} announces {node.name}")


def spread_keys(
    rc: rediscluster.RedisCluster, prefix: str, count: int = KEY_COUNT
) -> list[str]:
    keys = [f"{prefix}:{n}" for n in range(count)]
    owners = {rc.get_node_from_key(key).name for key in keys}
    assert len(owners) == 3, f"keys {prefix}:N do not span all masters"
    return keys


def value_of(key: str) -> str:
    return key.ljust(VALUE_SIZE, ".")


def positions_on(
    rc: rediscluster.RedisCluster, keys: list[str], node: ClusterNode
) -> set[int]:
    return {i for i, key in enumerate(keys) if rc.get_node_from_key(key) is node}


def error_positions(results: list[Any]) -> set[int]:
    return {i for i, result in enumerate(results) if isinstance(result, Exception)}


def set_and_get(
    rc: rediscluster.RedisCluster, keys: list[str], use_threads: bool
) -> list[Any]:
    """Run one pipeline of SET key value, GET key for every key."""
    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.set(key, value_of(key))
        pipe.get(key)
    return pipe.execute(raise_on_error=False)


def expected_set_and_get(keys: list[str]) -> list[Any]:
    return [item for key in keys for item in (True, value_of(key).encode())]


def pair_positions(positions: set[int]) -> set[int]:
    """Map key positions to the SET and GET positions of set_and_get."""
    return {2 * i + offset for i in positions for offset in (0, 1)}


@pytest.mark.parametrize("use_threads", [True, False])
def test_cut_mid_reply(
    proxied: LocalCluster, heal_after: None, use_threads: bool
) -> None:
    rc = make_client(proxied, retry=Retry(NoBackoff(), 1))
    try:
        keys = spread_keys(rc, "cut")
        assert set_and_get(rc, keys, use_threads) == expected_set_and_get(keys)
        victim = rc.get_node_from_key(keys[0])
        on_victim = positions_on(rc, keys, victim)

        # Each connection to the victim, the pooled one and every new one,
        # ends after CUT_BYTES reply bytes, so a new connection gets fewer
        # replies through than the pooled one because of its handshake.
        server_of(proxied, victim).proxy.cut_after(CUT_BYTES)
        pipe = rc.pipeline(use_threads=use_threads)
        for key in keys:
            pipe.get(key)
        reads = pipe.execute(raise_on_error=False)
        # SET ... GET is a write whose reply is as long as a GET reply.
        pipe = rc.pipeline(use_threads=use_threads)
        for key in keys:
            pipe.set(key, value_of(key), get=True)
        writes = pipe.execute(raise_on_error=False)

        assert error_positions(reads), "no GET failed at the cut node"
        assert error_positions(reads) <= on_victim
        for i in set(range(len(keys))) - error_positions(reads):
            assert reads[i] == value_of(keys[i]).encode(), keys[i]
        assert error_positions(writes), "no SET failed at the cut node"
        assert error_positions(writes) <= on_victim
        for i in error_positions(writes):
            assert isinstance(writes[i], OutcomeUnknownError), writes[i]
        for i in set(range(len(keys))) - error_positions(writes):
            assert writes[i] == value_of(keys[i]).encode(), keys[i]

        server_of(proxied, victim).proxy.heal()
        assert set_and_get(rc, keys, use_threads) == expected_set_and_get(keys)
        FIGURES[f"cut_threads_{use_threads}"] = {
            "cut_after_bytes": CUT_BYTES,
            "keys_on_cut_node": len(on_victim),
            "failed_gets": len(error_positions(reads)),
            "failed_sets": len(error_positions(writes)),
        }
    finally:
        rc.close()


# 60 keys make a round small enough to be read in queue order; 200 keys
# (400 commands) make the caller poll the connections for the first reply.
@pytest.mark.parametrize("key_count", [KEY_COUNT, 200])
@pytest.mark.parametrize("use_threads", [True, False])
def test_blackhole_node(
    proxied: LocalCluster, heal_after: None, use_threads: bool, key_count: int
) -> None:
    rc = make_client(proxied, socket_timeout=0.5, retry=Retry(NoBackoff(), 1))
    try:
        keys = spread_keys(rc, "hole", key_count)
        assert set_and_get(rc, keys, use_threads) == expected_set_and_get(keys)
        victim = rc.get_node_from_key(keys[0])
        on_victim = pair_positions(positions_on(rc, keys, victim))

        server_of(proxied, victim).proxy.blackhole(True)
        started = time.monotonic()
        results = set_and_get(rc, keys, use_threads)
        faulty_seconds = time.monotonic() - started

        # Every command of the silent node times out, and nothing else fails.
        assert error_positions(results) == on_victim
        expected = expected_set_and_get(keys)
        for i in set(range(len(results))) - on_victim:
            assert results[i] == expected[i], i
        for i in on_victim:
            if i % 2 == 0:
                assert isinstance(results[i], OutcomeUnknownError), results[i]

        # SETs held by the proxy reach the server after the heal, but they
        # write the same values, so the check below cannot race with them.
        server_of(proxied, victim).proxy.heal()
        started = time.monotonic()
        assert set_and_get(rc, keys, use_threads) == expected_set_and_get(keys)
        # One socket timeout for the first try of the lost GETs, one for
        # their retry; the rest is slack for a loaded machine.
        assert faulty_seconds < 3.0
        FIGURES[f"blackhole_threads_{use_threads}_keys_{key_count}"] = {
            "pipeline_seconds_while_silent": round(faulty_seconds, 3),
            "pipeline_seconds_after_heal": round(time.monotonic() - started, 3),
            "commands_on_silent_node": len(on_victim),
        }
    finally:
        rc.close()


@pytest.mark.parametrize("use_threads", [True, False])
def test_slow_node(
    proxied: LocalCluster, heal_after: None, use_threads: bool
) -> None:
    delay = 0.05
    # The tolerant client waits longer than one round trip through the slow
    # proxy (2 * delay), and the strict one gives up before it.
    tolerant = make_client(proxied, socket_timeout=0.5, retry=Retry(NoBackoff(), 1))
    strict = make_client(proxied, socket_timeout=0.075, retry=Retry(NoBackoff(), 1))
    try:
        keys = spread_keys(tolerant, "slow")
        expected = expected_set_and_get(keys)
        assert set_and_get(tolerant, keys, use_threads) == expected
        assert set_and_get(strict, keys, use_threads) == expected
        victim = tolerant.get_node_from_key(keys[0])
        on_victim = pair_positions(positions_on(tolerant, keys, victim))

        server_of(proxied, victim).proxy.set_delay(delay)
        started = time.monotonic()
        tolerant_results = set_and_get(tolerant, keys, use_threads)
        tolerant_seconds = time.monotonic() - started
        started = time.monotonic()
        strict_results = set_and_get(strict, keys, use_threads)
        strict_seconds = time.monotonic() - started

        assert tolerant_results == expected
        assert tolerant_seconds >= 2 * delay
        assert error_positions(strict_results) == on_victim
        for i in set(range(len(strict_results))) - on_victim:
            assert strict_results[i] == expected[i], i

        server_of(proxied, victim).proxy.heal()
        assert set_and_get(strict, keys, use_threads) == expected
        FIGURES[f"slow_threads_{use_threads}"] = {
            "delay_each_way_seconds": delay,
            "tolerant_pipeline_seconds": round(tolerant_seconds, 3),
            "strict_pipeline_seconds": round(strict_seconds, 3),
            "strict_failed_commands": len(error_positions(strict_results)),
        }
    finally:
        tolerant.close()
        strict.close()


def replica_of(cluster: LocalCluster, master: ServerNode) -> ServerNode:
    cluster.refresh_roles()
    for node in cluster.replicas:
        if node.master_of is master:
            return node
    raise LookupError(f"no replica of {master!r}")


@pytest.mark.parametrize("read_from_replicas", [False, True])
def test_dead_replica_reads(proxied: LocalCluster, read_from_replicas: bool) -> None:
    rc = make_client(proxied, read_from_replicas=read_from_replicas)
    try:
        keys = spread_keys(rc, "reads")
        for key in keys:
            rc.set(key, value_of(key))
        master = server_of(proxied, rc.get_node_from_key(keys[0]))
        dead = replica_of(proxied, master)
        if dead.alive:
            proxied.kill(dead)
        failures: list[str] = []
        started = time.monotonic()
        for n in range(200):
            key = keys[n % len(keys)]
            try:
                value = rc.get(key)
            except Exception as error:  # noqa: BLE001 - every failure is listed
                failures.append(f"GET {key}: {error!r}")
                continue
            if value != value_of(key).encode():
                failures.append(f"GET {key} returned {value!r}")
        seconds = time.monotonic() - started

        assert failures == []
        FIGURES[f"dead_replica_read_from_replicas_{read_from_replicas}"] = {
            "gets": 200,
            "seconds": round(seconds, 3),
        }
    finally:
        rc.close()


def test_forgotten_node_dropped(proxied: LocalCluster) -> None:
    rc = make_client(proxied)
    try:
        proxied.refresh_roles()
        # A replica of a master whose replica the previous test left alive.
        leaving = next(node for node in proxied.replicas if node.alive)
        name = f"{leaving.host}:{leaving.announced_port}"
        assert name in {node.name for node in rc.get_nodes()}

        proxied.kill(leaving)
        for node in proxied.nodes:
            if node.alive:
                with node.client(socket_timeout=2.0) as client:
                    client.execute_command("CLUSTER", "FORGET", leaving.node_id)
        rc.refresh_topology()

        assert name not in {node.name for node in rc.get_nodes()}
        assert name not in {node.name for node in rc.topology.nodes()}
    finally:
        rc.close()
