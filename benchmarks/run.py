"""Run the benchmark: ``python -m benchmarks.run [--quick] [--write-docs]``.

The full run rewrites ``docs/benchmarks.rst``. ``--quick`` runs every
scenario small and briefly, only to show that the suite works, and writes
the page only with ``--write-docs``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Callable, Optional, Sequence

from benchmarks import cluster as bench_cluster
from benchmarks import docs, goals, machine, table
from benchmarks.concurrency import run_threads
from benchmarks.context import Bench
from benchmarks.memory import run_memory
from benchmarks.peers import GLIDE, peer_factories
from benchmarks.plan import FULL, QUICK
from benchmarks.results import Result
from benchmarks.scenarios import PIPELINE_SPECS, run_gets, run_mget, run_pipeline

Runner = Callable[[Bench], Result]


def runners() -> dict[str, Runner]:
    """Return every scenario's runner, in order."""
    found: dict[str, Runner] = {
        spec.scenario: (lambda bench, spec=spec: run_pipeline(spec, bench))
        for spec in PIPELINE_SPECS
    }
    found.update(S7=run_gets, S8=run_mget, S9=run_threads, S10=run_memory)
    return found


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repetitions, for CI")
    parser.add_argument("--write-docs", action="store_true",
                        help="write docs/benchmarks.rst in quick mode too")
    parser.add_argument("--only", metavar="S1,S2",
                        help="run only these scenarios (docs are not written)")
    return parser.parse_args(argv)


def run_scenarios(bench: Bench, names: Sequence[str]) -> list[Result]:
    """Run the named scenarios in order, printing progress to stderr."""
    results = []
    for name in names:
        started = time.monotonic()
        results.append(runners()[name](bench))
        print(f"{name} done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return results


def report(results: Sequence[Result]) -> list[goals.Verdict]:
    """Print the table, the other figures and the targets; return verdicts."""
    print(table.as_text(table.rows(results)))
    print()
    for line in table.details_text(results):
        print(line)
    verdicts = goals.judge_all({result.scenario: result for result in results})
    print()
    for verdict in verdicts:
        word = goals.verdict_word(verdict)
        print(f"{verdict.goal.scenario} {verdict.goal.text}: {word} "
              f"({verdict.figure})")
    return verdicts


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; return the exit status."""
    args = parse_args(argv)
    logging.getLogger("rediscluster").setLevel(logging.ERROR)
    plan = QUICK if args.quick else FULL
    names = list(runners())
    if args.only:
        names = [name.strip().upper() for name in args.only.split(",")]
    factories = peer_factories()
    if factories[GLIDE] is None:
        print("valkey-glide-sync: not installed; its column is empty")
    cluster = bench_cluster.start_cluster()
    try:
        server = f"{cluster.server_name} " + ".".join(map(str, cluster.server_version))
        results = run_scenarios(Bench(cluster, plan, factories), names)
    finally:
        cluster.close()
    print(f"mode: {'quick' if plan.quick else 'full'}; server: {server}")
    verdicts = report(results)
    if not args.only and (not plan.quick or args.write_docs):
        path = docs.write(results, verdicts, machine.describe(server))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
