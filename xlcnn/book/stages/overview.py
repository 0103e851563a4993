"""The Overview sheet: the whole story on one printed page — the picture, what each filter found (every ReLU map
as a small heatmap), the prediction with its probabilities, and with the learning layer what each map adds to
each logit and the gradient-descent step in brief.

Every number is a live formula that repeats a cell of its own sheet, so the page follows a student's edits. The
maps' cells are 5 pixels square with their numbers hidden (``;;;``): they are pictures drawn by a colour scale.
"""

from __future__ import annotations

import io
from functools import partial

import numpy as np
from PIL import Image
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import GAP, HEADER_ROWS, LEFT, CellRefs, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, cached, page_setup, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.styles import SMALL_AS_SCIENTIFIC, activation_limit, diverging_scale, sequential_scale
from xlcnn.model import names

KIND = SheetKind("overview")
OVERVIEW = "Overview"
CELL_PX = 5  # a map's cell: the maps are pictures, not numbers
TEXT_ROW_PX = 20
PICTURE_COLS, PICTURE_ROWS = 24, 6  # 120 px for the picture: 24 columns, 6 rows of text
LABEL_COLS, VALUE_COLS = 16, 10  # a class name, its probability (columns of CELL_PX)
MAP_LABEL_COLS = 26  # "pool 2 · map 12", also in Chinese
MAP_LABEL_COLS = 26  # "pool 2 · map 12", also in Chinese
CONTRIB_COLS = 12  # a contribution
MAX_MAP_COLS = 180  # 900 px of maps in a row: one landscape page at 100 %
MAX_MAP_SIDE = 32  # a bigger map is shown in blocks: each cell the largest value of its block (as a pool would)
MAX_MAPS = 16  # of a block; the rest are on its ReLU sheet
PREDICTED, CLASSES, PROBS = "overview_predicted", "overview_classes", "overview_probs"
STEP = "overview_step"


def map_key(k: int, f: int) -> str:
    return f"overview_relu{k}_{f}"


