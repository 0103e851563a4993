"""Benchmark: how ``xlcnn verify`` grows with the workbook, against the spreadsheet engine it waits for.

    python bench/verify_scaling.py                # default size, 64×64 and 128×128 (about fifteen minutes)
    python bench/verify_scaling.py --sides 28 64  # only these

Each size is built once (the default architecture with 16 filters in both conv layers, the learning layer
included up to 128×128; 256×256 forward only, since with it the workbook would pass xlcnn's cell limit), then
verified ``--runs`` times, each in a fresh process that reports its whole time, LibreOffice's
part of it (``VerifyReport.recalc_seconds``) and its own peak memory (LibreOffice runs in a process of its own).
The goals of issue 16 are ratios, so that they hold on any machine: verify's own work (everything but
LibreOffice) at most 0.5× LibreOffice's recalculation, its time per formula flat as the workbook grows (linear),
and at most 600 MB at 128×128.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_build import SAMPLE, big_model, learns, peak_mb

import xlcnn

OWN_GOAL = 0.5  # verify's own work against LibreOffice's recalculation
MEMORY_GOAL_MB = 600  # at 128×128
TIMEOUT = 3600.0  # seconds LibreOffice may take on the largest workbook (verify's default is for classroom sizes)


def child_verify(book: str) -> None:
    """In a fresh process: verify one workbook; print seconds, LibreOffice's seconds, peak MB and cells as JSON."""
    start = time.perf_counter()
    report = xlcnn.verify_workbook(book, timeout=TIMEOUT)
    seconds = time.perf_counter() - start
    assert report.ok, f"{book}: {report.bad} formula cells differ"
    print(json.dumps({"seconds": seconds, "recalc": report.recalc_seconds, "cells": report.cells,
                      "peak_mb": peak_mb()}))


def measure(side: int, runs: int, tmp: Path) -> dict[str, Any]:
    """Verify of the default architecture at ``side``×``side`` with 16 filters."""
    book = tmp / f"verify{side}.xlsx"
    xlcnn.build_workbook(SAMPLE, book, model=big_model(side, 16), learn=learns(side))
    return {"side": side, "input": f"{side}×{side}", "learn": learns(side), **_verified(book, runs)}


def measure_default(runs: int, tmp: Path) -> dict[str, Any]:
    """Verify of the workbook the README's first command builds: the default template, the learning layer in."""
    book = tmp / "verify-default.xlsx"
    xlcnn.build_workbook(SAMPLE, book)
    return {"side": None, "input": "default", "learn": True, **_verified(book, runs)}


def _verified(book: Path, runs: int) -> dict[str, Any]:
    """Medians of ``runs`` verifies of ``book``, each in a fresh process."""
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, __file__, "--child", str(book)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"verify of {book.name} failed: {out.stderr.strip().splitlines()[-1:]}")
        samples.append(json.loads(out.stdout))
    return {"cells": samples[0]["cells"], "seconds": statistics.median(s["seconds"] for s in samples),
            "recalc": statistics.median(s["recalc"] for s in samples),
            "own": statistics.median(s["seconds"] - s["recalc"] for s in samples),
            "peak_mb": statistics.median(s["peak_mb"] for s in samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sides", type=int, nargs="+", default=[28, 64, 128])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_verify(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="xlcnn-verify-") as name:
        rows = []
        for side in args.sides:
            rows.append(measure(side, args.runs, Path(name)))
            print(f"measured {side}×{side}", file=sys.stderr)
    first = rows[0]
    print(f"medians of {args.runs} runs, 16 filters, the learning layer included up to 128×128\n")
    print(f"{'input':>9}{'formulas':>12}{'verify s':>10}{'LO s':>8}{'own s':>8}{'own/LO':>8}"
          f"{'own µs/f':>10}{'growth':>8}{'peak MB':>9}")
    for row in rows:
        per = row["own"] / row["cells"] * 1e6
        growth = per / (first["own"] / first["cells"] * 1e6)  # 1.0 = linear
        print(f"{row['side']}×{row['side']:<5}{row['cells']:>12,}{row['seconds']:>10.1f}{row['recalc']:>8.1f}"
              f"{row['own']:>8.1f}{row['own'] / row['recalc']:>8.2f}{per:>10.2f}{growth:>8.2f}{row['peak_mb']:>9.0f}")
    worst = max(row["own"] / row["recalc"] for row in rows)
    memory = next((row["peak_mb"] for row in rows if row["side"] == 128), None)
    within = "within" if worst <= OWN_GOAL else "OVER"
    print(f"\nverdict: own work at most {worst:.2f}× LibreOffice ({within} the goal of {OWN_GOAL}×)", end="")
    if memory is not None:
        print(f"; {memory:.0f} MB at 128×128 ({'within' if memory <= MEMORY_GOAL_MB else 'OVER'} {MEMORY_GOAL_MB} MB)",
              end="")
    print()


if __name__ == "__main__":
    main()
