"""The Filters k sheet: each filter's kernels (one small grid per input channel) and its bias — all constants."""

from __future__ import annotations

import numpy as np

from xlcnn.book.layout import GAP, HEADER_ROWS, LEFT, Grid, Holds, Layout, SheetKind, SheetPlan, filters_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.styles import diverging_scale, number_format, symmetric_limit
from xlcnn.model import names

KIND = SheetKind("filters")


def filters_sheet_content(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Filters k: each filter's kernels (one small grid per input channel) and its bias — all constants."""
    k, t, st, lay = plan.block, ctx.texts, ctx.styles, ctx.layout
    block = ctx.model.arch.blocks[k - 1]
    w, b = ctx.model.weights.conv_w[k - 1], ctx.model.weights.conv_b[k - 1]
    limit = symmetric_limit(w, b)
    fmt = st.grid(number_format(np.concatenate([w.ravel(), b])))
    content = SheetContent()
    stage_header(content, ctx, t("filters.title", k=k), [
        t("filters.what", channels=block.in_shape[0], kernel=block.conv.kernel, k=k),
        t("filters.formula"),
        "",
        t("legend.diverging", limit=f"{limit:.3g}"),
    ])
    channel_names = t.lines("input.channel_letters") if k == 1 else [
        t("filters.channel", c=c) for c in range(1, block.in_shape[0] + 1)]
    for f in range(1, block.conv.filters + 1):
        first = lay.grid(names.conv_w(k, f, 1))
        content.text(first.title_row - 1, first.left, t("filters.band", f=f, k=k), st.subtitle)
        for c in range(1, block.in_shape[0] + 1):
            grid = lay.grid(names.conv_w(k, f, c))
            content.grid_title(grid, f"{channel_names[c - 1]} · {block.conv.kernel}×{block.conv.kernel}", st.grid_title)
            content.grid_numbers(grid, w[f - 1, c - 1], fmt)
        bias = lay.grid(names.conv_b(k, f))
        content.grid_title(bias, t("filters.bias"), st.grid_title)
        content.number(bias.top, bias.left, float(b[f - 1]), fmt)

    grid_sheet_with_scale(content, ctx, plan, diverging_scale, plan.grids, limit)
    return content


def plan(layout: Layout, k: int) -> None:
    """Each filter is a band: a title row, a row of channel names, then its kernels side by side and its bias
    to the right."""
    block = layout.arch.blocks[k - 1]
    channels, filters, kernel = block.in_shape[0], block.conv.filters, block.conv.kernel
    sheet = layout.add_sheet(filters_sheet(k), KIND, k, break_above=1)  # above the filter's title
    y = HEADER_ROWS
    for f in range(1, filters + 1):
        x = LEFT
        for c in range(1, channels + 1):
            kernel_grid = Grid(names.conv_w(k, f, c), sheet.name, y + 2, x, kernel, kernel, holds=Holds.NUMBERS)
            layout.add_grid(sheet, kernel_grid)
            x += kernel + GAP
        layout.add_grid(sheet, Grid(names.conv_b(k, f), sheet.name, y + 2, x, 1, 1, holds=Holds.NUMBERS))
        y += 2 + kernel + GAP


STAGE = Stage(KIND, plan, filters_sheet_content, Repeat.PER_BLOCK)
