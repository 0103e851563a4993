"""The Back input sheet, the last link of the chain: ∂L/∂ every raw 0–255 pixel, channel by channel — what conv 1
sends back to its input, a convolution of ∂L/∂conv 1 with its filters turned 180°, times the input scale."""

from __future__ import annotations

from xlcnn.book.layout import BACK_INPUT, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.stages.back_conv import InputGrads
from xlcnn.book.styles import GRADIENT_FORMAT, activation_limit, diverging_scale
from xlcnn.model import names

KIND = SheetKind("back_input")


def back_input_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name = ctx.texts, ctx.styles, ctx.layout, plan.name
    spec = ctx.model.arch.input
    grads = ctx.learned.grad_input
    limit = activation_limit(grads)
    content = SheetContent()
    scaled = spec.scale != 1.0
    stage_header(content, ctx, t("back_input.title"), [
        t("back_input.what"), t("back_input.formula", scale_words=t("conv.scale_words") if scaled else ""),
        t("back_input.shape", h=spec.height, w=spec.width), t("legend.gradient", limit=f"{limit:.3g}"),
    ])
    sent_back = InputGrads(lay, 1, name)
    fmt = st.grid(GRADIENT_FORMAT)
    for c, (key, letter) in enumerate(zip(names.GRAD_INPUT, t.lines("input.channel_letters"), strict=True)):
        grid = lay.grid(key)
        content.grid_title(grid, t("back_input.map", channel=letter, h=spec.height, w=spec.width), st.grid_title)
        content.grid_formulas(grid, sent_back.for_channel(c + 1), grads[c], fmt)
    grid_sheet_with_scale(content, ctx, plan, diverging_scale, plan.grids, limit)
    return content


def plan(layout: Layout, k: int) -> None:
    spec = layout.arch.input
    sheet = layout.add_sheet(BACK_INPUT, KIND)
    layout.add_maps(sheet, list(names.GRAD_INPUT), spec.height, spec.width, 0)


STAGE = Stage(KIND, plan, back_input_sheet, learning=True)
