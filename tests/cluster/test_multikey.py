"""Multi-key commands split by slot: same replies as one command per key."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.exceptions import DataError

import rediscluster
from rediscluster import CrossSlotError
from rediscluster.testing import LocalCluster

KEY_COUNT = 10_000


def by_port(cluster: LocalCluster) -> dict[int, Any]:
    return {node.announced_port: node for node in cluster.masters}


def per_key(
    cluster: LocalCluster,
    rc: rediscluster.RedisCluster,
    command: str,
    names: list[Any],
    **client_kwargs: Any,
) -> list[Any]:
    """Run command once per key, in order, with plain clients on the owners."""
    nodes = by_port(cluster)
    groups: dict[int, list[int]] = {}
    for position, name in enumerate(names):
        port = rc.get_node_from_key(name).port
        groups.setdefault(port, []).append(position)
    replies: list[Any] = [None] * len(names)
    for port, positions in groups.items():
        with nodes[port].client(**client_kwargs) as plain:
            pipe = plain.pipeline(transaction=False)
            for position in positions:
                pipe.execute_command(command, names[position])
            for position, reply in zip(positions, pipe.execute()):
                replies[position] = reply
    return replies


def write_plain(
    cluster: LocalCluster, rc: rediscluster.RedisCluster, mapping: dict[str, str]
) -> None:
    nodes = by_port(cluster)
    groups: dict[int, list[str]] = {}
    for key in mapping:
        groups.setdefault(rc.get_node_from_key(key).port, []).append(key)
    for port, keys in groups.items():
        with nodes[port].client() as plain:
            pipe = plain.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, mapping[key])
            pipe.execute()


def mixed_names(prefix: str) -> tuple[dict[str, str], list[str]]:
    """Return every other key with a value, and all keys plus repeats and
    missing keys in shuffled order."""
    keys = [f"{prefix}:{n}" for n in range(KEY_COUNT)]
    present = {key: f"v{n}" for n, key in enumerate(keys) if n % 2 == 0}
    names = keys + keys[:500] + [f"{prefix}:none:{n}" for n in range(200)]
    random.Random(7).shuffle(names)
    return present, names


def command_calls(node: Any, command: str) -> int:
    with node.client() as plain:
        stats = plain.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def reset_stats(cluster: LocalCluster) -> None:
    for node in cluster.masters:
        with node.client() as plain:
            plain.config_resetstat()


@pytest.fixture(params=[True, False], ids=["threads", "no-threads"])
def mk(
    request: pytest.FixtureRequest,
    cluster: LocalCluster,
    rc: rediscluster.RedisCluster,
) -> Iterator[rediscluster.RedisCluster]:
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, pipeline_use_threads=request.param
    )
    yield client
    client.close()


def test_keys_cover_all_slots(mk: rediscluster.RedisCluster) -> None:
    slots = {mk.keyslot(f"mk:{n}") for n in range(KEY_COUNT)}
    assert len(slots) > 7000


def test_mget_matches_get(cluster: LocalCluster, mk: rediscluster.RedisCluster) -> None:
    present, names = mixed_names("mk")
    write_plain(cluster, mk, present)
    assert mk.mget(names) == per_key(cluster, mk, "GET", names)


def test_mget_positional_keys(
    cluster: LocalCluster, mk: rediscluster.RedisCluster
) -> None:
    present, names = mixed_names("mk")
    write_plain(cluster, mk, present)
    assert mk.mget(names[0], *names[1:300]) == per_key(cluster, mk, "GET", names[:300])


def test_mget_decoded(cluster: LocalCluster, rc: rediscluster.RedisCluster) -> None:
    present, names = mixed_names("mk")
    write_plain(cluster, rc, present)
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, decode_responses=True
    )
    try:
        values = client.mget(names)
    finally:
        client.close()
    assert values == per_key(cluster, rc, "GET", names, decode_responses=True)


def test_mset_matches_get(cluster: LocalCluster, mk: rediscluster.RedisCluster) -> None:
    mapping = {f"mk:{n}": f"v{n}" for n in range(KEY_COUNT)}
    assert mk.mset(mapping) is True
    names = list(mapping)
    assert per_key(cluster, mk, "GET", names) == [v.encode() for v in mapping.values()]


@pytest.mark.parametrize("command", ["DEL", "UNLINK", "EXISTS", "TOUCH"])
def test_count_matches_per_key(
    cluster: LocalCluster, mk: rediscluster.RedisCluster, command: str
) -> None:
    present, names = mixed_names("mk")
    twin_present, twin_names = mixed_names("twin")
    write_plain(cluster, mk, {**present, **twin_present})
    method = {"DEL": mk.delete, "UNLINK": mk.unlink,
              "EXISTS": mk.exists, "TOUCH": mk.touch}[command]
    assert method(*names) == sum(per_key(cluster, mk, command, twin_names))


@pytest.mark.parametrize("command", ["DEL", "UNLINK"])
def test_removal_leaves_nothing(
    cluster: LocalCluster, mk: rediscluster.RedisCluster, command: str
) -> None:
    present, names = mixed_names("mk")
    write_plain(cluster, mk, present)
    (mk.delete if command == "DEL" else mk.unlink)(*names)
    assert sum(per_key(cluster, mk, "EXISTS", list(present))) == 0


@pytest.mark.parametrize(
    ("command", "call"),
    [
        ("mget", lambda rc, keys: rc.mget(keys)),
        ("mset", lambda rc, keys: rc.mset({k: "x" for k in keys})),
        ("del", lambda rc, keys: rc.delete(*keys)),
        ("unlink", lambda rc, keys: rc.unlink(*keys)),
        ("exists", lambda rc, keys: rc.exists(*keys)),
        ("touch", lambda rc, keys: rc.touch(*keys)),
    ],
)
def test_same_slot_one_command(
    cluster: LocalCluster, rc: rediscluster.RedisCluster, command: str, call: Any
) -> None:
    keys = [f"{{tag}}:{n}" for n in range(50)]
    owner = by_port(cluster)[rc.get_node_from_key(keys[0]).port]
    reset_stats(cluster)
    call(rc, keys)
    assert command_calls(owner, command) == 1


def test_one_mget_per_slot(
    cluster: LocalCluster, mk: rediscluster.RedisCluster
) -> None:
    names = [f"mk:{n}" for n in range(KEY_COUNT)]
    slots = {mk.keyslot(name) for name in names}
    reset_stats(cluster)
    mk.mget(names)
    assert sum(command_calls(node, "mget") for node in cluster.masters) == len(slots)


def test_msetnx_cross_slot_raises(rc: rediscluster.RedisCluster) -> None:
    with pytest.raises(CrossSlotError):
        rc.msetnx({f"nx:{n}": "v" for n in range(20)})


def test_msetnx_cross_slot_writes_nothing(rc: rediscluster.RedisCluster) -> None:
    mapping = {f"nx:{n}": "v" for n in range(20)}
    with pytest.raises(CrossSlotError):
        rc.msetnx(mapping)
    assert rc.exists(*mapping) == 0


def test_msetnx_same_slot(rc: rediscluster.RedisCluster) -> None:
    mapping = {f"{{nx}}:{n}": "v" for n in range(20)}
    assert rc.msetnx(mapping) is True
    assert rc.msetnx(mapping) is False


def test_mset_empty_raises(rc: rediscluster.RedisCluster) -> None:
    with pytest.raises(DataError, match="empty"):
        rc.mset({})


@pytest.mark.parametrize(
    "call",
    [
        lambda rc: rc.mget([]),
        lambda rc: rc.delete(),
        lambda rc: rc.exists(),
        lambda rc: rc.msetnx({}),
    ],
    ids=["mget", "delete", "exists", "msetnx"],
)
def test_no_keys_raises(rc: rediscluster.RedisCluster, call: Any) -> None:
    with pytest.raises(DataError):
        call(rc)


def test_cross_slot_mget_overlaps(proxied_cluster: LocalCluster) -> None:
    client = rediscluster.RedisCluster(
        startup_nodes=proxied_cluster.startup_nodes, pipeline_use_threads=True
    )
    keys = [f"lat:{n}" for n in range(30)]
    owners = {client.get_node_from_key(k).name for k in keys}
    assert len(owners) == 3
    client.mset({k: "v" for k in keys})
    first = client.get_primaries()[0]
    try:
        for node in proxied_cluster.nodes:
            node.proxy.set_delay(0.001)
        client.mget(keys)
        pings = []
        for _ in range(100):
            started = time.perf_counter()
            client.ping(target_nodes=first)
            pings.append(time.perf_counter() - started)
        mgets = []
        for _ in range(50):
            started = time.perf_counter()
            client.mget(keys)
            mgets.append(time.perf_counter() - started)
    finally:
        for node in proxied_cluster.nodes:
            node.proxy.heal()
        client.delete(*keys)
        client.close()
    ping_ms = statistics.median(pings) * 1000
    mget_ms = statistics.median(mgets) * 1000
    print(
        f"\nPING round trip {ping_ms:.2f} ms, cross-slot mget of 30 keys on "
        f"3 nodes {mget_ms:.2f} ms, ratio {mget_ms / ping_ms:.2f}"
    )
    assert mget_ms < 2.5 * ping_ms
