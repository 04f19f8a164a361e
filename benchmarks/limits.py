"""The limits of network and server, measured with as little client as possible.

Latency scenarios compare a client with one PING round trip of
``redis.Redis`` to a node. Throughput scenarios compare it with
``RawPipeline``: commands packed with hiredis before the clock starts,
written to a plain socket per owning node, and replies only counted by a
hiredis ``Reader``.
"""

from __future__ import annotations

import socket
from typing import Callable, Sequence

import hiredis
import redis

Address = tuple[str, int]

_RECV_SIZE = 1 << 18


def ping_action(address: Address) -> tuple[Callable[[], object], Callable[[], None]]:
    """Return a PING call on one connection to address, and its closer."""
    connection = redis.Redis(host=address[0], port=address[1])
    connection.ping()
    return connection.ping, connection.close


class RawPipeline:
    """Pre-packed commands per node, sent on raw sockets, replies counted.

    ``commands`` maps each node address to the argument tuples it owns.
    """

    def __init__(self, commands: dict[Address, Sequence[tuple[object, ...]]]) -> None:
        self._payloads = {
            address: b"".join(hiredis.pack_command(args) for args in batch)
            for address, batch in commands.items()
        }
        self._counts = {address: len(batch) for address, batch in commands.items()}
        self._sockets = {
            address: socket.create_connection(address) for address in commands
        }
        for sock in self._sockets.values():
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run(self) -> int:
        """Write every node's commands, then read all replies; return errors."""
        for address, sock in self._sockets.items():
            sock.sendall(self._payloads[address])
        errors = 0
        for address, sock in self._sockets.items():
            errors += _count_replies(sock, self._counts[address])
        return errors

    def close(self) -> None:
        """Close every socket."""
        for sock in self._sockets.values():
            sock.close()


def _count_replies(sock: socket.socket, expected: int) -> int:
    """Read until ``expected`` replies arrived; return how many were errors."""
    reader = hiredis.Reader()
    seen = errors = 0
    while seen < expected:
        data = sock.recv(_RECV_SIZE)
        if not data:
            raise ConnectionError(f"server closed after {seen} of {expected} replies")
        reader.feed(data)
        reply = reader.gets()
        while reply is not False:
            seen += 1
            errors += isinstance(reply, Exception)
            reply = reader.gets()
    return errors
