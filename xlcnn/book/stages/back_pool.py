"""The Back pool k sheet: ∂L/∂ pool k's maps. For the last block they are ∂L/∂flatten put back into the maps it
came from (flatten only moved numbers); before it, they are what conv k+1 sends back to its input: a
convolution of ∂L/∂conv k+1 with its filters turned 180° (``back_conv.InputGrads``)."""

from __future__ import annotations

from collections.abc import Callable

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import HEADER_ROWS, Layout, SheetKind, SheetPlan, back_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, setup_grid_sheet, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.stages.back_conv import InputGrads, emit_flipped, flipped_grids, plan_flipped
from xlcnn.book.styles import GRADIENT_FORMAT, activation_limit, diverging_scale, symmetric_limit
from xlcnn.model import names
from xlcnn.nn.layers import flatten

KIND = SheetKind("back_pool")


def _unflatten(ctx: BuildContext, f: int, sheet: str) -> Callable[[int, int], str]:
    """Cell (i, j) of map f is the flattened row ``(f−1)·h·w + i·w + j`` (map, then row, then column)."""
    _, h, w = ctx.model.arch.blocks[-1].pool_shape
    column = ctx.layout.cells(names.GRAD_FLATTEN, sheet)

    def formula(i: int, j: int) -> str:
        return flatten.formula(column.ref((f - 1) * h * w + i * w + j, 0))

    return formula


def back_pool_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    blocks = ctx.model.arch.blocks
    c, h, w = blocks[k - 1].pool_shape
    grads = ctx.learned.grad_pool[k - 1]
    limit = activation_limit(grads)
    last = k == len(blocks)
    content = SheetContent()
    stage_header(content, ctx, t("back_pool.title", k=k), [
        t("back_pool.what_last" if last else "back_pool.what", k=k, next=k + 1),
        t("back_pool.formula_last" if last else "back_pool.formula", k=k, next=k + 1),
        t("back_pool.shape", c=c, h=h, w=w, k=k), t("legend.gradient", limit=f"{limit:.3g}"),
    ])
    fmt = st.grid(GRADIENT_FORMAT)
    sent_back = None if last else InputGrads(lay, k + 1, name)
    if not last:
        emit_flipped(content, ctx, k + 1, [t("back_pool.flipped_for", k=k, f=f) for f in range(1, c + 1)])
    for f in range(1, c + 1):
        grid = lay.grid(names.grad(names.pool_out(k, f)))
        content.grid_title(grid, t("back_pool.map", k=k, f=f, h=h, w=w), st.grid_title)
        formula = _unflatten(ctx, f, name) if sent_back is None else sent_back.for_channel(f)
        content.grid_formulas(grid, formula, grads[f - 1], fmt)
    maps = [g for g in plan.grids if g not in flipped_grids(plan)]

    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        diverging_scale(ws, maps, limit)
        if not last:
            diverging_scale(ws, flipped_grids(plan), symmetric_limit(ctx.model.weights.conv_w[k]))

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    filters, rows, cols = layout.arch.blocks[k - 1].pool_shape
    sheet = layout.add_sheet(back_sheet("pool", k), KIND, k)
    top = plan_flipped(layout, sheet, k + 1) if k < len(layout.arch.blocks) else HEADER_ROWS
    layout.add_maps(sheet, [names.grad(names.pool_out(k, f)) for f in range(1, filters + 1)], rows, cols, 0,
                    top=top)


STAGE = Stage(KIND, plan, back_pool_sheet, Repeat.PER_BLOCK_BACKWARD, learning=True)
