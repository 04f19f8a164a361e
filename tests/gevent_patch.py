"""A pytest plugin that runs the whole test process on gevent.

Load it with ``python -m pytest -p gevent_patch`` and ``tests`` on
PYTHONPATH, as ``tox -e gevent`` does. pytest imports ``-p`` plugins before
it collects any test module, so the standard library is patched before
anything imports rediscluster, as a gevent application patches it first.
The client's worker threads then run as greenlets.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import pytest  # noqa: E402


def pytest_report_header(config: pytest.Config) -> str:
    patched = monkey.is_module_patched("threading") and monkey.is_module_patched(
        "socket"
    )
    return f"gevent: standard library patched: {patched}"


def pytest_configure(config: pytest.Config) -> None:
    if not monkey.is_module_patched("threading"):
        raise pytest.UsageError(
            "gevent_patch was loaded, but threading is not patched; load it "
            "with -p before any other plugin that starts threads"
        )
