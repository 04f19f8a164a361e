"""Rate-limited warnings, so a burst of failures does not flood the log.

During a failover every thread retries every command, and each retry is worth
a WARNING the first time, not thousands of times. ``RateLimiter`` lets one
record per key through per interval and counts the ones it suppressed. The
next record that passes reports how many were suppressed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

DEFAULT_INTERVAL = 1.0


class RateLimiter:
    """Logs at most one record per key per interval, with a count of the rest."""

    def __init__(self, interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[Any, float] = {}
        self._held: dict[Any, int] = {}
        self._lock = threading.Lock()

    def log(
        self,
        logger: logging.Logger,
        level: int,
        key: Any,
        message: str,
        *args: Any,
    ) -> None:
        """Log message under key unless one with that key passed recently."""
        if not logger.isEnabledFor(level):
            return
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._held.pop(key, 0)
        if suppressed:
            message += " (%d similar messages in the last %.0f s not shown)"
            args = (*args, suppressed, self.interval)
        logger.log(level, message, *args)


# Shared by every client in the process: the log is per process too.
limiter = RateLimiter()
