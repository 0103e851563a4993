"""Running an external program (a spreadsheet engine) with a time limit, and stopping it completely."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from xlcnn.errors import OptionError, XlcnnError, one_line, option

MAX_TIMEOUT = 86_400.0  # a day: longer is no limit at all, and beyond what the selectors underneath can wait


def check_timeout(timeout: object) -> float:
    """A time limit in seconds: a real number above 0 and at most a day."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not 0 < timeout <= MAX_TIMEOUT:  # also refuses nan, which compares false with everything
        raise OptionError(f"{option('timeout')} {timeout:g}: must be a number of seconds above 0 and at most "
                          f"{MAX_TIMEOUT:,.0f}")
    return float(timeout)


def run_program(args: list[str], timeout: float, home: Path, what: str, error: type[XlcnnError]) -> None:
    """Run ``args`` with ``home`` as its HOME, in a session of its own; raise ``error`` naming ``what``
    (e.g. "LibreOffice") when it cannot start, fails, or takes longer than ``timeout`` seconds."""
    timeout = check_timeout(timeout)
    env = {**os.environ, "HOME": str(home)}  # keeps the program's caches and settings out of the user's home
    env.pop("SAL_USE_VCLPLUGIN", None)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    except OSError as exc:
        raise error(f"{args[0]}: cannot start {what} ({one_line(str(exc))})") from None
    with proc:  # closes its pipes however this ends
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise error(f"{what} did not finish within {timeout:g} s and was stopped") from None
        except BaseException:
            _kill(proc)
            raise
    if proc.returncode != 0:
        detail = one_line(err.decode(errors="replace"))[-300:] or f"exit code {proc.returncode}"
        raise error(f"{what} failed after {time.monotonic() - started:.1f} s ({detail})")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop the program and every process it started (they share a process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
