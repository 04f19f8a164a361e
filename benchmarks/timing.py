"""Timing several actions in turns, so that drift on the machine hits all alike."""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any, Callable

Action = Callable[[], Any]


def median_seconds(
    actions: dict[str, Action], repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Run each action ``warmup + repeats`` times, round-robin; return medians.

    The warm-up runs are not timed. Each round runs every action once, so a
    slow moment of the machine falls on every action, and starts one action
    later in the order given. A full garbage collection runs before each
    action, off the clock. Without it, the rediscluster client that ran
    first in each round was 7-16% slower in S5 than the other one, in either
    order. With it, the two were within 3%, so the first one had been paying
    for the garbage that the actions before it left.
    """

    def timed(action: Action) -> Callable[[], float]:
        def run() -> float:
            gc.collect()
            started = time.perf_counter()
            action()
            return time.perf_counter() - started

        return run

    return median_reported(
        {name: timed(action) for name, action in actions.items()}, repeats, warmup
    )


def median_reported(
    runs: dict[str, Callable[[], float]], repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Call each run in the turns ``median_seconds`` uses; return the median of
    the seconds each call reports, warm-up calls left out."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for round_number in range(warmup + repeats):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = runs[name]()
            if round_number >= warmup:
                samples[name].append(seconds)
    return {name: statistics.median(times) for name, times in samples.items()}
