"""Benchmark: every goal of issue 16 in one table — the build against its floor and per formula, verify against
LibreOffice, and training the default template — each measured side by side in one run, as ratios where it can.

    python bench/goals.py            # everything, up to 256×256 (about half an hour)
    python bench/goals.py --quick    # up to 128×128, fewer runs (about ten minutes)

- *Build*: the default workbook (learning layer included) against its floor, alternately (``bench_build``); and
  big inputs (the default architecture, 16 filters, the learning layer up to 128×128; 256×256 forward only, as
  with it the workbook would pass xlcnn's cell limit), each built in a fresh process: time per formula and peak
  memory; and 128×128 against its floor, alternately in one process — the build's speed as a ratio, which holds
  on any machine, shown beside the goals with none set (µs follow the machine: the same code gave 5.4 and 10.5
  µs a formula on two days).
- *Verify*: the default workbook and each size verified in a fresh process (``verify_scaling``): its own work
  (everything but LibreOffice) against LibreOffice's recalculation, its own time per formula against the smallest
  size's (1.0 = linear) and its peak memory.
- *Training*: the default template's own command, twice, each in a fresh process (``train_speed``): its time, its
  accuracy against the engine-trained template's, whether the two runs' weights are bit-identical, and whether
  they are the shipped ones.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import bench_build
import train_speed
import verify_scaling

BUILD_RATIO = bench_build.BUDGET_RATIO  # the default's build against its floor
BUILD_US = 6.0  # µs a formula, at 128×128 and beyond
FLAT_MEMORY = 1.5  # the build's peak memory at the largest size against the smallest's
LINEAR = 1.5  # verify's own time per formula against the smallest size's: at most this, for "linear"


def measure(quick: bool) -> dict[str, Any]:
    sides = (28, 64, 128) if quick else (28, 64, 128, 256)
    runs = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="xlcnn-goals-") as name:
        tmp = Path(name)
        floor = bench_build.against_floor(tmp, 5 if quick else 11)
        print("measured the default build against its floor", file=sys.stderr)
        builds = bench_build.big_inputs(tmp, runs, sides)
        print("measured the big builds", file=sys.stderr)
        big_floor = bench_build.big_against_floor(tmp, runs)
        print("measured the 128×128 build against its floor", file=sys.stderr)
        verifies = [verify_scaling.measure_default(5 if quick else 11, tmp)]
        print("measured verify of the default workbook", file=sys.stderr)
        for side in sides:
            verifies.append(verify_scaling.measure(side, 1 if side >= 256 else runs, tmp))
            print(f"measured verify at {side}×{side}", file=sys.stderr)
        training = train_speed.measure(2)  # twice: is retraining reproducible here?
    return {"floor": floor, "big_floor": big_floor, "builds": builds, "verifies": verifies, "training": training}


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(what, measured, goal, met) for every goal; met is None for a measure shown beside them, with no goal."""
    out: list[tuple[str, str, str, bool | None]] = []
    f = r["floor"]
    ratio = f["build_ms"] / f["floor_ms"]
    out.append((f"build, default ({f['formulas']:,} formulas), × its floor",
                f"{ratio:.2f} ({f['build_ms']:.0f} / {f['floor_ms']:.0f} ms; {f['build_ms'] / f['bare_ms']:.2f}× "
                "the cells without formats)", f"≤ {BUILD_RATIO}", ratio <= BUILD_RATIO))
    for b in r["builds"]:
        per = b["build_s"] / b["formulas"] * 1e6
        side = int(b["input"].split("×")[0])
        layer = "" if b["learn"] else ", forward only"
        out.append((f"build, {b['input']}{layer} ({b['formulas']:,} formulas), µs a formula",
                    f"{per:.2f} ({b['build_s']:.1f} s, {b['peak_mb']:.0f} MB)",
                    f"≤ {BUILD_US:g}" if side >= 128 else "", per <= BUILD_US or side < 128))
    g = r["big_floor"]
    ratio = g["build_s"] / g["floor_s"]
    floor_us = g["floor_s"] / g["formulas"] * 1e6
    out.append((f"build, {g['input']} ({g['formulas']:,} formulas), × its floor",
                f"{ratio:.2f} ({g['build_s']:.1f} / {g['floor_s']:.1f} s; the floor {floor_us:.1f} µs a formula)",
                "none set: the µs above, as a ratio that holds on any machine", None))
    largest = max(r["builds"], key=lambda b: b["peak_mb"])
    memory = largest["peak_mb"] / r["builds"][0]["peak_mb"]
    out.append((f"build, the highest peak memory ({largest['input']}) ÷ {r['builds'][0]['input']}'s",
                f"{memory:.2f}", f"≤ {FLAT_MEMORY} (flat)", memory <= FLAT_MEMORY))
    first = next(v for v in r["verifies"] if v["side"] is not None)  # growth: against the smallest big input
    base = first["own"] / first["cells"]
    for v in r["verifies"]:
        own = v["own"] / v["recalc"]
        layer = "" if v["learn"] else ", forward only"
        what = f"verify, {v['input']}{layer} ({v['cells']:,} formulas): own ÷ LibreOffice"
        got = f"{own:.2f} ({v['own']:.1f} / {v['recalc']:.1f} s)"
        if v["side"] is None:
            out.append((what, got, f"≤ {verify_scaling.OWN_GOAL}", own <= verify_scaling.OWN_GOAL))
            continue
        growth = (v["own"] / v["cells"]) / base
        out.append((what + ", growth", f"{got}, {growth:.2f}", f"≤ {verify_scaling.OWN_GOAL}, ≤ {LINEAR} (linear)",
                    own <= verify_scaling.OWN_GOAL and growth <= LINEAR))
        if v["side"] == 128:
            out.append(("verify, 128×128: peak memory", f"{v['peak_mb']:.0f} MB",
                        f"≤ {verify_scaling.MEMORY_GOAL_MB} MB", v["peak_mb"] <= verify_scaling.MEMORY_GOAL_MB))
    t = r["training"]
    change = t["accuracy"] - t["engine_trained_accuracy"]
    out.append(("training, default template", f"{t['seconds']:.0f} s", f"≤ {train_speed.SECONDS_GOAL:.0f} s",
                t["seconds"] <= train_speed.SECONDS_GOAL))
    out.append(("training, held-out accuracy against the engine-trained",
                f"{t['accuracy']:.1%} ({change * 100:+.1f} points)", f"within {train_speed.ACCURACY_GOAL * 100:.1f}",
                abs(change) <= train_speed.ACCURACY_GOAL + 1e-12))
    shipped = "the shipped ones" if t["identical"] else "not the shipped ones (made on another machine)"
    out.append(("training, retrained weights, twice",
                f"{'bit-identical' if t['reproducible'] else 'DIFFERENT'}; {shipped}", "reproducible",
                bool(t["reproducible"])))
    return out


def table(r: dict[str, Any]) -> str:
    lines = ["| goal | measured | target | met |", "|---|---|---|---|"]
    lines += [f"| {what} | {got} | {goal} | {'—' if met is None else 'yes' if met else '**no**'} |"
              for what, got, goal, met in rows(r)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="up to 128×128, one run of each")
    args = parser.parse_args()
    print(table(measure(args.quick)))


if __name__ == "__main__":
    main()
