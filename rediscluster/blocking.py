"""Read timeouts for blocking commands (BLPOP, XREAD BLOCK, WAIT, ...).

A blocking command may legitimately wait longer than ``socket_timeout``
before its reply comes. redis-py leaves that to the caller. This client
extends the connection's read timeout by the command's own block time for
that one command, so the command ends at its own timeout and a dead node is
still detected ``socket_timeout`` later.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

from redis.connection import AbstractConnection

from .routing import command_name

# Commands whose last argument is the block time in seconds.
_LAST_ARG_SECONDS = frozenset(
    {"BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BZPOPMIN", "BZPOPMAX"}
)
# Commands whose second argument is the block time in seconds.
_FIRST_ARG_SECONDS = frozenset({"BLMPOP", "BZMPOP"})


def _number(value: Any) -> Optional[float]:
    try:
        return float(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return None


def block_seconds(args: tuple[Any, ...]) -> Optional[float]:
    """Return how long a command may block, ``inf`` for forever, None if never."""
    name = command_name(args)
    seconds: Optional[float] = None
    if name in _LAST_ARG_SECONDS and len(args) > 2:
        seconds = _number(args[-1])
    elif name in _FIRST_ARG_SECONDS and len(args) > 2:
        seconds = _number(args[1])
    elif name in ("XREAD", "XREADGROUP"):
        for position, arg in enumerate(args[:-1]):
            word = str(arg.decode() if isinstance(arg, bytes) else arg).upper()
            if word == "STREAMS":
                break  # stream names and IDs follow; a stream may be "block"
            if word == "BLOCK":
                milliseconds = _number(args[position + 1])
                seconds = None if milliseconds is None else milliseconds / 1000
                break
    elif name == "WAIT" and len(args) > 2:
        milliseconds = _number(args[2])
        seconds = None if milliseconds is None else milliseconds / 1000
    if seconds is None or seconds < 0:
        return None
    return math.inf if seconds == 0 else seconds


def _no_restore() -> None:
    return None


def extend_timeout_for_blocking(
    connection: AbstractConnection, args: tuple[Any, ...]
) -> Callable[[], None]:
    """Extend the read timeout for a blocking command; return the undo step."""
    seconds = block_seconds(args)
    sock = getattr(connection, "_sock", None)
    if seconds is None or sock is None:
        return _no_restore
    original = sock.gettimeout()
    if original is None:
        return _no_restore
    sock.settimeout(None if math.isinf(seconds) else original + seconds)

    def restore() -> None:
        current = getattr(connection, "_sock", None)
        if current is not None and current is sock:
            current.settimeout(original)

    return restore
