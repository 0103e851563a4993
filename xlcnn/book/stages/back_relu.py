"""The Back ReLU k sheet: max pooling's backward pass. Each pooling window hands its whole gradient to the cell
that won it (its maximum; the first in row-major order on a tie, as PyTorch does), the other cells get 0, and
a cell in several overlapping windows adds up what each sends it.

First, per map, which cell won each window (``=IF(a>=max−1E-12·|max|,1,IF(b>=…,2,…))``, counted in reading order:
the first cell within a hair of the maximum, since spreadsheets call numbers one unit in the last place apart
equal); then
∂L/∂ the ReLU map, ``=IF(winner=this cell's place,∂L/∂pooled,0)`` summed over the windows that hold the cell.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import partial

import numpy as np
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import CellRefs, Layout, SheetKind, SheetPlan, back_sheet
from xlcnn.book.sheet import BuildContext, Emit, SheetContent, setup_grid_sheet, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.styles import GRADIENT_FORMAT, activation_limit, diverging_scale
from xlcnn.model import names
from xlcnn.model.spec import Block
from xlcnn.nn.layers import pool

KIND = SheetKind("back_relu")


def winner_key(k: int, f: int) -> str:
    """Which cell won each window of pool k, map f (internal)."""
    return f"pool{k}_winner{f}"


def windows_holding(block: Block, y: int, x: int) -> list[tuple[int, int, int]]:
    """The pooling windows (row, column) that hold ReLU cell (y, x), with its place in each (from 1)."""
    size, stride = block.pool.size, block.pool.stride
    _, ph, pw = block.pool_shape

    def starts(v: int, n: int) -> list[int]:
        return [p for p in range(max(0, -(-(v - size + 1) // stride)), min(n - 1, v // stride) + 1)]

    return [(p, q, (y - p * stride) * size + (x - q * stride) + 1) for p in starts(y, ph) for q in starts(x, pw)]


def back_relu_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    block = ctx.model.arch.blocks[k - 1]
    spec = block.pool
    c, h, w = block.conv_shape
    _, ph, pw = block.pool_shape
    grads = ctx.learned.grad_relu[k - 1]
    winners = pool.winners(ctx.trace.blocks[k - 1].relu[None], spec.size, spec.stride)[0]
    limit = activation_limit(grads)
    content = SheetContent()
    stage_header(content, ctx, t("back_relu.title", k=k), [
        t("back_relu.what", size=spec.size), t("back_relu.formula"),
        t("back_relu.winners", n=spec.size * spec.size), t("legend.gradient", limit=f"{limit:.3g}"),
    ])
    grid_fmt, winner_fmt = st.grid(GRADIENT_FORMAT), st.grid("0")  # a winner is a place, not an amount: no colour
    holding = functools.cache(partial(windows_holding, block))  # the same windows for every map
    for f in range(1, c + 1):
        won = lay.grid(winner_key(k, f))
        relu_cells, pooled = lay.cells(names.relu_out(k, f), name), lay.cells(names.pool_out(k, f), name)
        content.grid_title(won, t("back_relu.winner_map", k=k, f=f, h=ph, w=pw), st.grid_title)
        content.grid_formulas(won, _winner(block, relu_cells, pooled), winners[f - 1], winner_fmt)
        grid = lay.grid(names.grad(names.relu_out(k, f)))
        content.grid_title(grid, t("back_relu.map", k=k, f=f, h=h, w=w), st.grid_title)
        content.add(grid.top, grid.top + h - 1, _grad_rows(ctx, k, f, grads[f - 1], grid_fmt, holding))

    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        diverging_scale(ws, [lay.grid(names.grad(names.relu_out(k, f))) for f in range(1, c + 1)], limit)

    content.on_setup(setup)
    return content


def _winner(block: Block, relu_cells: CellRefs, pooled: CellRefs) -> Callable[[int, int], str]:
    size, stride = block.pool.size, block.pool.stride

    def formula(i: int, j: int) -> str:
        cells = [relu_cells.ref(i * stride + a, j * stride + b) for a in range(size) for b in range(size)]
        return pool.winner_formula(cells, pooled.ref(i, j))

    return formula


def _grad_rows(ctx: BuildContext, k: int, f: int, values: np.ndarray, fmt: Format,
               holding: Callable[[int, int], list[tuple[int, int, int]]]) -> Emit:
    """Rows of ∂L/∂ ReLU k map f; ``holding(y, x)`` is ``windows_holding`` for the block."""
    lay = ctx.layout
    grid = lay.grid(names.grad(names.relu_out(k, f)))
    won = lay.cells(winner_key(k, f), grid.sheet)
    grad_pool = lay.cells(names.grad(names.pool_out(k, f)), grid.sheet)

    def formula(y: int, x: int) -> str:
        return pool.backward_formula([(won.ref(p, q), place, grad_pool.ref(p, q)) for p, q, place in holding(y, x)])

    def emit(ws: Worksheet, row: int) -> None:
        y = row - grid.top
        ws.write_formula_row(row, grid.left, [formula(y, x) for x in range(grid.cols)], fmt,
                             np.asarray(values[y], dtype=np.float64).tolist())

    return emit


def plan(layout: Layout, k: int) -> None:
    block = layout.arch.blocks[k - 1]
    filters, rows, cols = block.conv_shape
    _, ph, pw = block.pool_shape
    sheet = layout.add_sheet(back_sheet("ReLU", k), KIND, k)
    top = layout.add_maps(sheet, [winner_key(k, f) for f in range(1, filters + 1)], ph, pw, 0, named=False)
    layout.add_maps(sheet, [names.grad(names.relu_out(k, f)) for f in range(1, filters + 1)], rows, cols, 0, top=top)


STAGE = Stage(KIND, plan, back_relu_sheet, Repeat.PER_BLOCK_BACKWARD, learning=True)
