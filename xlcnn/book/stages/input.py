"""The Input sheet: the R, G and B grids of raw 0–255 numbers, with the first conv's zero padding in grey."""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import INPUT, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, param_cell, setup_grid_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.styles import channel_scale
from xlcnn.model import names

KIND = SheetKind("input")


def input_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay = ctx.texts, ctx.styles, ctx.layout
    spec = ctx.model.arch.input
    h, w = spec.height, spec.width
    pad = lay.grid(names.INPUT[0]).pad
    content = SheetContent()
    stage_header(content, ctx, t("input.title"), [
        t("input.what"),
        t("input.formula", scale=spec.scale_text) if spec.scale != 1.0 else "",
        t("input.shape", h=h, w=w, count=3 * h * w),
        t("legend.channels") + (" " + t("input.padding", pad=pad) if pad else ""),
    ])
    if spec.scale != 1.0:
        # "# ?/???" shows 1/255 as a fraction; the cell holds the number itself.
        param_cell(content, ctx, names.INPUT_SCALE, t("input.scale"), spec.scale, label_cols=4, span=3,
                   num_format="# ?/???")
        scale = lay.grid(names.INPUT_SCALE)
        content.text(scale.top, scale.left + 4, t("input.scale_fixed"), st.note)
    fmt = st.editable_grid("0")
    for c, key in enumerate(names.INPUT):
        grid = lay.grid(key)
        title = t.lines("input.channel_titles")[c]
        content.grid_title(grid, f"{title} · {h}×{w}", st.grid_title)
        content.grid_border(grid, st.padding)
        content.grid_numbers(grid, ctx.trace.input[c], fmt)

    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        for c, key in enumerate(names.INPUT):
            channel_scale(ws, [lay.grid(key)], c)

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    arch = layout.arch
    sheet = layout.add_sheet(INPUT, KIND)
    if arch.input.scale != 1.0:
        layout.add_grid(sheet, Grid(names.INPUT_SCALE, sheet.name, 5, 5, 1, 1, holds=Holds.SETTING))
    h, w = arch.input.height, arch.input.width
    layout.add_maps(sheet, list(names.INPUT), h, w, arch.blocks[0].conv.padding, holds=Holds.NUMBERS)


STAGE = Stage(KIND, plan, input_sheet)
