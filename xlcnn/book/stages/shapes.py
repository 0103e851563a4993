"""The Shapes sheet: every layer's size computed live from the hyper-parameter cells, with counts.

Output sizes use INT, which rounds down like floor for these non-negative sizes:
``INT((n + 2·padding − kernel) / stride) + 1`` for a convolution, ``INT((n − size) / stride) + 1`` for
a pool. An "information" panel shows what padding and more filters do to the number of values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import HEADER_ROWS, LEFT, SHAPES, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.model import names

Cell = str | int | float | None  # a formula (str starting with "="), a constant, or nothing

# The table's columns, left to right; those in SHAPE_NAMES get defined names.
SHAPE_COLUMNS = ("shape_c_in", "shape_h_in", "shape_w_in", "shape_kernel", "shape_pad", "shape_stride",
                 "shape_c", "shape_h", "shape_w", "shape_values_in", "shape_values", "shape_weights", "shape_formulas")
SHAPE_NAMES = ("shape_c", "shape_h", "shape_w", "shape_values", "shape_weights", "shape_formulas")

KIND = SheetKind("shapes")


@dataclass(frozen=True)
class ShapeRow:
    """One layer: its name and, per column of SHAPE_COLUMNS, a formula or constant and its value."""

    name: str
    cells: dict[str, tuple[Cell, float | None]]


class _Rows:
    """Builds the table top-down; each row refers to the previous one through the layout's cells."""

    def __init__(self, layout: Layout, name: str) -> None:
        self.layout, self.sheet = layout, name
        self.rows: list[ShapeRow] = []

    def cell(self, key: str, row: int) -> str:
        return self.layout.grid(key).cell(row, 0)

    def ref(self, key: str) -> str:
        return self.layout.ref(key, 0, 0, from_sheet=self.sheet, absolute=True)

    def add(self, name: str, shape_in: tuple[int, int, int] | None, shape: tuple[int, int, int],
            kernel: tuple[Cell, int] | None, pad: tuple[Cell, int] | None, stride: tuple[Cell, int] | None,
            out: tuple[Cell, Cell, Cell], weights: tuple[Cell, int], formulas: tuple[Cell, int]) -> None:
        r = len(self.rows)
        cells: dict[str, tuple[Cell, float | None]] = {}
        if shape_in is not None:
            for key, value in zip(("shape_c_in", "shape_h_in", "shape_w_in"), shape_in, strict=True):
                cells[key] = (f"={self.cell(key.replace('_in', ''), r - 1)}", value)
            cells["shape_values_in"] = (
                f"={self.cell('shape_c_in', r)}*{self.cell('shape_h_in', r)}*{self.cell('shape_w_in', r)}",
                shape_in[0] * shape_in[1] * shape_in[2])
        for key, part in (("shape_kernel", kernel), ("shape_pad", pad), ("shape_stride", stride)):
            if part is not None:
                cells[key] = part
        for key, formula, value in zip(("shape_c", "shape_h", "shape_w"), out, shape, strict=True):
            cells[key] = (formula, value)
        cells["shape_values"] = (f"={self.cell('shape_c', r)}*{self.cell('shape_h', r)}*{self.cell('shape_w', r)}",
                                 shape[0] * shape[1] * shape[2])
        cells["shape_weights"], cells["shape_formulas"] = weights, formulas
        self.rows.append(ShapeRow(name, cells))


def _key(key: str, **values: object) -> str:
    return key


