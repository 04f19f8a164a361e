"""The client interface that ``RedisCluster``'s command mixins are written against.

``ClusterNodeCommands`` and ``MultiKeyCommands`` are mixed into
``RedisCluster`` and call its router, topology and command methods. A mixin
method cannot annotate ``self`` as ``RedisCluster``, because a type checker
requires a method's self type to be a supertype of the class that defines it.
The mixins annotate ``self`` with ``ClusterClient`` instead, and
``RedisCluster`` satisfies it structurally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Protocol

if TYPE_CHECKING:
    from .pipeline import ClusterPipeline
    from .routing import CommandRouter
    from .topology import ClusterNode, Topology


class ClusterClient(Protocol):
    """The members of ``RedisCluster`` that its command mixins use."""

    router: CommandRouter
    topology: Topology

    def execute_command(self, *args: Any, **options: Any) -> Any: ...

    def pipeline(
        self,
        transaction: bool = ...,
        shard_hint: Any = ...,
        use_threads: Optional[bool] = ...,
    ) -> ClusterPipeline: ...

    def resolve(self, target: Any) -> list[ClusterNode]: ...

    def scan(
        self,
        cursor: int = ...,
        match: Any = ...,
        count: Optional[int] = ...,
        _type: Optional[str] = ...,
        **kwargs: Any,
    ) -> Any: ...

    def keyslot(self, key: Any) -> int: ...

    def get_primaries(self) -> list[ClusterNode]: ...

    def _keyless(self, command: str, target_nodes: Any) -> Any: ...
