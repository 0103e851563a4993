"""The Back conv k sheet: ∂L/∂ conv k's maps, ``=IF(conv cell>0, ∂L/∂ its ReLU cell, 0)`` — the ReLU switch
passes the gradient where it let the value through.

The maps carry a grey zero border as wide as the backward convolution needs (``kernel − 1 − padding``), because
the gradient sent to conv k's input is a convolution of these maps with the filters turned 180°
(``InputGrads``). A strided conv first spreads its gradient out, ``stride − 1`` zeros between cells, into a
second grid per map (the *spread* gradient); the backward pass is then a plain stride-1 convolution, and the
weight gradients read the spread grid too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import GAP, HEADER_ROWS, LEFT, CellRefs, Grid, Holds, Layout, SheetKind, SheetPlan, back_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.styles import GRADIENT_FORMAT, activation_limit, diverging_scale, number_format
from xlcnn.model import names
from xlcnn.model.spec import Architecture, Block
from xlcnn.nn.layers import conv, relu

KIND = SheetKind("back_conv")


def spread_key(k: int, f: int) -> str:
    """Map f of conv k's gradient spread out by the stride (internal: a strided conv's helper grid)."""
    return f"grad_conv{k}_spread{f}"


def flip_key(k: int, f: int, c: int) -> str:
    """Kernel (f, c) of conv k turned 180° (internal: Back filters k shows it)."""
    return f"flip_conv{k}_w{f}_{c}"


def spread_shape(block: Block) -> tuple[int, int]:
    """The spread gradient's rows and columns: ``(n_out − 1)·stride + 1`` each."""
    _, oh, ow = block.conv_shape
    s = block.conv.stride
    return (oh - 1) * s + 1, (ow - 1) * s + 1


def border(block: Block) -> int:
    """The zero border the backward convolution reads beyond the (spread) gradient: ``kernel − 1 − padding``
    before it, and after it as far as the last input cell's window reaches."""
    _, h, w = block.in_shape
    hd, wd = spread_shape(block)
    kernel, pad = block.conv.kernel, block.conv.padding
    return max(0, kernel - 1 - pad, h + pad - hd, w + pad - wd)


def spread_source(arch: Architecture, k: int, f: int) -> str:
    """The grid the backward convolution and the weight gradients read: the gradient itself at stride 1,
    else its spread-out copy."""
    return names.grad(names.conv_out(k, f)) if arch.blocks[k - 1].conv.stride == 1 else spread_key(k, f)


def plan_flipped(layout: Layout, sheet: SheetPlan, k: int) -> int:
    """Conv k's filters turned 180°, on the sheet that convolves with them: a band per input channel c of conv k
    (the map being computed), its F kernels (f, c) side by side; → the first row below them."""
    block = layout.arch.blocks[k - 1]
    kernel = block.conv.kernel
    y = HEADER_ROWS
    for c in range(1, block.in_shape[0] + 1):
        x = LEFT
        for f in range(1, block.conv.filters + 1):
            layout.add_grid(sheet, Grid(flip_key(k, f, c), sheet.name, y + 2, x, kernel, kernel, named=False,
                                        holds=Holds.FORMULAS))
            x += kernel + GAP
        y += 2 + kernel + GAP
    return y


def emit_flipped(content: SheetContent, ctx: BuildContext, k: int, channel_names: list[str]) -> None:
    """Each flipped kernel: ``=`` the weight at the opposite place of Filters k's kernel (f, c)."""
    lay, t, st = ctx.layout, ctx.texts, ctx.styles
    block = ctx.model.arch.blocks[k - 1]
    w = ctx.model.weights.conv_w[k - 1]
    fmt = st.grid(number_format(w))
    for c in range(1, block.in_shape[0] + 1):
        first = lay.grid(flip_key(k, 1, c))
        content.text(first.title_row - 1, first.left, t("back_conv.flipped_band", k=k, c=channel_names[c - 1]),
                     st.subtitle)
        for f in range(1, block.conv.filters + 1):
            grid = lay.grid(flip_key(k, f, c))
            content.grid_title(grid, t("back_conv.flipped_title", f=f), st.grid_title)
            weights = lay.cells(names.conv_w(k, f, c), grid.sheet)
            content.grid_formulas(grid, partial(_flip, weights, block.conv.kernel), np.flip(w[f - 1, c - 1]), fmt)


def flipped_grids(plan: SheetPlan) -> list[Grid]:
    return [g for g in plan.grids if g.key.startswith("flip_")]


def _flip(weights: CellRefs, kernel: int, a: int, b: int) -> str:
    """Cell (a, b) of a kernel turned 180° is the weight at (kernel − 1 − a, kernel − 1 − b)."""
    return f"={weights.ref(kernel - 1 - a, kernel - 1 - b)}"


