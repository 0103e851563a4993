"""Running an external program (a spreadsheet engine) with a time limit, and stopping it completely."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

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


class Running:
    """A program started by ``started_program``, running while its caller does other work (verify reads the
    workbook while LibreOffice recalculates it: two cores, half the wait)."""

    def __init__(self, proc: subprocess.Popen[bytes], err: IO[bytes], timeout: float, what: str,
                 error: type[XlcnnError]) -> None:
        self.proc, self.err, self.timeout, self.what, self.error = proc, err, timeout, what, error
        self.started = time.monotonic()
        self.ended: float | None = None
        # A thread of its own notes when the program ends, so its time is its own, not the caller's.
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        self.proc.wait()
        self.ended = time.monotonic()

    def finish(self) -> float:
        """Wait for the program; → how many seconds it ran. Raise ``error`` when it fails or overruns its time."""
        self._waiter.join(max(0.0, self.timeout - (time.monotonic() - self.started)))
        if self._waiter.is_alive() or self.ended is None:
            _kill(self.proc)
            raise self.error(f"{self.what} did not finish within {self.timeout:g} s and was stopped")
        seconds = self.ended - self.started
        if self.proc.returncode != 0:
            self.err.seek(0)
            detail = one_line(self.err.read(1 << 16).decode(errors="replace"))[-300:] or (
                f"exit code {self.proc.returncode}")
            raise self.error(f"{self.what} failed after {seconds:.1f} s ({detail})")
        return seconds


@contextmanager
def started_program(args: list[str], timeout: float, home: Path, what: str,
                    error: type[XlcnnError]) -> Iterator[Running]:
    """Start ``args`` with ``home`` as its HOME, in a session of its own, and hand it over running; raise ``error``
    naming ``what`` (e.g. "LibreOffice") when it cannot start. Leaving the block stops it and every process it
    started, unless it has ended: an error or a signal never leaves it running."""
    timeout = check_timeout(timeout)
    env = {**os.environ, "HOME": str(home)}  # keeps the program's caches and settings out of the user's home
    env.pop("SAL_USE_VCLPLUGIN", None)
    with tempfile.TemporaryFile(dir=home) as err:  # a file, not a pipe: nobody reads it while the program runs
        try:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
        except OSError as exc:
            raise error(f"{args[0]}: cannot start {what} ({one_line(str(exc))})") from None
        try:
            yield Running(proc, err, timeout, what, error)
        finally:
            if proc.poll() is None:
                _kill(proc)


def run_program(args: list[str], timeout: float, home: Path, what: str, error: type[XlcnnError]) -> None:
    """Run ``args`` with ``home`` as its HOME, in a session of its own; raise ``error`` naming ``what``
    (e.g. "LibreOffice") when it cannot start, fails, or takes longer than ``timeout`` seconds."""
    with started_program(args, timeout, home, what, error) as running:
        running.finish()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop the program and every process it started (they share a process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
