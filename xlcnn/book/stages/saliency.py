"""The Saliency sheet: which pixels the loss cares about most — per pixel, the largest of its three channels'
``|∂L/∂pixel|`` (``=MAX(ABS(r),ABS(g),ABS(b))`` of the Back input sheet's cells).

The picture lies over the grid, in grey and half transparent, so that the heatmap shows where on it the loss
looks. The heatmap is live (a conditional colour scale); the picture is the one the workbook was built from.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import SALIENCY, Grid, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_grid_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.styles import GRADIENT_FORMAT, GRID_CELL_PX, activation_limit, sequential_scale
from xlcnn.model import names
from xlcnn.nn import learning

KIND = SheetKind("saliency")
HIDDEN = ";;;"  # a number format that shows nothing: the picture lies over these cells
PICTURE_ALPHA = 120  # of 255: the heatmap shows through the picture


def overlay_png(fitted: np.ndarray) -> bytes:
    """The (H, W, 3) uint8 picture the workbook is built from → a half-transparent grey PNG with a square of
    ``GRID_CELL_PX`` per pixel. The build draws it before the engine runs (see ``build_workbook``): at
    128×128 it is a 3,840-pixel square, 60 MB while Pillow encodes it."""
    # In grey, so that the heatmap's red is not confused with the picture's own colours.
    rgb = np.asarray(Image.fromarray(fitted, "RGB").convert("L").convert("RGB"))
    h, w = rgb.shape[:2]
    alpha = np.full((h, w, 1), PICTURE_ALPHA, dtype=np.uint8)
    img = Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA")
    img = img.resize((w * GRID_CELL_PX, h * GRID_CELL_PX), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def lay_picture_over(ws: Worksheet, ctx: BuildContext, grid: Grid, description: str) -> None:
    """The picture the workbook was built from, half transparent, exactly over ``grid`` (one pixel per cell)."""
    if ctx.image is None:  # verify replays the sheets without writing them
        return
    ws.insert_image(grid.top, grid.left, "picture.png", {
        "image_data": io.BytesIO(ctx.image.overlay_png), "object_position": 3, "description": description,
    })


def saliency_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name = ctx.texts, ctx.styles, ctx.layout, plan.name
    spec = ctx.model.arch.input
    values = ctx.learned.saliency
    limit = activation_limit(values)
    content = SheetContent()
    stage_header(content, ctx, t("saliency.title"), [
        t("saliency.what"), t("saliency.formula"), t("saliency.how"), t("legend.saliency", limit=f"{limit:.3g}"),
    ])
    grads = [lay.cells(key, name) for key in names.GRAD_INPUT]
    grid = lay.grid(names.SALIENCY)
    content.grid_title(grid, t("saliency.map", h=spec.height, w=spec.width), st.grid_title)
    content.grid_formulas(grid, lambda i, j: learning.saliency_formula(*(g.ref(i, j) for g in grads)), values,
                          st.grid(GRADIENT_FORMAT))

    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        sequential_scale(ws, [grid], limit)
        lay_picture_over(ws, ctx, grid, t("saliency.over"))

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    spec = layout.arch.input
    sheet = layout.add_sheet(SALIENCY, KIND)
    layout.add_maps(sheet, [names.SALIENCY], spec.height, spec.width, 0)


STAGE = Stage(KIND, plan, saliency_sheet, learning=True)
