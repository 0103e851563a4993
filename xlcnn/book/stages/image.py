"""The Image sheet: the picture, one cell per pixel, filled with the pixel's colour."""

from __future__ import annotations

import numpy as np
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import HEADER_ROWS, IMAGE, LEFT, Grid, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_grid_sheet, stage_header
from xlcnn.book.stage import Stage

# Each distinct colour on the Image sheet costs a cell format; spreadsheets allow about 64,000 in all.
MAX_IMAGE_COLOURS = 4096
QUANTUM = 17  # 255 / 17 = 15: sixteen levels per channel, at most 4,096 colours

KIND = SheetKind("image")


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
    what = "" if info is None else t("image.what", name=info.name, width=info.size[0], height=info.size[1],
                                     fit=t(f"fit.{info.fit}"), h=h, w=w)
    stage_header(content, ctx, t("image.title"), [what, note])

    def emit(ws: Worksheet, row: int) -> None:
        r = row - grid.top
        for c in range(w):
            rgb = colours[r, c]
            ws.write_blank(row, grid.left + c, None, st.fill((int(rgb[0]), int(rgb[1]), int(rgb[2]))))

    content.add(grid.top, grid.top + h - 1, emit)
    content.on_setup(lambda ws: setup_grid_sheet(ws, ctx, plan))
    return content


def plan(layout: Layout, k: int) -> None:
    spec = layout.arch.input
    sheet = layout.add_sheet(IMAGE, KIND)
    layout.add_grid(sheet, Grid("image_pixels", sheet.name, HEADER_ROWS + 1, LEFT, spec.height, spec.width,
                                named=False))


STAGE = Stage(KIND, plan, image_sheet)
