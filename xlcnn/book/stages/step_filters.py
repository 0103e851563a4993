"""The Step filters k sheet: conv k's weights and biases after one step of gradient descent,
``=w − learning_rate·∂L/∂w``, laid out as Filters k lays out the weights they replace."""

from __future__ import annotations

from functools import partial

import numpy as np

from xlcnn.book.layout import GAP, HEADER_ROWS, LEFT, CellRefs, Grid, Holds, Layout, SheetKind, SheetPlan, step_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.stages.filters import channel_names
from xlcnn.book.styles import diverging_scale, number_format, symmetric_limit
from xlcnn.model import names
from xlcnn.nn import learning

KIND = SheetKind("step_filters")


def _stepped(weights: CellRefs, grads: CellRefs, rate: str, i: int, j: int) -> str:
    return learning.step_formula(weights.ref(i, j), grads.ref(i, j), rate)


def step_sheet_content(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    block = ctx.model.arch.blocks[k - 1]
    step = ctx.learned.step
    w, b = step.conv_w[k - 1], step.conv_b[k - 1]
    limit = symmetric_limit(w, b)
    fmt = st.grid(number_format(np.concatenate([w.ravel(), b])))
    rate = lay.ref(names.LEARNING_RATE, 0, 0, from_sheet=name, absolute=True)
    content = SheetContent()
    stage_header(content, ctx, t("step_filters.title", k=k), [
        t("step_filters.what", k=k), t("step_filters.formula"), t("step_filters.paste", k=k),
        t("legend.diverging", limit=f"{limit:.3g}"),
    ])
    letters = channel_names(ctx, k)
    for f in range(1, block.conv.filters + 1):
        first = lay.grid(names.step(names.conv_w(k, f, 1)))
        content.text(first.title_row - 1, first.left, t("filters.band", f=f, k=k), st.subtitle)
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
    grid_sheet_with_scale(content, ctx, plan, diverging_scale, plan.grids, limit)
    return content


def plan(layout: Layout, k: int) -> None:
    """As Filters k: a band per filter, its kernels side by side and its bias to the right."""
    block = layout.arch.blocks[k - 1]
    channels, filters, kernel = block.in_shape[0], block.conv.filters, block.conv.kernel
    sheet = layout.add_sheet(step_sheet("filters", k), KIND, k, break_above=1)
    y = HEADER_ROWS
    for f in range(1, filters + 1):
        x = LEFT
        for c in range(1, channels + 1):
            layout.add_grid(sheet, Grid(names.step(names.conv_w(k, f, c)), sheet.name, y + 2, x, kernel, kernel,
                                        holds=Holds.FORMULAS))
            x += kernel + GAP
        layout.add_grid(sheet, Grid(names.step(names.conv_b(k, f)), sheet.name, y + 2, x, 1, 1, holds=Holds.FORMULAS))
        y += 2 + kernel + GAP


STAGE = Stage(KIND, plan, step_sheet_content, Repeat.PER_BLOCK, learning=True)
