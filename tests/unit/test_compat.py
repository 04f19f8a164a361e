"""Translation of keyword names from redis-py-cluster and redis.cluster."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from rediscluster.compat import (
    DEFAULT_REINITIALIZE_STEPS,
    reinitialize_steps_or_default,
    translate_legacy_kwargs,
)
from rediscluster.retries import retry_budget


@pytest.mark.parametrize(
    "name", ["cluster_error_retry_attempts", "cluster_down_retry_attempts"]
)
def test_retry_count_names_translate(name: str) -> None:
    kwargs: dict[str, Any] = {name: 4, "socket_timeout": 1.0}

    translated = translate_legacy_kwargs(kwargs)

    assert retry_budget(translated["retry"])[0] == 4
    assert kwargs == {"socket_timeout": 1.0}


def test_both_retry_count_names_raise() -> None:
    kwargs = {"cluster_error_retry_attempts": 1, "cluster_down_retry_attempts": 2}

    with pytest.raises(ValueError, match="both set the retry count"):
        translate_legacy_kwargs(kwargs)


@pytest.mark.parametrize("attempts", [-1, 1.5, "3", True, None])
def test_invalid_retry_count_raises(attempts: Any) -> None:
    with pytest.raises(ValueError, match="cluster_down_retry_attempts"):
        translate_legacy_kwargs({"cluster_down_retry_attempts": attempts})


def test_readonly_mode_translates() -> None:
    assert translate_legacy_kwargs({"readonly_mode": 1}) == {"read_from_replicas": True}


def test_require_full_coverage_inverts() -> None:
    translated = translate_legacy_kwargs({"require_full_coverage": False})

    assert translated == {"skip_full_coverage_check": True}


@pytest.mark.parametrize(
    "name", ["init_slot_cache", "dynamic_startup_nodes", "nodemanager_follow_cluster"]
)
def test_ignored_flag_true_is_silent(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    kwargs: dict[str, Any] = {name: True}

    with caplog.at_level(logging.WARNING, logger="rediscluster"):
        assert translate_legacy_kwargs(kwargs) == {}

    assert kwargs == {}
    assert caplog.records == []


@pytest.mark.parametrize(
    "name", ["init_slot_cache", "dynamic_startup_nodes", "max_connections_per_node"]
)
def test_ignored_flag_false_warns(name: str, caplog: pytest.LogCaptureFixture) -> None:
    kwargs: dict[str, Any] = {name: False}

    with caplog.at_level(logging.WARNING, logger="rediscluster"):
        assert translate_legacy_kwargs(kwargs) == {}

    assert kwargs == {}
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert f"{name}=False" in caplog.records[0].getMessage()


def test_per_node_count_raises() -> None:
    with pytest.raises(ValueError, match="max_connections=10"):
        translate_legacy_kwargs({"max_connections_per_node": 10})


def test_unknown_keywords_left_alone() -> None:
    kwargs: dict[str, Any] = {"url": "redis://localhost", "password": "x"}

    assert translate_legacy_kwargs(kwargs) == {}
    assert kwargs == {"url": "redis://localhost", "password": "x"}


def test_reinitialize_steps_none_default() -> None:
    assert reinitialize_steps_or_default(None) == DEFAULT_REINITIALIZE_STEPS


@pytest.mark.parametrize("steps", [0, 1, 25])
def test_reinitialize_steps_kept(steps: int) -> None:
    assert reinitialize_steps_or_default(steps) == steps


@pytest.mark.parametrize("steps", [-1, 2.5, "5", True])
def test_reinitialize_steps_invalid_raises(steps: Any) -> None:
    with pytest.raises(ValueError, match="reinitialize_steps"):
        reinitialize_steps_or_default(steps)
