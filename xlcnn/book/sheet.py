"""Sheet content written row by row, so that XlsxWriter's constant-memory mode keeps memory flat.

In constant-memory mode a row is flushed to disk as soon as a later row is written, so every sheet must
be written top to bottom. Stage emitters therefore describe their cells as ``Rows`` pieces — "rows
``top``…``bottom``, and a function that writes one of them" — and ``SheetContent.write`` interleaves the
pieces row by row. Sheet-wide settings (widths, colour scales, names) go in ``setup``.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_cell_to_rowcol, xl_col_to_name
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import CellFormulaTuple, CellNumberTuple, Worksheet

from xlcnn.book.layout import HEADER_ROWS, LEFT, TITLE, Grid, Layout, SheetPlan
from xlcnn.book.paper import (
    HEADER_LINE_PX,
    READABLE_SCALE,
    PaperPage,
    header_allowance,
    page_columns,
    page_px,
    readable_page,
)
from xlcnn.book.styles import GRID_CELL_PX, GRID_COLUMN_WIDTH, GRID_ROW_HEIGHT, Styles
from xlcnn.book.texts import Texts
from xlcnn.model import names
from xlcnn.model.spec import Model

if TYPE_CHECKING:  # the engine imports the layer modules, which import this one
    from xlcnn.nn.engine import Trace
    from xlcnn.nn.exercises import Exercise
    from xlcnn.nn.learning import Learning

MARGIN_WIDTH = 1.5
TITLE_ROW_HEIGHT = 24
DEFAULT_ROW_HEIGHT = 20  # XlsxWriter's, in pixels (15 points)
DEFAULT_COLUMN_WIDTH = 8.43
DEFAULT_COLUMN_PX = 64
CLASS_WIDTH = 13  # a class's column on Softmax and Loss: ten classes (digits) fit a landscape page at 80 %



class CellSink(Protocol):
    """Where a sheet's cells go: an XlsxWriter worksheet when building, a recorder when ``verify`` replays
    the stages to learn every formula and value it must find. These are the only calls emitters make on
    cells; sheet-wide settings (widths, colour scales, printing) are the setup's, done on a worksheet."""

    def write_formula(self, row: int, col: int, formula: str, cell_format: Any = None, value: Any = 0) -> Any: ...
    def write_formula_row(self, row: int, col: int, formulas: Sequence[str], cell_format: Any,
                          values: Sequence[float]) -> Any: ...
    def write_number(self, row: int, col: int, number: float, cell_format: Any = None) -> Any: ...
    def write_string(self, row: int, col: int, string: str, cell_format: Any = None) -> Any: ...
    def write_blank(self, row: int, col: int, blank: Any, cell_format: Any = None) -> Any: ...
    def write_url(self, row: int, col: int, url: str, cell_format: Any = None, string: str | None = None) -> Any: ...
    def merge_range(self, first_row: int, first_col: int, last_row: int, last_col: int, data: Any,
                    cell_format: Any = None) -> Any: ...
    def set_row(self, row: int, height: float | None, cell_format: Any = None) -> Any: ...


Emit = Callable[[CellSink, int], None]

# The only functions xlcnn's formulas use (docs/architecture.md: they work alike in Excel 2010+, LibreOffice and
# Google Sheets). tests/test_build.py checks the formulas of every template and of random architectures against
# this list; a formula given to XlsxWriter's own write path (an A1 reference, an array) is rewritten as usual.
OUR_FUNCTIONS = ("SUMPRODUCT", "SUM", "MAX", "MIN", "ABS", "EXP", "LN", "INDEX", "MATCH", "IF", "AND", "OR", "INT",
                 "ISNUMBER")
_OTHER_FUNCTION = re.compile(r"(?<![A-Za-z0-9_.])(?!(?:" + "|".join(OUR_FUNCTIONS) + r")\()[A-Za-z_][A-Za-z0-9_.]*\(")


