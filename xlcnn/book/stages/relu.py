"""The ReLU k sheet: ``=MAX(0, conv cell)`` for every cell of every map."""

from __future__ import annotations

from functools import partial

from xlcnn.book.layout import CellRefs, Layout, SheetKind, SheetPlan
from xlcnn.book.layout import relu_sheet as relu_sheet_name
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, map_grids, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.styles import activation_limit, number_format, sequential_scale
from xlcnn.model import names
from xlcnn.nn.layers import relu

KIND = SheetKind("relu")


def _formula(conv: CellRefs, i: int, j: int) -> str:
    return relu.formula(conv.ref(i, j))


def relu_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """ReLU k: ``=MAX(0, conv cell)`` for every cell of every map."""
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    c, h, w = ctx.model.arch.blocks[k - 1].conv_shape
    maps = ctx.trace.blocks[k - 1].relu
    limit = activation_limit(maps)
    content = SheetContent()
    stage_header(content, ctx, t("relu.title", k=k), [
        t("relu.what"), t("relu.formula"), t("relu.shape", c=c, h=h, w=w),
        t("legend.sequential", limit=f"{limit:.3g}"),
    ])
    fmt = st.grid(number_format(maps))
    for f in range(1, c + 1):
        conv = lay.cells(names.conv_out(k, f), name)
        grid = lay.grid(names.relu_out(k, f))
        content.grid_title(grid, t("relu.map", k=k, f=f, h=h, w=w), st.grid_title)
        content.grid_formulas(grid, partial(_formula, conv), maps[f - 1], fmt)

    grid_sheet_with_scale(content, ctx, plan, sequential_scale, map_grids(plan), limit)
    return content


def plan(layout: Layout, k: int) -> None:
    filters, rows, cols = layout.arch.blocks[k - 1].conv_shape
    sheet = layout.add_sheet(relu_sheet_name(k), KIND, k)
    layout.add_maps(sheet, [names.relu_out(k, f) for f in range(1, filters + 1)], rows, cols, 0)


STAGE = Stage(KIND, plan, relu_sheet, Repeat.PER_BLOCK)
