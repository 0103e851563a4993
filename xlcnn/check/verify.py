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
   (``xlcnn.check.libreoffice``) and writes every sheet's values as CSV (15 significant digits; quicker than
   an .xlsx copy), or Gnumeric saves a recalculated .xlsx copy, which openpyxl reads. Every expected formula
   cell must still hold a formula, and its recalculated value must equal the engine's:
   ``|got − expected| ≤ 1e-12 + 1e-12·|expected|`` (the promise in docs/architecture.md). Results are grouped
   by stage (sheet), in pipeline order.
4. **Caches.** The values cached in the file itself — what Protected View, previews and pandas show — are
   compared with the same expected values, and reported as a separate verdict.
5. **Display.** Every right value must also be shown as xlcnn shows it: a number format ``"square";"square"``
   would make a cell read "square" whatever it holds. So each formula cell must have a number format xlcnn
   writes there, text that stands out from its fill, a row and a column that are not hidden, and no merge or
   conditional format over it that hides its value or rewrites it; a cell that fails is a mismatch
   ("display changed"), like a wrong value.

The report passes when every formula cell matches and, unless the cache check is turned off, no cached
value is stale (present but wrong) or missing (a file saved by a program that stores no values, such as
openpyxl). Inputs must be plain values: a formula typed into a weight, pixel or setting cell is refused with
its address, since the engine cannot read a value the file does not hold.
"""

from __future__ import annotations

import gc
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from xlcnn.book.layout import Layout, SheetPlan, col_name
from xlcnn.book.sheet import BuildContext
from xlcnn.book.stages import BY_KIND, EMITTERS
from xlcnn.book.styles import Styles
from xlcnn.book.texts import Texts
from xlcnn.check.cells import Box, ContentError, Pos, cell_ref
from xlcnn.check.libreoffice import DEFAULT_TIMEOUT, Values, values_started
from xlcnn.check.readback import ReadBack, read_back
from xlcnn.check.recalc import DEFAULT_ENGINE, Engine, engine
from xlcnn.check.sheets import (
    LazySheets,
    Look,
    Rule,
    SheetCells,
    View,
    check_workbook_file,
    load_csv_values,
    load_view,
    read_view,
)
from xlcnn.errors import LibreOfficeError, Spelling, SpreadsheetEngineError, WorkbookError, as_parameter
from xlcnn.nn.engine import Trace, first_overflow, forward
from xlcnn.nn.learning import Learning, learn, learning_overflow

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
    problem: str  # "differs", "not a formula", "formula changed", "display changed", "stale", "missing"
    expected: float | str | None
    got: float | str | None

    def describe(self) -> str:
        if self.problem == "display changed":  # got: what hides or rewrites it; expected: what xlcnn writes
            instead = "" if self.expected is None else f" where xlcnn writes {self.expected}"
            return f"{self.cell}: display changed: {self.got}{instead}"
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
                  f"True label: {report.true_label}. Loss: {max(0.0, report.loss):.6f}."]  # never "-0.000000"
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
        self.num_formats: dict[Pos, str] = {}

    def write_formula(self, row: int, col: int, formula: str, cell_format: Any = None, value: Any = 0) -> None:
        pos = (row + 1, col + 1)  # one key for the three: a sheet holds a quarter of a million cells at 128×128
        self.formulas[pos] = value
        self.texts[pos] = formula
        # The format is a dict of properties (``_no_format``): its number format is what the cell must show.
        self.num_formats[pos] = (cell_format or {}).get("num_format", "General")

    def write_formula_row(self, row: int, col: int, formulas: Sequence[str], cell_format: Any,
                          values: Sequence[float]) -> None:
        positions = [(row + 1, c + 1) for c in range(col, col + len(formulas))]
        self.formulas.update(zip(positions, values, strict=True))
        self.texts.update(zip(positions, formulas, strict=True))
        self.num_formats.update(dict.fromkeys(positions, (cell_format or {}).get("num_format", "General")))

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


def expected_sheets(back: ReadBack, trace: Trace, learned: Learning | None = None) -> Iterator[tuple[str, Recorder]]:
    """Every formula cell the builder would write for this model and input (and learning layer), a sheet at a
    time: (sheet, its cells' values, formulas and number formats).

    Sheets come in pipeline order, with the Guide (whose live cells repeat the results) last, so that the
    first mismatch reported is where a fault starts rather than where it ends up.
    """
    ctx = BuildContext(back.layout, back.model, trace, Styles(_no_format), Texts(back.language), None, back.worked,
                       learning=learned, exercise=back.exercise, exercise_answers=back.exercise_answers)
    for plan in checked_order(back.layout):
        recorder = Recorder()
        with np.errstate(all="ignore"):  # edited pixels may be outside 0–255 for the Image sheet's colours
            EMITTERS[plan.kind.name](ctx, plan).replay(recorder)
        if recorder.formulas:
            yield plan.name, recorder


def checked_order(layout: Layout) -> list[SheetPlan]:
    """The sheets in the order verify checks them (see ``expected_sheets``)."""
    return sorted(layout.sheets, key=lambda plan: BY_KIND[plan.kind].checked_last)


_NUMBER = re.compile(r"(?<![A-Z0-9_.])\d+(\.\d*)?(E[+-]?\d+)?")


def _normal(formula: object) -> str:
    """A formula as compared: without "=", "$" and spaces, upper-case, numbers in one spelling — what a
    re-save by a spreadsheet may change (LibreOffice writes 1E-9 as 0.000000001)."""
    text = str(formula).lstrip("=").replace("$", "").replace(" ", "").upper()
    return _NUMBER.sub(lambda m: repr(float(m.group(0))), text)


# ------------------------------------------------------------------------------------------- what the reader sees

# The number formats ``styles.number_format`` picks from a grid's values: an edit that changes the values may
# call for another of them, so any of the three is one xlcnn writes there.
GRID_FORMATS = frozenset({"0", "0.0", "0.00"})
# The WCAG contrast ratio (1: the same colour; 21: black on white) below which text cannot be told from its
# fill. xlcnn's own lowest is 3.1 (black on the colour scales' red); white on white is 1.
MIN_CONTRAST = 1.5
Shown = tuple[str, str | None]  # what hides or rewrites a cell's value, and what xlcnn writes instead (if one thing)


class DisplayCheck:
    """Whether a formula cell of one sheet shows its value as xlcnn shows it: with a number format xlcnn writes
    there, in text that stands out from its fill, in a row and column that are not hidden, and with no merge or
    conditional format over it that hides or rewrites what it shows."""

    def __init__(self, book: View, sheet: str, num_formats: Mapping[Pos, str]) -> None:
        self.book, self.num_formats = book, num_formats
        self.cells = book.sheets[sheet]
        self._looks: dict[tuple[int, str], Shown | None] = {}  # by (cell format, the number format xlcnn writes)
        self._covered: dict[Pos, Shown] | None = None  # cells that merges and conditional formats hide

    def problem(self, pos: Pos) -> Shown | None:
        display = self.cells.display
        row, col = pos
        if row in display.hidden_rows:
            return f"row {row} is hidden", None
        if col in display.hidden_cols:
            return f"column {col_name(col - 1)} is hidden", None
        if self._covered is None:
            self._covered = self._covered_cells()
        covered = self._covered.get(pos)
        if covered is not None:
            return covered
        key = (self.cells.styles.get(pos, 0), self.num_formats[pos])
        if key not in self._looks:
            self._looks[key] = _look_problem(self.book.looks.cells[key[0]], key[1])
        return self._looks[key]

    def _covered_cells(self) -> dict[Pos, Shown]:
        """The sheet's formula cells under a merge (but its first cell) or a conditional format that hides or
        rewrites them: found block by block over arrays of the cells' positions, since a sheet holds millions."""
        cells = self.cells
        positions = sorted(self.num_formats)
        formats = {cells.styles.get(pos, 0) for pos in positions}
        # A rule hides or rewrites cells of some formats (those of the same colour as its fill, …), or of none.
        hits = [(rule, style, shown) for rule in cells.display.rules for style in formats
                if (shown := _rule_problem(rule, self.book.looks.cells[style])) is not None]
        if not hits and not cells.display.merges:
            return {}
        rows = np.array([r for r, _ in positions], dtype=np.int64)
        cols = np.array([c for _, c in positions], dtype=np.int64)
        styles = np.array([cells.styles.get(pos, 0) for pos in positions], dtype=np.int64)
        found: dict[Pos, Shown] = {}

        def mark(box: Box, shown: Shown, among: np.ndarray) -> None:
            top, left, bottom, right = box
            inside = (rows >= top) & (rows <= bottom) & (cols >= left) & (cols <= right) & among
            for i in np.flatnonzero(inside):
                found.setdefault(positions[i], shown)

        for box in cells.display.merges:
            merged = f"it is under the merged cells {_box_ref(box)}, which show only {_box_ref(box[:2] * 2)}"
            mark(box, (merged, None), ~((rows == box[0]) & (cols == box[1])))
        for rule, style, shown in hits:
            for box in rule.boxes:
                mark(box, shown, styles == style)
        return found


def _box_ref(box: Sequence[int]) -> str:
    top, left, bottom, right = box
    first = f"{col_name(left - 1)}{top}"
    return first if (top, left) == (bottom, right) else f"{first}:{col_name(right - 1)}{bottom}"


def _look_problem(look: Look, written: str) -> Shown | None:
    """A cell format that does not show the value as xlcnn does: another number format, or unreadable text."""
    allowed = {written} | (GRID_FORMATS if written in GRID_FORMATS else set())
    if look.num_format is None:
        return "a number format the workbook's styles do not define", written
    if look.num_format not in allowed:
        return f"the number format {look.num_format}", written
    if _unreadable(look.font, look.fills):
        return f"text coloured #{look.font} on a fill of #{'/#'.join(look.fills)}", None
    return None


def _rule_problem(rule: Rule, look: Look) -> Shown | None:
    """How a conditional format hides or rewrites a cell of this format, if it does (whatever its condition:
    verify does not judge when it applies)."""
    what = f"a conditional format ({rule.kind or 'of no type'})"
    if rule.hides_values:
        return f"{what} hides its value", None
    dxf = rule.dxf
    if dxf is not None and dxf.num_format is not None:
        return f"{what} gives it the number format {dxf.num_format or '(empty)'}", None
    if dxf is not None and (dxf.font is not None or dxf.fill is not None):
        font, fills = dxf.font or look.font, (dxf.fill,) if dxf.fill is not None else look.fills
        if _unreadable(font, fills):
            return f"{what} colours its text #{font} on a fill of #{'/#'.join(fills)}", None
    if rule.colours and _unreadable(look.font, rule.colours):
        return f"{what} fills it with colours as dark or light as its text (#{look.font})", None
    return None


def _unreadable(text: str, fills: Sequence[str]) -> bool:
    """Text that stands out from none of the colours its fill may have."""
    return all(_contrast(text, fill) < MIN_CONTRAST for fill in fills)


@lru_cache(maxsize=4096)
def _contrast(a: str, b: str) -> float:
    dark, light = sorted((_luminance(a), _luminance(b)))
    return (light + 0.05) / (dark + 0.05)


def _luminance(rgb: str) -> float:
    """WCAG's relative luminance of ``RRGGBB``."""
    def linear(i: int) -> float:
        c = int(rgb[i:i + 2], 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * linear(0) + 0.7152 * linear(2) + 0.0722 * linear(4)


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
        # An empty text result (a check with no answer to judge) is stored as no value at all by some writers.
        return got == expected or (expected == "" and got is None)
    exp = float(expected)
    if not math.isfinite(exp):
        # The engine's inf (e.g. −ln 0 when a probability underflows) is an error value in a spreadsheet.
        return isinstance(got, str) and got.startswith("#")
    return _is_number(got) and abs(float(got) - exp) <= ATOL + RTOL * abs(exp)


@dataclass
class _Sheet:
    """One sheet's check: what needs no recalculation is done while the engine runs (formulas, how cells show,
    cached values); the expected values of the cells that passed wait for the engine in compact arrays, so that
    the whole workbook is never held at once."""

    name: str
    cells: int
    bad: int
    listed: list[tuple[Pos, BadCell]]  # the first MAX_LISTED bad cells found before the engine's values
    rows: np.ndarray  # the cells whose values are still to compare, in order
    cols: np.ndarray
    numbers: np.ndarray  # their expected values where finite numbers (NaN elsewhere)
    others: dict[int, Any]  # by index: an expected text, error value, or non-finite number
    shown: dict[int, Shown]  # by index: how the cell is shown wrongly, reported if its value matches


@dataclass
class _Cache:
    """The cached values' check, summed over the sheets."""

    cells: int = 0
    stale: int = 0
    missing: int = 0
    first: list[BadCell] = field(default_factory=list)

    def check(self, sheet: str, wanted: Mapping[Pos, Any], cached: Mapping[Pos, Any]) -> None:
        """The values stored with ``sheet``'s formulas against the expected ones, cell by cell in order."""
        for pos in sorted(wanted):
            self.cells += 1
            want, got = wanted[pos], cached.get(pos)
            if type(want) is float and type(got) is float and abs(got - want) <= ATOL + RTOL * abs(want):
                continue  # most cells, as ``_matches`` judges them without its calls
            if got is None and want != "":  # an empty text result is stored as no value (XlsxWriter, Excel)
                self.missing += 1
                problem = "missing"
            elif not _matches(want, got):
                self.stale += 1
                problem = "stale"
            else:
                continue
            if len(self.first) < MAX_LISTED:
                self.first.append(BadCell(cell_ref(sheet, *pos), problem, _plain(want), _plain(got)))

    def result(self) -> CacheResult:
        return CacheResult(True, self.cells, self.stale, self.missing, tuple(self.first))


def check_formulas(sheet: str, recorded: Recorder, cells: SheetCells, display: DisplayCheck) -> _Sheet:
    """Each expected cell must hold the formula xlcnn writes there — so a formula that was changed is caught even
    when it happens to give the same value — and show its value as xlcnn shows it (``display``); → the sheet's
    check, with the values still to compare once the engine has recalculated them."""
    bad, listed = 0, []
    positions: list[Pos] = []
    numbers: list[float] = []
    others: dict[int, Any] = {}
    shown: dict[int, Shown] = {}
    has_formula, found_in, texts, problem_of = cells.formulas, cells.cells, recorded.texts, display.problem
    for pos in sorted(recorded.formulas):  # the keys alone: a sheet's items sorted would be 20 MB more at 128×128
        want = recorded.formulas[pos]
        if pos not in has_formula:
            bad += 1
            listed.append((pos, BadCell(cell_ref(sheet, *pos), "not a formula", _plain(want),
                                        _plain(found_in.get(pos)))))
            continue
        found, written = found_in.get(pos), texts[pos]
        if found != written and _normal(found) != _normal(written):  # as written, or as a spreadsheet re-saved it
            bad += 1
            listed.append((pos, BadCell(cell_ref(sheet, *pos), "formula changed", written, str(found))))
            continue
        if _is_number(want) and math.isfinite(want):
            numbers.append(float(want))
        else:
            others[len(positions)] = want
            numbers.append(math.nan)
        problem = problem_of(pos)
        if problem is not None:
            shown[len(positions)] = problem
        positions.append(pos)
    where = np.array(positions, dtype=np.int32).reshape(-1, 2)
    return _Sheet(sheet, len(recorded.formulas), bad, listed[:MAX_LISTED], where[:, 0], where[:, 1],
                  np.array(numbers, dtype=np.float64), others, shown)


def check_values(check: _Sheet, values: Mapping[Pos, Any]) -> tuple[StageResult, list[BadCell]]:
    """The engine's ``values`` of the sheet against the expected ones; → the sheet's result and its first bad cells
    (with those found before), by position."""
    max_abs = max_rel = 0.0
    bad = check.bad
    listed: list[tuple[Pos, BadCell]] = []
    numbers, others, shown, get = check.numbers.tolist(), check.others, check.shown, values.get
    for i, (row, col) in enumerate(zip(check.rows.tolist(), check.cols.tolist(), strict=True)):
        got = get((row, col))
        if type(got) is float and i not in others and i not in shown:
            # Most cells: a finite number expected, a float found, shown as xlcnn shows it — the general case
            # below, without its calls (a sheet holds a quarter of a million).
            want = numbers[i]
            diff = abs(got - want)
            if diff <= ATOL + RTOL * abs(want):
                max_abs = max(max_abs, diff)
                if abs(want) > ATOL:
                    max_rel = max(max_rel, diff / abs(want))
                continue
        want = others[i] if i in others else numbers[i]
        if _is_number(want) and _is_number(got) and math.isfinite(want):
            diff = abs(got - want)
            max_abs = max(max_abs, diff)
            if abs(want) > ATOL:  # near zero only the absolute difference means anything
                max_rel = max(max_rel, diff / abs(want))
        if not _matches(want, got):
            bad += 1
            if len(listed) < MAX_LISTED:
                listed.append(((row, col), BadCell(cell_ref(check.name, row, col), "differs", _plain(want),
                                                   _plain(got))))
        elif i in shown:
            bad += 1
            if len(listed) < MAX_LISTED:
                listed.append(((row, col), BadCell(cell_ref(check.name, row, col), "display changed",
                                                   shown[i][1], shown[i][0])))
    first = [cell for _, cell in sorted(check.listed + listed, key=lambda item: item[0])[:MAX_LISTED]]
    return StageResult(check.name, check.cells, max_abs, max_rel, bad), first


def _plain(value: Any) -> float | str | None:
    """A cell value as JSON can hold it (the engine's numbers are NumPy floats)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).upper()
    if not _is_number(value) and not isinstance(value, np.number):  # never a Python repr in a report
        return str(value)
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
    given = Path(recalculated) if recalculated is not None else None
    check_workbook_file(book_path)
    with ExitStack() as running:
        running.enter_context(_collector_paused())
        # LibreOffice recalculates while this process reads the workbook and replays the stages: on two cores the
        # wait is the longer of the two, not their sum. Leaving the block on an error stops it.
        values = None
        if given is None and recalc_engine.key == "libreoffice":
            recalc_engine.find()  # its errors (not installed) are about the engine, not this file
            tmp = Path(running.enter_context(tempfile.TemporaryDirectory(prefix="xlcnn-verify-")))
            with _naming(book_path):
                values = running.enter_context(values_started(book_path, tmp, timeout))
        return _verify(book_path, started, recalc_engine, timeout, check_cache, given, values)


def _verify(book_path: Path, started: float, recalc_engine: Engine, timeout: float, check_cache: bool,
            given: Path | None, values: Values | None) -> VerifyReport:
    """``verify_workbook`` of a file that is a zip archive, with LibreOffice's recalculation ``values`` running
    (or None, for another engine or a ``given`` copy)."""
    book = read_view(book_path, data_only=False, lazy=True)
    back = read_back(book_path, book)
    trace = forward(back.image, back.model, back.true_label)
    overflow = first_overflow(trace)
    if overflow is not None:
        raise WorkbookError(f"{book_path}: its pixels and weights overflow: {overflow} would hold values too large "
                            "for a spreadsheet (infinite or not a number); a weight, bias or scale is far too large")
    learned = None
    if back.learning_rate is not None:
        learned = learn(back.model, back.image, back.true_label, back.learning_rate, back.cam_class)
        overflow = learning_overflow(learned)
        if overflow is not None:
            raise WorkbookError(f"{book_path}: its pixels, weights and learning rate overflow: {overflow} would hold "
                                "values too large for a spreadsheet (infinite or not a number)")
    sheets = [plan.name for plan in checked_order(back.layout) if BY_KIND[plan.kind].formulas(back.layout, plan)]
    missing_sheets = [sheet for sheet in sheets if sheet not in book.sheets]
    if missing_sheets:
        raise WorkbookError(f"{book_path}: not an xlcnn workbook (missing the sheet {missing_sheets[0]!r})")
    # While the engine runs: each sheet's formulas, looks and cached values, one sheet held at a time.
    checks, cache = [], _Cache()
    for sheet, recorded in expected_sheets(back, trace, learned):
        cells = book.sheets[sheet]
        checks.append(check_formulas(sheet, recorded, cells, DisplayCheck(book, sheet, recorded.num_formats)))
        if check_cache:
            cache.check(sheet, recorded.formulas, cells.cached)
        if isinstance(book.sheets, LazySheets):
            book.sheets.drop(sheet)
    if isinstance(book.sheets, LazySheets):
        book.sheets.read_rest()  # a sheet xlcnn does not check must still be one that can be read
    # Then its values, a sheet at a time.
    recalc_seconds: float | None
    if values is not None:
        with _naming(book_path):
            files, recalc_seconds = values.files(sheets)
        recalc: Callable[[str], Mapping[Pos, Any]] = partial(_csv_sheet, files, book_path)
    else:
        view, recalc_seconds = _recalculated_view(book_path, timeout, recalc_engine, given)
        recalc = partial(_view_sheet, view)
    stages, first_bad = [], list[BadCell]()
    for check in checks:
        stage, listed = check_values(check, recalc(check.name))
        stages.append(stage)
        first_bad += listed[: MAX_LISTED - len(first_bad)]
    return VerifyReport(book_path, tuple(stages), tuple(first_bad),
                        cache.result() if check_cache else CacheResult(False, 0, 0, 0, ()),
                        trace.predicted_label, float(trace.probs.max()),
                        trace.true_label, trace.loss, time.monotonic() - started, recalc_seconds,
                        recalc_engine.title)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while verify runs. Reading a sheet makes millions of small objects that form
    no cycles, and each of the collector's passes walks all that are alive — a whole sheet's cells — so its
    cost grew with the square of the sheet (256×256: 12 of verify's 42 s beyond LibreOffice). Whatever cycles
    verify leaves are collected by the collector's next pass once it is back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _engine(key: object) -> Engine:
    if not isinstance(key, str):
        raise TypeError(f"engine must be a string, not {type(key).__name__}")
    return engine(key)


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """The engine's errors name the user's file (some name it already: "t.xlsx: LibreOffice could not convert")."""
    try:
        yield
    except SpreadsheetEngineError as exc:
        named = exc.message.startswith(f"{path}: ")
        raise type(exc)(exc.message if named else f"{path}: {exc.message}") from None


def _csv_sheet(files: Mapping[str, Path], path: Path, sheet: str) -> Mapping[Pos, Any]:
    """One sheet's values as LibreOffice recalculated them and wrote them to a CSV file (a third quicker than
    saving an .xlsx copy; 15 significant digits); none for a sheet it wrote no file for."""
    if sheet not in files:
        return {}
    try:
        return load_csv_values({sheet: files[sheet]}).sheets[sheet].cells
    except ContentError as exc:
        raise LibreOfficeError(f"{path}: LibreOffice wrote values that cannot be read ({exc})") from None


def _view_sheet(view: View, sheet: str) -> Mapping[Pos, Any]:
    return view.sheets[sheet].cells if sheet in view.sheets else {}


def _recalculated_view(path: Path, timeout: float, recalc_engine: Engine, given: Path | None
                       ) -> tuple[View, float | None]:
    """The workbook's values after the engine (Gnumeric, which saves an .xlsx copy) recalculated every formula,
    and how long it took; or the ``given`` copy's."""
    if given is not None:
        return _load_recalculated(given, recalc_engine, path), None
    recalc_engine.find()  # its errors (not installed) are about the engine, not this file
    with tempfile.TemporaryDirectory(prefix="xlcnn-verify-") as tmp:
        started = time.monotonic()
        with _naming(path):
            (out,) = recalc_engine.recalculate([path], Path(tmp), timeout)
        return _load_recalculated(out, recalc_engine, path), time.monotonic() - started


def _load_recalculated(copy: Path, recalc_engine: Engine, book: Path) -> View:
    """The engine's recalculated ``copy`` of ``book``; its errors name ``book``, since the copy is temporary."""
    try:
        with warnings.catch_warnings():
            # Gnumeric's copies carry no default cell style, which openpyxl mentions; values are unaffected.
            warnings.filterwarnings("ignore", "Workbook contains no default style", UserWarning)
            return load_view(copy, data_only=True)
    except ContentError as exc:
        raise recalc_engine.error(
            f"{book}: {recalc_engine.title} wrote a recalculated copy that cannot be read ({exc})") from None
