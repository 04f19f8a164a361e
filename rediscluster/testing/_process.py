"""Process helpers shared by the test harness: parent-death signals and stopping.

Every process the harness starts must die with the test run, even when the run is
killed without a chance to clean up, so servers are started with a Linux parent-death
signal and stopped with an escalating signal sequence.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def _set_parent_death_signal() -> None:
    # Runs in the child between fork and exec, so it must not allocate much or log.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def parent_death_preexec() -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that makes the child get SIGKILL when we exit.

    Returns None where prctl is unavailable (not Linux).

    NOTE: Linux sends the signal when the *thread* that forked the child exits, not
    the process, so start servers from a thread that lives as long as they should.
    """
    if _LIBC is None:
        return None
    return _set_parent_death_signal


def pid_alive(pid: int) -> bool:
    """Return whether a process with this pid exists (zombies count as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process(process: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """Stop ``process`` with SIGTERM, then SIGKILL once ``grace`` seconds pass."""
    if process.poll() is not None:
        return
    try:
        process.terminate()
        process.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        logger.debug(
            "pid %d ignored SIGTERM for %.1fs, sending SIGKILL", process.pid, grace
        )
    except ProcessLookupError:
        return
    try:
        process.kill()
    except ProcessLookupError:
        return
    process.wait(timeout=10)
