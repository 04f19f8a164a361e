"""Scenarios S1-S8: pipelines of SETs, single GETs and a cross-slot MGET.

Each scenario opens every peer, checks one run's replies, then times all
peers and the limit in turns (see ``timing.median_seconds``); S7 times each
of them in a child process of its own (see ``isolated``). Figures are
milliseconds per pipeline, per loop of GETs, or per MGET.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import redis
from redis.crc import key_slot

from benchmarks import cluster as bench_cluster
from benchmarks.context import Bench
from benchmarks.isolated import median_in_children
from benchmarks.limits import Address, RawPipeline, ping_action
from benchmarks.peers import RC_THREADS_ON, Peer
from benchmarks.results import Result
from benchmarks.timing import Action, median_seconds

VALUE = b"v" * 16
PING = "ping"
RAW = "raw"


@dataclass(frozen=True)
class PipelineSpec:
    """A pipeline-of-SETs scenario: proxy delays per master, and its limit."""

    scenario: str
    title: str
    delays: tuple[float, ...]
    direct: bool
    limit: str


PIPELINE_SPECS = (
    PipelineSpec("S1", "{n} SETs, 1 ms delay", (0.001,), False, PING),
    PipelineSpec("S2", "{n} SETs, 5 ms / 0.5 ms", (0.005, 0.0005), False, PING),
    PipelineSpec("S3", "{n} SETs, 1 ms delay", (0.001,), False, RAW),
    PipelineSpec("S4", "{n} SETs, loopback", (0.0,), True, RAW),
    PipelineSpec("S5", "{n} SETs, loopback", (0.0,), True, RAW),
    PipelineSpec("S6", "{n} SETs, loopback", (0.0,), True, PING),
)


def scenario_keys(scenario: str, count: int) -> list[str]:
    """Return ``count`` keys spread over every slot range."""
    return [f"bench:{scenario}:{number}" for number in range(count)]


def check_sets(name: str, replies: Sequence[Any], count: int) -> None:
    """Raise AssertionError unless every SET reply is a success."""
    if len(replies) != count or not all(r in (True, "OK", b"OK") for r in replies):
        raise AssertionError(f"{name}: unexpected SET replies {list(replies)[:5]!r}")


def owner_map(peers: dict[str, Optional[Peer]], keys: Sequence[str]) -> list[Address]:
    """Return the address of each key's master, as rediscluster routes it."""
    client = peers[RC_THREADS_ON].client  # type: ignore[union-attr]
    return [_address(client.get_node_from_key(key)) for key in keys]


def _address(node: Any) -> Address:
    return node.host, int(node.port)


def group_commands(
    owners: Sequence[Address], commands: Sequence[tuple[Any, ...]]
) -> dict[Address, list[tuple[Any, ...]]]:
    """Split commands by the address that owns each, keeping their order."""
    grouped: dict[Address, list[tuple[Any, ...]]] = {}
    for owner, command in zip(owners, commands):
        grouped.setdefault(owner, []).append(command)
    return grouped


def limit_action(
    raw: RawPipeline, name: str, stack: contextlib.ExitStack
) -> Action:
    """Return an action that runs raw and fails on any error reply."""
    stack.callback(raw.close)

    def run() -> None:
        if raw.run():
            raise AssertionError(f"{name}: the raw limit got error replies")

    return run


def run_pipeline(spec: PipelineSpec, bench: Bench) -> Result:
    """Time one pipeline of SETs per peer against the scenario's limit."""
    size = bench.plan.sizes[spec.scenario]
    bench_cluster.set_delays(bench.cluster, spec.delays)
    target = bench_cluster.target(bench.cluster, spec.direct)
    keys = scenario_keys(spec.scenario, size)
    with contextlib.ExitStack() as stack:
        peers = bench.open_peers(target, stack)
        actions = _set_actions(peers, keys)
        if spec.limit == PING:
            slowest = bench_cluster.node_addresses(bench.cluster, spec.direct)[0]
            ping, close = ping_action(slowest)
            stack.callback(close)
            actions["limit"] = ping
            limit_name = "1 PING round trip"
        else:
            commands = [("SET", key, VALUE) for key in keys]
            raw = RawPipeline(group_commands(owner_map(peers, keys), commands))
            actions["limit"] = limit_action(raw, spec.scenario, stack)
            limit_name = "raw sockets"
        medians = median_seconds(actions, bench.plan.repeats[spec.scenario])
    return _result(spec.scenario, spec.title.format(n=f"{size:,}"), peers, medians,
                   limit_name)


