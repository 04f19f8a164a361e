"""The hand-written SET packer against hiredis's ``pack_command``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rediscluster.packing import pack_set

hiredis = pytest.importorskip("hiredis")


@given(key=st.binary(max_size=1500), value=st.binary(max_size=3000))
def test_pack_set_matches_hiredis(key: bytes, value: bytes) -> None:
    assert pack_set(key, value) == hiredis.pack_command(("SET", key, value))


@pytest.mark.parametrize("length", [0, 1, 9, 10, 1023, 1024, 1025, 70_000])
def test_pack_set_at_header_table_edges(length: int) -> None:
    key, value = b"k" * length, b"v" * (length // 2)
    assert pack_set(key, value) == hiredis.pack_command(("SET", key, value))
