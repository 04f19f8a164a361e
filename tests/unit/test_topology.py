"""CLUSTER SLOTS parsing and slot table lookups, without a server."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from rediscluster.exceptions import SlotNotCoveredError, TopologyError
from rediscluster.topology import (
    PRIMARY,
    SLOT_COUNT,
    ClusterNode,
    SlotRange,
    SlotTable,
    parse_cluster_slots,
    uncovered_ranges,
)

BYTES_REPLY = [
    [0, 5460, [b"127.0.0.1", 7000, b"id-a"], [b"127.0.0.1", 7003, b"id-d"]],
    [5461, 10922, [b"127.0.0.1", 7001, b"id-b"]],
    [10923, 16383, [b"127.0.0.1", 7002, b"id-c"], [b"127.0.0.1", 7004, b"id-e"],
     [b"127.0.0.1", 7005, b"id-f"]],
]

STR_REPLY = [
    [0, 5460, ["127.0.0.1", 7000, "id-a"], ["127.0.0.1", 7003, "id-d"]],
    [5461, 10922, ["127.0.0.1", 7001, "id-b"]],
    [10923, 16383, ["127.0.0.1", 7002, "id-c"], ["127.0.0.1", 7004, "id-e"],
     ["127.0.0.1", 7005, "id-f"]],
]

EXPECTED = [
    SlotRange(0, 5460, ("127.0.0.1", 7000), (("127.0.0.1", 7003),), ("id-a", "id-d")),
    SlotRange(5461, 10922, ("127.0.0.1", 7001), (), ("id-b",)),
    SlotRange(
        10923,
        16383,
        ("127.0.0.1", 7002),
        (("127.0.0.1", 7004), ("127.0.0.1", 7005)),
        ("id-c", "id-e", "id-f"),
    ),
]


@pytest.mark.parametrize("reply", [BYTES_REPLY, STR_REPLY], ids=["bytes", "str"])
def test_parse_slots_full_reply(reply: list[Any]) -> None:
    assert parse_cluster_slots(reply, "10.9.9.9") == EXPECTED


def test_parse_slots_replicas() -> None:
    ranges = parse_cluster_slots(BYTES_REPLY, "127.0.0.1")
    assert ranges[2].replicas == (("127.0.0.1", 7004), ("127.0.0.1", 7005))


def test_parse_slots_no_replicas() -> None:
    ranges = parse_cluster_slots(BYTES_REPLY, "127.0.0.1")
    assert ranges[1].replicas == ()


def test_parse_slots_str_port() -> None:
    reply = [[b"0", b"16383", [b"127.0.0.1", b"7000"]]]
    assert parse_cluster_slots(reply, "127.0.0.1")[0].primary == ("127.0.0.1", 7000)


def test_parse_slots_without_ids() -> None:
    reply = [[0, 16383, [b"127.0.0.1", 7000]]]
    assert parse_cluster_slots(reply, "127.0.0.1")[0].node_ids == (None,)


def test_parse_slots_single_slot() -> None:
    reply = [[42, 42, [b"127.0.0.1", 7000]]]
    entry = parse_cluster_slots(reply, "127.0.0.1")[0]
    assert (entry.start, entry.end) == (42, 42)


def test_parse_slots_empty_reply() -> None:
    assert parse_cluster_slots([], "127.0.0.1") == []


@pytest.mark.parametrize(
    "host",
    [b"", "", b"?", "?"],
    ids=["empty_bytes", "empty_str", "unknown_bytes", "unknown_str"],
)
def test_parse_slots_default_host(host: Any) -> None:
    reply = [[0, 16383, [host, 7000, b"id-a"], [host, 7003, b"id-d"]]]
    entry = parse_cluster_slots(reply, "192.0.2.1")[0]
    assert entry.primary == ("192.0.2.1", 7000)
    assert entry.replicas == (("192.0.2.1", 7003),)


def test_parse_slots_ipv6_host() -> None:
    reply = [[0, 16383, [b"::1", 7000]]]
    assert parse_cluster_slots(reply, "127.0.0.1")[0].primary == ("::1", 7000)


@pytest.mark.parametrize(
    "entry",
    [
        [10, 5, [b"127.0.0.1", 7000]],
        [0, SLOT_COUNT, [b"127.0.0.1", 7000]],
        [SLOT_COUNT, SLOT_COUNT, [b"127.0.0.1", 7000]],
        [-1, 10, [b"127.0.0.1", 7000]],
        [0, 100],
    ],
    ids=[
        "start_after_end",
        "end_slot_16384",
        "start_slot_16384",
        "negative",
        "no_servers",
    ],
)
def test_parse_slots_malformed_entry(entry: list[Any]) -> None:
    reply = [[0, 1, [b"127.0.0.1", 7001]], entry]
    with pytest.raises(TopologyError) as raised:
        parse_cluster_slots(reply, "127.0.0.1")
    assert repr(entry) in str(raised.value)


@pytest.mark.parametrize(
    ("owners", "gaps"),
    [
        ([1] * 10, []),
        ([None] * 10, [(0, 9)]),
        ([None, 1, 1, 1], [(0, 0)]),
        ([1, 1, 1, None], [(3, 3)]),
        ([1, None, None, 1, None, 1], [(1, 2), (4, 4)]),
        ([None, 1, None], [(0, 0), (2, 2)]),
        ([], []),
    ],
    ids=["covered", "all_holes", "first", "last", "two_holes", "both_ends", "empty"],
)
def test_uncovered_ranges(
    owners: list[Optional[int]], gaps: list[tuple[int, int]]
) -> None:
    assert uncovered_ranges(owners) == gaps


def test_uncovered_ranges_full_size() -> None:
    owners: list[Optional[int]] = [1] * SLOT_COUNT
    owners[100:201] = [None] * 101
    owners[SLOT_COUNT - 1] = None
    assert uncovered_ranges(owners) == [(100, 200), (SLOT_COUNT - 1, SLOT_COUNT - 1)]


def make_node(port: int) -> ClusterNode:
    return ClusterNode("127.0.0.1", port, PRIMARY, pool=object())  # type: ignore[arg-type]


def make_table(hole: range) -> tuple[SlotTable, ClusterNode]:
    node = make_node(7000)
    primaries = [None if slot in hole else node for slot in range(SLOT_COUNT)]
    table = SlotTable(tuple(primaries), ((),) * SLOT_COUNT, (node,))
    return table, node


def test_primary_for_covered_slot() -> None:
    table, node = make_table(range(100, 200))
    assert table.primary_for(99) is node
    assert table.primary_for(200) is node


@pytest.mark.parametrize("slot", [100, 150, 199])
def test_primary_for_hole_raises(slot: int) -> None:
    table, _ = make_table(range(100, 200))
    with pytest.raises(SlotNotCoveredError) as raised:
        table.primary_for(slot)
    assert f"slot {slot}" in str(raised.value)


def test_slot_not_covered_is_topology_error() -> None:
    assert issubclass(SlotNotCoveredError, TopologyError)


def test_primary_nodes_once_each() -> None:
    first, second = make_node(7000), make_node(7001)
    primaries = [first] * 100 + [None] * 10 + [second] * 100 + [first] * 10
    primaries += [None] * (SLOT_COUNT - len(primaries))
    table = SlotTable(tuple(primaries), ((),) * SLOT_COUNT)
    assert table.primary_nodes() == [first, second]


def test_node_name_host_port() -> None:
    assert make_node(7000).name == "127.0.0.1:7000"
