"""The Pool k sheet: ``=MAX(size×size window of the ReLU map)``; a grey zero border if the next conv pads."""

from __future__ import annotations

from functools import partial

from xlcnn.book.layout import Grid, Holds, Layout, SheetKind, SheetPlan, WindowRefs
from xlcnn.book.layout import pool_sheet as pool_sheet_name
from xlcnn.book.sheet import (
    BuildContext,
    SheetContent,
    grid_sheet_with_scale,
    map_grids,
    param_cell,
    stage_header,
)
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.styles import activation_limit, number_format, sequential_scale
from xlcnn.book.texts import Texts
from xlcnn.model import names
from xlcnn.nn.layers import pool

KIND = SheetKind("pool")


def window_max(relu: WindowRefs, i: int, j: int) -> str:
    return pool.formula(relu.ref(i, j))


def dropped_words(t: Texts, size_in: tuple[int, int], size_out: tuple[int, int], size: int, stride: int) -> str:
    """`` Pooling leaves out row 13 …``: the ReLU rows and columns past the last whole window (none: '')."""
    parts = []
    for n_in, n_out, one, many in zip(size_in, size_out, ("pool.row", "pool.column"), ("pool.rows", "pool.columns"),
                                      strict=True):
        covered = (n_out - 1) * stride + size  # the last window ends here
        if covered < n_in:
            parts.append(t(one, n=n_in) if covered + 1 == n_in else t(many, a=covered + 1, b=n_in))
    if not parts:
        return ""
    text = parts[0] if len(parts) == 1 else t("pool.both", rows=parts[0], columns=parts[1])
    return " " + t("pool.dropped", parts=text)


def pool_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Pool k: ``=MAX(size×size window of the ReLU map)``; a grey zero border if the next conv pads."""
    k, t, st, lay, name = plan.block, ctx.texts, ctx.styles, ctx.layout, plan.name
    block = ctx.model.arch.blocks[k - 1]
    spec = block.pool
    c, h_in, w_in = block.conv_shape
    _, h, w = block.pool_shape
    maps = ctx.trace.blocks[k - 1].pool
    limit = activation_limit(maps)
    pad = lay.grid(names.pool_out(k, 1)).pad
    content = SheetContent()
    stage_header(content, ctx, t("pool.title", k=k), [
        t("pool.what", size=spec.size),
        t("pool.formula", size=spec.size, stride=spec.stride),
        t("pool.shape", c=c, h_in=h_in, w_in=w_in, h=h, w=w, size=spec.size, stride=spec.stride)
        + dropped_words(t, (h_in, w_in), (h, w), spec.size, spec.stride),
        t("legend.sequential", limit=f"{limit:.3g}") + (" " + t("pool.padding", pad=pad) if pad else ""),
    ])
    param_cell(content, ctx, names.pool_size(k), t("pool.size"), spec.size)
    param_cell(content, ctx, names.pool_stride(k), t("pool.stride"), spec.stride)
    content.text(lay.grid(names.pool_stride(k)).top, lay.grid(names.pool_stride(k)).left + 2, t("pool.fixed"),
                 st.note)
    fmt = st.grid(number_format(maps))
    for f in range(1, c + 1):
        relu = lay.windows(names.relu_out(k, f), h, w, spec.size, spec.stride, 0, name)
        grid = lay.grid(names.pool_out(k, f))
        content.grid_title(grid, t("pool.map", k=k, f=f, h=h, w=w), st.grid_title)
        content.grid_border(grid, st.padding)
        content.grid_formulas(grid, partial(window_max, relu), maps[f - 1], fmt)

    grid_sheet_with_scale(content, ctx, plan, sequential_scale, map_grids(plan), limit)
    return content


def plan(layout: Layout, k: int) -> None:
    """The pooled maps carry the next conv's zero padding as a visible border."""
    blocks = layout.arch.blocks
    filters, rows, cols = blocks[k - 1].pool_shape
    next_pad = blocks[k].conv.padding if k < len(blocks) else 0
    sheet = layout.add_sheet(pool_sheet_name(k), KIND, k)
    layout.add_grid(sheet, Grid(names.pool_size(k), sheet.name, 5, 3, 1, 1, holds=Holds.SETTING))
    layout.add_grid(sheet, Grid(names.pool_stride(k), sheet.name, 5, 6, 1, 1, holds=Holds.SETTING))
    layout.add_maps(sheet, [names.pool_out(k, f) for f in range(1, filters + 1)], rows, cols, next_pad)


STAGE = Stage(KIND, plan, pool_sheet, Repeat.PER_BLOCK)
