"""Lua script sources kept by the client, to recover from NOSCRIPT on any node.

Each master keeps its own script cache, and a node that joined or restarted
has an empty one. redis-py's ``Script`` reloads a script only through the
client it was called with, and a pipeline cannot do that midway. So the
client remembers the source of every script it registered or loaded, and
when EVALSHA gets a NOSCRIPT reply, it loads the source on that node and
sends the EVALSHA again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import TYPE_CHECKING, Any, Optional

from redis.exceptions import NoScriptError

from .routing import command_name

if TYPE_CHECKING:
    from .topology import ClusterNode

logger = logging.getLogger(__name__)

_EVALSHA = frozenset({"EVALSHA", "EVALSHA_RO"})


class ScriptRegistry:
    """SHA1 digests of known scripts, mapped to their source."""

    def __init__(self, encoder: Any) -> None:
        self._encoder = encoder
        self._sources: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sources)

    def remember(self, source: Any) -> str:
        """Store a script's source; return its SHA1 hex digest."""
        raw = self._encoder.encode(source)
        sha = hashlib.sha1(raw).hexdigest()
        with self._lock:
            self._sources[sha] = source
        return sha

    def source_for_noscript(
        self, args: tuple[Any, ...], error: Exception
    ) -> Optional[Any]:
        """Return the source to load when an EVALSHA got NOSCRIPT, else None."""
        if not isinstance(error, NoScriptError) or len(args) < 2:
            return None
        if command_name(args) not in _EVALSHA:
            return None
        sha = args[1]
        if isinstance(sha, bytes):
            sha = sha.decode()
        return self._sources.get(str(sha).lower())

    def load(self, client: Any, node: "ClusterNode", source: Any) -> None:
        """Load source into node's script cache."""
        logger.info("loading a script on %s after a NOSCRIPT reply", node.name)
        client.send_to_node(node, ("SCRIPT LOAD", source), {})
