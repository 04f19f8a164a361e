"""Retry policy helpers shared by plain commands, pipelines and transactions.

Attempts and delays come from the client's ``redis.retry.Retry``. redis-py
exposes its retry count through ``get_retries()`` (5.1 and later) and keeps
the backoff object private, so both are read here, in one place.
"""

from __future__ import annotations

import time

from redis.backoff import AbstractBackoff
from redis.retry import Retry


def retry_budget(retry: Retry) -> tuple[int, AbstractBackoff]:
    """Return the retry count and the backoff of a redis-py Retry."""
    get_retries = getattr(retry, "get_retries", None)
    retries = get_retries() if get_retries is not None else retry._retries
    return int(retries), retry._backoff


def pause_after_redirects(
    redirects: int, max_redirects: int, backoff: AbstractBackoff
) -> None:
    """Back off once a command has been redirected more than half the limit.

    Nodes that have not yet agreed on a slot's owner after a reshard redirect
    to each other. The first redirects are followed at once; later ones wait,
    so the cluster can converge before the limit is reached.
    """
    excess = redirects - max_redirects // 2
    if excess > 0:
        time.sleep(backoff.compute(excess))
