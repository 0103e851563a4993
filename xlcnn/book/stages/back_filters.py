"""The Back filters k sheet: what the loss says about conv k's weights and biases.

∂L/∂ weight (f, c, a, b) is ``SUMPRODUCT(∂L/∂ map f, the input cells that weight touched)`` — the input
window offset by (a, b), as large as the map (times the input scale on the first layer); a strided conv reads
its spread-out gradient, whose zeros skip the cells the stride jumped over. ∂L/∂ bias f is the sum of
∂L/∂ map f. (The filters turned 180° are on the sheet that convolves with them: Back pool k−1, or Back input.)
"""

from __future__ import annotations

from collections.abc import Callable

from xlcnn.book.layout import BACK_INPUT, Holds, Layout, SheetKind, SheetPlan, back_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.stages.back_conv import spread_shape, spread_source
from xlcnn.book.stages.filters import add_filter_bands, channel_names
from xlcnn.book.styles import GRADIENT_FORMAT, diverging_scale, symmetric_limit
from xlcnn.model import names
from xlcnn.nn.layers import conv

KIND = SheetKind("back_filters")


def back_filters_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    arch = ctx.model.arch
    block = arch.blocks[k - 1]
    gw, gb = ctx.learned.grad_conv_w[k - 1], ctx.learned.grad_conv_b[k - 1]
    limit = symmetric_limit(gw, gb)
    hd, wd = spread_shape(block)
    content = SheetContent()
    stage_header(content, ctx, t("back_filters.title", k=k), [
        t("back_filters.what", k=k), t("back_filters.formula", h=hd, w=wd),
        t("back_filters.flipped", k=k, sheet=lay.names(back_sheet("pool", k - 1) if k > 1 else BACK_INPUT)),
        t("legend.gradient", limit=f"{limit:.3g}"),
    ])
    letters = channel_names(ctx, k)
    fmt = st.grid(GRADIENT_FORMAT)
    _, oh, ow = block.conv_shape
    for f in range(1, block.conv.filters + 1):
        first = lay.grid(names.grad(names.conv_w(k, f, 1)))
        content.text(first.title_row - 1, first.left, t("back_filters.band", f=f, k=k), st.subtitle)
        for c in range(1, block.in_shape[0] + 1):
            grid = lay.grid(names.grad(names.conv_w(k, f, c)))
            content.grid_title(grid, t("back_filters.kernel", channel=letters[c - 1]), st.grid_title)
            content.grid_formulas(grid, _weight_grads(ctx, name, k, f, c), gw[f - 1, c - 1], fmt)
        bias = lay.grid(names.grad(names.conv_b(k, f)))
        content.grid_title(bias, t("back_filters.bias"), st.grid_title)
        grad_out = lay.ref(names.grad(names.conv_out(k, f)), 0, 0, oh - 1, ow - 1, from_sheet=name)
        content.formula(bias.top, bias.left, conv.bias_grad_formula(grad_out), float(gb[f - 1]), fmt)
    grid_sheet_with_scale(content, ctx, plan, diverging_scale, plan.grids, limit)
    return content


def _weight_grads(ctx: BuildContext, sheet: str, k: int, f: int, c: int) -> Callable[[int, int], str]:
    """∂L/∂ kernel (f, c) cell (a, b): the (spread) gradient of map f against channel c's window at (a, b)."""
    lay = ctx.layout
    block = ctx.model.arch.blocks[k - 1]
    pad, (hd, wd) = block.conv.padding, spread_shape(block)
    source = lay.grid(spread_source(ctx.model.arch, k, f))
    grad_map = lay.prefix(source.key, sheet) + source.range(0, 0, hd - 1, wd - 1)
    inputs = names.block_input(k, c)
    scale = lay.ref(names.INPUT_SCALE, 0, 0, from_sheet=sheet) if k == 1 and names.INPUT_SCALE in lay.grids else ""

    def formula(a: int, b: int) -> str:
        window = lay.ref(inputs, a - pad, b - pad, a - pad + hd - 1, b - pad + wd - 1, from_sheet=sheet)
        return conv.weight_grad_formula(grad_map, window, scale)

    return formula


def plan(layout: Layout, k: int) -> None:
    """Each filter is a band, as on Filters k: its title, then per input channel its gradient kernel; the bias's
    gradient to the right."""
    sheet = layout.add_sheet(back_sheet("filters", k), KIND, k, break_above=1)
    add_filter_bands(layout, sheet, k, names.grad, Holds.FORMULAS)


STAGE = Stage(KIND, plan, back_filters_sheet, Repeat.PER_BLOCK_BACKWARD, learning=True)
