"""Benchmark: building the default workbook against its floor, and every budget the README states.

    python bench/bench_build.py            # about five minutes
    python bench/bench_build.py --quick    # fewer runs

The floor (issue 16) is stock XlsxWriter, minus the two regular-expression scans that xlcnn's formulas cannot
need, writing the very same cells — every formula string with its cached value, every number, string and
blank, each with its format, to the same sheets in constant-memory mode, without colour scales, names, images
or print settings — recorded from a real build; the same cells without their formats are reported beside it.
xlcnn's build and the floor run alternately in one process and the report gives medians, so machine noise hits
both alike. Everything else (the CLI end to end, the engine,
LibreOffice's recalculation, verify, big inputs and their peak memory) is reported beside it, and the learning
layer's cost: the same commands with and without it (``--no-learn``), run alternately, side by side.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import CellFormulaTuple, Worksheet

import xlcnn
from xlcnn.book.build import plan_for
from xlcnn.book.sheet import BuildContext, ImageInfo
from xlcnn.book.stages import EMITTERS
from xlcnn.book.stages.worked import default_choice
from xlcnn.book.styles import Styles
from xlcnn.book.texts import load_texts
from xlcnn.check.libreoffice import recalculate, recalculated_values
from xlcnn.image import load_image
from xlcnn.model.spec import Architecture, ConvSpec, Model, PoolSpec, Provenance
from xlcnn.model.zoo import initial_weights
from xlcnn.nn.learning import learn

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "circle.png"
BUDGET_RATIO = 1.3


class CallRecorder:
    """Stands in for a worksheet and keeps every cell write, in order, for replaying into the floor (a row of
    formulas written at once, as the cell-by-cell writes bare XlsxWriter makes)."""

    WRITES = ("write_formula", "write_number", "write_string", "write_blank", "write_url")

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            if name == "write_formula_row":
                row, col, formulas, fmt, values = args
                self.calls += [("write_formula", (row, col + i, f, fmt, v)) for i, (f, v) in
                               enumerate(zip(formulas, values, strict=True))]
            elif name in self.WRITES:
                self.calls.append((name, args))
        return record


Recorded = list[tuple[str, list[tuple[str, tuple[Any, ...]]]]]  # (sheet, [(method, its arguments)])


def record_cells(model: Model, image: Path, learning: bool = True) -> Recorded:
    """Every cell write of a real build of ``model`` on ``image`` (with the learning layer if ``learning``), sheet
    by sheet; a cell's format is recorded as its properties (``FormatKey``), for the floor to make its own."""
    spec = model.arch.input
    pixels = load_image(image, (spec.height, spec.width), spec.fit)
    trace = xlcnn.forward(pixels, model)
    layout = plan_for(model, learn=learning)
    scratch = Workbook(io.BytesIO(), {"in_memory": True})

    def add_format(props: dict[str, Any] | None = None) -> FormatKey:
        return FormatKey(tuple(sorted((props or {}).items())))

    ctx = BuildContext(layout, model, trace, Styles(add_format), load_texts("en"),
                       ImageInfo(image.name, (200, 200), "crop", b"", b""), default_choice(trace, model),
                       learning=learn(model, pixels, trace.true_label) if learning else None)
    sheets = []
    for plan in layout.sheets:
        recorder = CallRecorder()
        EMITTERS[plan.kind.name](ctx, plan).replay(recorder)  # type: ignore[arg-type]
        sheets.append((plan.name, recorder.calls))
    scratch.fileclosed = True
    return sheets


class FormatKey(tuple):  # type: ignore[type-arg]
    """A format's properties, sorted: what the floor turns into a format of its own workbook."""

    def __new__(cls, items: tuple[tuple[str, Any], ...]) -> FormatKey:
        return super().__new__(cls, items)

    def get(self, key: str, default: Any = None) -> Any:  # what emitters ask of a format (its number format)
        return dict(self).get(key, default)


