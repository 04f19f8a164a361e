"""Sizes and repetitions of each scenario, for the full run and ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """The size and repetition count of each scenario.

    ``sizes`` is commands per pipeline (S1-S6, S10), GETs per loop (S7), keys
    per MGET (S8) or commands per pipeline of each thread (S9).
    """

    quick: bool
    sizes: dict[str, int]
    repeats: dict[str, int]
    threads_seconds: float
    threads: int = 16


FULL = Plan(
    quick=False,
    sizes={
        "S1": 30, "S2": 30, "S3": 1_000, "S4": 10_000, "S5": 100_000,
        "S6": 30, "S7": 1_000, "S8": 10_000, "S9": 100, "S10": 1_000_000,
    },
    repeats={
        "S1": 200, "S2": 100, "S3": 50, "S4": 30, "S5": 7,
        "S6": 500, "S7": 45, "S8": 20,
    },
    threads_seconds=10.0,
)

# Only shows that every scenario runs; its figures are too few to trust.
QUICK = Plan(
    quick=True,
    sizes={
        "S1": 30, "S2": 30, "S3": 1_000, "S4": 2_000, "S5": 10_000,
        "S6": 30, "S7": 200, "S8": 2_000, "S9": 100, "S10": 100_000,
    },
    repeats={
        "S1": 15, "S2": 10, "S3": 5, "S4": 5, "S5": 3,
        "S6": 30, "S7": 3, "S8": 5,
    },
    threads_seconds=2.0,
)
