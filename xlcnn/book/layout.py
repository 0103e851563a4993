"""Where everything goes: the one object that owns every sheet name and cell address of a workbook.

Stage emitters never build ``"A1"`` strings themselves; they ask a ``Grid`` for ``cell(r, c)`` or
``range(r0, c0, r1, c1)`` in the grid's own coordinates, and ``Layout.ref`` for a reference from another
sheet. Rows and columns are 0-based here, as in XlsxWriter; the strings are Excel's 1-based A1 form.

A grid may carry a visible zero border (``pad``) for the convolution that reads it: interior cell
(0, 0) is the grid's first real value, and border cells are reached with negative or overflowing indices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import cache

from xlsxwriter.utility import quote_sheetname, xl_col_to_name

from xlcnn.model.spec import Architecture

# Sheet names, as the code knows them (a sheet's key). A workbook shows them in its language (``SheetNames``):
# fixed (not derived from user text), short and free of characters sheets forbid.
GUIDE, IMAGE, INPUT, FLATTEN, DENSE, SOFTMAX, LOSS = "Guide", "Image", "Input", "Flatten", "Dense", "Softmax", "Loss"
WORKED, SHAPES = "Worked example", "Shapes"


def filters_sheet(k: int) -> str:
    return f"Filters {k}"


def conv_sheet(k: int) -> str:
    return f"Conv {k}"


def relu_sheet(k: int) -> str:
    return f"ReLU {k}"


def pool_sheet(k: int) -> str:
    return f"Pool {k}"


# The learning layer's sheets.
BACK_DENSE, BACK_INPUT, STEP, STEP_DENSE = "Back dense", "Back input", "Step", "Step dense"
WHY, SALIENCY, GRADCAM = "Why this class", "Saliency", "Grad-CAM"


def back_sheet(stage: str, k: int) -> str:
    """The backward pass's sheet of ``stage`` (pool, ReLU, conv, filters) of block ``k``: ``Back pool 2``."""
    return f"Back {stage} {k}"


def step_sheet(stage: str, k: int) -> str:
    """The forward pass after the step, ``stage`` (filters, conv, pool) of block ``k``: ``Step conv 1``."""
    return f"Step {stage} {k}"


FORBIDDEN_IN_SHEET_NAMES = frozenset("[]:*?/\\")
MAX_SHEET_NAME = 31  # characters


@dataclass(frozen=True)
class SheetNames:
    """The sheets' names in a workbook's language. ``table`` (a language file's ``[sheets]``) translates a key
    (``Guide``) or, for the per-block sheets, a key's stem (``Back pool`` of ``Back pool 2``, whose block
    number follows the translation); a key it does not know keeps its English name."""

    table: tuple[tuple[str, str], ...] = ()

    def __call__(self, key: str) -> str:
        table = dict(self.table)
        if key in table:
            return table[key]
        stem, _, k = key.rpartition(" ")
        return f"{table[stem]} {k}" if k.isdigit() and stem in table else key


ENGLISH = SheetNames()  # the sheets' names as the code knows them

HEADER_ROWS = 7  # title, what it does, formula in words, shape, legend, parameters, blank
LEFT = 1  # column A is a narrow margin
TITLE = (0, LEFT)  # (row, column) of every sheet's title
MAX_BAND_COLUMNS = 96  # grids wrap onto a new band of rows beyond this many columns
GAP = 1  # empty columns/rows between grids

MAX_ROWS = 1_048_576
MAX_COLS = 16_384


@cache
def col_name(col: int) -> str:
    return str(xl_col_to_name(col))


@dataclass(frozen=True)
class SheetKind:
    """What a sheet shows. Each stage module of ``xlcnn.book.stages`` declares its own
    (``KIND = SheetKind("conv")``); the name is what the language files key their texts by."""

    name: str


class Holds(Enum):
    """What every cell of a grid holds."""

    FORMULAS = "formulas"  # live formulas (each written with its cached value)
    NUMBERS = "numbers"  # constants a student may edit: pixels, weights, biases, settings
    TEXT = "text"  # text constants: class names, where a value came from
    SETTING = "setting"  # one editable choice in a sheet's header: a stride, the input scale, the true label
    OTHER = "other"  # a mix (the Shapes table's columns) or nothing the counts need (the Image sheet's fills)


