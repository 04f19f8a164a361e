"""The TLS host name check that the client turns on by default on every redis-py.

redis-py 6.0 changed ``ssl_check_hostname`` to default to True, except when
``ssl_cert_reqs`` turns certificate verification off, where it stays off.
redis-py 5 defaults it to False. The client gives redis-py 5 the newer
default, so a server certificate is matched against the host name on every
supported redis-py.
"""

from __future__ import annotations

import ssl
from typing import Any

# ssl_cert_reqs values with which redis-py skips certificate verification.
_NO_VERIFICATION = (None, "none", ssl.CERT_NONE)


def default_check_hostname(kwargs: dict[str, Any]) -> None:
    """Set ``ssl_check_hostname=True`` in kwargs unless the caller set it.

    Without certificate verification there is no certificate to check the
    name against, so then the check stays off, as in redis-py 6 and later.
    """
    if "ssl_check_hostname" in kwargs:
        return
    if kwargs.get("ssl_cert_reqs", "required") in _NO_VERIFICATION:
        return
    kwargs["ssl_check_hostname"] = True
