"""Reply merges, policy names and target_nodes values, without a server."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rediscluster.exceptions import ClusterError
from rediscluster.fanout import (
    ALL_NODES,
    DEFAULT_NODE,
    PRIMARIES,
    RANDOM,
    REPLICAS,
    all_of_each,
    all_true,
    concat,
    per_node,
    policy_for,
    policy_name,
    resolve_targets,
    same,
    total,
)
from rediscluster.topology import PRIMARY, REPLICA, ClusterNode, SlotTable

MERGES = [
    (concat, {"a:1": [b"x", b"y"], "a:2": [], "a:3": [b"z"]}, [b"x", b"y", b"z"]),
    (concat, {}, []),
    (total, {"a:1": 3, "a:2": b"4", "a:3": "5"}, 12),
    (total, {}, 0),
    (all_true, {"a:1": True, "a:2": b"OK"}, True),
    (all_true, {"a:1": True, "a:2": False}, False),
    (all_true, {"a:1": True, "a:2": None}, False),
    (same, {"a:1": "sha", "a:2": "sha"}, "sha"),
    (same, {"a:1": None}, None),
    (all_of_each, {"a:1": [1, 1, 0], "a:2": [1, 0, 0]}, [True, False, False]),
    (all_of_each, {"a:1": [True]}, [True]),
    (per_node, {"a:1": {"x": 1}, "a:2": {"x": 2}}, {"a:1": {"x": 1}, "a:2": {"x": 2}}),
]


@pytest.mark.parametrize(
    ("merge", "replies", "expected"),
    MERGES,
    ids=[f"{case[0].__name__}-{n}" for n, case in enumerate(MERGES)],
)
def test_merge_table(merge: Any, replies: dict[str, Any], expected: Any) -> None:
    assert merge(replies) == expected


def test_same_disagreement_raises() -> None:
    with pytest.raises(ClusterError, match="a:2"):
        same({"a:1": "one", "a:2": "two"})


def test_per_node_is_copy() -> None:
    replies = {"a:1": 1}
    merged = per_node(replies)
    merged["a:2"] = 2
    assert replies == {"a:1": 1}


NAMES = [
    (("GET", "k"), "GET"),
    (("keys", "*"), "KEYS"),
    ((b"dbsize",), "DBSIZE"),
    (("CONFIG", "GET", "maxmemory"), "CONFIG GET"),
    (("config", "set", "x", "y"), "CONFIG SET"),
    ((b"SCRIPT", b"load", b"return 1"), "SCRIPT LOAD"),
    (("CLUSTER", "info"), "CLUSTER INFO"),
    (("CLIENT", "LIST"), "CLIENT LIST"),
    (("FUNCTION", "flush"), "FUNCTION FLUSH"),
    (("MEMORY", "stats"), "MEMORY STATS"),
    (("SLOWLOG", "get", 10), "SLOWLOG GET"),
    (("CONFIG",), "CONFIG"),
    (("SET", "config", "get"), "SET"),
    (("CONFIG GET", "maxmemory"), "CONFIG GET"),
]


@pytest.mark.parametrize(
    ("args", "expected"), NAMES, ids=[" ".join(map(str, c[0])) for c in NAMES]
)
def test_policy_name_table(args: tuple[Any, ...], expected: str) -> None:
    assert policy_name(args) == expected


POLICIES = [
    (("KEYS", "*"), (PRIMARIES, concat)),
    (("DBSIZE",), (PRIMARIES, total)),
    (("FLUSHALL",), (PRIMARIES, all_true)),
    (("PING",), (ALL_NODES, all_true)),
    (("INFO", "server"), (ALL_NODES, per_node)),
    (("SCRIPT", "LOAD", "return 1"), (PRIMARIES, same)),
    (("SCRIPT", "EXISTS", "abc"), (PRIMARIES, all_of_each)),
    (("config", "get", "maxmemory"), (ALL_NODES, per_node)),
    (("GET", "k"), None),
    (("CLUSTER", "INFO"), None),
    (("TIME",), None),
]


@pytest.mark.parametrize(
    ("args", "expected"), POLICIES, ids=[" ".join(map(str, c[0])) for c in POLICIES]
)
def test_policy_for_table(args: tuple[Any, ...], expected: Any) -> None:
    assert policy_for(args) == expected


def node(port: int, role: str = PRIMARY) -> ClusterNode:
    return ClusterNode("127.0.0.1", port, role, pool=None)  # type: ignore[arg-type]


@pytest.fixture
def topology() -> Any:
    masters = [node(7000), node(7001), node(7002)]
    replicas = [node(7003, REPLICA), node(7004, REPLICA)]
    primaries = tuple(masters[slot * 3 // 16384] for slot in range(16384))
    table = SlotTable(primaries, ((),) * 16384, tuple(masters + replicas))
    known = {n.name: n for n in masters + replicas}

    def lookup(host: str, port: int) -> ClusterNode:
        return known[f"{host}:{port}"]

    return SimpleNamespace(
        table=table, default_node=lambda: masters[1], node=lookup, masters=masters,
        replicas=replicas,
    )


def ports(nodes: list[ClusterNode]) -> list[int]:
    return [n.port for n in nodes]


GROUPS = [
    (PRIMARIES, [7000, 7001, 7002]),
    (REPLICAS, [7003, 7004]),
    (ALL_NODES, [7000, 7001, 7002, 7003, 7004]),
    (DEFAULT_NODE, [7001]),
]


@pytest.mark.parametrize(("group", "expected"), GROUPS, ids=[g for g, _ in GROUPS])
def test_resolve_group(topology: Any, group: str, expected: list[int]) -> None:
    assert ports(resolve_targets(group, topology)) == expected


def test_resolve_random_one_primary(topology: Any) -> None:
    chosen = resolve_targets(RANDOM, topology)
    assert len(chosen) == 1
    assert chosen[0] in topology.masters


def test_resolve_node(topology: Any) -> None:
    assert resolve_targets(topology.replicas[0], topology) == [topology.replicas[0]]


def test_resolve_node_list(topology: Any) -> None:
    expected = [topology.masters[2], topology.replicas[1]]
    assert resolve_targets(expected, topology) == expected


def test_resolve_foreign_node(topology: Any) -> None:
    foreign = SimpleNamespace(host="127.0.0.1", port=7002)
    assert resolve_targets(foreign, topology) == [topology.masters[2]]


def test_resolve_foreign_list(topology: Any) -> None:
    foreign = [SimpleNamespace(host="127.0.0.1", port=p) for p in (7004, 7000)]
    assert ports(resolve_targets(foreign, topology)) == [7004, 7000]


INVALID = [
    ("everywhere", "'everywhere'"),
    ("PRIMARIES", "'PRIMARIES'"),
    (42, "42"),
    (None, "None"),
    ([], "[]"),
    (["primaries"], "['primaries']"),
]


@pytest.mark.parametrize(("value", "shown"), INVALID, ids=[repr(v) for v, _ in INVALID])
def test_resolve_invalid_raises(topology: Any, value: Any, shown: str) -> None:
    with pytest.raises(ValueError) as raised:
        resolve_targets(value, topology)
    assert shown in str(raised.value)
