"""Keyless commands that run on several nodes, and how their replies merge.

A keyless command either runs on the client's default master or, when it
reads or changes state that each node keeps on its own, on a group of nodes:
every master, every node, or a random master. ``COMMAND_POLICIES`` names the
group and the merge for each such command; a caller can pick other nodes with
``target_nodes``.

Merges:

- ``concat``: one list of every node's items (KEYS).
- ``total``: the sum (DBSIZE).
- ``all_true``: True when every node returned a true value (FLUSHALL, PING).
- ``same``: the one value every node returned (SCRIPT LOAD's SHA1).
- ``random_present``: a random non-None reply (RANDOMKEY, so an empty
  master does not hide the keys of the others).
- ``all_of_each``: for list replies, True at a position only when every node
  returned True there (SCRIPT EXISTS).
- ``per_node``: a dict of ``"host:port"`` to that node's reply (INFO,
  CONFIG GET, CLIENT LIST).
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from .exceptions import ClusterError
from .topology import ClusterNode, SlotTable, Topology

PRIMARIES = "primaries"
REPLICAS = "replicas"
ALL_NODES = "all"
RANDOM = "random"
DEFAULT_NODE = "default-node"

TARGET_GROUPS = (PRIMARIES, REPLICAS, ALL_NODES, RANDOM, DEFAULT_NODE)

Merge = Callable[[dict[str, Any]], Any]
TargetNodes = Union[str, ClusterNode, Sequence[ClusterNode]]


def concat(replies: dict[str, Any]) -> list[Any]:
    """Return every node's list items as one list."""
    merged: list[Any] = []
    for reply in replies.values():
        merged.extend(reply)
    return merged


def total(replies: dict[str, Any]) -> int:
    """Return the sum of the nodes' integer replies."""
    return sum(int(reply) for reply in replies.values())


def all_true(replies: dict[str, Any]) -> bool:
    """Return True when every node's reply is true."""
    return all(bool(reply) for reply in replies.values())


def same(replies: dict[str, Any]) -> Any:
    """Return the reply every node agrees on, or raise ClusterError."""
    values = list(replies.values())
    for node, reply in replies.items():
        if reply != values[0]:
            raise ClusterError(
                f"nodes returned different replies: {values[0]!r} and "
                f"{reply!r} from {node}"
            )
    return values[0]


def all_of_each(replies: dict[str, Any]) -> list[bool]:
    """Return, per position, whether every node's list has True there."""
    columns = zip(*replies.values())
    return [all(bool(value) for value in column) for column in columns]


def random_present(replies: dict[str, Any]) -> Any:
    """Return one of the replies that is not None, chosen at random."""
    present = [reply for reply in replies.values() if reply is not None]
    return random.choice(present) if present else None


def per_node(replies: dict[str, Any]) -> dict[str, Any]:
    """Return the replies keyed by node address."""
    return dict(replies)


# Keyless commands that do not run on the default node: where they run by
# default and how their replies merge.
COMMAND_POLICIES: dict[str, tuple[str, Merge]] = {
    "KEYS": (PRIMARIES, concat),
    "DBSIZE": (PRIMARIES, total),
    "FLUSHALL": (PRIMARIES, all_true),
    "FLUSHDB": (PRIMARIES, all_true),
    "RANDOMKEY": (PRIMARIES, random_present),
    "PING": (ALL_NODES, all_true),
    "INFO": (ALL_NODES, per_node),
    "SCRIPT LOAD": (PRIMARIES, same),
    "SCRIPT EXISTS": (PRIMARIES, all_of_each),
    "SCRIPT FLUSH": (PRIMARIES, all_true),
    "FUNCTION LOAD": (PRIMARIES, same),
    "FUNCTION DELETE": (PRIMARIES, all_true),
    "FUNCTION FLUSH": (PRIMARIES, all_true),
    "CONFIG GET": (ALL_NODES, per_node),
    "CONFIG SET": (ALL_NODES, all_true),
    "CONFIG RESETSTAT": (ALL_NODES, all_true),
    "CLIENT LIST": (ALL_NODES, per_node),
    "MEMORY STATS": (ALL_NODES, per_node),
    "SLOWLOG GET": (ALL_NODES, per_node),
    "SLOWLOG RESET": (ALL_NODES, all_true),
    "LASTSAVE": (ALL_NODES, per_node),
    "SAVE": (PRIMARIES, all_true),
    "BGSAVE": (PRIMARIES, all_true),
}

