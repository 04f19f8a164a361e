"""Hash slot computation of CommandRouter.slot_for_key, without a server."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis.crc import key_slot
from redis.exceptions import DataError

from rediscluster.routing import CommandRouter

ENCODE = redis.Redis().get_encoder().encode


@pytest.fixture
def router() -> CommandRouter:
    return CommandRouter(ENCODE, parser_factory=lambda: None, parser_client=None)


# (test id, key, the exact bytes redis-py sends for it)
KEY_KINDS = [
    ("str", "user:1000", b"user:1000"),
    ("bytes", b"user:1000", b"user:1000"),
    ("int", 12345, b"12345"),
    ("negative_int", -7, b"-7"),
    ("big_int", 2**70, str(2**70).encode()),
    ("float", 1.5, b"1.5"),
    ("float_exponent", 1e20, b"1e+20"),
    ("memoryview", memoryview(b"mv-key"), b"mv-key"),
    ("unicode", "ключ-🔑-键", "ключ-🔑-键".encode()),
    ("unicode_tag", "{ключ}rest", "{ключ}rest".encode()),
    ("nul_bytes", b"a\x00b\x00", b"a\x00b\x00"),
    ("nul_in_str", "x\x00y", b"x\x00y"),
    ("empty_str", "", b""),
    ("empty_bytes", b"", b""),
    ("high_bytes", bytes(range(256)), bytes(range(256))),
]


@pytest.mark.parametrize(
    ("key", "raw"),
    [(key, raw) for _, key, raw in KEY_KINDS],
    ids=[name for name, _, _ in KEY_KINDS],
)
def test_slot_matches_redis_py(router: CommandRouter, key: Any, raw: bytes) -> None:
    assert router.slot_for_key(key) == key_slot(raw)


@pytest.mark.parametrize(
    ("key", "raw"),
    [(key, raw) for _, key, raw in KEY_KINDS],
    ids=[name for name, _, _ in KEY_KINDS],
)
def test_slot_uses_encoded_bytes(router: CommandRouter, key: Any, raw: bytes) -> None:
    assert bytes(ENCODE(key)) == raw


# redis-py 8.0 added bytearray to the types its encoder sends as bytes, and
# redis-py 5 to 7 raise DataError for it.
ENCODES_BYTEARRAY = int(redis.__version__.split(".")[0]) >= 8


def test_slot_bytearray_key(router: CommandRouter) -> None:
    key = bytearray(b"ba-key")
    if ENCODES_BYTEARRAY:
        assert bytes(ENCODE(key)) == b"ba-key"
        assert router.slot_for_key(key) == key_slot(b"ba-key")
    else:
        with pytest.raises(DataError):
            ENCODE(key)
        with pytest.raises(DataError):
            router.slot_for_key(key)


@pytest.mark.parametrize(
    ("key", "slot"),
    [("foo", 12182), ("123456789", 12739), (b"foo", 12182), (123456789, 12739)],
    ids=["foo", "digits", "foo_bytes", "digits_int"],
)
def test_slot_known_server_values(router: CommandRouter, key: Any, slot: int) -> None:
    assert router.slot_for_key(key) == slot


def test_slot_is_int_in_range(router: CommandRouter) -> None:
    for index in range(2000):
        slot = router.slot_for_key(f"key:{index}")
        assert type(slot) is int
        assert 0 <= slot < 16384


# (test id, key, the part of the key the server hashes)
HASH_TAGS = [
    ("tag_prefix", "{a}b", "a"),
    ("tag_suffix", "b{a}", "a"),
    ("tag_middle", "x{user1}y", "user1"),
    ("first_tag_wins", "a{b}{c}", "b"),
    ("empty_tag_whole_key", "{}", "{}"),
    ("empty_tag_then_text", "{}y", "{}y"),
    ("empty_tag_before_tag", "a{}{b}", "a{}{b}"),
    ("open_brace_only", "a{b", "a{b"),
    ("close_brace_only", "a}b", "a}b"),
    ("close_before_open", "}x{", "}x{"),
    ("nested_open", "{{a}}", "{a"),
    ("close_then_tag", "}{a}", "a"),
    ("tag_with_nul", "{a\x00b}c", "a\x00b"),
    ("tag_unicode", "{ü}1", "ü"),
    ("lone_open", "{", "{"),
    ("lone_close", "}", "}"),
]


@pytest.mark.parametrize(
    ("key", "hashed"),
    [(key, hashed) for _, key, hashed in HASH_TAGS],
    ids=[name for name, _, _ in HASH_TAGS],
)
def test_hash_tag_rule(router: CommandRouter, key: str, hashed: str) -> None:
    assert router.slot_for_key(key) == key_slot(hashed.encode())


def test_hash_tag_bytes_same_as_str(router: CommandRouter) -> None:
    assert router.slot_for_key(b"{tag}one") == router.slot_for_key("{tag}two")


def test_hash_tag_shared_slot(router: CommandRouter) -> None:
    slots = {router.slot_for_key(f"{{user42}}:{field}") for field in range(50)}
    assert slots == {router.slot_for_key("user42")}


@pytest.mark.parametrize(
    ("key", "type_name"),
    [
        (None, "None"),
        ({"a": 1}, "dict"),
        (["a"], "list"),
        (True, "bool"),
        (False, "bool"),
        (object(), "object"),
        (("a",), "tuple"),
        ({"a"}, "set"),
    ],
    ids=["none", "dict", "list", "true", "false", "object", "tuple", "set"],
)
def test_invalid_key_raises_data_error(
    router: CommandRouter, key: Any, type_name: str
) -> None:
    with pytest.raises(DataError) as raised:
        router.slot_for_key(key)
    assert type_name in str(raised.value)
