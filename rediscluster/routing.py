"""Command routing: the hash slot a command's keys map to.

Key positions come from the server's COMMAND metadata through redis-py's
``CommandsParser``, so module commands and commands newer than this client
route too. Scripts and functions are read here instead, because their key
count is an argument and Redis before 7.0 reports no keys for them when that
count is zero. Keys are encoded with redis-py's ``Encoder`` and hashed with
its ``key_slot``, so a key maps to the slot of the exact bytes sent.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from redis._parsers.commands import CommandsParser
from redis.crc import key_slot
from redis.exceptions import DataError, RedisError

from .exceptions import CrossSlotError

# Commands whose keys follow a numkeys argument at position 2.
_SCRIPT_COMMANDS = frozenset(
    {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}
)

_READ_ONLY_SCRIPTS = frozenset({"EVAL_RO", "EVALSHA_RO", "FCALL_RO"})

# Commands that never carry keys and would otherwise cost a parser lookup, or,
# for COMMAND itself, recurse into the parser while it loads.
_KEYLESS_PREFIXES = ("COMMAND", "CLUSTER", "PING", "INFO", "SCRIPT", "FUNCTION")


def command_name(args: tuple[Any, ...]) -> str:
    """Return the upper-case command name of an argument tuple."""
    name = args[0]
    if isinstance(name, bytes):
        name = name.decode()
    return str(name).upper()


class CommandRouter:
    """Maps a command's arguments to the one hash slot its keys share."""

    def __init__(
        self,
        encode: Callable[[Any], Any],
        parser_factory: Callable[[], CommandsParser],
        parser_client: Any,
    ) -> None:
        self._encode = encode
        self._parser_factory = parser_factory
        self._parser_client = parser_client
        self._parser: Optional[CommandsParser] = None
        self._read_only: dict[str, bool] = {}
        self._positions: dict[str, tuple[int, int, int]] = {}
        # Names, as sent, of commands whose only key is their first argument.
        self.first_key_only: set[str] = set()
        self._lock = threading.Lock()

    @property
    def parser(self) -> CommandsParser:
        """redis-py's key parser, loaded from COMMAND on first use."""
        parser = self._parser
        if parser is None:
            with self._lock:
                if self._parser is None:
                    self._parser = self._parser_factory()
                parser = self._parser
        return parser

    def slot_for_key(self, key: Any) -> int:
        """Return the hash slot of one key, encoded as redis-py sends it."""
        if isinstance(key, str):
            raw = self._encode(key)
        elif isinstance(key, bytes):
            raw = key
        else:
            if key is None or not isinstance(key, (int, float, bytearray, memoryview)):
                raise DataError(
                    f"invalid key {key!r} of type {type(key).__name__}: a key "
                    f"must be str, bytes, int or float"
                )
            raw = bytes(self._encode(key))
        return int(key_slot(raw))

    def keys(self, args: tuple[Any, ...]) -> list[Any]:
        """Return the keys of a command, or [] for a keyless command."""
        positions = self._positions.get(args[0])
        if positions is not None and len(args) > 1:
            first, last, step = positions
            if last < 0:
                last += len(args)
            return list(args[first : last + 1 : step])
        name = command_name(args)
        if name in _SCRIPT_COMMANDS:
            return _script_keys(name, args)
        if name.startswith(_KEYLESS_PREFIXES) or len(args) < 2:
            return []
        if isinstance(args[0], bytes):
            # redis-py's parser looks names up as str only.
            args = (args[0].decode(), *args[1:])
        if isinstance(args[1], (int, float)) and not isinstance(args[1], bool):
            # redis-py's parser lower-cases the second argument to look up a
            # subcommand, which fails on numbers (WAIT 1 100 on Redis 7+).
            args = (args[0], str(args[1])) + args[2:]
        try:
            keys = self.parser.get_keys(self._parser_client, *args)
        except RedisError as exc:
            if type(exc) is not RedisError:
                raise
            # The parser raises a bare RedisError for a command the server's
            # COMMAND table lacks; sent keyless, the server's own error
            # reaches the caller.
            return []
        self._learn_positions(args[0])
        return list(keys) if keys else []

    def _learn_positions(self, name: Any) -> None:
        """Cache fixed key positions of a command, from its COMMAND entry.

        redis-py's parser does the same lookup on every call; commands whose
        keys sit at fixed positions (most of them) skip it next time.
        Commands with movable keys, subcommands or pub/sub channels keep
        going through the parser.
        """
        if not isinstance(name, str) or " " in name or name in self._positions:
            return
        parser = self._parser
        info = parser.commands.get(name.lower()) if parser is not None else None
        if info is None:
            return
        flags = {_text(flag) for flag in info.get("flags", ())}
        first = int(info.get("first_key_pos", 0))
        last = int(info.get("last_key_pos", 0))
        step = int(info.get("step_count", 0))
        if "movablekeys" in flags or "pubsub" in flags or first < 1 or step < 1:
            return
        if "subcommands" in info and info["subcommands"]:
            return
        self._positions[name] = (first, last, step)
        if (first, last, step) == (1, 1, 1):
            self.first_key_only.add(name)

    def slot(self, args: tuple[Any, ...]) -> Optional[int]:
        """Return the slot of a command's keys, None when it has none.

        Raises CrossSlotError when its keys hash to more than one slot.
        """
        keys = self.keys(args)
        if not keys:
            return None
        slot = self.slot_for_key(keys[0])
        for key in keys[1:]:
            other = self.slot_for_key(key)
            if other != slot:
                raise CrossSlotError(
                    f"{command_name(args)} keys {keys[0]!r} (slot {slot}) and "
                    f"{key!r} (slot {other}) are in different hash slots; put "
                    f"them in one slot with a hash tag such as "
                    f"{{user1}}:a and {{user1}}:b, or send one command per key"
                )
        return slot

    def is_read_only(self, args: tuple[Any, ...]) -> bool:
        """Tell whether the server flags this command as read-only.

        Before the COMMAND table is loaded only COMMAND itself and the *_RO
        script commands count as read-only. Loading it here could deadlock,
        since the load itself runs a command that may fail.
        """
        name = command_name(args)
        cached = self._read_only.get(name)
        if cached is not None:
            return cached
        if name.startswith("COMMAND") or name in _READ_ONLY_SCRIPTS:
            return True
        parser = self._parser
        if parser is None:
            return False
        info = parser.commands.get(name.split()[0].lower())
        flags = {_text(flag) for flag in info.get("flags", ())} if info else set()
        read_only = "readonly" in flags and "write" not in flags
        self._read_only[name] = read_only
        return read_only


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _script_keys(name: str, args: tuple[Any, ...]) -> list[Any]:
    if len(args) < 3:
        return []
    try:
        count = int(args[2])
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{name} numkeys must be an integer, got {args[2]!r}"
        ) from exc
    if count < 0 or count > len(args) - 3:
        raise DataError(
            f"{name} numkeys is {count} but {len(args) - 3} arguments follow; "
            f"pass the keys first, then the other arguments"
        )
    return list(args[3 : 3 + count])
