"""A tiny loopback server that speaks just enough RESP to mislead a client.

Tests use it to serve what no real server would: garbage, silence, a crafted
CLUSTER SLOTS reply or a malformed MOVED error. ``answer`` maps one command,
as a list of upper-cased bytes, to the raw bytes to send back (None: send
nothing).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType

Answer = Callable[[list[bytes]], "bytes | None"]

_MAX_CLIENTS = 64


def encode(value: object) -> bytes:
    """Encode ints, strings, bytes and nested lists as a RESP2 reply."""
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(encode(item) for item in value)
    raise TypeError(f"cannot encode {value!r} as RESP")


def slots_reply(port: int) -> bytes:
    """A well-formed CLUSTER SLOTS reply: one master, this server, all slots."""
    return encode([[0, 16383, ["127.0.0.1", port, "f" * 40]]])


def parse_commands(buffer: bytearray) -> list[list[bytes]]:
    """Remove and return every complete RESP command array in buffer."""
    commands = []
    while True:
        parsed = _parse_one(bytes(buffer))
        if parsed is None:
            return commands
        command, used = parsed
        del buffer[:used]
        commands.append(command)


def _parse_one(data: bytes) -> tuple[list[bytes], int] | None:
    end = data.find(b"\r\n")
    if end < 0 or not data.startswith(b"*"):
        return None
    count, position = int(data[1:end]), end + 2
    parts = []
    for _ in range(count):
        end = data.find(b"\r\n", position)
        if end < 0:
            return None
        length = int(data[position + 1 : end])
        start = end + 2
        if len(data) < start + length + 2:
            return None
        parts.append(data[start : start + length])
        position = start + length + 2
    return parts, position


def standard_answer(port: int) -> Answer:
    """Return a handler that replies to redis-py's set-up commands and OK to others."""

    def answer(command: list[bytes]) -> bytes | None:
        name = command[0].upper()
        if name == b"COMMAND":
            return b"*0\r\n"
        if name == b"HELLO":
            # A RESP3 map with the one field redis-py checks.
            return b"%1\r\n$5\r\nproto\r\n:3\r\n"
        if name == b"CLUSTER" and command[1:2] == [b"SLOTS"]:
            return slots_reply(port)
        return b"+OK\r\n"

    return answer


class FakeServer:
    """A loopback server that replies to each command with ``answer``.

    ``greeting`` is sent as soon as a client connects, before it writes.
    """

    def __init__(self, answer: Answer | None = None, greeting: bytes = b"") -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.answer = answer or standard_answer(self.port)
        self.greeting = greeting
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._stopped = threading.Event()

    def __enter__(self) -> FakeServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        # shutdown() wakes threads blocked in accept() or recv(); close() alone
        # does not.
        for sock in [self._listener, *self._sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._stopped.is_set() and self.connections < _MAX_CLIENTS:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        buffer = bytearray()
        try:
            if self.greeting:
                sock.sendall(self.greeting)
            while not self._stopped.is_set():
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
                for command in parse_commands(buffer):
                    reply = self.answer(command)
                    if reply is not None:
                        sock.sendall(reply)
        except OSError:
            return
        finally:
            sock.close()
