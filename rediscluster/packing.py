"""Packing a node batch into one buffer of RESP commands.

hiredis's ``pack_command`` packs one command in C. redis-py calls it too, but
first runs every argument through its ``Encoder`` in Python, which costs more
than the packing itself. For arguments of exactly str, bytes, int or float and
a UTF-8 client encoding, hiredis produces the same bytes as redis-py (floats
included: both use ``repr``), so those commands skip the encoder. Any other
argument type (bool, None, bytearray, int subclasses such as IntEnum) goes
through redis-py's own packer, which raises its usual ``DataError`` where
redis-py would.
"""

from __future__ import annotations

import codecs
from typing import Any, Callable, Optional, Sequence

from redis.connection import AbstractConnection

PackCommand = Callable[[Sequence[Any]], bytes]

_pack_command: Optional[PackCommand]
try:
    # hiredis's stub declares a one-element tuple and no return type, but
    # pack_command takes a tuple of any length and returns bytes.
    from hiredis import pack_command as _pack_command  # type: ignore[assignment]
except ImportError:  # hiredis is a dependency, but redis-py works without it
    _pack_command = None

_PLAIN_TYPES = frozenset({str, bytes, int, float})


def can_pack_fast(encoding: str, encoding_errors: str) -> bool:
    """Tell whether hiredis packs exactly what redis-py would for this client."""
    if _pack_command is None or encoding_errors != "strict":
        return False
    return codecs.lookup(encoding).name == "utf-8"


def pack_one(args: Sequence[Any]) -> Optional[bytes]:
    """Return one command's wire bytes, or None where redis-py must pack it."""
    if _pack_command is None:
        return None
    name = args[0]
    if type(name) is str and " " in name:
        args = (*name.split(), *args[1:])
    if not _PLAIN_TYPES.issuperset(map(type, args)):
        return None
    return _pack_command(tuple(args))


def pack_batch(
    connection: AbstractConnection,
    commands: Sequence[Sequence[Any]],
    fast: bool,
) -> list[bytes]:
    """Return the wire bytes of commands, as chunks for ``send_packed_command``."""
    if not fast or _pack_command is None:
        return list(connection.pack_commands(commands))
    pack = _pack_command
    chunks: list[bytes] = []
    for args in commands:
        name = args[0]
        if type(name) is str and " " in name:
            # redis-py sends "CLUSTER SLOTS" as two arguments.
            args = (*name.split(), *args[1:])
        if _PLAIN_TYPES.issuperset(map(type, args)):
            chunks.append(pack(tuple(args)))
        else:
            chunks.extend(connection.pack_command(*args))
    return [b"".join(chunks)]


CRLF = b"\r\n"
# "$<length>\r\n" for the lengths most keys and values have.
_BULK_HEADERS = tuple(b"$%d\r\n" % length for length in range(1024))
# SET key value is b"".join((SET_KEY_HEADERS[len(key)], key,
# VALUE_HEADERS[len(value)], value, CRLF)) for a key and a value under 1 KiB;
# longer ones raise IndexError there and need ``pack_set``.
_SET_HEADER = b"*3\r\n$3\r\nSET\r\n"
SET_KEY_HEADERS = tuple(_SET_HEADER + header for header in _BULK_HEADERS)
VALUE_HEADERS = tuple(CRLF + header for header in _BULK_HEADERS)


def pack_set(key: bytes, value: bytes) -> bytes:
    """Return the wire bytes of ``SET key value``, as hiredis packs them."""
    return b"%b$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        _SET_HEADER, len(key), key, len(value), value
    )