class SkippingFloor(Worksheet):  # type: ignore[misc]  # XlsxWriter ships no type hints
    """The floor issue 16 sets: stock XlsxWriter, except that a formula skips the two regular-expression scans
    (dynamic-array functions; functions newer than Excel 2007) that xlcnn's formulas cannot need. Everything
    else — the dimension checks, the general cell writer, its escaping — is XlsxWriter's own."""

    def _write_formula(self, row: int, col: int, formula: str, cell_format: Any = None, value: Any = 0) -> int:
        if self._check_dimensions(row, col):
            return -1
        if self.constant_memory and row > self.previous_row:
            self._write_single_row(row)
        self.table[row][col] = CellFormulaTuple(formula[1:] if formula.startswith("=") else formula,
                                                cell_format, value)
        return 0


def write_floor(path: Path, sheets: Recorded, worksheet_class: type[Worksheet] = Worksheet,
                formats: bool = True) -> None:
    """Bare XlsxWriter: the same cells, values and sheets, each cell with its format (or, with ``formats``
    False, with none); no colour scales, names, images or print settings."""
    wb = Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                              "strings_to_formulas": False, "strings_to_urls": False})
    made: dict[FormatKey, Any] = {}

    def fmt(key: Any) -> Any:
        if not formats or not isinstance(key, FormatKey):
            return None
        if key not in made:
            made[key] = wb.add_format(dict(key))
        return made[key]

    for name, calls in sheets:
        ws = wb.add_worksheet(name, worksheet_class=worksheet_class)
        for method, args in calls:
            style = fmt(args[3]) if len(args) > 3 else None
            if method == "write_formula":
                ws.write_formula(args[0], args[1], args[2], style, args[4])
            elif method == "write_number":
                ws.write_number(args[0], args[1], args[2], style)
            elif method == "write_string":
                ws.write_string(args[0], args[1], args[2], style)
            elif method == "write_blank":
                ws.write_blank(args[0], args[1], None, style)
            elif method == "write_url":
                ws.write_url(args[0], args[1], args[2], style, args[4] if len(args) > 4 else None)
    wb.close()


def against_floor(tmp: Path, runs: int) -> dict[str, Any]:
    """The default workbook's whole build (the learning layer included) and its floor — stock XlsxWriter, minus the
    two regular-expression scans, writing the same cells with their formats — run alternately, so that noise hits
    both alike; and the floor without the formats. Medians in milliseconds."""
    sheets = record_cells(xlcnn.load_model("default"), SAMPLE)
    book = tmp / "default.xlsx"
    times: dict[str, list[float]] = {"build": [], "floor": [], "bare": []}
    xlcnn.build_workbook(SAMPLE, book)  # warm up imports and caches
    for _ in range(runs):
        times["build"].append(timed(lambda: xlcnn.build_workbook(SAMPLE, book)))
        times["floor"].append(timed(lambda: write_floor(tmp / "floor.xlsx", sheets, SkippingFloor)))
        times["bare"].append(timed(lambda: write_floor(tmp / "bare.xlsx", sheets, SkippingFloor, formats=False)))
    formulas = formula_count(sheets)
    return {"formulas": formulas, **{f"{key}_ms": median_ms(samples) for key, samples in times.items()}}


def big_against_floor(tmp: Path, runs: int, side: int = 128, filters: int = 16) -> dict[str, Any]:
    """A big input's build (the learning layer included up to 128×128) and its floor, alternately in one process,
    medians in seconds: the default's measure at the size where the goal of µs a formula starts. Unlike µs,
    which follow the machine's speed, the ratio holds on any machine."""
    model = big_model(side, filters)
    sheets = record_cells(model, SAMPLE, learns(side))
    times: dict[str, list[float]] = {"build": [], "floor": []}
    for _ in range(runs):
        times["build"].append(timed(lambda: xlcnn.build_workbook(SAMPLE, tmp / "big-build.xlsx", model=model,
                                                                 learn=learns(side))))
        times["floor"].append(timed(lambda: write_floor(tmp / "big-floor.xlsx", sheets, SkippingFloor)))
    formulas = formula_count(sheets)
    return {"input": f"{side}×{side}", "formulas": formulas,
            **{f"{key}_s": statistics.median(samples) for key, samples in times.items()}}


def formula_count(sheets: Recorded) -> int:
    return sum(1 for _, calls in sheets for method, _ in calls if method == "write_formula")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def big_model(side: int, filters: int) -> Model:
    """The default architecture on a side × side input with ``filters`` filters in both conv layers."""
    arch = Architecture(
        input=xlcnn.load_model("default").arch.input.__class__(side, side, 3, 1 / 255, "1/255"),
        convs=((ConvSpec(filters, 3, 1, 1), PoolSpec(2, 2)), (ConvSpec(filters, 3, 1, 1), PoolSpec(2, 2))),
        classes=("circle", "square", "triangle"),
    )
    return Model(f"{side}x{side}", "benchmark", "", arch, initial_weights(arch, 0),
                 Provenance("random", "benchmark weights"))


