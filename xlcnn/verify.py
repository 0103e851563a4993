"""``verify_workbook``: prove that a workbook — fresh from ``build``, or edited by a student — computes what
the CNN computes.

1. **Read back.** The inputs, weights, biases, hyper-parameters, labels and true label are read through the
   workbook's defined names (DESIGN.md §3), so a student's edits count. The architecture is inferred from
   the names and their shapes, and every named grid must sit where xlcnn's ``Layout`` puts it.
2. **Expect.** The NumPy engine runs on what was read, and the workbook's own sheet emitters are replayed
   into a recorder: every formula cell they would write, with the engine's value. So verify holds no second
   copy of the formulas' logic, and checks every formula cell, not a sample.
3. **Recalculate.** LibreOffice Calc recalculates the file with a profile that forces recalculation
   (``xlcnn.libreoffice``); openpyxl reads the results. Every expected formula cell must still hold a
   formula, and its recalculated value must equal the engine's: ``|got − expected| ≤ 1e-12 + 1e-12·|expected|``
   (DESIGN.md's promise). Results are grouped by stage (sheet), in pipeline order.
4. **Caches.** The values cached in the file itself — what Protected View, previews and pandas show — are
   compared with the same expected values, and reported as a separate verdict.

The report passes when every formula cell matches and, unless the cache check is turned off, no cached
value is stale (present but wrong) or missing (a file saved by a program that stores no values, such as
openpyxl). Inputs must be plain values: a formula typed into a weight, pixel or setting cell is refused with
its address, since the engine cannot read a value the file does not hold.
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import numpy as np
import openpyxl
from openpyxl.formula.tokenizer import TokenizerError
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.exceptions import InvalidFileException
from xlsxwriter.workbook import Workbook

from xlcnn.engine import Trace, forward
from xlcnn.errors import LibreOfficeError, ModelError, WorkbookError
from xlcnn.layout import GUIDE, Layout, col_name, quote_sheet
from xlcnn.libreoffice import DEFAULT_TIMEOUT, find_soffice, recalculate
from xlcnn.sheet import BuildContext, ImageInfo
from xlcnn.spec import Architecture, ConvSpec, InputSpec, Model, PoolSpec, Provenance
from xlcnn.styles import Styles
from xlcnn.templates import check_label, check_labels, weights_from_arrays
from xlcnn.texts import DEFAULT_LANGUAGE, Texts, available_languages
from xlcnn.workbook import BUILDERS

RTOL = 1e-12  # relative, DESIGN.md's promise
ATOL = 1e-12  # absolute, for values near zero
MAX_LISTED = 10  # bad cells named in a report, per kind

Pos = tuple[int, int]  # (row, column), 1-based as in openpyxl and A1 references


def cell_ref(sheet: str, row: int, col: int) -> str:
    """``'Conv 1'!B9``: a reference a user can paste into the Name Box (1-based row and column)."""
    return f"{quote_sheet(sheet)}!{col_name(col - 1)}{row}"


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
    recalc_seconds: float | None  # of which LibreOffice; None when a recalculated copy was given

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
        }


def format_report(report: VerifyReport) -> str:
    """The report as a table for people: stage, cells, max differences, verdict; then the verdicts."""
    how = ("a recalculated copy given" if report.recalc_seconds is None
           else f"recalculated by LibreOffice in {report.recalc_seconds:.1f} s")
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
                         "open and save it in Excel or LibreOffice, or use --no-cache-check)")
    if report.formulas_ok:
        lines.append(f"All {report.cells:,} formula cells match the NumPy engine.")
    else:
        lines.append(f"{report.bad:,} of {report.cells:,} formula cells do not match the NumPy engine. First:")
        lines += [f"  {b.describe()}" for b in report.first_bad]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- reading the file


@dataclass(frozen=True, eq=False)
class SheetCells:
    """One sheet's non-empty cells by (row, col), and which of them hold formulas."""

    cells: dict[Pos, Any]
    formulas: frozenset[Pos]


