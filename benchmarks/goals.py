"""The performance targets, each a bound on one ratio measured in the same run.

Targets concern rediscluster with its default setting, threads on, except
the one that compares threads on with threads off.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable, Optional

from benchmarks.peers import GLIDE, RC_THREADS_OFF, RC_THREADS_ON, REDIS_PY
from benchmarks.results import Result

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Goal:
    """``ratio(peer, other) <op> bound`` in one scenario."""

    scenario: str
    text: str
    other: str
    op: str
    bound: float
    peer: str = RC_THREADS_ON
    no_errors: bool = False


@dataclass(frozen=True)
class Verdict:
    """A goal's outcome: met (True), missed (False) or not measured (None)."""

    goal: Goal
    met: Optional[bool]
    figure: str


GOALS = (
    Goal("S1", "<= 1.10x one PING round trip", "limit", "<=", 1.10),
    Goal("S2", "<= 1.05x the slowest node's round trip", "limit", "<=", 1.05),
    Goal("S3", "faster than valkey-glide-sync", GLIDE, "<", 1.0),
    Goal("S4", "<= 0.5x valkey-glide-sync's time", GLIDE, "<=", 0.5),
    Goal("S4", "<= 0.2x redis-py's time", REDIS_PY, "<=", 0.2),
    Goal("S5", "<= 0.5x valkey-glide-sync's time", GLIDE, "<=", 0.5),
    Goal("S5", "<= 0.2x redis-py's time", REDIS_PY, "<=", 0.2),
    Goal("S5", "<= 3.5x the raw-socket limit", "limit", "<=", 3.5),
    Goal("S6", "threads on no slower than valkey-glide-sync", GLIDE, "<=", 1.0),
    Goal("S6", "threads on <= 1.2x threads off", RC_THREADS_OFF, "<=", 1.2),
    Goal("S7", "<= 1.10x redis.Redis to the owning node", "limit", "<=", 1.10),
    Goal("S8", "<= 0.5x redis-py's mget_nonatomic", REDIS_PY, "<=", 0.5),
    Goal("S9", ">= 1.5x redis-py's operations per second, no error", REDIS_PY,
         ">=", 1.5, no_errors=True),
    Goal("S10", "<= 0.7x redis-py's peak", REDIS_PY, "<=", 0.7),
)


def judge(goal: Goal, result: Result) -> Verdict:
    """Return whether the result meets the goal, with the ratio it got."""
    ratio = result.ratio(goal.peer, goal.other)
    if ratio is None:
        return Verdict(goal, None, f"not measured: {goal.other} not installed")
    met = _COMPARE[goal.op](ratio, goal.bound)
    figure = f"{ratio:.2f}x"
    if goal.no_errors:
        errors = result.errors.get(goal.peer, 0)
        met = met and errors == 0
        figure += f", {errors} errors"
    return Verdict(goal, met, figure)


def judge_all(results: dict[str, Result]) -> list[Verdict]:
    """Return a verdict for every goal whose scenario ran."""
    return [
        judge(goal, results[goal.scenario])
        for goal in GOALS
        if goal.scenario in results
    ]


def verdict_word(verdict: Verdict) -> str:
    """Return "met", "missed" or "not measured"."""
    if verdict.met is None:
        return "not measured"
    return "met" if verdict.met else "missed"