def learns(side: int) -> bool:
    """Whether a side × side input's workbook has the learning layer: up to 128×128; at 256×256 it would pass the
    5,000,000 cells xlcnn writes, so that size is built forward only (as issue 16 measured it)."""
    return side <= 128


def peak_mb() -> float:
    """This process's peak resident memory in MB since it started its program. Not ``ru_maxrss``: a child that
    ``subprocess`` starts with vfork inherits, through exec, the peak of its parent's memory as its own (a
    parent that once held 1 GB made a 570 MB verify report 1,061 MB); the kernel's VmHWM is of this program's
    memory alone."""
    import resource

    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB, as Linux gives it


def child_build(side: int, filters: int, out: str) -> None:
    """Run in a fresh process: build one big workbook, print its time and peak memory as JSON."""
    model = big_model(side, filters)
    start = time.perf_counter()
    result = xlcnn.build_workbook(SAMPLE, out, model=model, learn=learns(side))
    seconds = time.perf_counter() - start
    peak = peak_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "formulas": result.formulas,
                      "size_mb": Path(out).stat().st_size / 1e6}))


def big_inputs(tmp: Path, runs: int, sides: tuple[int, ...] = (28, 64, 128), filters: int = 16) -> list[dict[str, Any]]:
    """Each side × side input built ``runs`` times, each in a fresh process: medians of time and peak memory."""
    rows = []
    for side in sides:
        samples = []
        for _ in range(runs):
            out = subprocess.run([sys.executable, __file__, "--child", str(side), str(filters),
                                  str(tmp / f"big{side}.xlsx")], capture_output=True, text=True, check=True)
            samples.append(json.loads(out.stdout))
        rows.append({"input": f"{side}×{side}", "filters": filters, "learn": learns(side),
                     "formulas": samples[0]["formulas"],
                     "build_s": statistics.median(s["seconds"] for s in samples),
                     "peak_mb": statistics.median(s["peak_mb"] for s in samples),
                     "size_mb": samples[0]["size_mb"]})
    return rows


def learning_costs(tmp: Path, runs: int) -> dict[str, tuple[float, float]]:
    """The default workbook with the learning layer and without it (``--no-learn``), each command run alternately:
    median seconds of (with, without) for the whole ``xlcnn build`` command, LibreOffice's recalculation (start-up
    included) saved as an .xlsx copy and written out as the CSV values verify reads, and ``xlcnn verify``."""
    books = {True: tmp / "learn.xlsx", False: tmp / "forward.xlsx"}
    keys = ("build", "recalc", "values", "verify")
    times: dict[str, dict[bool, list[float]]] = {key: {True: [], False: []} for key in keys}
    model = xlcnn.load_model("default")
    sheets = {learning: [plan.name for plan in plan_for(model, learning).sheets] for learning in books}
    for _ in range(runs):
        for learning, book in books.items():
            command = ["xlcnn", "build", str(SAMPLE), "-o", str(book), "-q"] + ([] if learning else ["--no-learn"])
            times["build"][learning].append(timed(partial(subprocess.run, command, check=True)))
        for learning, book in books.items():
            times["recalc"][learning].append(timed(partial(recalculate, [book], tmp / "lo")))
        for learning, book in books.items():
            times["values"][learning].append(timed(partial(recalculated_values, book, sheets[learning], tmp / "csv")))
        for learning, book in books.items():
            times["verify"][learning].append(timed(partial(xlcnn.verify_workbook, book)))
    return {key: (statistics.median(by[True]), statistics.median(by[False])) for key, by in times.items()}