class InputGrads:
    """∂L/∂ what conv k read, channel c: ``=(Σ_f SUMPRODUCT(window of ∂L/∂conv map f, kernel (f, c) turned
    180°))·scale``, windows one cell apart, starting ``kernel − 1 − padding`` cells before the map (the input
    scale only on the first layer)."""

    def __init__(self, layout: Layout, k: int, sheet: str) -> None:
        arch = layout.arch
        block = arch.blocks[k - 1]
        _, h, w = block.in_shape
        offset = block.conv.kernel - 1 - block.conv.padding
        self.k, self.layout, self.sheet, self.last = k, layout, sheet, block.conv.kernel - 1
        self.windows = [layout.windows(spread_source(arch, k, f), h, w, block.conv.kernel, 1, offset, sheet)
                        for f in range(1, block.conv.filters + 1)]
        self.scale = ""
        if k == 1 and names.INPUT_SCALE in layout.grids:
            self.scale = layout.ref(names.INPUT_SCALE, 0, 0, from_sheet=sheet)

    def for_channel(self, c: int) -> Callable[[int, int], str]:
        flipped = [self.layout.ref(flip_key(self.k, f, c), 0, 0, self.last, self.last, from_sheet=self.sheet)
                   for f in range(1, len(self.windows) + 1)]
        windows_at, scale = self._windows_at, self.scale  # joined again for every channel, as ConvFormulas does

        def formula(i: int, j: int) -> str:
            return conv.input_grad_formula(windows_at(i, j), flipped, scale)

        return formula

    def _windows_at(self, i: int, j: int) -> tuple[str, ...]:
        """The windows of ∂L/∂conv that input cell (i, j) gets its gradient from, one per filter."""
        return tuple(window.ref(i, j) for window in self.windows)


def _formula(conv_cells: CellRefs, grad_relu: CellRefs, i: int, j: int) -> str:
    return relu.backward_formula(conv_cells.ref(i, j), grad_relu.ref(i, j))


def back_conv_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    block = ctx.model.arch.blocks[k - 1]
    c, h, w = block.conv_shape
    grads = ctx.learned.grad_conv[k - 1]
    limit = activation_limit(grads)
    strided = block.conv.stride > 1
    content = SheetContent()
    pad = border(block)
    stage_header(content, ctx, t("back_conv.title", k=k), [
        t("back_conv.what", k=k), t("back_conv.formula", k=k),
        t("back_conv.spread", stride=block.conv.stride, pad=pad) if strided else
        t("back_conv.border", pad=pad, kernel=block.conv.kernel, padding=block.conv.padding) if pad else "",
        t("legend.gradient", limit=f"{limit:.3g}"),
    ])
    fmt = st.grid(GRADIENT_FORMAT)
    for f in range(1, c + 1):
        grid = lay.grid(names.grad(names.conv_out(k, f)))
        content.grid_title(grid, t("back_conv.map", k=k, f=f, h=h, w=w), st.grid_title)
        content.grid_border(grid, st.padding)
        conv_cells = lay.cells(names.conv_out(k, f), name)
        grad_relu = lay.cells(names.grad(names.relu_out(k, f)), name)
        content.grid_formulas(grid, partial(_formula, conv_cells, grad_relu), grads[f - 1], fmt)
        if strided:
            _spread(content, ctx, k, f, conv.dilate(grads[f - 1], block.conv.stride))
    maps = [g for g in plan.grids if g.holds is not Holds.SETTING]
    grid_sheet_with_scale(content, ctx, plan, diverging_scale, maps, limit)
    return content


def _spread(content: SheetContent, ctx: BuildContext, k: int, f: int, values: np.ndarray) -> None:
    """The spread gradient: ``=<gradient cell>`` every ``stride`` cells, constant zeros (grey) between."""
    lay, st, t = ctx.layout, ctx.styles, ctx.texts
    stride = ctx.model.arch.blocks[k - 1].conv.stride
    grid = lay.grid(spread_key(k, f))
    source = lay.cells(names.grad(names.conv_out(k, f)), grid.sheet)
    content.grid_title(grid, t("back_conv.spread_map", k=k, f=f, h=grid.rows, w=grid.cols), st.grid_title)
    content.grid_border(grid, st.padding)
    fmt = st.grid(GRADIENT_FORMAT)

    def emit(ws: Worksheet, row: int) -> None:
        r = row - grid.top
        for col in range(grid.cols):
            if r % stride == 0 and col % stride == 0:
                ws.write_formula(row, grid.left + col, f"={source.ref(r // stride, col // stride)}", fmt,
                                 float(values[r, col]))
            else:
                ws.write_number(row, grid.left + col, 0, st.padding)

    content.add(grid.top, grid.top + grid.rows - 1, emit)


def spread_zeros(layout: Layout) -> int:
    """The constant zeros inside the spread grids of the layout's strided convs (their borders aside)."""
    total = 0
    for block in layout.arch.blocks:
        if spread_key(block.index, 1) in layout.grids:
            hd, wd = spread_shape(block)
            filters, oh, ow = block.conv_shape
            total += filters * (hd * wd - oh * ow)
    return total


def spread_formulas(layout: Layout, plan: SheetPlan) -> int:
    """The spread grids' formula cells: one per gradient cell (the rest are constant zeros)."""
    block = layout.arch.blocks[plan.block - 1]
    return 0 if block.conv.stride == 1 else int(np.prod(block.conv_shape))


def plan(layout: Layout, k: int) -> None:
    block = layout.arch.blocks[k - 1]
    filters, rows, cols = block.conv_shape
    sheet = layout.add_sheet(back_sheet("conv", k), KIND, k)
    strided = block.conv.stride > 1
    top = layout.add_maps(sheet, [names.grad(names.conv_out(k, f)) for f in range(1, filters + 1)], rows, cols,
                          0 if strided else border(block))
    if strided:
        hd, wd = spread_shape(block)
        layout.add_maps(sheet, [spread_key(k, f) for f in range(1, filters + 1)], hd, wd, border(block),
                        holds=Holds.OTHER, top=top, named=False)


STAGE = Stage(KIND, plan, back_conv_sheet, Repeat.PER_BLOCK_BACKWARD, learning=True, mixed_formulas=spread_formulas)
