"""The benchmark's round-robin timing."""

from __future__ import annotations

from benchmarks.timing import median_seconds


def test_rounds_rotate_the_start() -> None:
    ran: list[str] = []
    actions = {name: (lambda name=name: ran.append(name)) for name in "abc"}
    medians = median_seconds(actions, repeats=3, warmup=1)
    assert set(medians) == {"a", "b", "c"}
    rounds = [ran[start : start + 3] for start in range(0, len(ran), 3)]
    assert rounds == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