@dataclass(frozen=True, eq=False)
class View:
    """A workbook as openpyxl reads it: formulas (``data_only=False``) or stored values."""

    sheets: dict[str, SheetCells]
    names: dict[str, Any]  # workbook-level defined names → openpyxl DefinedName


# What openpyxl may raise on a zip that is not a well-formed workbook (found by feeding it .docx, .ods,
# truncated and hand-edited files).
_LOAD_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError, TypeError, AttributeError,
                IndexError, ParseError, InvalidFileException, OSError)


def _load(path: Path, data_only: bool) -> View:
    # A file object, so that openpyxl judges the content rather than the file name's extension.
    with path.open("rb") as fh:
        wb = openpyxl.load_workbook(fh, read_only=True, data_only=data_only)
        try:
            sheets = {ws.title: _sheet_cells(ws) for ws in wb.worksheets}
            names = dict(wb.defined_names.items())
        finally:
            wb.close()
    return View(sheets, names)


def _sheet_cells(ws: Any) -> SheetCells:
    cells: dict[Pos, Any] = {}
    formulas = set()
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None:
                continue  # an EmptyCell has no coordinates, and a blank is absent from ``cells`` anyway
            cells[(cell.row, cell.column)] = cell.value
            if cell.data_type == "f":
                formulas.add((cell.row, cell.column))
    return SheetCells(cells, frozenset(formulas))


_SIGNATURES = ((b"\x89PNG", "it is a PNG image"), (b"\xff\xd8\xff", "it is a JPEG image"),
               (b"GIF8", "it is a GIF image"), (b"%PDF", "it is a PDF"),
               (b"\xd0\xcf\x11\xe0", "it is an old .xls workbook; save it as .xlsx"))


def open_workbook(path: Path) -> View:
    """The workbook's formulas and names, or a one-line ``WorkbookError`` saying what the file is instead."""
    if not path.exists():
        raise WorkbookError(f"{path}: no such file")
    if path.is_dir():
        raise WorkbookError(f"{path}: is a directory, not a workbook")
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise WorkbookError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not zipfile.is_zipfile(path):
        what = "the file is empty" if not head else next(
            (text for magic, text in _SIGNATURES if head.startswith(magic)), "not a zip archive")
        raise WorkbookError(f"{path}: not an .xlsx workbook ({what})")
    try:
        return _load(path, data_only=False)
    except _LOAD_ERRORS as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # KeyError's str() adds quotes
        detail = " ".join(str(text).split()) or type(exc).__name__
        raise WorkbookError(f"{path}: not a valid .xlsx workbook ({detail})") from None


# ------------------------------------------------------------------------------------- reading it back


@dataclass(frozen=True)
class Area:
    """The cells a defined name points at (1-based, inclusive)."""

    name: str
    sheet: str
    top: int
    left: int
    bottom: int
    right: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.bottom - self.top + 1, self.right - self.left + 1

    @property
    def ref(self) -> str:
        first = cell_ref(self.sheet, self.top, self.left)
        return first if self.shape == (1, 1) else f"{first}:{col_name(self.right - 1)}{self.bottom}"

    def at(self, r: int, c: int) -> str:
        """``'Sheet'!A1`` of cell (r, c), 0-based within the area."""
        return cell_ref(self.sheet, self.top + r, self.left + c)


def _shape_text(shape: tuple[int, int]) -> str:
    return f"{shape[0]}×{shape[1]}"