@dataclass(frozen=True)
class Grid:
    """A rectangular block of cells on one sheet. ``top``/``left`` locate interior cell (0, 0)."""

    key: str  # the defined name (``conv1_out2``) or an internal key
    sheet: str
    top: int
    left: int
    rows: int
    cols: int
    pad: int = 0
    named: bool = True  # whether it gets a workbook-level defined name
    holds: Holds = Holds.OTHER  # what its cells hold: the workbook's formula and constant counts come from it

    @property
    def cells(self) -> int:
        return self.rows * self.cols

    @property
    def border_cells(self) -> int:
        """The constant zeros of its visible padding."""
        return (self.rows + 2 * self.pad) * (self.cols + 2 * self.pad) - self.cells

    @property
    def title_row(self) -> int:
        return self.top - self.pad - 1

    @property
    def outer_top(self) -> int:
        return self.top - self.pad

    @property
    def outer_left(self) -> int:
        return self.left - self.pad

    @property
    def outer_bottom(self) -> int:
        return self.top + self.rows + self.pad - 1

    @property
    def outer_right(self) -> int:
        return self.left + self.cols + self.pad - 1

    def at(self, r: int, c: int) -> tuple[int, int]:
        """Sheet (row, col) of grid cell (r, c)."""
        return self.top + r, self.left + c

    def cell(self, r: int, c: int, absolute: bool = False) -> str:
        d = "$" if absolute else ""
        return f"{d}{col_name(self.left + c)}{d}{self.top + r + 1}"

    def range(self, r0: int, c0: int, r1: int, c1: int, absolute: bool = False) -> str:
        """Cells (r0, c0) … (r1, c1) inclusive."""
        return f"{self.cell(r0, c0, absolute)}:{self.cell(r1, c1, absolute)}"

    def whole(self, absolute: bool = True) -> str:
        return self.range(0, 0, self.rows - 1, self.cols - 1, absolute)

    def outer(self, absolute: bool = True) -> str:
        """The grid with its zero border."""
        return self.range(-self.pad, -self.pad, self.rows + self.pad - 1, self.cols + self.pad - 1, absolute)

    def row_range(self, r: int, absolute: bool = False) -> str:
        return self.range(r, 0, r, self.cols - 1, absolute)

    def col_range(self, c: int, absolute: bool = False) -> str:
        return self.range(0, c, self.rows - 1, c, absolute)


@dataclass(frozen=True)
class CellRefs:
    """References to single cells of a grid, as seen from one sheet: ``ref(r, c)`` → ``'Conv 1'!B9``."""

    prefix: str
    rows: tuple[str, ...]  # "9", "10", … for grid rows from ``first``
    cols: tuple[str, ...]
    first: int  # grid coordinate of rows[0] / cols[0] (negative inside a zero border)

    def ref(self, r: int, c: int) -> str:
        return f"{self.prefix}{self.cols[c - self.first]}{self.rows[r - self.first]}"


@dataclass(frozen=True)
class WindowRefs:
    """References to size × size windows of a grid, ``stride`` apart, starting ``offset`` cells before
    interior (0, 0) (a convolution's padding): ``ref(i, j)`` → ``Input!B3:D5`` for output cell (i, j)."""

    prefix: str
    rows: tuple[tuple[str, str], ...]
    cols: tuple[tuple[str, str], ...]

    def ref(self, i: int, j: int) -> str:
        (r0, r1), (c0, c1) = self.rows[i], self.cols[j]
        return f"{self.prefix}{c0}{r0}:{c1}{r1}"


@dataclass
class SheetPlan:
    """One sheet: its name as shown, its grids in reading order, and its size."""

    name: str
    kind: SheetKind
    key: str = ""  # the name the code knows it by (``Conv 1``), whatever the workbook's language
    block: int = 0  # k for per-block sheets
    grids: list[Grid] = field(default_factory=list)
    square: bool = True  # grid sheets use square cells
    break_above: int = 0  # printed page breaks fall this many rows above each band's grid titles

    @property
    def last_row(self) -> int:
        return max((g.outer_bottom for g in self.grids), default=HEADER_ROWS)

    @property
    def last_col(self) -> int:
        return max((g.outer_right for g in self.grids), default=LEFT)