def block_side(shape: tuple[int, int, int]) -> int:
    """How many cells of a map one Overview cell stands for, along each side: 1 up to MAX_MAP_SIDE cells."""
    return -(-max(shape[1:]) // MAX_MAP_SIDE)


def shown_maps(shape: tuple[int, int, int]) -> int:
    return min(shape[0], MAX_MAPS)


def contrib_key(c: int) -> str:
    """Class c's column of contributions (0-based): each cell merged over CONTRIB_COLS narrow columns."""
    return f"overview_contrib_{c}"


def contrib_label_key(c: int) -> str:
    return f"overview_contrib_label_{c}"


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(OVERVIEW, KIND, square=False)
    arch = layout.arch
    classes, maps = len(arch.classes), arch.blocks[-1].pool_shape[0]
    top = HEADER_ROWS + 1
    prediction = LEFT + PICTURE_COLS + 2
    layout.add_grid(sheet, Grid(PREDICTED, sheet.name, top + 1, prediction, 1, 1, named=False, holds=Holds.FORMULAS))
    layout.add_grid(sheet, Grid(CLASSES, sheet.name, top + 3, prediction, classes, 1, named=False,
                                holds=Holds.FORMULAS))
    layout.add_grid(sheet, Grid(PROBS, sheet.name, top + 3, prediction + LABEL_COLS, classes, 1, named=False,
                                holds=Holds.FORMULAS))
    rows = max(7, classes + 4)
    if layout.learning:  # the step under the picture, the contributions right of the prediction
        layout.add_grid(sheet, Grid(STEP, sheet.name, top + PICTURE_ROWS + 1, LEFT + LABEL_COLS, 3, 1, named=False,
                                    holds=Holds.FORMULAS))
        why = prediction + LABEL_COLS + VALUE_COLS + 4
        # One grid per class, at the first of the CONTRIB_COLS columns each of its cells is merged over.
        for c in range(classes):
            left = why + MAP_LABEL_COLS + c * CONTRIB_COLS
            layout.add_grid(sheet, Grid(contrib_label_key(c), sheet.name, top, left, 1, 1, named=False,
                                        holds=Holds.FORMULAS))
            layout.add_grid(sheet, Grid(contrib_key(c), sheet.name, top + 1, left, maps, 1, named=False,
                                        holds=Holds.FORMULAS))
        rows = max(rows, PICTURE_ROWS + 4, maps + 2)
    y = top + rows + 1
    for block in arch.blocks:  # a title row, then bands of maps, each under a row of their numbers
        s = block_side(block.conv_shape)
        f_count, h, w = shown_maps(block.conv_shape), -(-block.conv_shape[1] // s), -(-block.conv_shape[2] // s)
        per_row = max(1, (MAX_MAP_COLS + GAP) // (w + GAP))
        for f in range(1, f_count + 1):
            band, i = divmod(f - 1, per_row)
            layout.add_grid(sheet, Grid(map_key(block.index, f), sheet.name, y + 2 + band * (h + GAP + 1),
                                        LEFT + i * (w + GAP), h, w, named=False, holds=Holds.FORMULAS))
        bands = -(-f_count // per_row)
        y += 1 + bands * (h + GAP + 1) + 1


def overview_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name, tr = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.trace
    arch = ctx.model.arch
    content = SheetContent()
    stage_header(content, ctx, t("overview.title"), [t("overview.what"), t("overview.live"), "", ""])
    predicted, classes, probs = lay.grid(PREDICTED), lay.grid(CLASSES), lay.grid(PROBS)
    first_map = lay.grid(map_key(1, 1))
    text_rows: set[int] = set(range(first_map.top - 2))  # the header and the top part, then the maps' titles
    big = st.get(bold=True, font_size=16, font_color="#B2182B")
    content.text(predicted.top - 1, predicted.left, t("overview.prediction"), st.subtitle)
    merged(content, predicted, 0, LABEL_COLS + VALUE_COLS, lay.ref("predicted", 0, 0, from_sheet=name),
           tr.predicted_label, big)
    for c, label in enumerate(arch.classes):
        merged(content, classes, c, LABEL_COLS, lay.ref(names.LABELS, 0, c, from_sheet=name), label, st.text)
        merged(content, probs, c, VALUE_COLS, lay.ref(names.PROBS, 0, c, from_sheet=name), float(tr.probs[c]),
               st.value(SMALL_AS_SCIENTIFIC, bold=True))
    if ctx.learning is not None:
        _learning(content, ctx, name)
    for block in arch.blocks:
        k, filters, s = block.index, block.conv.filters, block_side(block.conv_shape)
        first = lay.grid(map_key(k, 1))
        shown = shown_maps(block.conv_shape)
        title = t("overview.maps", k=k, n=filters) + (" " + t("overview.blocks", s=s) if s > 1 else "") + (
            " " + t("overview.first_maps", shown=shown) if shown < filters else "")
        content.text(first.top - 2, LEFT, title, st.subtitle)
        text_rows.add(first.top - 2)
        relu = tr.blocks[k - 1].relu
        hidden = st.get(num_format=";;;")
        for f in range(1, shown + 1):
            grid = lay.grid(map_key(k, f))
            content.text(grid.top - 1, grid.left, str(f), st.grid_title)
            text_rows.add(grid.top - 1)
            if s == 1:
                formula = partial(_repeat, lay.cells(names.relu_out(k, f), name))
            else:
                formula = partial(_block_max, lay, names.relu_out(k, f), name, s)
            content.grid_formulas(grid, formula, block_max(relu[f - 1], s), hidden)

    def setup(ws: Worksheet) -> None:
        last_col = right_edge(plan)
        ws.set_column_pixels(0, last_col, CELL_PX)
        ws.hide_gridlines(2)
        for block in arch.blocks:
            grids = [lay.grid(map_key(block.index, f)) for f in range(1, shown_maps(block.conv_shape) + 1)]
            sequential_scale(ws, grids, activation_limit(tr.blocks[block.index - 1].relu))
        if ctx.learning is not None:
            columns = [lay.grid(contrib_key(c)) for c in range(len(arch.classes))]
            diverging_scale(ws, columns, max(float(abs(ctx.learning.contrib).max()), 1e-12))
        if ctx.image is not None:
            side = max(Image.open(io.BytesIO(ctx.image.thumbnail_png)).size)
            scale = PICTURE_COLS * CELL_PX / side
            ws.insert_image(HEADER_ROWS + 1, LEFT, "picture.png", {
                "image_data": io.BytesIO(ctx.image.thumbnail_png), "object_position": 3,
                "x_scale": scale, "y_scale": scale, "description": ctx.image.name})
        ws.set_landscape()
        ws.print_area(0, 0, plan.last_row + 1, last_col)
        ws.fit_to_pages(1, 1)
        page_setup(ws, ctx, plan.name)

    content.on_setup(setup)
    # Points, as the sheet's rows are set: 20 px of text, the maps' 5-px cells.
    content.add(0, plan.last_row, lambda ws, r: ws.set_row(r, 0.75 * (TEXT_ROW_PX if r in text_rows else CELL_PX)))
    return content


def right_edge(plan: SheetPlan) -> int:
    """The last column the sheet prints: its grids', and the merged cells that start at them."""
    return max(g.left + g.cols for g in plan.grids) + CONTRIB_COLS


def _repeat(source: CellRefs, r: int, c: int) -> str:
    return f"={source.ref(r, c)}"


def _block_max(layout: Layout, key: str, sheet: str, s: int, r: int, c: int) -> str:
    """The largest value of the s×s block (r, c) of map ``key`` (cut at the map's edge)."""
    g = layout.grid(key)
    r1, c1 = min(g.rows, (r + 1) * s) - 1, min(g.cols, (c + 1) * s) - 1
    return f"=MAX({layout.ref(key, r * s, c * s, r1, c1, from_sheet=sheet)})"


def block_max(values: np.ndarray, s: int) -> np.ndarray:
    """The map in s×s blocks, each its largest value (the engine's side of ``_block_max``)."""
    if s == 1:
        return values
    h, w = values.shape
    padded = np.full((-(-h // s) * s, -(-w // s) * s), -np.inf)
    padded[:h, :w] = values
    return padded.reshape(padded.shape[0] // s, s, padded.shape[1] // s, s).max(axis=(1, 3))


def merged(content: SheetContent, grid: Grid, r: int, width: int, ref: str, value: object, fmt: object) -> None:
    """``=ref`` in row r of one-column ``grid``, merged over ``width`` narrow columns so that it can be read."""
    row, col = grid.top + r, grid.left

    def emit(ws: Worksheet, row_: int) -> None:
        ws.merge_range(row_, col, row_, col + width - 1, "", fmt)
        ws.write_formula(row_, col, f"={ref}", fmt, value)

    content.add(row, row, emit)


def _learning(content: SheetContent, ctx: BuildContext, name: str) -> None:
    """What each map adds to each logit (Why this class), and one step of gradient descent in brief."""
    t, st, lay, learned = ctx.texts, ctx.styles, ctx.layout, ctx.learned
    arch = ctx.model.arch
    step, first = lay.grid(STEP), lay.grid(contrib_key(0))
    content.text(first.top - 2, first.left - MAP_LABEL_COLS, t("overview.why"), st.subtitle)
    num = st.value("0.00")
    for c, label in enumerate(arch.classes):
        column = lay.grid(contrib_key(c))
        merged(content, lay.grid(contrib_label_key(c)), 0, CONTRIB_COLS,
               lay.ref(names.LABELS, 0, c, from_sheet=name), label, st.label)
        for f in range(column.rows):
            merged(content, column, f, CONTRIB_COLS, lay.ref(names.CONTRIB, f, c, from_sheet=name),
                   float(learned.contrib[f, c]), num)
    for f in range(1, first.rows + 1):
        content.text(first.top + f - 1, first.left - MAP_LABEL_COLS, t("why.map_row", f=f, k=arch.blocks[-1].index),
                     st.text)
    content.text(step.top - 1, LEFT, t("overview.step"), st.subtitle)
    labels = t.lines("overview.step_parts")
    refs = [(names.LEARNING_RATE, learned.learning_rate, "General"), (names.LOSS, ctx.trace.loss, "0.0000"),
            (names.STEP_LOSS, learned.step_loss, "0.0000")]
    for i, ((key, value, fmt), label) in enumerate(zip(refs, labels, strict=True)):
        content.text(step.top + i, LEFT, label, st.text)
        merged(content, step, i, VALUE_COLS, lay.ref(key, 0, 0, from_sheet=name), cached(float(value), "#NUM!"),
               st.value(fmt, bold=True))


STAGE = Stage(KIND, plan, overview_sheet, teaching=True, checked_last=True)  # it repeats the results, as the Guide
