"""The Step conv k sheet: conv k's weights and biases after one step of gradient descent,
``=w − learning_rate·∂L/∂w`` (laid out as Filters k lays out the weights they replace), and the maps they make:
conv k and its ReLU in one formula per cell, ``=MAX(0, Σ SUMPRODUCT(window, stepped kernel) + stepped bias)``,
over the same picture (after block 1: the stepped pool maps)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import CellRefs, Holds, Layout, SheetKind, SheetPlan, step_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, setup_grid_sheet, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.stages.conv import ConvFormulas
from xlcnn.book.stages.filters import add_filter_bands, channel_names
from xlcnn.book.styles import activation_limit, diverging_scale, number_format, sequential_scale, symmetric_limit
from xlcnn.model import names
from xlcnn.nn import learning
from xlcnn.nn.layers import relu

KIND = SheetKind("step_conv")


def step_inputs(layout: Layout, k: int) -> list[str]:
    """What conv k reads after the step: the same pixels for the first layer, else the stepped pool maps."""
    channels = layout.arch.blocks[k - 1].in_shape[0]
    return [names.block_input(k, c) if k == 1 else names.step(names.pool_out(k - 1, c)) for c in range(1, channels + 1)]


def _stepped(weights: CellRefs, grads: CellRefs, rate: str, i: int, j: int) -> str:
    return learning.step_formula(weights.ref(i, j), grads.ref(i, j), rate)


def _switched(conv_formula: Callable[[int, int], str], i: int, j: int) -> str:
    """``=MAX(0,<the conv cell's formula>)``: ReLU and conv in one cell."""
    return relu.formula(conv_formula(i, j).removeprefix("="))


def step_conv_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    k, t, st, lay = plan.block, ctx.texts, ctx.styles, ctx.layout
    filters, h, w = ctx.model.arch.blocks[k - 1].conv_shape
    maps = ctx.learned.step_trace.blocks[k - 1].relu
    limit = activation_limit(maps)
    content = SheetContent()
    stage_header(content, ctx, t("step_conv.title", k=k), [
        t("step_conv.what", k=k), t("step_conv.formula"), t("step_conv.paste", k=k),
        t("step_conv.legend", limit=f"{limit:.3g}"),
    ])
    _stepped_filters(content, ctx, plan)
    formulas = ConvFormulas(lay, k, plan.name, step_inputs(lay, k), names.step, absolute=False)
    fmt = st.grid(number_format(maps))
    for f in range(1, filters + 1):
        grid = lay.grid(names.step(names.relu_out(k, f)))
        content.grid_title(grid, t("step_conv.map", k=k, f=f, h=h, w=w), st.grid_title)
        content.grid_formulas(grid, partial(_switched, formulas.for_filter(f)), maps[f - 1], fmt)
    step = ctx.learned.step
    weight_limit = symmetric_limit(step.conv_w[k - 1], step.conv_b[k - 1])
    kernels = [g for g in plan.grids if not names.is_map(g.key.removeprefix("step_"))]

    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        diverging_scale(ws, kernels, weight_limit)
        sequential_scale(ws, [g for g in plan.grids if g not in kernels], limit)

    content.on_setup(setup)
    return content


def _stepped_filters(content: SheetContent, ctx: BuildContext, plan: SheetPlan) -> None:
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    block = ctx.model.arch.blocks[k - 1]
    step = ctx.learned.step
    w, b = step.conv_w[k - 1], step.conv_b[k - 1]
    fmt = st.grid(number_format(np.concatenate([w.ravel(), b])))
    rate = lay.ref(names.LEARNING_RATE, 0, 0, from_sheet=name, absolute=True)
    letters = channel_names(ctx, k)
    for f in range(1, block.conv.filters + 1):
        first = lay.grid(names.step(names.conv_w(k, f, 1)))
        content.text(first.title_row - 1, first.left, t("step_conv.band", f=f, k=k), st.subtitle)
        for c in range(1, block.in_shape[0] + 1):
            key = names.conv_w(k, f, c)
            grid = lay.grid(names.step(key))
            weights, grads = lay.cells(key, name), lay.cells(names.grad(key), name)
            content.grid_title(grid, f"{letters[c - 1]} · {block.conv.kernel}×{block.conv.kernel}", st.grid_title)
            content.grid_formulas(grid, partial(_stepped, weights, grads, rate), w[f - 1, c - 1], fmt)
        key = names.conv_b(k, f)
        bias = lay.grid(names.step(key))
        content.grid_title(bias, t("filters.bias"), st.grid_title)
        content.formula(bias.top, bias.left, learning.step_formula(lay.ref(key, 0, 0, from_sheet=name),
                                                                   lay.ref(names.grad(key), 0, 0, from_sheet=name),
                                                                   rate), float(b[f - 1]), fmt)


def plan(layout: Layout, k: int) -> None:
    """The stepped filters as Filters k has them (a band per filter, its kernels side by side, its bias to the
    right), then the maps."""
    filters, rows, cols = layout.arch.blocks[k - 1].conv_shape
    sheet = layout.add_sheet(step_sheet("conv", k), KIND, k, break_above=1)  # above a filter's title
    top = add_filter_bands(layout, sheet, k, names.step, Holds.FORMULAS)
    layout.add_maps(sheet, [names.step(names.relu_out(k, f)) for f in range(1, filters + 1)], rows, cols, 0, top=top)


STAGE = Stage(KIND, plan, step_conv_sheet, Repeat.PER_BLOCK, learning=True)