def libreoffice_times(tmp: Path, book: Path, runs: int) -> tuple[float, float]:
    """Median seconds of one soffice run on an empty workbook (start-up) and on ``book``."""
    empty = tmp / "empty.xlsx"
    wb = Workbook(str(empty))
    wb.add_worksheet().write_number(0, 0, 1)
    wb.close()
    startup, full = [], []
    for _ in range(runs):
        startup.append(timed(lambda: recalculate([empty], tmp / "lo")))
        full.append(timed(lambda: recalculate([book], tmp / "lo")))
    return statistics.median(startup), statistics.median(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_build(int(args.child[0]), int(args.child[1]), args.child[2])
        return
    runs = 5 if args.quick else 11
    model = xlcnn.load_model("default")
    with tempfile.TemporaryDirectory(prefix="xlcnn-bench-") as name:
        tmp = Path(name)
        book = tmp / "default.xlsx"
        against = against_floor(tmp, runs)
        formulas = against["formulas"]
        cli = [timed(lambda: subprocess.run(["xlcnn", "build", str(SAMPLE), "-o", str(book), "-q"], check=True))
               for _ in range(max(3, runs // 2))]
        spec = model.arch.input
        pixels = load_image(SAMPLE, (spec.height, spec.width))
        engine = [timed(lambda: xlcnn.forward(pixels, model)) for _ in range(200)]
        lo_start, lo_full = libreoffice_times(tmp, book, 3)
        verify = [timed(lambda: xlcnn.verify_workbook(book)) for _ in range(3)]
        size_kb = book.stat().st_size / 1024
        costs = learning_costs(tmp, 3 if args.quick else 7)
        counts = {learning: xlcnn.build_workbook(SAMPLE, tmp / "count.xlsx", learn=learning).formulas
                  for learning in (True, False)}
        big = big_inputs(tmp, 1 if args.quick else 3)

    b, f, bare = against["build_ms"], against["floor_ms"], against["bare_ms"]
    print(f"xlcnn benchmark · default model on {SAMPLE.name} · {formulas:,} formulas · medians of {runs} runs\n")
    print(f"{'':46}{'ms':>9}{'× floor':>10}")
    print(f"{'floor: XlsxWriter, same cells and formats':46}{f:>9.0f}{1:>10.2f}")
    print(f"{'  the same cells without their formats':46}{bare:>9.0f}{bare / f:>10.2f}")
    print(f"{'xlcnn build_workbook (everything)':46}{b:>9.0f}{b / f:>10.2f}   budget ≤ {BUDGET_RATIO}×")
    print(f"{'  … against the floor without formats':46}{'':>9}{b / bare:>10.2f}")
    print(f"{'xlcnn build command, end to end':42}{median_ms(cli):>9.0f}")
    print(f"{'engine forward pass':42}{median_ms(engine):>9.2f}")
    print(f"\nworkbook size: {size_kb:.0f} KB")
    print(f"LibreOffice: start-up alone {lo_start:.2f} s; default workbook {lo_full:.2f} s "
          f"(recalculation, load and save ≈ {lo_full - lo_start:.2f} s)")
    print(f"xlcnn verify on it: {statistics.median(verify):.2f} s")
    print("\nthe learning layer: with it / without it (--no-learn), medians, run alternately")
    print(f"{'':42}{'with':>9}{'without':>9}{'ratio':>8}   budget (with)")
    print(f"{'formulas':42}{counts[True]:>9,}{counts[False]:>9,}{counts[True] / counts[False]:>8.2f}   ≤ 4×")
    for key, label, budget in (("build", "xlcnn build command, end to end (s)", "< 1.5 s"),
                               ("recalc", "LibreOffice recalculates, saves .xlsx (s)", ""),
                               ("values", "LibreOffice recalculates, values as CSV (s)", "< 4 s"),
                               ("verify", "xlcnn verify (s)", "< 8 s")):
        with_, without = costs[key]
        print(f"{label:42}{with_:>9.2f}{without:>9.2f}{with_ / without:>8.2f}   {budget}")
    print(f"\n{'input':>9}{'filters':>9}{'formulas':>11}{'build s':>9}{'peak MB':>9}{'file MB':>9}")
    for row in big:
        print(f"{row['input']:>9}{row['filters']:>9}{row['formulas']:>11,}{row['build_s']:>9.2f}"
              f"{row['peak_mb']:>9.0f}{row['size_mb']:>9.1f}")
    print(f"\nverdict: build is {b / f:.2f}× the floor ({'within' if b / f <= BUDGET_RATIO else 'OVER'} "
          f"the {BUDGET_RATIO}× budget)")


if __name__ == "__main__":
    main()
