"""Real ``xlcnn`` processes stopped by real signals: SIGTERM and SIGHUP clean up like Ctrl+C — no temporary
file beside the output, no scratch folder in the temporary folder, no spreadsheet engine left running —
and exit with 128 + the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xlcnn import build_workbook

ROOT = Path(__file__).resolve().parent.parent
CIRCLE = ROOT / "samples" / "circle.png"


def start(args: list[str], tmp: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m xlcnn ARGS`` with its own temporary folder ``tmp``."""
    tmp.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "xlcnn", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(tmp), **(env or {})})


def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the process never got there"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its (new) parent.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_build_stopped_by_a_signal_leaves_nothing_behind(tmp_path: Path, sig: signal.Signals) -> None:
    out, tmp = tmp_path / "out" / "big.xlsx", tmp_path / "tmp"
    out.parent.mkdir()
    # A 64×64 input with 16 filters takes seconds to write: time enough to be interrupted while writing.
    proc = start(["build", str(CIRCLE), "-o", str(out), "--size", "64", "--filters", "16"], tmp)
    wait_for(lambda: any(out.parent.glob(".big.*.xlsx.tmp")) and any(tmp.iterdir()))
    time.sleep(0.5)  # well into the writing
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig
    assert stderr == f"Error: stopped by {sig.name}; no file was left half-written\n" and stdout == ""
    assert list(out.parent.iterdir()) == []  # neither the workbook nor its temporary file
    assert list(tmp.iterdir()) == []  # XlsxWriter's scratch folder is gone too


def fake_soffice(folder: Path) -> Path:
    """A LibreOffice that never finishes: it starts a child of its own and records both process ids."""
    script = folder / "soffice"
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $$ $! > {folder / 'pids'}\nwait\n")
    script.chmod(0o755)
    return script


def test_a_verify_stopped_by_sigterm_ends_the_spreadsheet_engine_it_started(tmp_path: Path) -> None:
    book, tmp = tmp_path / "tiny.xlsx", tmp_path / "tmp"
    build_workbook(CIRCLE, book, model="tiny")
    proc = start(["verify", str(book)], tmp, {"XLCNN_SOFFICE": str(fake_soffice(tmp_path))})
    wait_for(lambda: (tmp_path / "pids").is_file() and len((tmp_path / "pids").read_text().split()) == 2)
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert all(alive(pid) for pid in pids)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert stderr == "Error: stopped by SIGTERM; no file was left half-written\n"
    wait_for(lambda: not any(alive(pid) for pid in pids), 10)
    assert list(tmp.iterdir()) == []  # the throwaway profile and the recalculated copy are gone


@pytest.mark.libreoffice
def test_a_verify_stopped_by_sighup_stops_real_libreoffice(soffice: str, tmp_path: Path) -> None:
    book, tmp = tmp_path / "default.xlsx", tmp_path / "tmp"
    build_workbook(CIRCLE, book)
    proc = start(["verify", str(book)], tmp)

    def ours() -> list[int]:  # LibreOffice processes whose profile lies in our temporary folder
        found = subprocess.run(["pgrep", "-f", str(tmp)], capture_output=True, text=True).stdout.split()
        return [int(pid) for pid in found if alive(int(pid))]

    wait_for(lambda: bool(ours()))
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGHUP and stderr.startswith("Error: stopped by SIGHUP")
    wait_for(lambda: not ours(), 10)
    assert list(tmp.iterdir()) == []