def shape_rows(layout: Layout, name: str, t: Callable[..., str] = _key) -> list[ShapeRow]:
    """The table, row by row; ``t`` gives the rows' names (the texts of the workbook's language)."""
    arch = layout.arch
    rows = _Rows(layout, name)
    c_ = rows.cell
    spec = arch.input
    rows.add(t("shapes.input"), None, (3, spec.height, spec.width), None, None, None,
             (3, spec.height, spec.width), (0, 0), (0, 0))
    for block in arch.blocks:
        k, conv, pool = block.index, block.conv, block.pool
        r = len(rows.rows)
        pad, stride = rows.ref(names.conv_pad(k)), rows.ref(names.conv_stride(k))
        h_in, w_in, c_in = c_("shape_h_in", r), c_("shape_w_in", r), c_("shape_c_in", r)
        kern, p, s = c_("shape_kernel", r), c_("shape_pad", r), c_("shape_stride", r)
        n_weights = conv.filters * block.in_shape[0] * conv.kernel**2 + conv.filters
        rows.add(t("shapes.conv", k=k), block.in_shape, block.conv_shape,
                 (conv.kernel, conv.kernel), (f"={pad}", conv.padding), (f"={stride}", conv.stride),
                 (conv.filters, f"=INT(({h_in}+2*{p}-{kern})/{s})+1", f"=INT(({w_in}+2*{p}-{kern})/{s})+1"),
                 (f"={c_('shape_c', r)}*{c_in}*{kern}*{kern}+{c_('shape_c', r)}", n_weights),
                 (f"={c_('shape_values', r)}", block.conv_shape[0] * block.conv_shape[1] * block.conv_shape[2]))
        r += 1
        n = block.conv_shape[0] * block.conv_shape[1] * block.conv_shape[2]
        rows.add(t("shapes.relu", k=k), block.conv_shape, block.conv_shape, None, None, None,
                 (f"={c_('shape_c_in', r)}", f"={c_('shape_h_in', r)}", f"={c_('shape_w_in', r)}"),
                 (0, 0), (f"={c_('shape_values', r)}", n))
        r += 1
        size, pstride = rows.ref(names.pool_size(k)), rows.ref(names.pool_stride(k))
        kern, s = c_("shape_kernel", r), c_("shape_stride", r)
        m = block.pool_shape[0] * block.pool_shape[1] * block.pool_shape[2]
        rows.add(t("shapes.pool", k=k), block.conv_shape, block.pool_shape, (f"={size}", pool.size), None,
                 (f"={pstride}", pool.stride),
                 (f"={c_('shape_c_in', r)}", f"=INT(({c_('shape_h_in', r)}-{kern})/{s})+1",
                  f"=INT(({c_('shape_w_in', r)}-{kern})/{s})+1"),
                 (0, 0), (f"={c_('shape_values', r)}", m))
    r = len(rows.rows)
    last = arch.blocks[-1].pool_shape
    d, classes = arch.flatten_size, len(arch.classes)
    rows.add(t("shapes.flatten"), last, (1, d, 1), None, None, None,
             (1, f"={c_('shape_values_in', r)}", 1), (0, 0), (f"={c_('shape_values', r)}", d))
    r += 1
    rows.add(t("shapes.dense"), (1, d, 1), (1, classes, 1), None, None, None, (1, classes, 1),
             (f"={c_('shape_values_in', r)}*{c_('shape_h', r)}+{c_('shape_h', r)}", d * classes + classes),
             (f"={c_('shape_h', r)}", classes))
    r += 1
    rows.add(t("shapes.softmax"), (1, classes, 1), (1, classes, 1), None, None, None,
             (1, f"={c_('shape_h_in', r)}", 1), (0, 0), (4 * classes + 4, 4 * classes + 4))
    return rows.rows


def shapes_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name = ctx.texts, ctx.styles, ctx.layout, plan.name
    content = SheetContent()
    stage_header(content, ctx, t("shapes.title"), [t("shapes.what"), t("shapes.formula"), t("shapes.pool_formula"),
                                                 t("shapes.legend")])
    first = lay.grid(SHAPE_COLUMNS[0])
    content.text(first.top - 1, LEFT, t("shapes.layer"), st.label)
    for i, header in enumerate(t.lines("shapes.headers")):
        content.text(first.top - 1, first.left + i, header, st.label)
    num, live = st.value("#,##0"), st.value("#,##0", bold=True, bg_color="#EAF1FB")
    for r, row in enumerate(shape_rows(lay, name, t)):
        content.text(first.top + r, LEFT, row.name, st.label)
        for key, (cell, value) in row.cells.items():
            grid = lay.grid(key)
            if isinstance(cell, str):
                content.formula(grid.top + r, grid.left, cell, float(value or 0), live)
            elif cell is not None:
                content.number(grid.top + r, grid.left, cell, num)
    _information_panel(content, ctx, name)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, 16), (first.left, first.left + len(SHAPE_COLUMNS) - 1, 10)])

    content.on_setup(setup)
    return content