class Reader:
    """Reads grids through defined names, with errors that name the file, the cell and the name."""

    def __init__(self, path: Path, view: View) -> None:
        self.path, self.view = path, view

    def fail(self, problem: str) -> WorkbookError:
        return WorkbookError(f"{self.path}: {problem}")

    def has(self, name: str) -> bool:
        return name in self.view.names

    def area(self, name: str, shape: tuple[int, int] | None = None, why: str = "") -> Area:
        defn = self.view.names.get(name)
        if defn is None:
            raise self.fail(f"not an xlcnn workbook (missing the defined name {name})")
        try:
            destinations = list(defn.destinations)
        except (ValueError, TypeError, AttributeError, TokenizerError):
            destinations = []
        if len(destinations) != 1:
            raise self.fail(f"the defined name {name} does not point at one block of cells ({defn.attr_text})")
        sheet, ref = destinations[0]
        try:
            left, top, right, bottom = range_boundaries(ref.replace("$", ""))
        except (ValueError, TypeError):
            left = None
        if left is None or top is None or right is None or bottom is None:
            raise self.fail(f"the defined name {name} does not point at a block of cells ({defn.attr_text})")
        if sheet not in self.view.sheets:
            raise self.fail(f"the defined name {name} points at the sheet {sheet!r}, which the workbook does not have")
        area = Area(name, sheet, top, left, bottom, right)
        if shape is not None and area.shape != shape:
            raise self.fail(f"{name} is {area.ref} ({_shape_text(area.shape)}), but it must be "
                            f"{_shape_text(shape)}{f' ({why})' if why else ''}")
        return area

    def value(self, area: Area, r: int, c: int) -> Any:
        sheet = self.view.sheets[area.sheet]
        pos = (area.top + r, area.left + c)
        if pos in sheet.formulas:
            raise self.fail(f"{area.at(r, c)} ({area.name}) holds a formula; xlcnn reads pixels, weights, "
                            "labels and settings as plain values, so type the value itself")
        return sheet.cells.get(pos)

    def number(self, area: Area, r: int = 0, c: int = 0) -> float:
        value = self.value(area, r, c)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        where = f"{area.at(r, c)} ({area.name})"
        if value is None:
            raise self.fail(f"{where} is blank where a number belongs")
        if isinstance(value, bool):
            raise self.fail(f"{where} holds {str(value).upper()} where a number belongs")
        raise self.fail(f"{where} holds the text {value!r} where a number belongs")

    def grid(self, name: str, shape: tuple[int, int] | None = None, why: str = "") -> np.ndarray:
        area = self.area(name, shape, why)
        rows, cols = area.shape
        return np.array([[self.number(area, r, c) for c in range(cols)] for r in range(rows)])

    def integer(self, name: str, low: int) -> int:
        area = self.area(name, (1, 1), "one cell")
        value = self.number(area)
        if not value.is_integer() or value < low:
            raise self.fail(f"{area.at(0, 0)} ({name}) is {value:g}, but it must be a whole number ≥ {low}")
        return int(value)

    def text(self, area: Area, r: int = 0, c: int = 0) -> str:
        value = self.value(area, r, c)
        if isinstance(value, str):
            return value
        what = "blank" if value is None else f"the number {value!r}"
        raise self.fail(f"{area.at(r, c)} ({area.name}) is {what} where a class name belongs")


@dataclass(frozen=True, eq=False)
class ReadBack:
    """What the workbook says: a model, its input pixels, the true label and the settings of its sheets."""

    model: Model
    image: np.ndarray  # (H, W, 3) raw values
    true_label: str
    layout: Layout
    worked: tuple[int, int, int] | None  # the worked example's (map, row, column)
    language: str


def read_back(path: Path, view: View) -> ReadBack:
    """Read the model and its input through the defined names; check the grids sit where xlcnn puts them."""
    r = Reader(path, view)
    image = _read_input(r)
    classes = _read_classes(r)
    arch = Architecture(_input_spec(r, image), _read_convs(r, image.shape[0], image.shape[1]), classes)
    arrays = _read_weights(r, arch)
    try:
        weights = weights_from_arrays(arrays, arch, str(path))
    except ModelError as exc:  # shapes were checked above; this catches non-finite values
        raise WorkbookError(str(exc)) from None
    true_label = _read_true_label(r, classes)
    layout = Layout(arch, teaching=r.has("worked_map"))
    _check_layout(r, layout)
    model = Model("workbook", path.name, "", arch, weights, Provenance("unknown", f"read back from {path.name}"))
    worked = _read_worked(r, arch) if r.has("worked_map") else None
    return ReadBack(model, image, true_label, layout, worked, _language(view))


def _read_input(r: Reader) -> np.ndarray:
    red = r.area("input_r")
    why = f"the same size as input_r, {red.ref}"
    channels = [r.grid(name, red.shape, why) for name in ("input_r", "input_g", "input_b")]
    return np.stack(channels, axis=-1)


