"""The results table: medians per scenario and client, then ratios.

One list of rows feeds both the plain-text table the run prints and the
reStructuredText table in ``docs/benchmarks.rst``.
"""

from __future__ import annotations

from typing import Optional, Sequence

from benchmarks.peers import GLIDE, PEER_NAMES, RC_THREADS_OFF, RC_THREADS_ON, REDIS_PY
from benchmarks.results import Result

NOT_INSTALLED = "not installed"
RATIOS = (
    (RC_THREADS_ON, REDIS_PY, "on/redis-py"),
    (RC_THREADS_ON, GLIDE, "on/glide"),
    (RC_THREADS_ON, "limit", "on/limit"),
    (RC_THREADS_OFF, REDIS_PY, "off/redis-py"),
    (RC_THREADS_OFF, GLIDE, "off/glide"),
    (RC_THREADS_OFF, "limit", "off/limit"),
)
HEADER = ("scenario", "what", "unit", *PEER_NAMES, "limit",
          *(label for _, _, label in RATIOS))


def number(value: Optional[float]) -> str:
    """Format a figure with about three significant digits."""
    if value is None:
        return NOT_INSTALLED
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _ratio(result: Result, peer: str, other: str) -> str:
    ratio = result.ratio(peer, other)
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    """Return the header and one row of strings per result."""
    table: list[tuple[str, ...]] = [HEADER]
    for result in results:
        figures = [number(result.values.get(name)) for name in PEER_NAMES]
        ratios = [_ratio(result, peer, other) for peer, other, _ in RATIOS]
        table.append((result.scenario, result.title, result.unit, *figures,
                      number(result.limit), *ratios))
    return table


def _widths(table: Sequence[Sequence[str]]) -> list[int]:
    return [max(len(row[column]) for row in table) for column in range(len(table[0]))]


def as_text(table: Sequence[Sequence[str]]) -> str:
    """Return the rows as a fixed-width text table."""
    widths = _widths(table)
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths))
             for row in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def as_rst(table: Sequence[Sequence[str]]) -> str:
    """Return the rows as a reStructuredText simple table."""
    widths = _widths(table)
    border = " ".join("=" * width for width in widths)
    body = [" ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in table]
    return "\n".join([border, body[0], border, *body[1:], border])


def details_text(results: Sequence[Result]) -> list[str]:
    """Return one line per extra figure (errors, connections, baselines)."""
    lines = []
    for result in results:
        for name, detail in result.details.items():
            lines.append(f"{result.scenario} {name}: {detail}")
    return lines
