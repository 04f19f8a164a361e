"""Parsing of the pytest plugin's options and ini keys, without a pytest run."""

from __future__ import annotations

from pathlib import Path

import pytest

from rediscluster.testing import find_server_binary
from rediscluster.testing.plugin_settings import (
    SETTINGS,
    ClusterSettings,
    RawValue,
    Setting,
    SettingsError,
    parse_settings,
)

HERE = Path(__file__).parent


def setting_named(name: str) -> Setting:
    return next(setting for setting in SETTINGS if setting.name == name)


def option(name: str, text: str, base_dir: Path = HERE) -> dict[str, RawValue]:
    """Return raw values as if ``text`` was given on the command line."""
    return {name: RawValue(text, setting_named(name).option, base_dir)}


def test_settings_default_without_values() -> None:
    settings = parse_settings({})

    assert settings == ClusterSettings(
        masters=3, replicas=1, server_binary=None, ready_timeout=30.0
    )


def test_settings_parse_valid_values() -> None:
    raw = {
        **option("masters", " 5 "),
        **option("replicas", "0"),
        **option("ready_timeout", "2.5"),
    }

    settings = parse_settings(raw)

    assert settings.masters == 5
    assert settings.replicas == 0
    assert settings.ready_timeout == 2.5
    assert settings.describe() == (
        "5 masters with 0 replicas each, ready timeout 2.5 s"
    )


def test_relative_server_uses_base_dir() -> None:
    binary = Path(find_server_binary()).resolve()
    relative = Path(binary.parent.name) / binary.name

    settings = parse_settings(option("server", str(relative), binary.parent.parent))

    assert settings.server_binary == str(binary)


def test_every_setting_has_parser() -> None:
    values = {"masters": "1", "replicas": "1", "ready_timeout": "1"}
    values["server"] = find_server_binary()

    settings = parse_settings(
        {
            setting.name: RawValue(values[setting.name], setting.option, HERE)
            for setting in SETTINGS
        }
    )

    assert settings.masters == 1
    assert settings.server_binary == values["server"]


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("masters", "0", "expected a whole number from 1 to 16384"),
        ("masters", "16385", "expected a whole number from 1 to 16384"),
        ("masters", "2.0", "expected a whole number from 1 to 16384"),
        ("replicas", "-1", "expected a whole number from 0 to 100"),
        ("replicas", "many", "expected a whole number from 0 to 100"),
        ("ready_timeout", "0", "expected a number of seconds greater than 0"),
        ("ready_timeout", "inf", "expected a number of seconds greater than 0"),
        ("ready_timeout", "nan", "expected a number of seconds greater than 0"),
        ("server", " ", "expected a path; leave the setting unset"),
        ("server", "no/such/redis-server", "is not an executable file"),
        ("server", str(HERE), "is not an executable file"),
    ],
)
def test_invalid_value_rejected(name: str, text: str, problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings(option(name, text))

    message = str(raised.value)
    setting = setting_named(name)
    assert message.startswith(f"invalid value {text!r} for {setting.option}: ")
    assert problem in message
    assert f"Pass e.g. {setting.option}={setting.example}" in message
    assert f"set {setting.ini} = {setting.example} in the ini file" in message


def test_server_without_version_rejected(tmp_path: Path) -> None:
    script = tmp_path / "redis-server"
    script.write_text("#!/bin/sh\necho 'not a server'\n")
    script.chmod(0o755)

    with pytest.raises(SettingsError, match="did not report a version"):
        parse_settings(option("server", str(script)))
