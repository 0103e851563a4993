"""Max pooling in floor mode: the largest value of each size × size window, windows ``stride`` apart.

A partial window at the right or bottom edge is dropped (PyTorch's ``ceil_mode=False``), so the output
length per axis is ``floor((n − size) / stride) + 1``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from xlcnn.book.layout import SheetPlan, WindowRefs
from xlcnn.book.sheet import (
    BuildContext,
    SheetContent,
    grid_sheet_with_scale,
    map_grids,
    param_cell,
    stage_header,
)
from xlcnn.book.styles import activation_limit, number_format, sequential_scale


def windows(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """(N, C, H, W) → (N, C, Ho, Wo, size, size), a view."""
    return sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]


def forward(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    return windows(x, size, stride).max(axis=(4, 5))


def backward(dout: np.ndarray, x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """dL/dx: each window's gradient goes to its largest cell (the first one on a tie), the rest get 0.

    Loops over the size² offsets inside a window, never over pixels; overlapping windows add up.
    """
    n, c, ho, wo = dout.shape
    winner = windows(x, size, stride).reshape(n, c, ho, wo, size * size).argmax(axis=4)
    dx = np.zeros(x.shape)
    for offset in range(size * size):
        i, j = divmod(offset, size)
        dx[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += np.where(winner == offset, dout, 0.0)
    return dx


# ------------------------------------------------------------------------------------ the workbook


def _formula(relu: WindowRefs, i: int, j: int) -> str:
    return f"=MAX({relu.ref(i, j)})"


def pool_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Pool k: ``=MAX(size×size window of the ReLU map)``; a grey zero border if the next conv pads."""
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    block = ctx.model.arch.blocks[k - 1]
    spec = block.pool
    c, h_in, w_in = block.conv_shape
    _, h, w = block.pool_shape
    maps = ctx.trace.blocks[k - 1].pool
    limit = activation_limit(maps)
    pad = lay.grid(f"pool{k}_out1").pad
    content = SheetContent()
    stage_header(content, ctx, t("pool.title", k=k), [
        t("pool.what", size=spec.size),
        t("pool.formula", size=spec.size, stride=spec.stride),
        t("pool.shape", c=c, h_in=h_in, w_in=w_in, h=h, w=w, size=spec.size, stride=spec.stride),
        t("legend.sequential", limit=f"{limit:.3g}") + (" " + t("pool.padding", pad=pad) if pad else ""),
    ])
    param_cell(content, ctx, f"pool{k}_size", t("pool.size"), spec.size)
    param_cell(content, ctx, f"pool{k}_stride", t("pool.stride"), spec.stride)
    fmt = st.grid(number_format(maps))
    for f in range(1, c + 1):
        relu = lay.windows(f"relu{k}_out{f}", h, w, spec.size, spec.stride, 0, name)
        grid = lay.grid(f"pool{k}_out{f}")
        content.grid_title(grid, t("pool.map", k=k, f=f, h=h, w=w), st.grid_title)
        content.grid_border(grid, st.padding)
        content.grid_formulas(grid, partial(_formula, relu), maps[f - 1], fmt)

    grid_sheet_with_scale(content, ctx, plan, sequential_scale, map_grids(plan), limit)
    return content