def _set_actions(
    peers: dict[str, Optional[Peer]], keys: Sequence[str]
) -> dict[str, Action]:
    actions: dict[str, Action] = {}
    for name, peer in peers.items():
        if peer is None:
            continue
        check_sets(name, peer.set_pipeline(keys, VALUE), len(keys))
        actions[name] = _bind(peer.set_pipeline, keys, VALUE)
    return actions


def _bind(function: Callable[..., Any], *args: Any) -> Action:
    return lambda: function(*args)


def _result(
    scenario: str,
    title: str,
    peers: dict[str, Optional[Peer]],
    medians: dict[str, float],
    limit_name: str,
    unit: str = "ms",
) -> Result:
    values = {
        name: medians[name] * 1000 if name in medians else None for name in peers
    }
    return Result(scenario, title, unit, values, medians["limit"] * 1000, limit_name)


def run_gets(bench: Bench) -> Result:
    """S7: single GETs one at a time, against redis.Redis on the owning node.

    Each client runs in a child process of its own (see ``isolated``).
    """
    count = bench.plan.sizes["S7"]
    bench_cluster.set_delays(bench.cluster, (0.0,))
    target = bench_cluster.target(bench.cluster, direct=True)
    keys = scenario_keys("S7", count)
    with contextlib.ExitStack() as stack:
        peers = bench.open_peers(target, stack)
        peers[RC_THREADS_ON].set_pipeline(keys, VALUE)  # type: ignore[union-attr]
        for peer in peers.values():
            if peer is not None:
                _get_each(peer.get, keys)  # every client reads every key
    installed = [name for name, peer in peers.items() if peer is not None]
    medians = median_in_children(installed, count, target, bench.plan.repeats["S7"])
    return _result("S7", f"{count:,} single GETs, loopback", peers, medians,
                   "redis.Redis to the owner", unit=f"ms / {count:,} GETs")


def _get_each(get: Callable[[str], Any], keys: Sequence[str]) -> None:
    for key in keys:
        if get(key) is None:
            raise AssertionError(f"GET {key} returned nothing")


def _direct_gets(
    owners: Sequence[Address], keys: Sequence[str], stack: contextlib.ExitStack
) -> Action:
    clients: dict[Address, redis.Redis] = {}
    for address in set(owners):
        clients[address] = redis.Redis(host=address[0], port=address[1])
        stack.callback(clients[address].close)
    pairs = [(clients[owner].get, key) for owner, key in zip(owners, keys)]

    def run() -> None:
        for get, key in pairs:
            if get(key) is None:
                raise AssertionError(f"GET {key} returned nothing")

    return run


def run_mget(bench: Bench) -> Result:
    """S8: one MGET of keys across slots; the limit packs one MGET per slot."""
    count = bench.plan.sizes["S8"]
    bench_cluster.set_delays(bench.cluster, (0.0,))
    target = bench_cluster.target(bench.cluster, direct=True)
    keys = scenario_keys("S8", count)
    with contextlib.ExitStack() as stack:
        peers = bench.open_peers(target, stack)
        peers[RC_THREADS_ON].set_pipeline(keys, VALUE)  # type: ignore[union-attr]
        actions: dict[str, Action] = {}
        for name, peer in peers.items():
            if peer is not None:
                _check_mget(name, peer.mget(keys), count)
                actions[name] = _bind(peer.mget, keys)
        raw = RawPipeline(_mget_by_slot(owner_map(peers, keys), keys))
        actions["limit"] = limit_action(raw, "S8", stack)
        medians = median_seconds(actions, bench.plan.repeats["S8"])
    return _result("S8", f"MGET of {count:,} keys", peers, medians, "raw sockets")


def _check_mget(name: str, values: Sequence[Any], count: int) -> None:
    if len(values) != count or any(v not in (VALUE, VALUE.decode()) for v in values):
        raise AssertionError(f"{name}: unexpected MGET values {list(values)[:3]!r}")


def _mget_by_slot(
    owners: Sequence[Address], keys: Sequence[str]
) -> dict[Address, list[tuple[Any, ...]]]:
    slots: dict[int, list[str]] = {}
    slot_owner: dict[int, Address] = {}
    for owner, key in zip(owners, keys):
        slot = key_slot(key.encode())
        slots.setdefault(slot, []).append(key)
        slot_owner[slot] = owner
    grouped: dict[Address, list[tuple[Any, ...]]] = {}
    for slot, slot_keys in slots.items():
        grouped.setdefault(slot_owner[slot], []).append(("MGET", *slot_keys))
    return grouped
