"""The hand-written SET packing against hiredis's ``pack_command``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rediscluster.packing import CRLF, SET_KEY_HEADERS, VALUE_HEADERS, pack_set

hiredis = pytest.importorskip("hiredis")


def joined(key: bytes, value: bytes) -> bytes:
    """Return SET's wire bytes from the header tables, as the pipeline joins them."""
    return b"".join(
        (SET_KEY_HEADERS[len(key)], key, VALUE_HEADERS[len(value)], value, CRLF)
    )


@given(key=st.binary(max_size=1023), value=st.binary(max_size=1023))
def test_header_tables_match_hiredis(key: bytes, value: bytes) -> None:
    assert joined(key, value) == hiredis.pack_command(("SET", key, value))


@given(key=st.binary(max_size=1500), value=st.binary(max_size=3000))
def test_pack_set_matches_hiredis(key: bytes, value: bytes) -> None:
    assert pack_set(key, value) == hiredis.pack_command(("SET", key, value))


@pytest.mark.parametrize("length", [1024, 1025, 70_000])
def test_header_tables_end_at_one_kib(length: int) -> None:
    with pytest.raises(IndexError):
        joined(b"k" * length, b"v")
    with pytest.raises(IndexError):
        joined(b"k", b"v" * length)
