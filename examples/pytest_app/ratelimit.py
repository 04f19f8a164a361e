"""A fixed-window rate limiter that stores its counters in a Redis Cluster.

Each user gets a counter per window of ``window_seconds``. :meth:`RateLimiter.hit`
increments it in a MULTI/EXEC transaction together with the time of the last
hit. Both keys carry the hash tag ``{rate:USER}``, so they share a slot, which a
cluster transaction requires. :meth:`RateLimiter.usage` reads many users'
counters, spread over every master, with one pipeline.

When Redis cannot be reached or does not reply in time, the limiter lets the
request through (``fail_open=True``) or rejects it, and marks the decision as
degraded instead of raising.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis

import rediscluster

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit.

    ``count`` is the user's number of hits in the current window, or None when
    Redis failed and ``degraded`` is True.
    """

    allowed: bool
    count: int | None
    degraded: bool


class RateLimiter:
    """Allow at most ``limit`` hits per user in each window of ``window_seconds``."""

    def __init__(
        self,
        client: rediscluster.RedisCluster,
        limit: int,
        window_seconds: int,
        *,
        fail_open: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit!r}")
        if window_seconds < 1:
            raise ValueError(f"window_seconds must be >= 1, got {window_seconds!r}")
        self.client = client
        self.limit = limit
        self.window_seconds = window_seconds
        self.fail_open = fail_open
        self.clock = clock
        self.degraded_count = 0

    def hits_key(self, user: str) -> str:
        """Return the key of ``user``'s counter for the current window."""
        window = int(self.clock() // self.window_seconds)
        return f"{{rate:{user}}}:hits:{window}"

    def last_hit_key(self, user: str) -> str:
        """Return the key that stores the time of ``user``'s last hit."""
        return f"{{rate:{user}}}:last"

    def hit(self, user: str) -> Decision:
        """Count one hit of ``user`` and decide whether it is allowed."""
        hits_key = self.hits_key(user)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(hits_key)
                # Twice the window, so the counter outlives its window even if
                # the clocks of this host and the server differ a little.
                pipe.expire(hits_key, 2 * self.window_seconds)
                pipe.set(self.last_hit_key(user), repr(self.clock()))
                count, _, _ = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as error:
            # OutcomeUnknownError is a ConnectionError: the hit may have been
            # counted, but the reply was lost.
            self.degraded_count += 1
            logger.warning(
                "rate limit check for %s failed, %s it: %s",
                user,
                "allowing" if self.fail_open else "rejecting",
                error,
            )
            return Decision(allowed=self.fail_open, count=None, degraded=True)
        return Decision(allowed=count <= self.limit, count=count, degraded=False)

    def usage(self, users: Iterable[str]) -> dict[str, int]:
        """Return each user's hits in the current window, read in one pipeline."""
        names = list(users)
        with self.client.pipeline() as pipe:
            for user in names:
                pipe.get(self.hits_key(user))
            values = pipe.execute()
        return {user: int(value or 0) for user, value in zip(names, values)}
