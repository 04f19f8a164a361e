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
    samples: dict[str, list[float]] = {name: [] for name in actions}
    names = list(actions)
    for round_number in range(warmup + repeats):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            action = actions[name]
            gc.collect()
            started = time.perf_counter()
            action()
            elapsed = time.perf_counter() - started
            if round_number >= warmup:
                samples[name].append(elapsed)
    return {name: statistics.median(times) for name, times in samples.items()}