def _information_panel(content: SheetContent, ctx: BuildContext, name: str) -> None:
    """Values in and out of conv 1 without padding, with padding (its own, or, when it has none, the padding
    that keeps a stride-1 map's size), and with twice the filters."""
    t, st, lay = ctx.texts, ctx.styles, ctx.layout
    block = ctx.model.arch.blocks[0]
    conv = block.conv
    c_in, h_in, w_in = block.in_shape
    row = 1  # conv 1's row of the shapes table

    def at(key: str) -> str:
        return lay.grid(key).cell(row, 0)

    def count(pad: int) -> tuple[str, int]:
        """The formula and value of conv 1's output values with padding ``pad``. A kernel larger than the padded
        input fits nowhere: no values, not a negative count."""
        side = [f"MAX(0,INT(({at(key)}{f'+{2 * pad}' if pad else ''}-{at('shape_kernel')})/{at('shape_stride')})+1)"
                for key in ("shape_h_in", "shape_w_in")]
        value = conv.filters * math.prod(max(0, (n + 2 * pad - conv.kernel) // conv.stride + 1) for n in (h_in, w_in))
        return f"={at('shape_c')}*{side[0]}*{side[1]}", value

    values = conv.filters * block.conv_shape[1] * block.conv_shape[2]
    padding = conv.padding or max(1, conv.kernel // 2)  # a row unlike the unpadded one
    cells = [
        ("info_in", f"={at('shape_values_in')}", c_in * h_in * w_in),
        ("info_nopad", *count(0)),
        ("info_pad", *((f"={at('shape_values')}", values) if conv.padding else count(padding))),
        ("info_more", f"=2*{at('shape_values')}", 2 * values),
    ]
    top = lay.grid("info_in").top
    content.text(top - 2, LEFT, t("shapes.info_title"), st.subtitle)
    content.text(top - 1, LEFT, t("shapes.info_what"), st.note)
    labels = t.lines("shapes.info_rows", pad=padding)
    for (key, formula, value), label in zip(cells, labels, strict=True):
        grid = lay.grid(key)
        content.text(grid.top, LEFT, label, st.label)
        content.formula(grid.top, grid.left, formula, float(value), st.value("#,##0", bold=True))
    content.text(top + len(cells), LEFT, t("shapes.info_article"), st.note)


def plan(layout: Layout, k: int) -> None:
    """One table row per layer: sizes in, hyper-parameters, live sizes out, counts; below, the panel."""
    sheet = layout.add_sheet(SHAPES, KIND, square=False)
    rows = 1 + 3 * len(layout.arch.blocks) + 3  # input, (conv, relu, pool) × k, flatten, dense, softmax
    for i, key in enumerate(SHAPE_COLUMNS):
        layout.add_grid(sheet, Grid(key, sheet.name, HEADER_ROWS + 1, LEFT + 1 + i, rows, 1, named=key in SHAPE_NAMES))
    top = HEADER_ROWS + rows + 4
    for i, key in enumerate(("info_in", "info_nopad", "info_pad", "info_more")):
        layout.add_grid(sheet, Grid(key, sheet.name, top + i, LEFT + 6, 1, 1, named=False, holds=Holds.FORMULAS))


def table_formulas(layout: Layout, plan: SheetPlan) -> int:
    """The table's formula cells (its columns mix formulas and constants, row by row)."""
    return sum(isinstance(cell, str) for row in shape_rows(layout, plan.name) for cell, _ in row.cells.values())


STAGE = Stage(KIND, plan, shapes_sheet, teaching=True, mixed_formulas=table_formulas)
