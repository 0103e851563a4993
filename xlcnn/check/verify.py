"""``verify_workbook``: prove that a workbook — fresh from ``build``, or edited by a student — computes what
the CNN computes.

1. **Read back.** The inputs, weights, biases, hyper-parameters, labels and true label are read through the
   workbook's defined names (docs/architecture.md), so a student's edits count (``xlcnn.check.readback``). The
   architecture is inferred from the names and their shapes, and every named grid must sit where xlcnn's
   ``Layout`` puts it.
2. **Expect.** The NumPy engine runs on what was read, and the workbook's own sheet emitters are replayed
   into a recorder: every formula cell they would write, with the engine's value. So verify holds no second
   copy of the formulas' logic, and checks every formula cell, not a sample.
3. **Recalculate.** LibreOffice Calc recalculates the file with a profile that forces recalculation
   (``xlcnn.check.libreoffice``); openpyxl reads the results. Every expected formula cell must still hold a
   formula, and its recalculated value must equal the engine's: ``|got − expected| ≤ 1e-12 + 1e-12·|expected|``
   (the promise in docs/architecture.md). Results are grouped by stage (sheet), in pipeline order.
4. **Caches.** The values cached in the file itself — what Protected View, previews and pandas show — are
   compared with the same expected values, and reported as a separate verdict.

The report passes when every formula cell matches and, unless the cache check is turned off, no cached
value is stale (present but wrong) or missing (a file saved by a program that stores no values, such as
openpyxl). Inputs must be plain values: a formula typed into a weight, pixel or setting cell is refused with
its address, since the engine cannot read a value the file does not hold.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xlcnn.book.sheet import BuildContext
from xlcnn.book.stages import BY_KIND, EMITTERS
from xlcnn.book.styles import Styles
from xlcnn.book.texts import Texts
from xlcnn.check.libreoffice import DEFAULT_TIMEOUT
from xlcnn.check.readback import (
    LOAD_ERRORS,
    Pos,
    ReadBack,
    SheetCells,
    View,
    cell_ref,
    load_view,
    open_workbook,
    read_back,
)
from xlcnn.check.recalc import DEFAULT_ENGINE, Engine, engine
from xlcnn.errors import Spelling, SpreadsheetEngineError, WorkbookError, as_parameter
from xlcnn.nn.engine import Trace, forward

RTOL = 1e-12  # relative: the promise in docs/architecture.md
ATOL = 1e-12  # absolute, for values near zero
MAX_LISTED = 10  # bad cells named in a report, per kind

# ------------------------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class StageResult:
    """One stage (sheet) of the recalculated workbook against the engine."""

    stage: str
    cells: int
    max_abs_diff: float  # over numeric cells
    max_rel_diff: float  # over numeric cells whose expected value is not near zero (|x| > ATOL)
    bad: int

    @property
    def verdict(self) -> str:
        return "ok" if self.bad == 0 else "MISMATCH"


@dataclass(frozen=True)
class BadCell:
    cell: str  # 'Sheet'!A1
    problem: str  # "differs", "not a formula", "stale", "missing"
    expected: float | str | None
    got: float | str | None

    def describe(self) -> str:
        if self.problem == "not a formula":
            held = "nothing" if self.got is None else f"the constant {self.got!r}"
            return f"{self.cell}: holds {held} where a formula belongs (expected {self.expected!r})"
        if self.problem == "formula changed":
            got, want = (str(value).lstrip("=") for value in (self.got, self.expected))
            return f"{self.cell}: holds ={got} where xlcnn writes ={want}"
        if self.problem == "missing":
            return f"{self.cell}: no cached value (expected {self.expected!r})"
        label = "cached" if self.problem == "stale" else "got"
        return f"{self.cell}: expected {self.expected!r}, {label} {self.got!r}"


@dataclass(frozen=True)
class CacheResult:
    """The values stored in the file itself, against the engine (no recalculation)."""

    checked: bool
    cells: int
    stale: int  # present but wrong
    missing: int  # no value stored
    first: tuple[BadCell, ...]

    @property
    def ok(self) -> bool:
        return not self.checked or (self.stale == 0 and self.missing == 0)

    @property
    def verdict(self) -> str:
        if not self.checked:
            return "not checked"
        return "ok" if self.ok else "STALE" if self.stale else "MISSING"


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    stages: tuple[StageResult, ...]
    first_bad: tuple[BadCell, ...]  # the first MAX_LISTED bad formula cells, in pipeline order
    cache: CacheResult
    predicted: str
    probability: float
    true_label: str
    loss: float
    seconds: float  # the whole verification
    recalc_seconds: float | None  # of which the spreadsheet engine; None when a recalculated copy was given
    engine: str = "LibreOffice"  # the spreadsheet engine that recalculated it

    @property
    def cells(self) -> int:
        return sum(s.cells for s in self.stages)

    @property
    def bad(self) -> int:
        return sum(s.bad for s in self.stages)

    @property
    def formulas_ok(self) -> bool:
        return self.bad == 0

    @property
    def ok(self) -> bool:
        """Every formula cell matches and no cached value is stale or missing (when caches are checked)."""
        return self.formulas_ok and self.cache.ok

    def summary(self) -> str:
        """One line: the verdict, and the first bad cell of each kind."""
        if self.ok:
            return f"All {self.cells:,} formula cells match the NumPy engine."
        parts = []
        if not self.formulas_ok:
            parts.append(f"{self.bad:,} of {self.cells:,} formula cells do not match the NumPy engine "
                         f"(first: {self.first_bad[0].describe()})")
        if not self.cache.ok:
            parts.append(f"cached values: {self.cache.stale:,} stale, {self.cache.missing:,} missing "
                         f"(first: {self.cache.first[0].describe()})")
        return f"{self.path}: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workbook": str(self.path),
            "ok": self.ok,
            "formulas_ok": self.formulas_ok,
            "cells_checked": self.cells,
            "cells_bad": self.bad,
            "stages": [{"stage": s.stage, "cells": s.cells, "max_abs_diff": s.max_abs_diff,
                        "max_rel_diff": s.max_rel_diff, "verdict": s.verdict} for s in self.stages],
            "first_bad": [asdict(b) for b in self.first_bad],
            "cache": {"checked": self.cache.checked, "verdict": self.cache.verdict, "cells": self.cache.cells,
                      "stale": self.cache.stale, "missing": self.cache.missing,
                      "first_bad": [asdict(b) for b in self.cache.first]},
            "prediction": {"label": self.predicted, "probability": self.probability},
            "true_label": self.true_label,
            "loss": self.loss,
            "seconds": round(self.seconds, 3),
            "recalc_seconds": None if self.recalc_seconds is None else round(self.recalc_seconds, 3),
            "engine": self.engine,
        }


def format_report(report: VerifyReport, spelling: Spelling = as_parameter) -> str:
    """The report as a table for people: stage, cells, max differences, verdict; then the verdicts.
    ``spelling`` names parameters in the advice (the CLI passes its flags)."""
    how = ("a recalculated copy given" if report.recalc_seconds is None
           else f"recalculated by {report.engine} in {report.recalc_seconds:.1f} s")
    lines = [f"Checked {report.path} against the NumPy engine ({how}; {report.seconds:.1f} s in all).", ""]
    width = max([len("all stages")] + [len(s.stage) for s in report.stages])
    lines.append(f"{'stage':<{width}}  {'cells':>7}  {'max abs diff':>12}  {'max rel diff':>12}  verdict")
    rows = [(s.stage, s.cells, s.max_abs_diff, s.max_rel_diff, s.verdict) for s in report.stages]
    rows.append(("all stages", report.cells, max((s.max_abs_diff for s in report.stages), default=0.0),
                 max((s.max_rel_diff for s in report.stages), default=0.0), "ok" if report.formulas_ok else "MISMATCH"))
    for stage, cells, abs_diff, rel_diff, verdict in rows:
        lines.append(f"{stage:<{width}}  {cells:>7,}  {abs_diff:>12.2g}  {rel_diff:>12.2g}  {verdict}")
    lines += ["", f"Prediction: {report.predicted} ({report.probability:.1%}). "
                  f"True label: {report.true_label}. Loss: {report.loss:.6f}."]
    cache = report.cache
    if not cache.checked:
        lines.append("Cached values: not checked.")
    elif cache.ok:
        lines.append(f"Cached values (what Protected View and previews show): all {cache.cells:,} match.")
    else:
        lines.append(f"Cached values (what Protected View and previews show): {cache.stale:,} stale, "
                     f"{cache.missing:,} missing of {cache.cells:,}. First:")
        lines += [f"  {b.describe()}" for b in cache.first]
        if cache.missing == cache.cells:
            lines.append("  (no values at all: the file was saved by a program that stores none, such as openpyxl; "
                         "open and save it in Excel or LibreOffice, or use " + spelling("check_cache", "False") + ")")
    if report.formulas_ok:
        lines.append(f"All {report.cells:,} formula cells match the NumPy engine.")
    else:
        lines.append(f"{report.bad:,} of {report.cells:,} formula cells do not match the NumPy engine. First:")
        lines += [f"  {b.describe()}" for b in report.first_bad]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- what the cells should be


class Recorder:
    """A ``CellSink`` that keeps every formula cell with its value and formula, and nothing else.

    Constants, text, links and row heights are not what verify checks. The workbook is written with
    ``strings_to_formulas`` off, so ``write_formula`` is the only way a formula gets in; array formulas,
    which docs/architecture.md rules out, have no method here, so an emitter calling one fails loudly.
    """

    def __init__(self) -> None:
        self.formulas: dict[Pos, Any] = {}
        self.texts: dict[Pos, str] = {}

    def write_formula(self, row: int, col: int, formula: str, cell_format: Any = None, value: Any = 0) -> None:
        self.formulas[(row + 1, col + 1)] = value
        self.texts[(row + 1, col + 1)] = formula

    def write_number(self, row: int, col: int, number: float, cell_format: Any = None) -> None:
        return None

    def write_string(self, row: int, col: int, string: str, cell_format: Any = None) -> None:
        return None

    def write_blank(self, row: int, col: int, blank: Any, cell_format: Any = None) -> None:
        return None

    def write_url(self, row: int, col: int, url: str, cell_format: Any = None, string: str | None = None) -> None:
        return None

    def merge_range(self, first_row: int, first_col: int, last_row: int, last_col: int, data: Any,
                    cell_format: Any = None) -> None:
        return None

    def set_row(self, row: int, height: float | None, cell_format: Any = None) -> None:
        return None


def _no_format(props: dict[str, Any]) -> Any:
    """Replayed cells are never written, so their formats need not exist: the properties stand in."""
    return props


def expected_cells(back: ReadBack, trace: Trace) -> tuple[dict[str, dict[Pos, Any]], dict[str, dict[Pos, str]]]:
    """Every formula cell the builder would write for this model and input: its value and its formula, by
    sheet.

    Sheets come in pipeline order, with the Guide (whose live cells repeat the results) last, so that the
    first mismatch reported is where a fault starts rather than where it ends up.
    """
    ctx = BuildContext(back.layout, back.model, trace, Styles(_no_format), Texts(back.language), None, back.worked)
    plans = sorted(back.layout.sheets, key=lambda plan: BY_KIND[plan.kind].checked_last)
    out: dict[str, dict[Pos, Any]] = {}
    texts: dict[str, dict[Pos, str]] = {}
    with np.errstate(all="ignore"):  # edited pixels may be outside 0–255 for the Image sheet's colours
        for plan in plans:
            recorder = Recorder()
            EMITTERS[plan.kind.name](ctx, plan).replay(recorder)
            if recorder.formulas:
                out[plan.name], texts[plan.name] = recorder.formulas, recorder.texts
    return out, texts


_NUMBER = re.compile(r"(?<![A-Z0-9_.])\d+(\.\d*)?(E[+-]?\d+)?")


def _normal(formula: object) -> str:
    """A formula as compared: without "=", "$" and spaces, upper-case, numbers in one spelling — what a
    re-save by a spreadsheet may change (LibreOffice writes 1E-9 as 0.000000001)."""
    text = str(formula).lstrip("=").replace("$", "").replace(" ", "").upper()
    return _NUMBER.sub(lambda m: repr(float(m.group(0))), text)


# ---------------------------------------------------------------------------------------------- comparing


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


ERROR_VALUES = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"})


def _is_error(value: Any) -> bool:
    return isinstance(value, str) and value in ERROR_VALUES


def _matches(expected: Any, got: Any) -> bool:
    if _is_error(expected):
        # An error the engine expects (LN(0) when the true class's probability underflows): spreadsheets
        # disagree on which one (Excel says #NUM!, LibreOffice #VALUE!), so any error will do.
        return _is_error(got)
    if isinstance(expected, str):
        return got == expected
    exp = float(expected)
    if not math.isfinite(exp):
        # The engine's inf (e.g. −ln 0 when a probability underflows) is an error value in a spreadsheet.
        return isinstance(got, str) and got.startswith("#")
    return _is_number(got) and abs(float(got) - exp) <= ATOL + RTOL * abs(exp)


def compare(expected: Mapping[str, Mapping[Pos, Any]], book: View, recalc: View,
            texts: Mapping[str, Mapping[Pos, str]]) -> tuple[tuple[StageResult, ...], tuple[BadCell, ...]]:
    """Each expected cell must hold the formula xlcnn writes there in ``book`` — so a formula that was
    changed is caught even when it happens to give the same value — and a matching value in ``recalc``."""
    stages, bad_cells = [], []
    for sheet, cells in expected.items():
        formulas, values = book.sheets[sheet], recalc.sheets.get(sheet, SheetCells({}, frozenset()))
        max_abs = max_rel = 0.0
        bad = 0
        for pos in sorted(cells):
            want, got = cells[pos], values.cells.get(pos)
            if pos not in formulas.formulas:
                bad += 1
                bad_cells.append(BadCell(cell_ref(sheet, *pos), "not a formula", _plain(want),
                                         _plain(formulas.cells.get(pos))))
                continue
            found = formulas.cells.get(pos)
            if _normal(found) != _normal(texts[sheet][pos]):
                bad += 1
                bad_cells.append(BadCell(cell_ref(sheet, *pos), "formula changed", texts[sheet][pos], str(found)))
                continue
            if _is_number(want) and _is_number(got) and math.isfinite(want):
                diff = abs(got - want)
                max_abs = max(max_abs, diff)
                if abs(want) > ATOL:  # near zero only the absolute difference means anything
                    max_rel = max(max_rel, diff / abs(want))
            if not _matches(want, got):
                bad += 1
                bad_cells.append(BadCell(cell_ref(sheet, *pos), "differs", _plain(want), _plain(got)))
        stages.append(StageResult(sheet, len(cells), max_abs, max_rel, bad))
    return tuple(stages), tuple(bad_cells[:MAX_LISTED])


def compare_cache(expected: Mapping[str, Mapping[Pos, Any]], cached: View) -> CacheResult:
    stale = missing = cells = 0
    first: list[BadCell] = []
    for sheet, wanted in expected.items():
        values = cached.sheets[sheet].cells
        for pos in sorted(wanted):
            cells += 1
            want, got = wanted[pos], values.get(pos)
            if got is None:
                missing += 1
                problem = "missing"
            elif not _matches(want, got):
                stale += 1
                problem = "stale"
            else:
                continue
            if len(first) < MAX_LISTED:
                first.append(BadCell(cell_ref(sheet, *pos), problem, _plain(want), _plain(got)))
    return CacheResult(True, cells, stale, missing, tuple(first))


def _plain(value: Any) -> float | str | None:
    """A cell value as JSON can hold it (the engine's numbers are NumPy floats)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).upper()
    number = float(value)
    return number if math.isfinite(number) else str(number)


# ---------------------------------------------------------------------------------------------- the whole


def verify_workbook(path: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT, check_cache: bool = True,
                    recalculated: str | os.PathLike[str] | None = None,
                    engine: str = DEFAULT_ENGINE) -> VerifyReport:
    """Check that the workbook at ``path`` computes what the NumPy engine computes; → a ``VerifyReport``.

    ``engine`` is the spreadsheet engine that recalculates it: ``"libreoffice"`` (LibreOffice Calc) or
    ``"gnumeric"`` (Gnumeric's ssconvert). Raises ``WorkbookError`` for a file that is not an xlcnn workbook
    or holds something other than a number where one belongs, and ``LibreOfficeError`` (``GnumericError``)
    when the engine is missing, fails or takes longer than ``timeout`` seconds. A mismatch is not an error:
    it is in the report (``report.ok`` is False). ``recalculated`` is a copy of the workbook already
    recalculated by that engine (e.g. many at once with ``xlcnn.check.libreoffice.recalculate``); then the
    engine is not run again.
    """
    started = time.monotonic()
    recalc_engine = _engine(engine)
    book_path = Path(path)
    book = open_workbook(book_path)
    back = read_back(book_path, book)
    trace = forward(back.image, back.model, back.true_label)
    expected, texts = expected_cells(back, trace)
    missing_sheets = [sheet for sheet in expected if sheet not in book.sheets]
    if missing_sheets:
        raise WorkbookError(f"{book_path}: not an xlcnn workbook (missing the sheet {missing_sheets[0]!r})")

    recalc, recalc_seconds = _recalculated_view(book_path, timeout, recalc_engine,
                                                Path(recalculated) if recalculated is not None else None)
    stages, first_bad = compare(expected, book, recalc, texts)
    cache = compare_cache(expected, load_view(book_path, data_only=True)) if check_cache else CacheResult(
        False, 0, 0, 0, ())
    return VerifyReport(book_path, stages, first_bad, cache, trace.predicted_label, float(trace.probs.max()),
                        trace.true_label, trace.loss, time.monotonic() - started, recalc_seconds,
                        recalc_engine.title)


def _engine(key: object) -> Engine:
    if not isinstance(key, str):
        raise TypeError(f"engine must be a string, not {type(key).__name__}")
    return engine(key)


def _recalculated_view(path: Path, timeout: float, recalc_engine: Engine,
                       given: Path | None) -> tuple[View, float | None]:
    """The workbook's values after the engine recalculated every formula, and how long the engine took."""
    if given is not None:
        return _load_recalculated(given, recalc_engine), None
    recalc_engine.find()  # its errors (not installed) are about the engine, not this file
    with tempfile.TemporaryDirectory(prefix="xlcnn-verify-") as tmp:
        started = time.monotonic()
        try:
            (out,) = recalc_engine.recalculate([path], Path(tmp), timeout)
        except SpreadsheetEngineError as exc:
            raise type(exc)(f"{path}: {exc}") from None
        seconds = time.monotonic() - started
        return _load_recalculated(out, recalc_engine), seconds


def _load_recalculated(path: Path, recalc_engine: Engine) -> View:
    try:
        with warnings.catch_warnings():
            # Gnumeric's copies carry no default cell style, which openpyxl mentions; values are unaffected.
            warnings.filterwarnings("ignore", "Workbook contains no default style", UserWarning)
            return load_view(path, data_only=True)
    except LOAD_ERRORS as exc:
        raise recalc_engine.error(
            f"{path}: {recalc_engine.title} wrote a workbook openpyxl cannot read ({exc})") from None