class FormulaSheet(Worksheet):  # type: ignore[misc]  # XlsxWriter ships no type hints
    """A worksheet that skips XlsxWriter's formula rewriting and its general cell writer for cells that cannot
    need them, and writes each row's cells in one piece.

    XlsxWriter runs about 30 regular-expression substitutions on every formula to prefix functions newer
    than Excel 2007 (``_xlfn.XLOOKUP`` …), and another search for dynamic-array functions. None applies to the
    functions above, and for the default workbook's 48,000 formulas they are most of the build time; so is its
    general cell writer, which works out every cell's type, escapes it through regular expressions and writes it
    to the file on its own. The emitters' formulas call only those functions (a test checks them), so they take
    the short way here, as do their numbers: a grid's row of formulas is kept as its cells' XML, and a row's
    cells go to the file as one string. The output is byte-for-byte the same (tests/test_build.py checks it
    against the stock worksheet).
    """

    formulas = 0  # how many formula cells this sheet holds
    previous_row: int  # XlsxWriter's: the row being filled, in constant-memory mode

    def write_formula(self, row: int, col: int, formula: str, cell_format: Any = None, value: Any = 0) -> Any:
        self.formulas += 1
        if not isinstance(row, int) or formula.startswith("{") or self._check_dimensions(row, col):
            return super().write_formula(row, col, formula, cell_format, value)  # its checks, warnings and rewriting
        if self.constant_memory and row > self.previous_row:
            self._write_single_row(row)
        self.table[row][col] = CellFormulaTuple(formula[1:] if formula.startswith("=") else formula, cell_format, value)
        return 0

    def write_number(self, row: int, col: int, number: Any, cell_format: Any = None) -> Any:
        kind = type(number)
        if (type(row) is not int or (kind is not float and kind is not int) or not math.isfinite(number)
                or self._check_dimensions(row, col)):
            return super().write_number(row, col, number, cell_format)  # its checks and errors
        if self.constant_memory and row > self.previous_row:
            self._write_single_row(row)
        self.table[row][col] = CellNumberTuple(number, cell_format)
        return 0

    def write_formula_row(self, row: int, col: int, formulas: Sequence[str], cell_format: Any,
                          values: Sequence[float]) -> None:
        """``formulas[i]`` with its cached value ``values[i]`` in cell (row, col + i): a row of a grid at once, its
        bounds checked once, each cell kept as the XML XlsxWriter would write for it."""
        last = col + len(formulas) - 1
        xf = getattr(cell_format, "xf_index", None)  # None until the format's first cell has been written out
        if (xf is None or not self.constant_memory or last < col or not isinstance(row, int)
                or self._check_dimensions(row, col) or self._check_dimensions(row, last)):
            for i, (formula, value) in enumerate(zip(formulas, values, strict=True)):
                self.write_formula(row, col + i, formula, cell_format, value)  # its checks, cell by cell
            return
        if row > self.previous_row:
            self._write_single_row(row)
        cells, number, letters = self.table[row], str(row + 1), _columns(col, len(formulas))
        for i, (formula, value) in enumerate(zip(formulas, values, strict=True)):
            # The common cell inline (a plain formula, a number for its value); any other, as a cell on its own.
            if (type(value) is float and formula.startswith("=")
                    and "&" not in formula and "<" not in formula and ">" not in formula):
                cells[col + i] = f'<c r="{letters[i]}{number}" s="{xf}"><f>{formula[1:]}</f><v>{value}</v></c>'
                self.formulas += 1
            elif type(value) is float and not formula.startswith("{"):
                self.formulas += 1
                cells[col + i] = _formula_xml(f"{letters[i]}{number}", xf,
                                              formula[1:] if formula.startswith("=") else formula, value)
            else:
                self.write_formula(row, col + i, formula, cell_format, value)  # a text or error value; an array

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        if expand_future_functions or _OTHER_FUNCTION.search(formula) or formula.startswith("{"):
            return str(super()._prepare_formula(formula, expand_future_functions))
        return formula[1:] if formula.startswith("=") else formula

    def _write_single_row(self, current_row_num: int = 0) -> None:
        """XlsxWriter's constant-memory row writer, the row's cells written as one string: a row of a grid as
        ``write_formula_row`` kept it, any other formula or number cell with a format (and a number for a
        formula's value) rendered as XlsxWriter renders it, and any other cell by XlsxWriter, in its place."""
        row = self.previous_row
        cells = self.table.get(row)
        if not cells:  # row attributes or comments only
            super()._write_single_row(current_row_num)
            return
        self.previous_row = current_row_num
        self._write_row(row, None, self.row_info.get(row))
        number = str(row + 1)
        parts: list[str] = []
        for col in sorted(cells):  # the columns in order, as XlsxWriter's walk from the first to the last
            cell = cells[col]
            kind = type(cell)
            if kind is str:
                parts.append(cell)
            elif kind is CellFormulaTuple and cell.format is not None and type(cell.value) is float:
                parts.append(_formula_xml(f"{_column(col)}{number}", cell.format._get_xf_index(), cell.formula,
                                          cell.value))
            elif kind is CellNumberTuple and cell.format is not None:
                parts.append(f'<c r="{_column(col)}{number}" s="{cell.format._get_xf_index()}">'
                             f"<v>{cell.number:.16G}</v></c>")
            else:
                self.fh.write("".join(parts))
                parts.clear()
                super()._write_cell(row, col, cell)
        parts.append("</row>")
        self.fh.write("".join(parts))
        self.table.clear()


