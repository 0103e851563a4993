"""ReLU: a switch that lets positive evidence through and turns negative evidence off, ``max(0, x)``."""

from __future__ import annotations

from functools import partial

import numpy as np

from xlcnn.book.layout import CellRefs, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, map_grids, stage_header
from xlcnn.book.styles import activation_limit, number_format, sequential_scale


def forward(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The switch passes the gradient where it let the value through (x > 0) and blocks it elsewhere."""
    return dout * (x > 0)


# ------------------------------------------------------------------------------------ the workbook


def _formula(conv: CellRefs, i: int, j: int) -> str:
    return f"=MAX(0,{conv.ref(i, j)})"


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
        conv = lay.cells(f"conv{k}_out{f}", name)
        grid = lay.grid(f"relu{k}_out{f}")
        content.grid_title(grid, t("relu.map", k=k, f=f, h=h, w=w), st.grid_title)
        content.grid_formulas(grid, partial(_formula, conv), maps[f - 1], fmt)

    grid_sheet_with_scale(content, ctx, plan, sequential_scale, map_grids(plan), limit)
    return content