def _input_spec(r: Reader, image: np.ndarray) -> InputSpec:
    h, w = image.shape[:2]
    if not r.has("input_scale"):
        return InputSpec(h, w)
    scale = r.number(r.area("input_scale", (1, 1), "one cell"))
    return InputSpec(h, w, scale=scale, scale_text=f"{scale:g}")


def _read_classes(r: Reader) -> tuple[str, ...]:
    area = r.area("labels")
    rows, cols = area.shape
    if rows != 1 or cols < 2:
        raise r.fail(f"labels is {area.ref} ({_shape_text(area.shape)}), but it must be one row of 2 or more classes")
    labels = []
    for c in range(cols):
        try:
            labels.append(check_label(r.text(area, 0, c), f"{area.at(0, c)} (labels)"))
        except ValueError as exc:
            raise r.fail(str(exc)) from None
    try:
        return check_labels(labels, f"labels ({area.ref})")
    except ValueError as exc:
        raise r.fail(str(exc)) from None


def _read_true_label(r: Reader, classes: tuple[str, ...]) -> str:
    area = r.area("true_label", (1, 1), "one cell")
    label = r.text(area)
    if label not in classes:
        raise r.fail(f"{area.at(0, 0)} (true_label) is {label!r}, which is not exactly one of the classes "
                     f"({', '.join(classes)}); pick it from the cell's dropdown")
    return label


def _read_convs(r: Reader, height: int, width: int) -> tuple[tuple[ConvSpec, PoolSpec], ...]:
    """Each block's filters, kernel and settings, checked against the sizes of the maps in the workbook.

    Stride, padding and pool cells are read by the Shapes sheet, but the maps were laid out for the values
    they had at build time: an edit that changes a map's size cannot be verified, so it is named here.
    """
    convs: list[tuple[ConvSpec, PoolSpec]] = []
    size = (height, width)
    counts = _block_counts(r.view.names)
    for k in range(1, max(counts, default=1) + 1):
        filters = counts.get(k, 1)  # every filter's names are then required: a missing one is named
        kernel_area = r.area(f"conv{k}_w1_1")
        kernel = kernel_area.shape[0]
        if kernel_area.shape != (kernel, kernel):
            raise r.fail(f"conv{k}_w1_1 is {kernel_area.ref} ({_shape_text(kernel_area.shape)}), "
                         "but a kernel is square")
        conv = ConvSpec(filters, kernel, r.integer(f"conv{k}_stride", 1), r.integer(f"conv{k}_pad", 0))
        pool = PoolSpec(r.integer(f"pool{k}_size", 1), r.integer(f"pool{k}_stride", 1))
        conv_size = (conv.out_size(size[0]), conv.out_size(size[1]))
        _check_map_size(r, f"conv{k}_out1", conv_size, f"conv{k}_stride", f"conv{k}_pad")
        size = (pool.out_size(conv_size[0]), pool.out_size(conv_size[1]))
        _check_map_size(r, f"pool{k}_out1", size, f"pool{k}_size", f"pool{k}_stride")
        convs.append((conv, pool))
    return tuple(convs)


_MAP_NAME = re.compile(r"^(?:conv|relu|pool)(\d+)_(?:w|b|out)(\d+)")


def _block_counts(names: Mapping[str, object]) -> dict[int, int]:
    """Block k → its number of filters: the highest f of any conv{k}_w{f}_…, conv{k}_b{f} or …{k}_out{f}.

    Counting over all of a block's names, rather than one kind, means that a deleted or renamed name is
    reported as missing instead of silently shrinking the network.
    """
    counts: dict[int, int] = {}
    for name in names:
        m = _MAP_NAME.match(name)
        if m:
            k, f = int(m.group(1)), int(m.group(2))
            counts[k] = max(counts.get(k, 0), f)
    return counts


def _check_map_size(r: Reader, name: str, size: tuple[int, int], *settings: str) -> None:
    area = r.area(name)
    if area.shape != size:
        cells = " and ".join(f"{r.area(s).at(0, 0)} ({s}) = {r.integer(s, 0)}" for s in settings)
        raise r.fail(f"{cells} make {name} {_shape_text(size)}, but the workbook's {name} is "
                     f"{_shape_text(area.shape)}: a stride, padding or pool setting was edited, and the maps "
                     "cannot follow it; rebuild the workbook with xlcnn build to change it")