def band_positions(
    shapes: list[tuple[int, int]], top: int, title_rows: int = 1, max_cols: int = MAX_BAND_COLUMNS
) -> list[tuple[int, int]]:
    """Place boxes of (rows, cols) left to right in balanced bands; → each box's (top, left) corner."""
    if not shapes:
        return []
    widest = max(c for _, c in shapes)
    per_band = max(1, min(len(shapes), (max_cols + GAP) // (widest + GAP)))
    bands = math.ceil(len(shapes) / per_band)
    per_band = math.ceil(len(shapes) / bands)  # 4 maps → 2 + 2 rather than 3 + 1
    out, y = [], top
    for b in range(bands):
        chunk = shapes[b * per_band : (b + 1) * per_band]
        x = LEFT
        for _, cols in chunk:
            out.append((y, x))
            x += cols + GAP
        y += title_rows + max(r for r, _ in chunk) + GAP
    return out


class Layout:
    """Every sheet and grid of the workbook for one architecture, computed before anything is written
    (by ``xlcnn.book.stages.plan_layout``, which has every stage add its own)."""

    def __init__(self, arch: Architecture, patches: int = 0, names: SheetNames = ENGLISH) -> None:
        self.arch = arch
        self.names = names  # the sheets' names in the workbook's language
        self.patches = patches  # training patches per conv-1 filter that the workbook shows (Filters 1)
        self.learning = False  # whether the learning layer's sheets are planned too (the Overview sums it up)
        self.sheets: list[SheetPlan] = []
        self.grids: dict[str, Grid] = {}

    # --------------------------------------------------------------------------------- lookups

    def grid(self, key: str) -> Grid:
        return self.grids[key]

    def sheet(self, key: str) -> SheetPlan:
        """The sheet the code knows as ``key`` (``Conv 1``), whatever name the workbook shows."""
        for plan in self.sheets:
            if plan.key == key:
                return plan
        raise KeyError(key)

    def first_sheet(self, kind: str) -> SheetPlan:
        """The first sheet of the kind named ``kind`` (block 1's, for the per-block stages)."""
        return next(plan for plan in self.sheets if plan.kind.name == kind)

    def ref(self, key: str, r0: int, c0: int, r1: int | None = None, c1: int | None = None,
            from_sheet: str = "", absolute: bool = False) -> str:
        """A cell or range of grid ``key`` as written in a formula on ``from_sheet``."""
        g = self.grids[key]
        text = g.cell(r0, c0, absolute) if r1 is None or c1 is None else g.range(r0, c0, r1, c1, absolute)
        return text if g.sheet == from_sheet else f"{quote_sheetname(g.sheet)}!{text}"

    def prefix(self, key: str, from_sheet: str) -> str:
        """``'Sheet'!`` for grid ``key`` seen from ``from_sheet`` ('' on the same sheet)."""
        sheet = self.grids[key].sheet
        return "" if sheet == from_sheet else quote_sheetname(sheet) + "!"

    def cells(self, key: str, from_sheet: str) -> CellRefs:
        """Fast single-cell references into grid ``key`` (border included) for a formula on ``from_sheet``."""
        g = self.grids[key]
        rows = tuple(str(g.top + r + 1) for r in range(-g.pad, g.rows + g.pad))
        cols = tuple(col_name(g.left + c) for c in range(-g.pad, g.cols + g.pad))
        return CellRefs(self.prefix(key, from_sheet), rows, cols, -g.pad)

    def windows(self, key: str, out_rows: int, out_cols: int, size: int, stride: int, offset: int,
                from_sheet: str) -> WindowRefs:
        """Window references for every output cell of a convolution or pool reading grid ``key``."""
        g = self.grids[key]
        if offset > g.pad:
            raise ValueError(f"{key} has a border of {g.pad}, too thin for an offset of {offset}")
        rows = tuple((str(g.top + i * stride - offset + 1), str(g.top + i * stride - offset + size))
                     for i in range(out_rows))
        cols = tuple((col_name(g.left + j * stride - offset), col_name(g.left + j * stride - offset + size - 1))
                     for j in range(out_cols))
        return WindowRefs(self.prefix(key, from_sheet), rows, cols)

    def area(self, sheet: str, top: int, left: int, bottom: int, right: int, from_sheet: str) -> str:
        """An absolute range spanning several grids of ``sheet`` (for INDEX lookups across them)."""
        text = f"${col_name(left)}${top + 1}:${col_name(right)}${bottom + 1}"
        return text if sheet == from_sheet else f"{quote_sheetname(sheet)}!{text}"

    def defined_names(self) -> Iterable[tuple[str, str]]:
        """(name, ``='Sheet'!$A$1:$B$2``) for every named grid."""
        for g in self.grids.values():
            if g.named:
                yield g.key, f"={quote_sheetname(g.sheet)}!{g.whole()}"

    # -------------------------------------------------------------------------------- planning
    # The stages plan themselves (xlcnn.book.stages.plan_layout): each adds its sheet and its grids here.

    def add_grid(self, plan: SheetPlan, grid: Grid) -> Grid:
        if grid.key in self.grids:
            raise ValueError(f"duplicate grid {grid.key}")
        self.grids[grid.key] = grid
        plan.grids.append(grid)
        return grid

    def add_sheet(self, key: str, kind: SheetKind, block: int = 0, square: bool = True,
                  break_above: int = 0) -> SheetPlan:
        """The sheet the code knows as ``key``, named in the workbook's language."""
        plan = SheetPlan(self.names(key), kind, key, block, square=square, break_above=break_above)
        self.sheets.append(plan)
        return plan

    def add_maps(self, plan: SheetPlan, keys: list[str], rows: int, cols: int, pad: int,
                 holds: Holds = Holds.FORMULAS, top: int = HEADER_ROWS, named: bool = True) -> int:
        """A flow of equally sized maps from row ``top``, each with a title row and an optional zero border;
        → the first row below them (where another flow may start, after a gap)."""
        size = (rows + 2 * pad, cols + 2 * pad)
        for key, (y, x) in zip(keys, band_positions([size] * len(keys), top), strict=True):
            self.add_grid(plan, Grid(key, plan.name, y + 1 + pad, x + pad, rows, cols, pad, named=named, holds=holds))
        return max((self.grids[key].outer_bottom for key in keys), default=top) + 1 + GAP
