"""The pytest plugin, run on the example suite in a separate pytest process.

Each test copies ``examples/pytest_app`` into pytester's directory and runs
pytest there in a subprocess, with ``TMPDIR`` inside that directory, so the
clusters the plugin starts are separate from this suite's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytest_plugins = ["pytester"]

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "pytest_app"
EXAMPLE_TESTS = 11
# local_cluster: 3 masters and 3 replicas (the example's pytest.ini);
# fault_proxy: 3 masters and the 3 proxy processes in front of them.
EXAMPLE_PROCESSES = 12
EXAMPLE_CLUSTERS = 2
CLUSTER_DIR_PATTERN = "rediscluster-localcluster-*"

# Loaded into the example run with -p. Before the last test's teardown, which
# also ends the session fixtures, it records the run's child processes and
# cluster directories while the clusters still run.
PROBE = """
import json
import os
from pathlib import Path

import psutil
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    if nextitem is not None:
        return
    children = psutil.Process().children(recursive=True)
    directories = Path(os.environ["TMPDIR"]).glob(CLUSTER_DIR_PATTERN)
    record = {
        "pids": [child.pid for child in children],
        "dirs": sorted(str(path) for path in directories),
    }
    with open(os.environ["PLUGIN_PROBE_FILE"], "w") as output:
        json.dump(record, output)
""".replace("CLUSTER_DIR_PATTERN", repr(CLUSTER_DIR_PATTERN))


def process_running(pid: int) -> bool:
    """Return whether ``pid`` runs; a zombie waiting for init to reap it does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def example_tmp(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copy the example suite into pytester's directory; return the run's TMPDIR."""
    for source in EXAMPLE_DIR.iterdir():
        if source.suffix in (".py", ".ini"):
            shutil.copy(source, pytester.path / source.name)
    temp = pytester.mkdir("tmp")
    monkeypatch.setenv("TMPDIR", str(temp))
    return temp


def test_example_suite_passes_and_cleans_up(
    pytester: pytest.Pytester, example_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe_file = pytester.path / "probe.json"
    monkeypatch.setenv("PLUGIN_PROBE_FILE", str(probe_file))
    pytester.makepyfile(plugin_probe=PROBE)

    result = pytester.runpytest_subprocess("-p", "plugin_probe", timeout=300)

    result.assert_outcomes(passed=EXAMPLE_TESTS)
    result.stdout.fnmatch_lines(
        ["rediscluster: 3 masters with 1 replica each, ready timeout 30 s, *"]
    )
    record = json.loads(probe_file.read_text())
    assert len(record["pids"]) == EXAMPLE_PROCESSES
    assert len(record["dirs"]) == EXAMPLE_CLUSTERS
    assert [pid for pid in record["pids"] if process_running(pid)] == []
    assert [path for path in record["dirs"] if Path(path).exists()] == []


def test_option_overrides_ini_key(
    pytester: pytest.Pytester, example_tmp: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "--collect-only", "--rediscluster-replicas=0", "--rediscluster-ready-timeout=45"
    )

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "rediscluster: 3 masters with 0 replicas each, ready timeout 45 s, *",
            f"*{EXAMPLE_TESTS} tests collected*",
        ]
    )
    assert list(example_tmp.glob(CLUSTER_DIR_PATTERN)) == []


@pytest.mark.parametrize(
    ("arguments", "ini_line", "expected"),
    [
        (
            ["--rediscluster-masters=zero"],
            None,
            "ERROR: invalid value 'zero' for --rediscluster-masters: expected a "
            "whole number from 1 to 16384. Pass e.g. --rediscluster-masters=3 or "
            "set rediscluster_masters = 3 in the ini file",
        ),
        (
            [],
            "rediscluster_replicas = -1",
            "ERROR: invalid value '-1' for ini key rediscluster_replicas in "
            "*pytest.ini: expected a whole number from 0 to 100. Pass e.g. "
            "--rediscluster-replicas=1 or set rediscluster_replicas = 1 *",
        ),
        (
            ["-o", "rediscluster_masters=x"],
            None,
            "ERROR: invalid value 'x' for -o rediscluster_masters: expected a "
            "whole number from 1 to 16384. *",
        ),
        (
            ["--rediscluster-server=missing/redis-server"],
            None,
            "ERROR: invalid value 'missing/redis-server' for --rediscluster-server: "
            "'*/missing/redis-server' is not an executable file; give the path of "
            "a redis-server or valkey-server binary, or leave the setting unset *",
        ),
        (
            [f"--rediscluster-server={sys.executable}"],
            None,
            "ERROR: invalid value '*' for --rediscluster-server: * did not report "
            "a version: *",
        ),
        (
            ["--rediscluster-ready-timeout=0"],
            None,
            "ERROR: invalid value '0' for --rediscluster-ready-timeout: expected a "
            "number of seconds greater than 0. *",
        ),
    ],
    ids=[
        "masters",
        "ini-replicas",
        "override-masters",
        "server-missing",
        "server-not-redis",
        "timeout",
    ],
)
def test_invalid_setting_stops_run(
    pytester: pytest.Pytester,
    example_tmp: Path,
    arguments: list[str],
    ini_line: str | None,
    expected: str,
) -> None:
    if ini_line is not None:
        ini = pytester.path / "pytest.ini"
        text = ini.read_text()
        assert "rediscluster_replicas = 1" in text
        ini.write_text(text.replace("rediscluster_replicas = 1", ini_line))

    result = pytester.runpytest_subprocess(*arguments)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert list(example_tmp.glob(CLUSTER_DIR_PATTERN)) == []


def test_testing_import_skips_pytest() -> None:
    code = (
        "import sys\n"
        "import rediscluster.testing\n"
        "import rediscluster.testing.fault_proxies\n"
        "import rediscluster.testing.plugin_settings\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pytest', '_pytest')))\n"
    )

    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert output.strip() == "[]"
