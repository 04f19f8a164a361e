"""Keyword names from redis-py's ``redis.cluster`` and from redis-py-cluster.

Code moving to this client keeps working when it passes the names it used
before. Each is translated to this client's own keyword here, in one place.

Each old keyword, its package, and what this client takes instead:

* ``require_full_coverage`` (redis.cluster): ``skip_full_coverage_check``,
  inverted.
* ``readonly_mode`` (redis-py-cluster): ``read_from_replicas``.
* ``cluster_error_retry_attempts`` (redis.cluster): ``retry``, as its retry
  count.
* ``max_connections_per_node`` (redis-py-cluster): none, because
  ``max_connections`` is always per node.
* ``nodemanager_follow_cluster`` (redis-py-cluster): none, because refreshes
  always ask known nodes first.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)


def translate_legacy_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop old keyword names from kwargs; return this client's equivalents."""
    translated: dict[str, Any] = {}
    if "require_full_coverage" in kwargs:
        translated["skip_full_coverage_check"] = not kwargs.pop(
            "require_full_coverage"
        )
    if "readonly_mode" in kwargs:
        translated["read_from_replicas"] = bool(kwargs.pop("readonly_mode"))
    if "cluster_error_retry_attempts" in kwargs:
        attempts = kwargs.pop("cluster_error_retry_attempts")
        if not isinstance(attempts, int) or attempts < 0:
            raise ValueError(
                f"invalid cluster_error_retry_attempts {attempts!r}: use an "
                f"integer >= 0, or pass retry=redis.retry.Retry(...)"
            )
        translated["retry"] = Retry(
            ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=attempts
        )
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
    kwargs.pop("nodemanager_follow_cluster", None)
    return translated
