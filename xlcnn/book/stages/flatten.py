"""The Flatten sheet: one row per pooled value — where it came from (map, row, column) and ``=<pool cell>``."""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import FLATTEN, HEADER_ROWS, LEFT, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.styles import activation_limit, number_format, sequential_scale
from xlcnn.model import names
from xlcnn.nn.layers import flatten
from xlcnn.nn.layers.flatten import position

KIND = SheetKind("flatten")


def flatten_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Flatten: one row per pooled value — where it came from (map, row, column) and ``=<pool cell>``."""
    t, st, lay, name = ctx.texts, ctx.styles, ctx.layout, plan.name
    last = ctx.model.arch.blocks[-1]
    k = last.index
    shape = last.pool_shape
    c, h, w = shape
    values = ctx.trace.flatten
    limit = activation_limit(values)
    content = SheetContent()
    stage_header(content, ctx, t("flatten.title"), [
        t("flatten.what", c=c, h=h, w=w, n=values.size), t("flatten.formula"),
        t("flatten.shape", c=c, h=h, w=w, n=values.size), t("legend.sequential", limit=f"{limit:.3g}"),
    ])
    source, flat = lay.grid("flatten_source"), lay.grid(names.FLATTEN)
    for i, header in enumerate(t.lines("flatten.headers")):
        content.text(source.top - 1, source.left + i, header, st.label)
    pools = [lay.cells(names.pool_out(k, f), name) for f in range(1, c + 1)]
    fmt, index_fmt = st.value(number_format(values)), st.value("0")

    def emit(ws: Worksheet, row: int) -> None:
        n = row - flat.top
        f, i, j = position(n, shape)
        for col, v in enumerate((n + 1, f + 1, i + 1, j + 1)):
            ws.write_number(row, source.left + col, v, index_fmt)
        ws.write_formula(row, flat.left, flatten.formula(pools[f].ref(i, j)), fmt, float(values[n]))

    content.add(flat.top, flat.top + flat.rows - 1, emit)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT + 3, 8), (flat.left, flat.left, 12)])
        sequential_scale(ws, [flat], limit)

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(FLATTEN, KIND, square=False)
    n = layout.arch.flatten_size
    # Columns B–E describe where each value came from (index, map, row, column); F holds it.
    layout.add_grid(sheet, Grid("flatten_source", sheet.name, HEADER_ROWS + 1, LEFT, n, 4, named=False,
                                holds=Holds.NUMBERS))
    layout.add_grid(sheet, Grid(names.FLATTEN, sheet.name, HEADER_ROWS + 1, LEFT + 4, n, 1, holds=Holds.FORMULAS))


STAGE = Stage(KIND, plan, flatten_sheet)
