"""The Back filters k sheet: what the loss says about conv k's weights, and the filters turned 180°.

∂L/∂ weight (f, c, a, b) is ``SUMPRODUCT(∂L/∂ map f, the input cells that weight touched)`` — the input
window offset by (a, b), as large as the map (times the input scale on the first layer); a strided conv reads
its spread-out gradient, whose zeros skip the cells the stride jumped over. ∂L/∂ bias f is the sum of
∂L/∂ map f. Under each filter's gradients: its kernels turned 180° (``=`` the weight at the opposite
place), which the backward convolution to conv k's input uses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import GAP, HEADER_ROWS, LEFT, CellRefs, Grid, Holds, Layout, SheetKind, SheetPlan, back_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, setup_grid_sheet, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.stages.back_conv import flip_key, spread_shape, spread_source
from xlcnn.book.stages.filters import channel_names
from xlcnn.book.styles import GRADIENT_FORMAT, diverging_scale, number_format, symmetric_limit
from xlcnn.model import names
from xlcnn.nn.layers import conv

KIND = SheetKind("back_filters")


def back_filters_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    arch = ctx.model.arch
    block = arch.blocks[k - 1]
    learned = ctx.learned
    gw, gb = learned.grad_conv_w[k - 1], learned.grad_conv_b[k - 1]
    w = ctx.model.weights.conv_w[k - 1]
    limit, weight_limit = symmetric_limit(gw, gb), symmetric_limit(w)
    kernel, pad = block.conv.kernel, block.conv.padding
    hd, wd = spread_shape(block)
    scale = layout_scale(lay, k, name)
    content = SheetContent()
    stage_header(content, ctx, t("back_filters.title", k=k), [
        t("back_filters.what", k=k), t("back_filters.formula", h=hd, w=wd),
        t("back_filters.flipped", k=k), t("legend.gradient", limit=f"{limit:.3g}"),
    ])
    letters = channel_names(ctx, k)
    grad_fmt, weight_fmt = st.grid(GRADIENT_FORMAT), st.grid(number_format(w))
    for f in range(1, block.conv.filters + 1):
        first = lay.grid(names.grad(names.conv_w(k, f, 1)))
        content.text(first.title_row - 1, first.left, t("back_filters.band", f=f, k=k), st.subtitle)
        source = lay.grid(spread_source(arch, k, f))
        grad_map = lay.prefix(source.key, name) + source.range(0, 0, hd - 1, wd - 1, absolute=True)
        for c in range(1, block.in_shape[0] + 1):
            grid = lay.grid(names.grad(names.conv_w(k, f, c)))
            content.grid_title(grid, f"∂L/∂ {letters[c - 1]}", st.grid_title)
            inputs = names.block_input(k, c)

            def formula(a: int, b: int, inputs: str = inputs, grad_map: str = grad_map) -> str:  # bound now: rows are
                # written later
                window = lay.ref(inputs, a - pad, b - pad, a - pad + hd - 1, b - pad + wd - 1, from_sheet=name,
                                 absolute=True)
                return conv.weight_grad_formula(grad_map, window, scale)

            content.grid_formulas(grid, formula, gw[f - 1, c - 1], grad_fmt)
            flipped = lay.grid(flip_key(k, f, c))
            content.grid_title(flipped, t("back_filters.flipped_title", c=letters[c - 1]), st.grid_title)
            weights = lay.cells(names.conv_w(k, f, c), name)
            content.grid_formulas(flipped, _flip(weights, kernel), np.flip(w[f - 1, c - 1]), weight_fmt)
        bias = lay.grid(names.grad(names.conv_b(k, f)))
        content.grid_title(bias, t("back_filters.bias"), st.grid_title)
        grad_out = lay.ref(names.grad(names.conv_out(k, f)), 0, 0, block.conv_shape[1] - 1, block.conv_shape[2] - 1,
                           from_sheet=name, absolute=True)
        content.formula(bias.top, bias.left, conv.bias_grad_formula(grad_out), float(gb[f - 1]), grad_fmt)

    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        kinds = [g for g in plan.grids if g.key.startswith("grad_")]
        diverging_scale(ws, kinds, limit)
        diverging_scale(ws, [g for g in plan.grids if g.key.startswith("flip_")], weight_limit)

    content.on_setup(setup)
    return content


def layout_scale(layout: Layout, k: int, sheet: str) -> str:
    """The input-scale cell's reference on the first layer ('' after it, or when the model does not scale)."""
    if k == 1 and names.INPUT_SCALE in layout.grids:
        return layout.ref(names.INPUT_SCALE, 0, 0, from_sheet=sheet, absolute=True)
    return ""


def _flip(weights: CellRefs, kernel: int) -> Callable[[int, int], str]:
    """Cell (a, b) of a kernel turned 180° is the weight at (kernel − 1 − a, kernel − 1 − b)."""

    def formula(a: int, b: int) -> str:
        return f"={weights.ref(kernel - 1 - a, kernel - 1 - b)}"

    return formula


def plan(layout: Layout, k: int) -> None:
    """Each filter is a band: its title, then per input channel its gradient kernel and, below it, the kernel
    turned 180°; the bias's gradient to the right."""
    block = layout.arch.blocks[k - 1]
    channels, filters, kernel = block.in_shape[0], block.conv.filters, block.conv.kernel
    sheet = layout.add_sheet(back_sheet("filters", k), KIND, k, break_above=1)
    y = HEADER_ROWS
    for f in range(1, filters + 1):
        x = LEFT
        for c in range(1, channels + 1):
            layout.add_grid(sheet, Grid(names.grad(names.conv_w(k, f, c)), sheet.name, y + 2, x, kernel, kernel,
                                        holds=Holds.FORMULAS))
            layout.add_grid(sheet, Grid(flip_key(k, f, c), sheet.name, y + 3 + kernel + GAP, x, kernel, kernel,
                                        named=False, holds=Holds.FORMULAS))
            x += kernel + GAP
        layout.add_grid(sheet, Grid(names.grad(names.conv_b(k, f)), sheet.name, y + 2, x, 1, 1, holds=Holds.FORMULAS))
        y += 3 + 2 * (kernel + GAP)


STAGE = Stage(KIND, plan, back_filters_sheet, Repeat.PER_BLOCK_BACKWARD, learning=True)
