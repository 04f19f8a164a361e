"""Splitting a pipeline's queue into one batch per node, without a server."""

from __future__ import annotations

from typing import Optional

import pytest

from rediscluster.exceptions import SlotNotCoveredError
from rediscluster.pipeline import Command, group_by_node
from rediscluster.topology import PRIMARY, SLOT_COUNT, ClusterNode, SlotTable


class DummyPool:
    """A stand-in for NodePool, because grouping never opens a connection."""


def make_node(port: int) -> ClusterNode:
    return ClusterNode("127.0.0.1", port, PRIMARY, DummyPool())  # type: ignore[arg-type]


NODE_A = make_node(7000)
NODE_B = make_node(7001)
NODE_C = make_node(7002)


def make_table() -> SlotTable:
    """Return a table with slots 0-99 on A, 100-199 on B, no master for
    300-309 and the rest on C."""
    primaries: list[Optional[ClusterNode]] = []
    for slot in range(SLOT_COUNT):
        if slot < 100:
            primaries.append(NODE_A)
        elif slot < 200:
            primaries.append(NODE_B)
        elif 300 <= slot < 310:
            primaries.append(None)
        else:
            primaries.append(NODE_C)
    return SlotTable(tuple(primaries), ((),) * SLOT_COUNT, (NODE_A, NODE_B, NODE_C))


TABLE = make_table()


def get_command(slot: Optional[int], name: str) -> Command:
    return Command(("GET", name), {}, slot)


def default_node_b() -> ClusterNode:
    return NODE_B


def batch_for(batches: list, node: ClusterNode):  # type: ignore[no-untyped-def]
    matching = [batch for batch in batches if batch.node is node]
    assert len(matching) == 1
    return matching[0]


def test_group_one_batch_per_node() -> None:
    commands = [
        get_command(1, "a1"),
        get_command(150, "b1"),
        get_command(500, "c1"),
        get_command(2, "a2"),
    ]
    batches = group_by_node(commands, range(4), TABLE, default_node_b, {})
    assert [batch.node for batch in batches] == [NODE_A, NODE_B, NODE_C]


def test_group_keeps_queue_order() -> None:
    slots = [5, 150, 7, 600, 9, 101, 3]
    commands = [get_command(slot, f"k{index}") for index, slot in enumerate(slots)]
    batches = group_by_node(commands, range(len(commands)), TABLE, default_node_b, {})
    assert batch_for(batches, NODE_A).indices == [0, 2, 4, 6]
    assert batch_for(batches, NODE_B).indices == [1, 5]
    assert batch_for(batches, NODE_C).indices == [3]


def test_group_commands_match_indices() -> None:
    commands = [get_command(5, "a"), get_command(150, "b"), get_command(7, "c")]
    batches = group_by_node(commands, range(3), TABLE, default_node_b, {})
    batch = batch_for(batches, NODE_A)
    assert [(c.args, c.options) for c in batch.commands] == [
        (("GET", "a"), {}),
        (("GET", "c"), {}),
    ]


def test_group_keeps_options() -> None:
    commands = [Command(("GET", "a"), {"keys": ["a"]}, 5)]
    batches = group_by_node(commands, [0], TABLE, default_node_b, {})
    assert [(c.args, c.options) for c in batches[0].commands] == [
        (("GET", "a"), {"keys": ["a"]})
    ]


def test_group_only_pending_indices() -> None:
    commands = [get_command(slot, f"k{slot}") for slot in (5, 150, 7, 8)]
    batches = group_by_node(commands, [2, 3], TABLE, default_node_b, {})
    assert len(batches) == 1
    assert batches[0].indices == [2, 3]


def test_group_empty_pending() -> None:
    assert group_by_node([get_command(5, "a")], [], TABLE, default_node_b, {}) == []


def test_group_keyless_default_node() -> None:
    commands = [
        Command(("PING",), {}, None),
        get_command(5, "a"),
        Command(("DBSIZE",), {}, None),
    ]
    batches = group_by_node(commands, range(3), TABLE, default_node_b, {})
    assert batch_for(batches, NODE_B).indices == [0, 2]
    assert batch_for(batches, NODE_A).indices == [1]


def test_group_default_node_not_called() -> None:
    def fail() -> ClusterNode:
        raise AssertionError("default node requested for a command with a slot")

    batches = group_by_node([get_command(5, "a")], [0], TABLE, fail, {})
    assert batches[0].node is NODE_A


def test_group_ask_target_separate() -> None:
    commands = [get_command(5, "a"), get_command(6, "b"), get_command(7, "c")]
    batches = group_by_node(commands, range(3), TABLE, default_node_b, {1: NODE_C})
    assert batch_for(batches, NODE_A).indices == [0, 2]
    assert batch_for(batches, NODE_C).indices == [1]


def test_group_ask_sets_asking_flag() -> None:
    commands = [get_command(5, "a"), get_command(6, "b"), get_command(7, "c")]
    batches = group_by_node(commands, range(3), TABLE, default_node_b, {1: NODE_C})
    assert batch_for(batches, NODE_A).asking == [False, False]
    assert batch_for(batches, NODE_C).asking == [True]


def test_group_ask_shares_target_batch() -> None:
    commands = [get_command(500, "c"), get_command(6, "b"), get_command(501, "d")]
    batches = group_by_node(commands, range(3), TABLE, default_node_b, {1: NODE_C})
    batch = batch_for(batches, NODE_C)
    assert batch.indices == [0, 1, 2]
    assert batch.asking == [False, True, False]


def test_group_ask_wins_over_default() -> None:
    commands = [Command(("PING",), {}, None)]
    batches = group_by_node(commands, [0], TABLE, default_node_b, {0: NODE_A})
    assert batches[0].node is NODE_A
    assert batches[0].asking == [True]


def test_group_ask_new_node() -> None:
    new = make_node(7100)
    batches = group_by_node([get_command(5, "a")], [0], TABLE, default_node_b, {0: new})
    assert batches[0].node is new


def test_group_wire_commands_insert_asking() -> None:
    commands = [get_command(5, "a"), get_command(6, "b")]
    batches = group_by_node(commands, range(2), TABLE, default_node_b, {1: NODE_A})
    wire = batches[0]._wire_commands()
    assert wire == [("GET", "a"), ("ASKING",), ("GET", "b")]


def test_group_uncovered_slot_raises() -> None:
    with pytest.raises(SlotNotCoveredError):
        group_by_node([get_command(305, "x")], [0], TABLE, default_node_b, {})


def test_group_outcomes_start_empty() -> None:
    batches = group_by_node([get_command(5, "a")], [0], TABLE, default_node_b, {})
    assert batches[0].outcomes == []
