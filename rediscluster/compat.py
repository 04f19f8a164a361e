"""Keyword names from redis-py's ``redis.cluster`` and from redis-py-cluster.

Code moving to this client keeps working when it passes the names it used
before. Each is translated to this client's own keyword here, in one place:

- ``require_full_coverage`` (redis.cluster): ``skip_full_coverage_check``,
  inverted.
- ``readonly_mode`` (redis-py-cluster): ``read_from_replicas``.
- ``cluster_error_retry_attempts`` (redis.cluster) and
  ``cluster_down_retry_attempts`` (redis-py-cluster): the retry count of
  ``retry``.
- ``max_connections_per_node`` (redis-py-cluster): dropped, because
  ``max_connections`` always bounds each node.
- ``nodemanager_follow_cluster`` (redis-py-cluster): dropped, because
  refreshes always ask the known nodes first.
- ``init_slot_cache`` (redis-py-cluster): dropped, because the constructor
  always reads the layout.
- ``dynamic_startup_nodes`` (redis.cluster): dropped, because refreshes ask
  the known nodes, then the startup nodes.

``docs/migration.rst`` lists every old keyword with its outcome here.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_REINITIALIZE_STEPS = 5

# Old names for the retry count, each turned into a Retry with this
# client's default backoff.
_RETRY_COUNT_NAMES = ("cluster_error_retry_attempts", "cluster_down_retry_attempts")


def translate_legacy_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop old keyword names from kwargs; return this client's equivalents."""
    translated: dict[str, Any] = {}
    if "require_full_coverage" in kwargs:
        translated["skip_full_coverage_check"] = not kwargs.pop(
            "require_full_coverage"
        )
    if "readonly_mode" in kwargs:
        translated["read_from_replicas"] = bool(kwargs.pop("readonly_mode"))
    retry = _retry_from_attempts(kwargs)
    if retry is not None:
        translated["retry"] = retry
    _check_per_node_flag(kwargs)
    _drop_ignored(kwargs)
    return translated


def _retry_from_attempts(kwargs: dict[str, Any]) -> Optional[Retry]:
    passed = [name for name in _RETRY_COUNT_NAMES if name in kwargs]
    if len(passed) > 1:
        raise ValueError(
            f"{passed[0]} and {passed[1]} both set the retry count; pass only "
            f"one of them, or retry=redis.retry.Retry(...)"
        )
    if not passed:
        return None
    name = passed[0]
    attempts = kwargs.pop(name)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise ValueError(
            f"invalid {name} {attempts!r}: use an integer >= 0, or pass "
            f"retry=redis.retry.Retry(...)"
        )
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=attempts)


def _check_per_node_flag(kwargs: dict[str, Any]) -> None:
    per_node = kwargs.pop("max_connections_per_node", True)
    if not isinstance(per_node, bool):
        raise ValueError(
            f"invalid max_connections_per_node {per_node!r}: it is a bool in "
            f"redis-py-cluster; here max_connections always bounds each node, "
            f"so pass max_connections={per_node!r} instead"
        )
    if per_node is False:
        logger.warning(
            "max_connections_per_node=False is not supported: max_connections "
            "bounds each node's pool"
        )


def _drop_ignored(kwargs: dict[str, Any]) -> None:
    """Pop flags whose behaviour this client always has; warn when the
    caller requested the opposite."""
    kwargs.pop("nodemanager_follow_cluster", None)
    if kwargs.pop("init_slot_cache", True) is False:
        logger.warning(
            "init_slot_cache=False is not supported: the client reads the "
            "cluster layout when it is created"
        )
    if kwargs.pop("dynamic_startup_nodes", True) is False:
        logger.warning(
            "dynamic_startup_nodes=False is not supported: a layout refresh "
            "asks the known nodes first and the startup nodes last"
        )


def reinitialize_steps_or_default(steps: Optional[int]) -> int:
    """Validate reinitialize_steps; return it, or the default for None.

    None is redis-py-cluster's default value for this keyword.
    """
    if steps is None:
        return DEFAULT_REINITIALIZE_STEPS
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(
            f"invalid reinitialize_steps {steps!r}: use an integer >= 0, the "
            f"number of MOVED replies after which the whole layout is re-read"
        )
    return steps