# Commands whose first argument is a subcommand that selects the policy.
_CONTAINERS = frozenset(
    {"CONFIG", "SCRIPT", "CLIENT", "FUNCTION", "MEMORY", "SLOWLOG", "CLUSTER"}
)


def policy_name(args: tuple[Any, ...]) -> str:
    """Return the upper-case name a policy is keyed by, e.g. ``CONFIG GET``."""
    name = args[0]
    if isinstance(name, bytes):
        name = name.decode()
    name = str(name).upper()
    if name in _CONTAINERS and len(args) > 1:
        sub = args[1]
        if isinstance(sub, bytes):
            sub = sub.decode()
        name = f"{name} {str(sub).upper()}"
    return name


def policy_for(args: tuple[Any, ...]) -> Optional[tuple[str, Merge]]:
    """Return (target group, merge) for a keyless command, None for default."""
    return COMMAND_POLICIES.get(policy_name(args))


def resolve_targets(target: TargetNodes, topology: Topology) -> list[ClusterNode]:
    """Turn a ``target_nodes`` value into the list of nodes to run on.

    A node object from elsewhere (redis-py's ``ClusterNode``, say) names the
    node of the same address.
    """
    if isinstance(target, str):
        return _group(target, topology.table, topology.default_node)
    if _is_node(target):
        return [_known(topology, target)]
    if isinstance(target, Iterable):
        nodes = list(target)
        if nodes and all(_is_node(node) for node in nodes):
            return [_known(topology, node) for node in nodes]
    raise ValueError(
        f"invalid target_nodes {target!r}: use a ClusterNode, a list of them, "
        f"or one of {', '.join(repr(g) for g in TARGET_GROUPS)}"
    )


def _is_node(value: Any) -> bool:
    return hasattr(value, "host") and hasattr(value, "port")


def _known(topology: Topology, node: Any) -> ClusterNode:
    if isinstance(node, ClusterNode):
        return node
    return topology.node(str(node.host), int(node.port))


def _group(
    group: str, table: SlotTable, default_node: Callable[[], ClusterNode]
) -> list[ClusterNode]:
    primaries = table.primary_nodes()
    if group == PRIMARIES:
        return primaries
    if group == REPLICAS:
        return [node for node in table.nodes if node.role == "replica"]
    if group == ALL_NODES:
        return list(table.nodes)
    if group == RANDOM:
        return [random.choice(primaries)]
    if group == DEFAULT_NODE:
        return [default_node()]
    raise ValueError(
        f"invalid target_nodes {group!r}: use one of "
        f"{', '.join(repr(g) for g in TARGET_GROUPS)}"
    )


def run_on_nodes(
    client: Any,
    nodes: Sequence[ClusterNode],
    args: tuple[Any, ...],
    options: dict[str, Any],
    merge: Optional[Merge],
) -> Any:
    """Run one command on every node concurrently and merge the replies.

    Without a merge, one node's reply is returned as is and several nodes'
    replies as a dict keyed by ``host:port``. The first error is raised.
    """
    from .batch import Lost, NodeBatch

    if len(nodes) == 1 and merge is None:
        return client.send_to_node(nodes[0], args, options)
    batches = []
    for node in sorted(nodes, key=lambda n: (n.host, n.port)):
        batch = NodeBatch(node, client.wire)
        batch.add(0, args, options)
        batches.append(batch)
    client.executor(client.pipeline_use_threads).run(batches)

    replies: dict[str, Any] = {}
    for batch in batches:
        outcome = batch.outcomes[0]
        if isinstance(outcome, Lost):
            raise outcome.error
        if isinstance(outcome, Exception):
            raise outcome
        replies[batch.node.name] = outcome
    return merge(replies) if merge is not None else replies
