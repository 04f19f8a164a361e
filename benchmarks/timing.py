"""Timing several actions in turns, so that drift on the machine hits all alike."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

Action = Callable[[], Any]


def median_seconds(
    actions: dict[str, Action], repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Run each action ``warmup + repeats`` times, round-robin; return medians.

    The warm-up runs are not timed. Each round runs every action once, in the
    order given, so a slow moment of the machine falls on every action.
    """
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for round_number in range(warmup + repeats):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            elapsed = time.perf_counter() - started
            if round_number >= warmup:
                samples[name].append(elapsed)
    return {name: statistics.median(times) for name, times in samples.items()}
