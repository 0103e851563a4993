"""The Step pool k sheet: max pooling of the stepped ReLU maps, ``=MAX(window)``; a grey zero border where the
next conv pads."""

from __future__ import annotations

from functools import partial

from xlcnn.book.layout import Layout, SheetKind, SheetPlan, step_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.stages.pool import window_max
from xlcnn.book.styles import activation_limit, number_format, sequential_scale
from xlcnn.model import names

KIND = SheetKind("step_pool")


def step_pool_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    block = ctx.model.arch.blocks[k - 1]
    spec = block.pool
    c, h, w = block.pool_shape
    maps = ctx.learned.step_trace.blocks[k - 1].pool
    limit = activation_limit(maps)
    content = SheetContent()
    stage_header(content, ctx, t("step_pool.title", k=k), [
        t("step_pool.what", k=k), t("pool.formula", size=spec.size, stride=spec.stride),
        t("pool.shape", c=c, h_in=block.conv_shape[1], w_in=block.conv_shape[2], h=h, w=w, size=spec.size,
          stride=spec.stride), t("legend.sequential", limit=f"{limit:.3g}"),
    ])
    fmt = st.grid(number_format(maps))
    for f in range(1, c + 1):
        relu = lay.windows(names.step(names.relu_out(k, f)), h, w, spec.size, spec.stride, 0, name)
        grid = lay.grid(names.step(names.pool_out(k, f)))
        content.grid_title(grid, t("step_pool.map", k=k, f=f, h=h, w=w), st.grid_title)
        content.grid_border(grid, st.padding)
        content.grid_formulas(grid, partial(window_max, relu), maps[f - 1], fmt)
    grid_sheet_with_scale(content, ctx, plan, sequential_scale, plan.grids, limit)
    return content


def plan(layout: Layout, k: int) -> None:
    blocks = layout.arch.blocks
    filters, rows, cols = blocks[k - 1].pool_shape
    next_pad = blocks[k].conv.padding if k < len(blocks) else 0
    sheet = layout.add_sheet(step_sheet("pool", k), KIND, k)
    layout.add_maps(sheet, [names.step(names.pool_out(k, f)) for f in range(1, filters + 1)], rows, cols, next_pad)


STAGE = Stage(KIND, plan, step_pool_sheet, Repeat.PER_BLOCK, learning=True)
