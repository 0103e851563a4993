"""The Image sheet (the picture, one coloured cell per pixel) and the Input sheet (the pixels as numbers)."""

from __future__ import annotations

import numpy as np
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, param_cell, setup_grid_sheet, stage_header
from xlcnn.book.styles import channel_scale

# Each distinct colour on the Image sheet costs a cell format; spreadsheets allow about 64,000 in all.
MAX_IMAGE_COLOURS = 4096
QUANTUM = 17  # 255 / 17 = 15: sixteen levels per channel, at most 4,096 colours


def image_colours(pixels: np.ndarray) -> tuple[np.ndarray, bool]:
    """The colours to paint: the pixels themselves, or quantised to 16 levels if there are too many."""
    flat = pixels.reshape(-1, 3)
    if len(np.unique(flat, axis=0)) <= MAX_IMAGE_COLOURS:
        return pixels, False
    return (np.rint(pixels / QUANTUM) * QUANTUM).astype(np.uint8), True


def image_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st = ctx.texts, ctx.styles
    grid = ctx.layout.grid("image_pixels")
    pixels = np.asarray(ctx.trace.input.transpose(1, 2, 0), dtype=np.uint8)
    colours, quantised = image_colours(pixels)
    h, w = pixels.shape[:2]
    info = ctx.image
    content = SheetContent()
    note = t("image.note") + (" " + t("image.quantised") if quantised else "")
    stage_header(content, ctx, t("image.title"), [
        t("image.what", name=info.name, width=info.size[0], height=info.size[1], fit=t(f"fit.{info.fit}"), h=h, w=w),
        note,
    ])

    def emit(ws: Worksheet, row: int) -> None:
        r = row - grid.top
        for c in range(w):
            rgb = colours[r, c]
            ws.write_blank(row, grid.left + c, None, st.fill((int(rgb[0]), int(rgb[1]), int(rgb[2]))))

    content.add(grid.top, grid.top + h - 1, emit)
    content.on_setup(lambda ws: setup_grid_sheet(ws, ctx, plan))
    return content


def input_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay = ctx.texts, ctx.styles, ctx.layout
    spec = ctx.model.arch.input
    h, w = spec.height, spec.width
    pad = lay.grid("input_r").pad
    content = SheetContent()
    stage_header(content, ctx, t("input.title"), [
        t("input.what"),
        t("input.formula", scale=spec.scale_text) if spec.scale != 1.0 else "",
        t("input.shape", h=h, w=w, count=3 * h * w),
        t("legend.channels") + (" " + t("input.padding", pad=pad) if pad else ""),
    ])
    if spec.scale != 1.0:
        # "# ?/???" shows 1/255 as a fraction; the cell holds the number itself.
        param_cell(content, ctx, "input_scale", t("input.scale"), spec.scale, label_cols=4, span=3,
                   num_format="# ?/???")
    fmt = st.grid("0")
    for c, key in enumerate(("input_r", "input_g", "input_b")):
        grid = lay.grid(key)
        title = t.lines("input.channel_titles")[c]
        content.grid_title(grid, f"{title} · {h}×{w}", st.grid_title)
        content.grid_border(grid, st.padding)
        content.grid_numbers(grid, ctx.trace.input[c], fmt)

    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        for c, key in enumerate(("input_r", "input_g", "input_b")):
            channel_scale(ws, [lay.grid(key)], c)

    content.on_setup(setup)
    return content
