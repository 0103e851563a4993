"""The Step conv k sheet: conv k and its ReLU after the step, in one formula per cell,
``=MAX(0, Σ SUMPRODUCT(window, stepped kernel) + stepped bias)`` — the same picture (or, after block 1, the
stepped pool maps) run through the stepped filters."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from xlcnn.book.layout import Layout, SheetKind, SheetPlan, step_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.stages.conv import ConvFormulas
from xlcnn.book.styles import activation_limit, number_format, sequential_scale
from xlcnn.model import names
from xlcnn.nn.layers import relu

KIND = SheetKind("step_conv")


def step_inputs(layout: Layout, k: int) -> list[str]:
    """What conv k reads after the step: the same pixels for the first layer, else the stepped pool maps."""
    channels = layout.arch.blocks[k - 1].in_shape[0]
    return [names.block_input(k, c) if k == 1 else names.step(names.pool_out(k - 1, c)) for c in range(1, channels + 1)]


def _switched(conv_formula: Callable[[int, int], str], i: int, j: int) -> str:
    """``=MAX(0,<the conv cell's formula>)``: ReLU and conv in one cell."""
    return relu.formula(conv_formula(i, j).removeprefix("="))


def step_conv_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    filters, h, w = ctx.model.arch.blocks[k - 1].conv_shape
    maps = ctx.learned.step_trace.blocks[k - 1].relu
    limit = activation_limit(maps)
    content = SheetContent()
    stage_header(content, ctx, t("step_conv.title", k=k), [
        t("step_conv.what", k=k), t("step_conv.formula"), t("relu.shape", c=filters, h=h, w=w),
        t("legend.sequential", limit=f"{limit:.3g}"),
    ])
    formulas = ConvFormulas(lay, k, name, step_inputs(lay, k), names.step)
    fmt = st.grid(number_format(maps))
    for f in range(1, filters + 1):
        grid = lay.grid(names.step(names.relu_out(k, f)))
        content.grid_title(grid, t("step_conv.map", k=k, f=f, h=h, w=w), st.grid_title)
        content.grid_formulas(grid, partial(_switched, formulas.for_filter(f)), maps[f - 1], fmt)
    grid_sheet_with_scale(content, ctx, plan, sequential_scale, plan.grids, limit)
    return content


def plan(layout: Layout, k: int) -> None:
    filters, rows, cols = layout.arch.blocks[k - 1].conv_shape
    sheet = layout.add_sheet(step_sheet("conv", k), KIND, k)
    layout.add_maps(sheet, [names.step(names.relu_out(k, f)) for f in range(1, filters + 1)], rows, cols, 0)


STAGE = Stage(KIND, plan, step_conv_sheet, Repeat.PER_BLOCK, learning=True)