def _read_weights(r: Reader, arch: Architecture) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for block in arch.blocks:
        k, conv = block.index, block.conv
        square = (conv.kernel, conv.kernel)
        kernels = [[r.grid(f"conv{k}_w{f}_{c}", square, f"conv {k}'s kernel size, like conv{k}_w1_1")
                    for c in range(1, block.in_shape[0] + 1)] for f in range(1, conv.filters + 1)]
        arrays[f"conv{k}_w"] = np.array(kernels)
        arrays[f"conv{k}_b"] = np.array([r.grid(f"conv{k}_b{f}", (1, 1), "one cell")[0, 0]
                                         for f in range(1, conv.filters + 1)])
    classes = len(arch.classes)
    arrays["dense_w"] = r.grid("dense_w", (arch.flatten_size, classes),
                               f"{arch.flatten_size} flattened values × {classes} classes")
    arrays["dense_b"] = r.grid("dense_b", (1, classes), f"one row of {classes} classes")[0]
    return arrays


def _check_layout(r: Reader, layout: Layout) -> None:
    """Every named grid must be where the layout puts it, so that each expected cell is the right cell."""
    for grid in layout.grids.values():
        if not grid.named:
            continue
        area = r.area(grid.key)
        where = (grid.sheet, grid.top + 1, grid.left + 1, grid.top + grid.rows, grid.left + grid.cols)
        if (area.sheet, area.top, area.left, area.bottom, area.right) != where:
            expected = Area(grid.key, *where)
            raise r.fail(f"{grid.key} is {area.ref}, but xlcnn puts it at {expected.ref} for this network: rows, "
                         "columns or cells were moved, so verify cannot tell which cell is which")


def _read_worked(r: Reader, arch: Architecture) -> tuple[int, int, int]:
    """The worked example's chosen conv-1 cell, which the user may change within the maps' bounds."""
    filters, rows, cols = arch.blocks[0].conv_shape
    choice = []
    for name, top, what in (("worked_map", filters, "maps"), ("worked_row", rows, "rows"),
                            ("worked_col", cols, "columns")):
        value = r.integer(name, 1)
        if value > top:
            cell = r.area(name).at(0, 0)
            raise r.fail(f"{cell} ({name}) is {value}, but conv 1 has {what} 1–{top}")
        choice.append(value)
    return choice[0], choice[1], choice[2]


def _language(view: View) -> str:
    """The language the workbook was written in, recognised by the Guide's title (it shows in a few formulas)."""
    guide = view.sheets.get(GUIDE)
    title = guide.cells.get((1, 2)) if guide else None
    for code in available_languages():
        if Texts(code)("guide.title") == title:
            return code
    return DEFAULT_LANGUAGE


# ------------------------------------------------------------------------------- what the cells should be


class Recorder:
    """Stands in for an XlsxWriter worksheet: keeps every formula cell with its value, ignores the rest.

    Everything else — constants, text, links, row settings — is ignored: the workbook is written with
    ``strings_to_formulas`` off, so ``write_formula`` is the only way a formula gets in. Array formulas, which
    DESIGN.md rules out, fail loudly rather than slip past the check unseen.
    """

    UNRECORDED_FORMULAS = frozenset({"write_array_formula", "write_dynamic_array_formula"})

    def __init__(self) -> None:
        self.formulas: dict[Pos, Any] = {}
        self.texts: dict[Pos, str] = {}

    def write_formula(self, row: int, col: int, formula: str, fmt: object = None, value: object = 0) -> None:
        self.formulas[(row + 1, col + 1)] = value
        self.texts[(row + 1, col + 1)] = formula

    def __getattr__(self, name: str) -> Any:
        if name in self.UNRECORDED_FORMULAS:
            raise AttributeError(f"xlcnn.verify.Recorder cannot record {name}; teach it, or verify misses cells")
        return _ignore


