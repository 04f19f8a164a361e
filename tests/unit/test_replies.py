"""Reply conversion shortcuts agree with the redis-py callbacks they replace."""

from __future__ import annotations

from typing import Any

import pytest

from rediscluster.replies import FASTER_CALLBACKS


@pytest.mark.parametrize(
    "reply", [b"OK", "OK", None, b"", "", b"ok", b"QUEUED", "x", 0, 1, b"OK "]
)
def test_faster_callbacks_match(reply: Any) -> None:
    assert FASTER_CALLBACKS, "redis-py's SET callback was not found"
    for original, faster in FASTER_CALLBACKS.items():
        assert faster(reply) == original(reply)
        assert type(faster(reply)) is type(original(reply))
