"""Reading a batch's replies straight from redis-py's hiredis reader.

redis-py reads one reply per ``Connection.read_response`` call, which wraps
the parser in error mapping, push-message and health-check handling. None of
that applies to a RESP2 connection with the hiredis parser and no health
checks. For those, this module takes the replies from the same
``hiredis.Reader`` in a loop. Socket reads, with their timeout and error
mapping, stay with the parser's own ``read_from_socket``. Other connections return None from
``fast_reader`` and are read reply by reply.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from redis.connection import AbstractConnection
from redis.exceptions import ConnectionError

try:
    from redis._parsers.hiredis import NOT_ENOUGH_DATA, _HiredisParser
except ImportError:  # redis-py without hiredis support
    _HiredisParser = None  # type: ignore[assignment,misc]
    NOT_ENOUGH_DATA = False

# Options that change how redis-py reads a reply, not only how it converts it.
READ_OPTIONS = frozenset({"NEVER_DECODE", "EMPTY_RESPONSE"})


class FastReader:
    """Takes whole replies from one connection's hiredis reader."""

    __slots__ = ("_parser",)

    def __init__(self, parser: Any) -> None:
        self._parser = parser

    def next_reply(self) -> Any:
        """Return the next reply; an error reply comes back as its exception."""
        parser = self._parser
        reader = parser._reader
        if reader is None:
            raise ConnectionError("the connection was closed while reading")
        reply = reader.gets()
        while reply is NOT_ENOUGH_DATA:
            parser.read_from_socket()
            reply = reader.gets()
        if isinstance(reply, ConnectionError):
            raise reply
        return reply


def fast_reader(connection: AbstractConnection) -> Optional[FastReader]:
    """Return a FastReader for connection, or None where it does not apply."""
    parser = getattr(connection, "_parser", None)
    if _HiredisParser is None or type(parser) is not _HiredisParser:
        return None
    if str(getattr(connection, "protocol", 2) or 2) != "2":
        return None
    if getattr(connection, "health_check_interval", 0):
        return None
    if getattr(connection, "_resp2_fallback", False):
        return None
    if getattr(parser, "_reader", None) is None:
        return None
    return FastReader(parser)


def apply_callback(
    callbacks: Any, name: Any, options: dict[str, Any], reply: Any
) -> Any:
    """Convert a raw reply as ``redis.Redis.parse_response`` would."""
    if isinstance(reply, Exception):
        return reply
    callback: Optional[Callable[..., Any]] = callbacks.get(name)
    if callback is None:
        return reply
    if options:
        options = {k: v for k, v in options.items() if k != "keys"}
    return callback(reply, **options)
