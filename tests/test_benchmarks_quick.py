"""The benchmark's quick mode runs every scenario and prints the table.

It is the check that ``make bench`` still works; its figures are not
judged here. It starts its own cluster in a child process.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = [f"S{number}" for number in range(1, 11)]
TIMEOUT_SECONDS = 150


def _directories_of(pid: int) -> list[Path]:
    """Return the LocalCluster directories whose owner file names pid."""
    found = []
    for directory in Path(tempfile.gettempdir()).glob("rediscluster-localcluster-*"):
        try:
            owner = (directory / "owner.pid").read_text().strip()
        except OSError:
            continue
        if owner == str(pid):
            found.append(directory)
    return found


def _table_rows(output: str) -> set[str]:
    """Return the scenario names of the table's rows: header to blank line."""
    lines = output.splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("scenario "))
    assert "on/redis-py" in lines[header]
    assert "on/limit" in lines[header]
    rows = set()
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        rows.add(line.split()[0])
    return rows


@pytest.mark.slow
def test_quick_benchmark_prints_every_scenario() -> None:
    docs = ROOT / "docs" / "benchmarks.rst"
    docs_before = docs.read_bytes() if docs.exists() else None
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.run", "--quick"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = child.communicate(timeout=TIMEOUT_SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()

    assert child.returncode == 0, stderr[-3000:]
    assert set(SCENARIOS) <= _table_rows(stdout), stdout
    assert (docs.read_bytes() if docs.exists() else None) == docs_before
    assert _directories_of(child.pid) == []