def _formula_xml(ref: str, xf: int, formula: str, value: float) -> str:
    """A formula cell (its formula without the "=") with a format and a number for its value, as XlsxWriter
    writes it: the formula's XML characters escaped."""
    if "&" in formula or "<" in formula or ">" in formula:
        formula = formula.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" s="{xf}"><f>{formula}</f><v>{value}</v></c>'


_column = functools.lru_cache(maxsize=None)(xl_col_to_name)  # "A", …, "XFD": a few hundred distinct columns


@functools.lru_cache(maxsize=4096)
def _columns(first: int, count: int) -> tuple[str, ...]:
    """The letters of ``count`` columns from ``first``: a grid's, worked out once for all its rows."""
    return tuple(_column(c) for c in range(first, first + count))


@dataclass(frozen=True)
class Rows:
    top: int
    bottom: int
    emit: Emit


@dataclass
class SheetContent:
    pieces: list[Rows] = field(default_factory=list)
    setup: list[Callable[[Worksheet], None]] = field(default_factory=list)
    book_setup: list[Callable[[Workbook, Worksheet], None]] = field(default_factory=list)  # charts (made by the book)

    def add(self, top: int, bottom: int, emit: Emit) -> None:
        self.pieces.append(Rows(top, bottom, emit))

    def on_setup(self, fn: Callable[[Worksheet], None]) -> None:
        self.setup.append(fn)

    def on_book(self, fn: Callable[[Workbook, Worksheet], None]) -> None:
        """Set-up that needs the workbook too (a chart is made by the workbook, then placed on the sheet)."""
        self.book_setup.append(fn)

    # Single cells ----------------------------------------------------------------------------

    def text(self, row: int, col: int, text: str, fmt: Format | None = None) -> None:
        """Text from anywhere (labels, file names) is always written as a string, never a formula."""
        self.add(row, row, lambda ws, r: ws.write_string(r, col, text, fmt))

    def number(self, row: int, col: int, value: float, fmt: Format | None = None) -> None:
        self.add(row, row, lambda ws, r: ws.write_number(r, col, value, fmt))

    def formula(self, row: int, col: int, formula: str, value: Any, fmt: Format | None = None) -> None:
        self.add(row, row, lambda ws, r: ws.write_formula(r, col, formula, fmt, value))

    def link(self, row: int, col: int, sheet_ref: str, text: str, fmt: Format | None = None) -> None:
        self.add(row, row, lambda ws, r: ws.write_url(r, col, f"internal:{sheet_ref}", fmt, text))

    def wrapped(self, row: int, col: int, text: str, fmt: Format, chars_per_line: int) -> None:
        """Text wrapped in a cell whose row is made tall enough (spreadsheets do not always autofit)."""
        lines = max(1, -(-display_width(text) // chars_per_line))

        def emit(ws: Worksheet, r: int) -> None:
            ws.set_row(r, 15 * lines)
            ws.write_string(r, col, text, fmt)

        self.add(row, row, emit)

    def lines(self, row: int, col: int, texts: list[str], fmt: Format | None = None) -> int:
        """Consecutive text lines from ``row``; returns the row after the last."""
        for i, line in enumerate(texts):
            if line:
                self.text(row + i, col, line, fmt)
        return row + len(texts)

    # Grids -------------------------------------------------------------------------------------

    def grid_title(self, grid: Grid, title: str, fmt: Format) -> None:
        """The label over a grid: what it is and its shape."""
        self.text(grid.title_row, grid.outer_left, title, fmt)

    def grid_formulas(self, grid: Grid, formula: Callable[[int, int], str], values: Any, fmt: Format) -> None:
        """One formula per grid cell, each written with its cached value ``values[r][c]``."""
        def emit(ws: Worksheet, row: int) -> None:
            r = row - grid.top
            ws.write_formula_row(row, grid.left, [formula(r, c) for c in range(grid.cols)], fmt,
                                 np.asarray(values[r][: grid.cols], dtype=np.float64).tolist())  # Python floats

        self.add(grid.top, grid.top + grid.rows - 1, emit)

    def grid_numbers(self, grid: Grid, values: Any, fmt: Format) -> None:
        """Constants (pixels, weights) — the cells a student edits."""
        def emit(ws: Worksheet, row: int) -> None:
            vals = values[row - grid.top]
            for c in range(grid.cols):
                ws.write_number(row, grid.left + c, float(vals[c]), fmt)

        self.add(grid.top, grid.top + grid.rows - 1, emit)

    def grid_border(self, grid: Grid, fmt: Format) -> None:
        """The visible zero-padding border around a grid (constant zeros, shaded grey)."""
        if grid.pad == 0:
            return
        left, right = grid.outer_left, grid.outer_right
        inner = range(grid.left, grid.left + grid.cols)

        def emit(ws: Worksheet, row: int) -> None:
            full = row < grid.top or row >= grid.top + grid.rows
            for col in range(left, right + 1):
                if full or col not in inner:
                    ws.write_number(row, col, 0, fmt)

        self.add(grid.outer_top, grid.outer_bottom, emit)

    # Writing -------------------------------------------------------------------------------------

    def write(self, ws: Worksheet) -> None:
        """Set the sheet up, then write every cell in row order."""
        for fn in self.setup:
            fn(ws)
        # LibreOffice ignores a sheet's default row height for rows that hold cells, so square-cell sheets
        # (set_default_row) get the height on every row, as each row is reached.
        height = ws.default_row_height
        self._emit(ws, height if height != DEFAULT_ROW_HEIGHT else None)

    def replay(self, sink: CellSink) -> None:
        """Every cell in row order into ``sink``, without the sheet's setup."""
        self._emit(sink, None)

    def _emit(self, ws: Any, height: int | None) -> None:
        pieces = sorted(self.pieces, key=lambda p: p.top)
        if not pieces:
            return
        uniform = height is not None
        active: list[Rows] = []
        i, last = 0, max(p.bottom for p in pieces)
        for row in range(0 if uniform else pieces[0].top, last + 1):
            if uniform:
                ws.set_row_pixels(row, height)
            while i < len(pieces) and pieces[i].top <= row:
                active.append(pieces[i])
                i += 1
            active = [p for p in active if p.bottom >= row]
            for piece in active:
                piece.emit(ws, row)


# --------------------------------------------------------------------------------------- context


@dataclass(frozen=True, eq=False)
class ImageInfo:
    """What the Guide and Image sheets say about the picture."""

    name: str  # the file name, shown as text
    size: tuple[int, int]  # the file's (width, height)
    fit: str  # crop, pad or stretch
    thumbnail_png: bytes  # the fitted image, enlarged, for the Guide
    overlay_png: bytes  # the Saliency sheet's half-transparent picture (b"" without the learning layer)


@dataclass(frozen=True, eq=False)
class BuildContext:
    """Everything a sheet emitter needs: where cells go, what they hold, how they look, what they say."""

    layout: Layout
    model: Model
    trace: Trace
    styles: Styles
    texts: Texts
    image: ImageInfo | None  # None when verify replays a workbook read back (the picture's file is not known)
    worked: tuple[int, int, int] | None = None  # the conv-1 cell (map, row, column) the worked example expands
    # Whether the build was told the true label; if not, the trace's is the prediction, and the Guide and Loss
    # say it was assumed. (Verify compares no text, so its replay leaves it False.)
    label_given: bool = False
    learning: Learning | None = None  # every number of the learning sheets (None: the workbook has none)
    exercise: Exercise | None = None  # the Exercises sheet's tasks (None: the workbook has none)
    exercise_answers: tuple[float | str | None, ...] | None = None  # what was typed (verify reads them back)

    @property
    def learned(self) -> Learning:
        """The learning layer's numbers, for the learning sheets (which exist only when they were computed)."""
        if self.learning is None:
            raise RuntimeError("a learning sheet was planned, but the learning layer was not computed")
        return self.learning


def cached(value: float, error: str) -> float | str:
    """The value a spreadsheet shows: an infinite loss (the true class's probability underflowed to 0)
    is the error LN(0) or y/0 gives, which is what the cell must cache too."""
    return value if math.isfinite(value) else error


def stage_header(content: SheetContent, ctx: BuildContext, title: str, lines: list[str]) -> None:
    """Row 0: the sheet's title; rows 1–4: what it does, its formula in words, shapes, colour legend."""
    content.text(*TITLE, title, ctx.styles.title)
    for i, line in enumerate(lines[: HEADER_ROWS - 3], start=1):
        if line:
            content.add(i, i, partial(header_line, text=line, styles=ctx.styles))


HEADER_CHAR_PX = 6.7  # a 10-pt character's width, at most (a CJK one is two, as display_width counts)


def header_line(ws: Worksheet, row: int, text: str, styles: Styles) -> None:
    """A note of a sheet's header. Where it is wider than the printed page (the print area is set up before any
    cell is written), it is wrapped in cells merged across the page, its row as tall as its lines, so that no
    word is cut at the paper's edge; otherwise (and in verify's replay, which prints nothing) plain text."""
    printed = getattr(ws, "print_area_range", None)  # a worksheet's; a replay's recorder has none
    area = re.search(r"\$([A-Z]+)\$\d+$", printed) if isinstance(printed, str) else None
    if area is None:
        ws.write_string(row, LEFT, text, styles.note)
        return
    last = xl_cell_to_rowcol(area.group(1) + "1")[1]
    columns = getattr(ws, "col_info", {})
    width = sum(columns[c].width if c in columns else DEFAULT_COLUMN_PX for c in range(LEFT, last + 1))
    lines = math.ceil(display_width(text) * HEADER_CHAR_PX / max(1, width))
    if lines <= 1 or last <= LEFT:
        ws.write_string(row, LEFT, text, styles.note)
        return
    ws.set_row_pixels(row, max(GRID_CELL_PX, HEADER_LINE_PX * lines + 4))
    ws.merge_range(row, LEFT, row, last, text, styles.note_wrapped)


def display_width(text: str) -> int:
    """Width in Latin characters: a CJK (wide) character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# A CJK character (a line may break before any), a word with the spaces after it, or spaces.
NO_LINE_START = set("，。；：、）」』！？")  # Chinese punctuation that never starts a line: it stays on the one before
_WRAP_TOKEN = re.compile(r"[\u3000-\u9fff\uff00-\uffef]|[^\s\u3000-\u9fff\uff00-\uffef]+\s*|\s+")


def wrap_lines(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` Latin characters (``display_width``), broken at spaces or between
    CJK characters: for a note under a narrow table, each line in a row of its own (no merged, taller row)."""
    lines, line = [], ""
    for token in _WRAP_TOKEN.findall(text):
        if line.strip() and display_width((line + token).rstrip()) > width and token not in NO_LINE_START:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    return [*lines, line.rstrip()] if line.strip() else lines


def param_cell(content: SheetContent, ctx: BuildContext, key: str, label: str, value: float,
               label_cols: int = 2, span: int = 1, num_format: str = "0", editable: bool = False) -> None:
    """A labelled cell in the header: a hyper-parameter (stride, padding, pool size, input scale), grey and
    locked, or with ``editable`` a choice a student makes (cream, unlocked); ``span`` merges it over that
    many narrow grid columns when its value needs the room."""
    grid = ctx.layout.grid(key)
    content.text(grid.top, grid.left - label_cols, label, ctx.styles.label)
    fmt = ctx.styles.param_format(num_format) if editable else ctx.styles.fixed_format(num_format)
    if span == 1:
        content.number(grid.top, grid.left, value, fmt)
    else:
        content.add(grid.top, grid.top, lambda ws, r: ws.merge_range(r, grid.left, r, grid.left + span - 1, value, fmt))


def map_grids(plan: SheetPlan) -> list[Grid]:
    """The feature-map grids of a stage sheet (not its 1×1 parameter cells)."""
    return [g for g in plan.grids if names.is_map(g.key)]


def grid_sheet_with_scale(content: SheetContent, ctx: BuildContext, plan: SheetPlan,
                          scale: Callable[[Worksheet, list[Grid], float], None], grids: list[Grid],
                          limit: float) -> None:
    """The usual set-up of a square-cell sheet, plus one colour scale shared by ``grids``."""
    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        scale(ws, grids, limit)

    content.on_setup(setup)


def setup_grid_sheet(ws: Worksheet, ctx: BuildContext, plan: SheetPlan,
                     widths: Sequence[tuple[int, int, float]] = ()) -> None:
    """Square cells, frozen title rows, a zoom at which the first grid fits on screen, print settings;
    ``widths`` widens columns (first, last, width) that hold more than a grid cell."""
    ws.set_default_row(GRID_ROW_HEIGHT)
    ws.set_column(0, 0, MARGIN_WIDTH)
    ws.set_column(1, plan.last_col + 40, GRID_COLUMN_WIDTH)
    columns = [MARGIN_WIDTH] + [GRID_COLUMN_WIDTH] * (plan.last_col + 40)
    for first, last, width in widths:
        ws.set_column(first, last, width)
        columns[first : last + 1] = [width] * (last - first + 1)
    ws.freeze_panes(HEADER_ROWS - 1, 0)
    ws.hide_gridlines(2)  # grids draw their own hairlines; the rest of the sheet reads like a page
    rows = max((g.rows + 2 * g.pad + 2 for g in plan.grids), default=10)
    # About 900 px of sheet are visible on a laptop screen; cells are 30 px tall.
    zoom = int(max(40, min(100, 900 * 100 / ((rows + HEADER_ROWS) * GRID_CELL_PX))))
    ws.set_zoom(zoom)
    print_setup(ws, ctx, plan, columns, GRID_CELL_PX)


def setup_table_sheet(ws: Worksheet, ctx: BuildContext, plan: SheetPlan,
                      widths: list[tuple[int, int, float]]) -> None:
    """A sheet of labelled rows and columns (Flatten, Dense, Softmax, Loss, Shapes): given column widths."""
    columns = [DEFAULT_COLUMN_WIDTH] * (plan.last_col + 20)
    columns[0] = MARGIN_WIDTH
    ws.set_column(0, 0, MARGIN_WIDTH)
    for first, last, width in widths:
        ws.set_column(first, last, width)
        columns[first : last + 1] = [width] * (last - first + 1)
    ws.freeze_panes(HEADER_ROWS - 1, 0)
    ws.set_zoom(100)
    ws.set_row(0, TITLE_ROW_HEIGHT)  # the 16-pt title needs more than the default 15-pt row
    print_setup(ws, ctx, plan, columns, 20)


def column_px(width: float) -> int:
    """A column's width in pixels, as Excel computes it for the default font."""
    return int(width * 7 + 0.5) + 5 if width >= 1 else int(width * 12 + 0.5)


def print_setup(ws: Worksheet, ctx: BuildContext, plan: SheetPlan, columns: list[float], row_px: int) -> None:
    """The whole sheet on one page when it is readable so; else one readable page of it, with a footer that
    says what the workbook holds beyond it (``paper``); else, for a sheet of which not even one grid fits a
    page, one page wide with a break before each band of grids. Landscape where that fits more; the title row
    repeated; the sheet's name in the header and page numbers in the footer."""
    widths = [column_px(w) for w in columns]
    width = sum(widths[: plan.last_col + 1])
    title_rows = 1
    height = (plan.last_row + 2) * row_px + header_allowance(row_px)

    def fit(landscape: bool) -> float:  # the largest scale at which the whole sheet fits one page
        page_w, page_h = page_px(landscape, 100)
        return 100 * min(page_w / width, page_h / height)

    landscape = fit(True) > fit(False)
    note = ""
    if fit(landscape) >= READABLE_SCALE:
        scale = min(100, int(fit(landscape)))
        # The page's whole width, so that the header's notes print as far as the paper allows.
        ws.print_area(0, 0, plan.last_row + 1, page_columns(widths, page_px(landscape, scale)[0], plan.last_col))
        ws.set_print_scale(scale)
    elif (page := readable_page(plan, widths, row_px)) is not None:
        landscape = page.landscape
        ws.print_area(page.first_row, 0, page.last_row, page.last_col)
        ws.set_print_scale(page.scale)
        note = paper_note(ctx.texts, plan, page)
        title_rows = HEADER_ROWS if page.first_row else 1  # the header, printed above grids further down
    else:
        ws.print_area(0, 0, plan.last_row + 1, plan.last_col)
        ws.fit_to_pages(1, 0)
        # One page wide: LibreOffice scales the sheet by page_w / width, so a page holds this many rows (less
        # the repeated title row, and a margin for its rounding).
        page_w, page_h = page_px(landscape, 100)
        rows_per_page = int(page_h * max(1.0, width / page_w) / row_px) - 1
        starts = sorted({g.title_row - plan.break_above for g in plan.grids if g.rows > 1})
        breaks = band_breaks(starts, plan.last_row + 2, rows_per_page)
        if breaks:
            ws.set_h_pagebreaks(breaks[:1000])
    if landscape:
        ws.set_landscape()
    page_setup(ws, ctx, plan.name, note, title_rows)


def paper_note(texts: Texts, plan: SheetPlan, page: PaperPage) -> str:
    """The footer of a sheet printed in part: what the page shows (which maps or filters, how many grids, or how
    many of its list's rows), and that the workbook holds the rest; nothing for a sheet printed whole."""
    if page.list_rows is not None:
        rows, total = page.list_rows
        return texts("print.rows", shown=rows, total=total)
    if all(page.shows(g) for g in plan.grids):
        return ""
    grids = [g for g in plan.grids if g.rows > 1 or g.cols > 1]
    maps = [g for g in grids if is_map_like(g.key)]
    shown = [i + 1 for i, g in enumerate(maps) if page.shows(g)]
    if shown:
        return texts("print.map" if len(shown) == 1 else "print.maps", which=numbers(shown), total=len(maps))
    if plan.kind.name in ("filters", "back_filters", "step_conv"):  # a band of grids is one filter
        kernels = [g for g in grids if not is_map_like(g.key)]  # Step conv's maps come below its filters
        bands = sorted({g.title_row for g in kernels})  # a filter is on the page if its kernels are, at its left
        on_page = {g.title_row for g in kernels if page.shows(g)}
        shown = [i + 1 for i, band in enumerate(bands) if band in on_page]
        return texts("print.filter" if len(shown) == 1 else "print.filters", which=numbers(shown), total=len(bands))
    counted = [g for g in grids if g.named] if page.first_row else grids  # not the helpers left out above
    return texts("print.grids", shown=sum(page.shows(g) for g in counted), total=len(counted))


def band_breaks(starts: list[int], end: int, rows_per_page: int) -> list[int]:
    """Page breaks that keep each band of grids (from its start row to the next band's) whole on a page, placed
    greedily: a break falls before a band only when the band would not fit on what is left of the page. A band
    taller than a page starts a page of its own, and LibreOffice breaks inside it where it must."""
    breaks: list[int] = []
    page_top = 0
    if not starts:
        return breaks
    for start, stop in zip(starts, [*starts[1:], end], strict=True):
        if stop - page_top > rows_per_page and start > page_top and start > starts[0]:  # the header keeps band 1
            breaks.append(start)
            page_top = start
    return breaks


# Workbook options for text that is only text: a label "=1+1", "0012" or "http://…" is written as typed.
TEXT_AS_TEXT = {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False}


def protect(ws: Worksheet) -> None:
    """Protect the sheet without a password: only the cells whose format unlocks them (pixels, weights,
    biases, the choices) take typing, so that a student cannot overwrite a formula by accident. Selecting,
    resizing columns and rows, and the dropdowns still work; a teacher unprotects it from the menu."""
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True,
                    "format_columns": True, "format_rows": True})


