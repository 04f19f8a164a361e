"""How long a command may block, read from its arguments."""

from __future__ import annotations

import math
import socket
from typing import Any, Optional

import pytest

from rediscluster.blocking import block_seconds, extend_timeout_for_blocking

INF = math.inf

CASES = [
    (("BLPOP", "a", 1.5), 1.5),
    (("BLPOP", "a", "b", 2), 2.0),
    (("blpop", "a", 0), INF),
    ((b"BLPOP", b"a", b"3"), 3.0),
    (("BRPOP", "a", "0.25"), 0.25),
    (("BRPOPLPUSH", "a", "b", 4), 4.0),
    (("BLMOVE", "a", "b", "LEFT", "RIGHT", 5), 5.0),
    (("BZPOPMIN", "z", 0), INF),
    (("BZPOPMAX", "z", 6), 6.0),
    (("BLMPOP", 7, 1, "a", "LEFT"), 7.0),
    (("BZMPOP", 0, 2, "a", "b", "MIN"), INF),
    (("XREAD", "BLOCK", 1500, "STREAMS", "s", "$"), 1.5),
    (("XREAD", "COUNT", 2, "block", 0, "STREAMS", "s", "$"), INF),
    (("XREADGROUP", "GROUP", "g", "c", "BLOCK", 250, "STREAMS", "s", ">"), 0.25),
    (("WAIT", 1, 500), 0.5),
    (("WAIT", 1, 0), INF),
    (("XREAD", "COUNT", 2, "STREAMS", "s", "0"), None),
    (("XREAD", "STREAMS", "block", "0"), None),
    (("GET", "a"), None),
    (("LPOP", "a"), None),
    (("BLPOP", "a", -1), None),
    (("BLPOP", "a", "soon"), None),
    (("BLPOP",), None),
    (("WAIT", 1), None),
]


@pytest.mark.parametrize(
    ("args", "expected"), CASES, ids=[" ".join(map(str, c[0])) for c in CASES]
)
def test_block_seconds_table(args: tuple[Any, ...], expected: Optional[float]) -> None:
    assert block_seconds(args) == expected


class FakeConnection:
    def __init__(self, timeout: Optional[float]) -> None:
        self._sock = socket.socket()
        self._sock.settimeout(timeout)


@pytest.fixture
def conn() -> Any:
    connection = FakeConnection(0.5)
    yield connection
    connection._sock.close()


def test_extend_adds_block_time(conn: Any) -> None:
    extend_timeout_for_blocking(conn, ("BLPOP", "a", 2))
    assert conn._sock.gettimeout() == 2.5


def test_extend_restore(conn: Any) -> None:
    restore = extend_timeout_for_blocking(conn, ("BLPOP", "a", 2))
    restore()
    assert conn._sock.gettimeout() == 0.5


def test_extend_forever_no_timeout(conn: Any) -> None:
    extend_timeout_for_blocking(conn, ("BLPOP", "a", 0))
    assert conn._sock.gettimeout() is None


def test_extend_ignores_plain(conn: Any) -> None:
    extend_timeout_for_blocking(conn, ("GET", "a"))
    assert conn._sock.gettimeout() == 0.5


def test_extend_no_socket() -> None:
    class Closed:
        _sock = None

    restore = extend_timeout_for_blocking(Closed(), ("BLPOP", "a", 1))
    assert restore() is None


def test_extend_keeps_no_timeout() -> None:
    connection = FakeConnection(None)
    try:
        extend_timeout_for_blocking(connection, ("BLPOP", "a", 1))
        assert connection._sock.gettimeout() is None
    finally:
        connection._sock.close()
