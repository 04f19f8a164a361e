"""Validation of startup node addresses by parse_startup_nodes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rediscluster.startup import parse_startup_nodes


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ([{"host": "127.0.0.1", "port": 7000}], [("127.0.0.1", 7000)]),
        ([{"host": "127.0.0.1", "port": "7000"}], [("127.0.0.1", 7000)]),
        ([("127.0.0.1", 7001)], [("127.0.0.1", 7001)]),
        ([["127.0.0.1", 7001]], [("127.0.0.1", 7001)]),
        ([(b"127.0.0.1", 7001)], [("127.0.0.1", 7001)]),
        (["127.0.0.1:7002"], [("127.0.0.1", 7002)]),
        (["localhost:1"], [("localhost", 1)]),
        (["node-a.example:65535"], [("node-a.example", 65535)]),
        (["[::1]:7000"], [("::1", 7000)]),
        ([SimpleNamespace(host="127.0.0.1", port=7003)], [("127.0.0.1", 7003)]),
        (({"host": "127.0.0.1", "port": 7000},), [("127.0.0.1", 7000)]),
    ],
    ids=[
        "dict",
        "dict_str_port",
        "tuple",
        "list_pair",
        "bytes_host",
        "host_port_string",
        "min_port",
        "max_port",
        "ipv6_brackets",
        "node_object",
        "tuple_of_nodes",
    ],
)
def test_startup_node_forms(nodes: Any, expected: list[tuple[str, int]]) -> None:
    assert parse_startup_nodes(nodes, None, None) == expected


def test_startup_nodes_keep_order() -> None:
    nodes = ["127.0.0.1:7002", ("127.0.0.1", 7000), {"host": "::1", "port": 7001}]
    assert parse_startup_nodes(nodes, None, None) == [
        ("127.0.0.1", 7002),
        ("127.0.0.1", 7000),
        ("::1", 7001),
    ]


def test_startup_nodes_dedup_across_forms() -> None:
    nodes = [
        {"host": "127.0.0.1", "port": 7000},
        ("127.0.0.1", 7000),
        "127.0.0.1:7000",
        {"host": "127.0.0.1", "port": "7000"},
        ("127.0.0.1", 7001),
    ]
    assert parse_startup_nodes(nodes, None, None) == [
        ("127.0.0.1", 7000),
        ("127.0.0.1", 7001),
    ]


def test_host_port_kwargs() -> None:
    assert parse_startup_nodes(None, "127.0.0.1", 7005) == [("127.0.0.1", 7005)]


def test_host_kwarg_default_port() -> None:
    assert parse_startup_nodes(None, "127.0.0.1", None) == [("127.0.0.1", 6379)]


def test_port_kwarg_default_host() -> None:
    assert parse_startup_nodes(None, None, 7005) == [("localhost", 7005)]


def test_kwargs_added_after_list() -> None:
    result = parse_startup_nodes([("127.0.0.1", 7000)], "127.0.0.1", 7001)
    assert result == [("127.0.0.1", 7000), ("127.0.0.1", 7001)]


def test_kwargs_dedup_with_list() -> None:
    result = parse_startup_nodes([("127.0.0.1", 7000)], "127.0.0.1", 7000)
    assert result == [("127.0.0.1", 7000)]


# (test id, startup_nodes, text the ValueError message must contain)
INVALID_NODES = [
    ("dict_missing_port", [{"host": "127.0.0.1"}], "{'host': '127.0.0.1'}"),
    ("dict_missing_host", [{"port": 7000}], "{'port': 7000}"),
    ("string_missing_port", ["127.0.0.1"], "'127.0.0.1'"),
    ("string_empty_port", ["127.0.0.1:"], "'127.0.0.1:'"),
    ("string_empty_host", [":7000"], "':7000'"),
    ("port_zero", [("127.0.0.1", 0)], "port 0"),
    ("port_zero_string", ["127.0.0.1:0"], "'127.0.0.1:0'"),
    ("port_too_big", [("127.0.0.1", 70000)], "port 70000"),
    ("port_negative", [("127.0.0.1", -1)], "port -1"),
    ("port_letters", [("127.0.0.1", "abc")], "port 'abc'"),
    ("port_letters_string", ["127.0.0.1:abc"], "port 'abc'"),
    ("port_true", [("127.0.0.1", True)], "port True"),
    ("port_false", [("127.0.0.1", False)], "port False"),
    ("port_none", [{"host": "127.0.0.1", "port": None}], "port None"),
    ("port_list", [("127.0.0.1", [7000])], "port [7000]"),
    ("host_int", [(127, 7000)], "host 127"),
    ("host_none", [(None, 7000)], "host None"),
    ("host_empty", [{"host": "", "port": 7000}], "host ''"),
    ("triple", [("127.0.0.1", 7000, 1)], "('127.0.0.1', 7000, 1)"),
    ("single", [("127.0.0.1",)], "('127.0.0.1',)"),
]


@pytest.mark.parametrize(
    ("nodes", "text"),
    [(nodes, text) for _, nodes, text in INVALID_NODES],
    ids=[name for name, _, _ in INVALID_NODES],
)
def test_invalid_node_value_error(nodes: Any, text: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_startup_nodes(nodes, None, None)
    assert text in str(raised.value)


@pytest.mark.parametrize(
    ("port", "text"),
    [
        (0, "port 0"),
        (70000, "port 70000"),
        ("abc", "port 'abc'"),
        (True, "port True"),
        (-5, "port -5"),
    ],
    ids=["zero", "too_big", "letters", "true", "negative"],
)
def test_invalid_port_kwarg(port: Any, text: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_startup_nodes(None, "127.0.0.1", port)
    assert text in str(raised.value)


@pytest.mark.parametrize(
    ("port", "text"),
    [(0, "port 0"), (70000, "port 70000"), ("abc", "port 'abc'")],
    ids=["zero", "too_big", "letters"],
)
def test_invalid_port_kwarg_alone(port: Any, text: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_startup_nodes(None, None, port)
    assert text in str(raised.value)


def test_empty_list_value_error() -> None:
    with pytest.raises(ValueError, match="no startup node"):
        parse_startup_nodes([], None, None)


def test_nothing_given_value_error() -> None:
    with pytest.raises(ValueError, match="no startup node"):
        parse_startup_nodes(None, None, None)


@pytest.mark.parametrize(
    ("nodes", "text"),
    [
        ({"host": "127.0.0.1", "port": 7000}, "{'host': '127.0.0.1', 'port': 7000}"),
        ("127.0.0.1:7000", "'127.0.0.1:7000'"),
        (b"127.0.0.1:7000", "b'127.0.0.1:7000'"),
    ],
    ids=["bare_dict", "bare_string", "bare_bytes"],
)
def test_bare_node_type_error(nodes: Any, text: str) -> None:
    with pytest.raises(TypeError) as raised:
        parse_startup_nodes(nodes, None, None)
    assert text in str(raised.value)


@pytest.mark.parametrize(
    ("node", "text"),
    [(7000, "7000"), (object, "type"), (3.5, "3.5"), (None, "None")],
    ids=["int", "class", "float", "none"],
)
def test_unsupported_node_type_error(node: Any, text: str) -> None:
    with pytest.raises(TypeError) as raised:
        parse_startup_nodes([node], None, None)
    assert text in str(raised.value)