def is_map_like(key: str) -> bool:
    """A feature map, or its gradient or its stepped twin (``grad_pool1_out2``, ``step_relu1_out2``)."""
    return names.is_map(key.removeprefix("grad_").removeprefix("step_"))


def numbers(shown: list[int]) -> str:
    """1, 2, 3, 7, 8 → "1–3, 7–8": runs of consecutive numbers as ranges."""
    runs: list[list[int]] = []
    for n in shown:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)


def page_setup(ws: Worksheet, ctx: BuildContext, name: str, note: str = "", title_rows: int = 1) -> None:
    """What every printed page carries: A4, the title row repeated, the sheet's name, page numbers, and a
    ``note`` at the foot's left (what a page printed in part leaves out); ``title_rows`` rows repeated."""
    ws.set_paper(9)
    ws.repeat_rows(0, title_rows - 1)
    model = ctx.model.name[:60].replace("&", "&&")  # & starts a header code (&P is the page number)
    ws.set_header(f"&L&\"{ctx.styles.font},Bold\"{name}&Rxlcnn · {model}")
    page = ctx.texts("print.page")
    if note:
        ws.set_footer(f"&L&\"{ctx.styles.font},Regular\"{note.replace('&', '&&')}&R{page}")
    else:
        ws.set_footer(f"&C{page}")
    ws.set_margins(left=0.25, right=0.25, top=0.6, bottom=0.6)
