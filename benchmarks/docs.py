"""Writing ``docs/benchmarks.rst`` from one run.

The page is rewritten on every full run, except the section titled
``PROFILE_HEADING`` and everything after it: that part is written by hand from
profiles, so a new run carries it over unchanged. Check it against the new
figures when they move.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from benchmarks import table
from benchmarks.goals import Verdict, verdict_word
from benchmarks.results import Result

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.rst"
PROFILE_HEADING = "Where the time goes"

# Characters that start or end inline markup in reStructuredText.
_INLINE_MARKUP = re.compile(r"([\\`*_|])")

_INTRO = """\
Benchmarks
==========

Figures of one run of ``make bench`` (``python -m benchmarks.run``). The run
starts one ``LocalCluster`` of 3 masters, each behind a ``FaultProxy``, and
times every client in turns in each scenario: rediscluster with pipeline
threads on (``rc threads on``, the default) and off, redis-py's
``redis.cluster.RedisCluster`` (``redis-py``) and valkey-glide-sync's
``GlideClusterClient`` with non-atomic ``ClusterBatch`` pipelines
(``glide``). Delayed scenarios add the delay on each way through the proxies.
Loopback scenarios (S4-S10) connect straight to the servers, without
proxies. Each round of a scenario starts with the next client in turn, and
a full garbage collection runs before each timed call, off the clock, so
no client pays for the garbage of the one before it.

The limit column is measured in the same run. In latency scenarios (S1, S2,
S6) it is one PING round trip of ``redis.Redis`` to a node (the slowest one
in S2), and in S7 the same GETs sent by ``redis.Redis`` straight to each
key's owner. S7 runs each client and the limit in a child process that
holds only that client, because a GET's time is mostly waiting for a
wake-up, which the other clients' threads in a shared process changed. In
throughput scenarios (S3-S5, S8-S10) the commands are packed with hiredis
before the clock starts, written to raw sockets of the owning nodes, and
the replies are only counted with a hiredis ``Reader``.
S9's limit is that on one thread. S10 measures each client in a child
process as the rise of ``ru_maxrss`` over its baseline after import and
connect.

Ratios divide the rediscluster figure by the peer's or the limit's. For
S9 (operations per second) higher is better, and for every other scenario
lower is better.
"""


def escape(text: str) -> str:
    """Return text with inline markup characters escaped, for free text such
    as server error messages, which quote names in backticks."""
    return _INLINE_MARKUP.sub(r"\\\1", text)


def _field_list(machine: dict[str, str]) -> str:
    return "\n".join(f":{name}: {escape(value)}" for name, value in machine.items())


def _goals(verdicts: Sequence[Verdict]) -> str:
    lines = ["Targets", "-------", ""]
    for verdict in verdicts:
        goal = verdict.goal
        lines.append(
            f"- {goal.scenario} {goal.text}: **{verdict_word(verdict)}** "
            f"({verdict.figure})"
        )
    return "\n".join(lines)


def _profile_section(path: Path) -> str:
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find(f"\n{PROFILE_HEADING}\n")
    return text[start + 1 :] if start >= 0 else ""


def render(
    results: Sequence[Result],
    verdicts: Sequence[Verdict],
    machine: dict[str, str],
    profile_section: str,
) -> str:
    """Return the whole page."""
    rows = table.rows(results)
    details = table.details_text(results)
    parts = [
        _INTRO,
        "Machine and versions\n--------------------\n\n" + _field_list(machine),
        "Results\n-------\n\nMedians per scenario and client.\n\n"
        + table.as_rst(rows),
        "Other figures:\n\n" + "\n".join(f"- {escape(line)}" for line in details),
        _goals(verdicts),
    ]
    page = "\n\n".join(parts) + "\n"
    if profile_section:
        page += "\n" + profile_section
    return page


def write(
    results: Sequence[Result],
    verdicts: Sequence[Verdict],
    machine: dict[str, str],
    path: Path = DOCS_PATH,
) -> Path:
    """Write the page, keeping the hand-written profile section; return path."""
    page = render(results, verdicts, machine, _profile_section(path))
    path.write_text(page)
    return path