def _ignore(*args: object, **kwargs: object) -> None:
    return None


def expected_cells(back: ReadBack, trace: Trace) -> tuple[dict[str, dict[Pos, Any]], dict[str, dict[Pos, str]]]:
    """Every formula cell the builder would write for this model and input: its value and its formula, by
    sheet.

    Sheets come in pipeline order, with the Guide (whose live cells repeat the results) last, so that the
    first mismatch reported is where a fault starts rather than where it ends up.
    """
    # XlsxWriter needs a workbook to make cell formats; this one lives in memory and is never saved.
    scratch = Workbook(io.BytesIO(), {"in_memory": True})
    h, w = back.image.shape[:2]
    ctx = BuildContext(back.layout, back.model, trace, Styles(scratch), Texts(back.language),
                       ImageInfo(back.model.title, (w, h), "crop", b""), back.worked)
    plans = sorted(back.layout.sheets, key=lambda plan: plan.kind == "guide")
    out: dict[str, dict[Pos, Any]] = {}
    texts: dict[str, dict[Pos, str]] = {}
    with np.errstate(all="ignore"):  # edited pixels may be outside 0–255 for the Image sheet's colours
        for plan in plans:
            recorder = Recorder()
            BUILDERS[plan.kind](ctx, plan).write(recorder, setup=False)
            if recorder.formulas:
                out[plan.name], texts[plan.name] = recorder.formulas, recorder.texts
    scratch.fileclosed = True  # nothing to save
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
                    recalculated: str | os.PathLike[str] | None = None) -> VerifyReport:
    """Check that the workbook at ``path`` computes what the NumPy engine computes; → a ``VerifyReport``.

    Raises ``WorkbookError`` for a file that is not an xlcnn workbook or holds something other than a
    number where one belongs, and ``LibreOfficeError`` when LibreOffice is missing, fails or takes longer
    than ``timeout`` seconds. A mismatch is not an error: it is in the report (``report.ok`` is False).
    ``recalculated`` is a copy of the workbook already recalculated by LibreOffice (e.g. many at once with
    ``xlcnn.libreoffice.recalculate``); then LibreOffice is not run again.
    """
    started = time.monotonic()
    book_path = Path(path)
    book = open_workbook(book_path)
    back = read_back(book_path, book)
    trace = forward(back.image, back.model, back.true_label)
    expected, texts = expected_cells(back, trace)
    missing_sheets = [sheet for sheet in expected if sheet not in book.sheets]
    if missing_sheets:
        raise WorkbookError(f"{book_path}: not an xlcnn workbook (missing the sheet {missing_sheets[0]!r})")

    recalc, recalc_seconds = _recalculated_view(book_path, timeout,
                                                Path(recalculated) if recalculated is not None else None)
    stages, first_bad = compare(expected, book, recalc, texts)
    cache = compare_cache(expected, _load(book_path, data_only=True)) if check_cache else CacheResult(
        False, 0, 0, 0, ())
    return VerifyReport(book_path, stages, first_bad, cache, trace.predicted_label, float(trace.probs.max()),
                        trace.true_label, trace.loss, time.monotonic() - started, recalc_seconds)


def _recalculated_view(path: Path, timeout: float, given: Path | None) -> tuple[View, float | None]:
    """The workbook's values after LibreOffice recalculated every formula, and how long LibreOffice took."""
    if given is not None:
        return _load_recalculated(given), None
    find_soffice()  # its errors (not installed) are about LibreOffice, not this file
    with tempfile.TemporaryDirectory(prefix="xlcnn-verify-") as tmp:
        started = time.monotonic()
        try:
            (out,) = recalculate([path], Path(tmp), timeout)
        except LibreOfficeError as exc:
            raise LibreOfficeError(f"{path}: {exc}") from None
        seconds = time.monotonic() - started
        return _load_recalculated(out), seconds


def _load_recalculated(path: Path) -> View:
    try:
        return _load(path, data_only=True)
    except _LOAD_ERRORS as exc:
        raise LibreOfficeError(f"{path}: LibreOffice wrote a workbook openpyxl cannot read ({exc})") from None
