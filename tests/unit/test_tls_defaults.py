"""The default TLS host name check, which must match redis-py 6 on every redis-py."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from rediscluster.tls_defaults import default_check_hostname

CASES = [
    ("no_tls_keywords", {}, True),
    ("cert_required", {"ssl_cert_reqs": "required"}, True),
    ("cert_optional", {"ssl_cert_reqs": "optional"}, True),
    ("cert_none_text", {"ssl_cert_reqs": "none"}, None),
    ("cert_none_value", {"ssl_cert_reqs": None}, None),
    ("cert_none_constant", {"ssl_cert_reqs": ssl.CERT_NONE}, None),
    ("caller_off", {"ssl_check_hostname": False}, False),
    ("caller_on", {"ssl_check_hostname": True}, True),
]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [(kwargs, expected) for _, kwargs, expected in CASES],
    ids=[name for name, _, _ in CASES],
)
def test_check_hostname_default(kwargs: dict[str, Any], expected: Any) -> None:
    updated = dict(kwargs)
    default_check_hostname(updated)
    assert updated.get("ssl_check_hostname") is expected
    unchanged = {k: v for k, v in kwargs.items() if k != "ssl_check_hostname"}
    others = {k: v for k, v in updated.items() if k != "ssl_check_hostname"}
    assert others == unchanged
