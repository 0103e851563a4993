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
from functools import cache

from xlsxwriter.utility import xl_col_to_name

from xlcnn.model.spec import Architecture

# Sheet names. They are fixed (not derived from user text), short and free of characters sheets forbid.
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


HEADER_ROWS = 7  # title, what it does, formula in words, shape, legend, parameters, blank
LEFT = 1  # column A is a narrow margin
MAX_BAND_COLUMNS = 96  # grids wrap onto a new band of rows beyond this many columns
GAP = 1  # empty columns/rows between grids

MAX_ROWS = 1_048_576
MAX_COLS = 16_384


@cache
def col_name(col: int) -> str:
    return str(xl_col_to_name(col))


def quote_sheet(name: str) -> str:
    """A sheet name as it must appear in a formula: quoted when it holds anything but letters/digits/_."""
    if name.replace("_", "").isalnum() and not name[0].isdigit():
        return name
    return "'" + name.replace("'", "''") + "'"


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
    """One sheet: its name, its grids in reading order, and its size."""

    name: str
    kind: str  # guide, image, input, filters, conv, relu, pool, flatten, dense, softmax, loss, …
    block: int = 0  # k for per-block sheets
    grids: list[Grid] = field(default_factory=list)
    square: bool = True  # grid sheets use square cells

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
    """Every sheet and grid of the workbook for one architecture, computed before anything is written."""

    def __init__(self, arch: Architecture, teaching: bool = False) -> None:
        self.arch = arch
        self.sheets: list[SheetPlan] = []
        self.grids: dict[str, Grid] = {}
        self._plan(teaching)

    # --------------------------------------------------------------------------------- lookups

    def grid(self, key: str) -> Grid:
        return self.grids[key]

    def sheet(self, name: str) -> SheetPlan:
        for plan in self.sheets:
            if plan.name == name:
                return plan
        raise KeyError(name)

    def ref(self, key: str, r0: int, c0: int, r1: int | None = None, c1: int | None = None,
            from_sheet: str = "", absolute: bool = False) -> str:
        """A cell or range of grid ``key`` as written in a formula on ``from_sheet``."""
        g = self.grids[key]
        text = g.cell(r0, c0, absolute) if r1 is None or c1 is None else g.range(r0, c0, r1, c1, absolute)
        return text if g.sheet == from_sheet else f"{quote_sheet(g.sheet)}!{text}"

    def prefix(self, key: str, from_sheet: str) -> str:
        """``'Sheet'!`` for grid ``key`` seen from ``from_sheet`` ('' on the same sheet)."""
        sheet = self.grids[key].sheet
        return "" if sheet == from_sheet else quote_sheet(sheet) + "!"

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
        return text if sheet == from_sheet else f"{quote_sheet(sheet)}!{text}"

    def defined_names(self) -> Iterable[tuple[str, str]]:
        """(name, ``='Sheet'!$A$1:$B$2``) for every named grid."""
        for g in self.grids.values():
            if g.named:
                yield g.key, f"={quote_sheet(g.sheet)}!{g.whole()}"

    # -------------------------------------------------------------------------------- planning

    def _add(self, plan: SheetPlan, grid: Grid) -> Grid:
        if grid.key in self.grids:
            raise ValueError(f"duplicate grid {grid.key}")
        self.grids[grid.key] = grid
        plan.grids.append(grid)
        return grid

    def _new_sheet(self, name: str, kind: str, block: int = 0, square: bool = True) -> SheetPlan:
        plan = SheetPlan(name, kind, block, square=square)
        self.sheets.append(plan)
        return plan

    def _maps(self, plan: SheetPlan, keys: list[str], rows: int, cols: int, pad: int) -> None:
        """A flow of equally sized maps, each with a title row and an optional zero border."""
        size = (rows + 2 * pad, cols + 2 * pad)
        for key, (y, x) in zip(keys, band_positions([size] * len(keys), HEADER_ROWS), strict=True):
            self._add(plan, Grid(key, plan.name, y + 1 + pad, x + pad, rows, cols, pad))

    def _plan(self, teaching: bool) -> None:
        arch = self.arch
        blocks = arch.blocks
        self._plan_guide()
        h, w = arch.input.height, arch.input.width
        image = self._new_sheet(IMAGE, "image")
        self._add(image, Grid("image_pixels", IMAGE, HEADER_ROWS + 1, LEFT, h, w, named=False))
        self._plan_input(blocks[0].conv.padding)
        for i, block in enumerate(blocks):
            next_pad = blocks[i + 1].conv.padding if i + 1 < len(blocks) else 0
            self._plan_block(block.index, next_pad, teaching)
        self._plan_flatten()
        self._plan_dense()
        self._plan_softmax()
        self._plan_loss()
        if teaching:
            self._plan_shapes()

    def _plan_guide(self) -> None:
        plan = self._new_sheet(GUIDE, "guide", square=False)
        # Live summary cells: prediction, its probability, true label, loss (column C of rows 4–7).
        for i, key in enumerate(("guide_predicted", "guide_probability", "guide_true_label", "guide_loss")):
            self._add(plan, Grid(key, GUIDE, 3 + i, 2, 1, 1, named=False))

    def _plan_input(self, pad: int) -> None:
        arch = self.arch
        plan = self._new_sheet(INPUT, "input")
        if arch.input.scale != 1.0:
            self._add(plan, Grid("input_scale", INPUT, 5, 5, 1, 1))
        h, w = arch.input.height, arch.input.width
        self._maps(plan, ["input_r", "input_g", "input_b"], h, w, pad)

    def _plan_block(self, k: int, next_pad: int, teaching: bool) -> None:
        block = self.arch.blocks[k - 1]
        channels = block.in_shape[0]
        filters, ch, cw = block.conv_shape
        _, ph, pw = block.pool_shape
        kernel = block.conv.kernel

        plan = self._new_sheet(filters_sheet(k), "filters", k)
        # Each filter is a band: a title row, a row of channel names, then its kernels side by side and
        # its bias to the right.
        y = HEADER_ROWS
        for f in range(1, filters + 1):
            x = LEFT
            for c in range(1, channels + 1):
                self._add(plan, Grid(f"conv{k}_w{f}_{c}", plan.name, y + 2, x, kernel, kernel))
                x += kernel + GAP
            self._add(plan, Grid(f"conv{k}_b{f}", plan.name, y + 2, x, 1, 1))
            y += 2 + kernel + GAP

        plan = self._new_sheet(conv_sheet(k), "conv", k)
        self._add(plan, Grid(f"conv{k}_stride", plan.name, 5, 3, 1, 1))
        self._add(plan, Grid(f"conv{k}_pad", plan.name, 5, 6, 1, 1))
        self._maps(plan, [f"conv{k}_out{f}" for f in range(1, filters + 1)], ch, cw, 0)
        if teaching and k == 1:
            self._plan_worked_example()
        plan = self._new_sheet(relu_sheet(k), "relu", k)
        self._maps(plan, [f"relu{k}_out{f}" for f in range(1, filters + 1)], ch, cw, 0)
        plan = self._new_sheet(pool_sheet(k), "pool", k)
        self._add(plan, Grid(f"pool{k}_size", plan.name, 5, 3, 1, 1))
        self._add(plan, Grid(f"pool{k}_stride", plan.name, 5, 6, 1, 1))
        self._maps(plan, [f"pool{k}_out{f}" for f in range(1, filters + 1)], ph, pw, next_pad)

    def _plan_flatten(self) -> None:
        plan = self._new_sheet(FLATTEN, "flatten", square=False)
        n = self.arch.flatten_size
        # Columns B–E describe where each value came from (index, map, row, column); F holds it.
        self._add(plan, Grid("flatten_source", FLATTEN, HEADER_ROWS + 1, LEFT, n, 4, named=False))
        self._add(plan, Grid("flatten", FLATTEN, HEADER_ROWS + 1, LEFT + 4, n, 1))

    def _plan_dense(self) -> None:
        plan = self._new_sheet(DENSE, "dense", square=False)
        k, n = len(self.arch.classes), self.arch.flatten_size
        top, left = HEADER_ROWS, LEFT + 1
        self._add(plan, Grid("labels", DENSE, top, left, 1, k))
        self._add(plan, Grid("dense_b", DENSE, top + 1, left, 1, k))
        self._add(plan, Grid("logits", DENSE, top + 2, left, 1, k))
        self._add(plan, Grid("dense_w_header", DENSE, top + 4, left, 1, k, named=False))
        self._add(plan, Grid("dense_w_source", DENSE, top + 5, LEFT, n, 1, named=False))
        self._add(plan, Grid("dense_w", DENSE, top + 5, left, n, k))

    def _plan_softmax(self) -> None:
        plan = self._new_sheet(SOFTMAX, "softmax", square=False)
        k, top, left = len(self.arch.classes), HEADER_ROWS, LEFT + 1
        rows = [("softmax_labels", k, False), ("softmax_logits", k, True), ("softmax_max", 1, True),
                ("softmax_exp", k, True), ("softmax_sum", 1, True), ("probs", k, True),
                ("predicted", 1, True), ("predicted_prob", 1, True)]
        for i, (key, cols, named) in enumerate(rows):
            self._add(plan, Grid(key, SOFTMAX, top + i, left, 1, cols, named=named))

    def _plan_loss(self) -> None:
        plan = self._new_sheet(LOSS, "loss", square=False)
        k, top, left = len(self.arch.classes), HEADER_ROWS, LEFT + 1
        rows = [("true_label", 1, True), ("loss_labels", k, False), ("loss_probs", k, True),
                ("one_hot", k, True), ("loss_nll_terms", k, True), ("loss_kl_terms", k, True),
                (None, 0, False), ("loss", 1, True), ("loss_nll", 1, True), ("loss_kl", 1, True)]
        for i, (key, cols, named) in enumerate(rows):
            if key is not None:
                self._add(plan, Grid(key, LOSS, top + i, left, 1, cols, named=named))

    def _plan_worked_example(self) -> None:
        """One conv-1 output cell, chosen by the user, expanded product by product.

        Row 5 holds the choice (map, row, column). Then a band per input channel: the window of pixels,
        "×", the kernel of weights, "=", their products, and the channel's sum. Below, the totals; to
        the right, where each map starts on the Conv 1 sheet (for the lookup of the cell to compare).
        """
        block = self.arch.blocks[0]
        k, channels, filters = block.conv.kernel, block.in_shape[0], block.conv.filters
        plan = self._new_sheet(WORKED, "worked", 1)
        for i, key in enumerate(("worked_map", "worked_row", "worked_col")):
            self._add(plan, Grid(key, WORKED, 5, 4 + 5 * i, 1, 1))
        y = HEADER_ROWS
        for c in range(1, channels + 1):
            for i, part in enumerate(("window", "kernel", "products")):
                self._add(plan, Grid(f"worked_{part}_{c}", WORKED, y + 2, LEFT + i * (k + 2), k, k))
            self._add(plan, Grid(f"worked_sum_{c}", WORKED, y + 2, LEFT + 3 * (k + 2) + 1, 1, 1))
            y += k + 3
        rows = ("worked_total", "worked_scaled", "worked_bias", "worked_output", "worked_conv", "worked_diff",
                "worked_check")
        for i, key in enumerate(rows):
            self._add(plan, Grid(key, WORKED, y + 1 + i, LEFT + 9, 1, 1))
        right = LEFT + 3 * (k + 2) + 4
        self._add(plan, Grid("worked_origin_rows", WORKED, HEADER_ROWS + 2, right + 1, filters, 1))
        self._add(plan, Grid("worked_origin_cols", WORKED, HEADER_ROWS + 2, right + 2, filters, 1))

    def _plan_shapes(self) -> None:
        """One table row per layer: sizes in, hyper-parameters, live sizes out, counts."""
        plan = self._new_sheet(SHAPES, "shapes", square=False)
        rows = 1 + 3 * len(self.arch.blocks) + 3  # input, (conv, relu, pool) × k, flatten, dense, softmax
        for i, key in enumerate(SHAPE_COLUMNS):
            self._add(plan, Grid(key, SHAPES, HEADER_ROWS + 1, LEFT + 1 + i, rows, 1, named=key in SHAPE_NAMES))
        top = HEADER_ROWS + rows + 4
        for i, key in enumerate(("info_in", "info_nopad", "info_pad", "info_more")):
            self._add(plan, Grid(key, SHAPES, top + i, LEFT + 6, 1, 1, named=False))


# The Shapes table's columns, left to right; those in SHAPE_NAMES get defined names.
SHAPE_COLUMNS = ("shape_c_in", "shape_h_in", "shape_w_in", "shape_kernel", "shape_pad", "shape_stride",
                 "shape_c", "shape_h", "shape_w", "shape_values_in", "shape_values", "shape_weights", "shape_formulas")
SHAPE_NAMES = ("shape_c", "shape_h", "shape_w", "shape_values", "shape_weights", "shape_formulas")
