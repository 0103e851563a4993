"""The Back input sheet, the last link of the chain: ∂L/∂ every raw 0–255 pixel, channel by channel — what conv 1
sends back to its input, a convolution of ∂L/∂conv 1 with its filters turned 180°, times the input scale."""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import BACK_INPUT, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_grid_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.stages.back_conv import InputGrads, emit_flipped, flipped_grids, plan_flipped
from xlcnn.book.styles import GRADIENT_FORMAT, activation_limit, diverging_scale, symmetric_limit
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
    letters = t.lines("input.channel_letters")
    emit_flipped(content, ctx, 1, letters)
    fmt = st.grid(GRADIENT_FORMAT)
    for c, (key, letter) in enumerate(zip(names.GRAD_INPUT, letters, strict=True)):
        grid = lay.grid(key)
        content.grid_title(grid, t("back_input.map", channel=letter, h=spec.height, w=spec.width), st.grid_title)
        content.grid_formulas(grid, sent_back.for_channel(c + 1), grads[c], fmt)
    maps = [g for g in plan.grids if g not in flipped_grids(plan)]

    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        diverging_scale(ws, maps, limit)
        diverging_scale(ws, flipped_grids(plan), symmetric_limit(ctx.model.weights.conv_w[0]))

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    spec = layout.arch.input
    sheet = layout.add_sheet(BACK_INPUT, KIND)
    layout.add_maps(sheet, list(names.GRAD_INPUT), spec.height, spec.width, 0, top=plan_flipped(layout, sheet, 1))


STAGE = Stage(KIND, plan, back_input_sheet, learning=True)
