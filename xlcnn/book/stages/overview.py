"""The Overview sheet: the whole story on one printed page — the picture, what each filter found (every ReLU map
as a small heatmap), the prediction with its probabilities, and with the learning layer what each map adds to
each logit and the gradient-descent step in brief.

Every number is a live formula that repeats a cell of its own sheet, so the page follows a student's edits. The
maps' cells are 5 pixels square with their numbers hidden (``;;;``): they are pictures drawn by a colour scale.
"""

from __future__ import annotations

import io
from functools import partial

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
PREDICTED, CLASSES, PROBS = "overview_predicted", "overview_classes", "overview_probs"
CONTRIB, CONTRIB_LABELS, STEP = "overview_contrib", "overview_contrib_labels", "overview_step"


def map_key(k: int, f: int) -> str:
    return f"overview_relu{k}_{f}"


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(OVERVIEW, KIND, square=False)
    arch = layout.arch
    classes, maps = len(arch.classes), arch.blocks[-1].pool_shape[0]
    top = HEADER_ROWS + 1
    prediction = LEFT + PICTURE_COLS + 2
    layout.add_grid(sheet, Grid(PREDICTED, OVERVIEW, top + 1, prediction, 1, 1, named=False, holds=Holds.FORMULAS))
    layout.add_grid(sheet, Grid(CLASSES, OVERVIEW, top + 3, prediction, classes, 1, named=False, holds=Holds.FORMULAS))
    layout.add_grid(sheet, Grid(PROBS, OVERVIEW, top + 3, prediction + LABEL_COLS, classes, 1, named=False,
                                holds=Holds.FORMULAS))
    rows = max(7, classes + 4)
    if layout.learning:  # the step under the picture, the contributions right of the prediction
        layout.add_grid(sheet, Grid(STEP, OVERVIEW, top + PICTURE_ROWS + 1, LEFT + LABEL_COLS, 3, 1, named=False,
                                    holds=Holds.FORMULAS))
        why = prediction + LABEL_COLS + VALUE_COLS + 4
        # The contributions are merged over CONTRIB_COLS columns each: these grids hold their first columns'
        # count, and the emitter spreads them out.
        layout.add_grid(sheet, Grid(CONTRIB_LABELS, OVERVIEW, top, why + MAP_LABEL_COLS, 1, classes, named=False,
                                    holds=Holds.FORMULAS))
        layout.add_grid(sheet, Grid(CONTRIB, OVERVIEW, top + 1, why + MAP_LABEL_COLS, maps, classes, named=False,
                                    holds=Holds.FORMULAS))
        rows = max(rows, PICTURE_ROWS + 4, maps + 2)
    y = top + rows + 1
    for block in arch.blocks:  # a title row, then bands of maps, each under a row of their numbers
        f_count, h, w = block.conv_shape
        per_row = max(1, (MAX_MAP_COLS + GAP) // (w + GAP))
        for f in range(1, f_count + 1):
            band, i = divmod(f - 1, per_row)
            layout.add_grid(sheet, Grid(map_key(block.index, f), OVERVIEW, y + 2 + band * (h + GAP + 1),
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
    merged(content, predicted, 0, 0, LABEL_COLS + VALUE_COLS, lay.ref("predicted", 0, 0, from_sheet=name),
           tr.predicted_label, big)
    for c, label in enumerate(arch.classes):
        merged(content, classes, c, 0, LABEL_COLS, lay.ref(names.LABELS, 0, c, from_sheet=name), label, st.text)
        merged(content, probs, c, 0, VALUE_COLS, lay.ref(names.PROBS, 0, c, from_sheet=name), float(tr.probs[c]),
               st.value(SMALL_AS_SCIENTIFIC, bold=True))
    if ctx.learning is not None:
        _learning(content, ctx, name)
    for block in arch.blocks:
        k, filters = block.index, block.conv.filters
        first = lay.grid(map_key(k, 1))
        content.text(first.top - 2, LEFT, t("overview.maps", k=k, n=filters), st.subtitle)
        text_rows.add(first.top - 2)
        relu = tr.blocks[k - 1].relu
        hidden = st.get(num_format=";;;")
        for f in range(1, filters + 1):
            grid, source = lay.grid(map_key(k, f)), lay.cells(names.relu_out(k, f), name)
            content.text(grid.top - 1, grid.left, str(f), st.grid_title)
            text_rows.add(grid.top - 1)
            content.grid_formulas(grid, partial(_repeat, source), relu[f - 1], hidden)

    def setup(ws: Worksheet) -> None:
        last_col = right_edge(lay, plan)
        ws.set_column_pixels(0, last_col, CELL_PX)
        ws.hide_gridlines(2)
        for block in arch.blocks:
            grids = [lay.grid(map_key(block.index, f)) for f in range(1, block.conv_shape[0] + 1)]
            sequential_scale(ws, grids, activation_limit(tr.blocks[block.index - 1].relu))
        if ctx.learning is not None:  # over each class's column of merged cells, as they are spread out
            contrib = lay.grid(CONTRIB)
            columns = [Grid("", name, contrib.top, contrib.left + c * CONTRIB_COLS, contrib.rows, 1)
                       for c in range(contrib.cols)]
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


def right_edge(layout: Layout, plan: SheetPlan) -> int:
    """The last column the sheet uses: the maps', or the contributions' spread over CONTRIB_COLS each."""
    edges = [g.left + g.cols for g in plan.grids if g.key not in (CONTRIB, CONTRIB_LABELS)]
    if CONTRIB in layout.grids:
        contrib = layout.grid(CONTRIB)
        edges.append(contrib.left + contrib.cols * CONTRIB_COLS)
    return max(edges) + VALUE_COLS


def _repeat(source: CellRefs, r: int, c: int) -> str:
    return f"={source.ref(r, c)}"


def merged(content: SheetContent, grid: Grid, r: int, c: int, width: int, ref: str, value: object,
           fmt: object) -> None:
    """``=ref`` in cell (r, c) of ``grid``, merged over ``width`` narrow columns so that it can be read."""
    row, col = grid.top + r, grid.left + c * width

    def emit(ws: Worksheet, row_: int) -> None:
        ws.merge_range(row_, col, row_, col + width - 1, "", fmt)
        ws.write_formula(row_, col, f"={ref}", fmt, value)

    content.add(row, row, emit)


def _learning(content: SheetContent, ctx: BuildContext, name: str) -> None:
    """What each map adds to each logit (Why this class), and one step of gradient descent in brief."""
    t, st, lay, learned = ctx.texts, ctx.styles, ctx.layout, ctx.learned
    arch = ctx.model.arch
    contrib, step, heads = lay.grid(CONTRIB), lay.grid(STEP), lay.grid(CONTRIB_LABELS)
    maps = contrib.rows
    content.text(heads.top - 1, heads.left - MAP_LABEL_COLS, t("overview.why"), st.subtitle)
    num = st.value("0.00")
    for c, label in enumerate(arch.classes):
        merged(content, heads, 0, c, CONTRIB_COLS, lay.ref(names.LABELS, 0, c, from_sheet=name), label, st.label)
    for f in range(1, maps + 1):
        content.text(contrib.top + f - 1, contrib.left - MAP_LABEL_COLS,
                     t("why.map_row", f=f, k=arch.blocks[-1].index), st.text)
        for c in range(len(arch.classes)):
            merged(content, Grid("", name, contrib.top + f - 1, contrib.left, 1, 1), 0, c, CONTRIB_COLS,
                   lay.ref(names.CONTRIB, f - 1, c, from_sheet=name), float(learned.contrib[f - 1, c]), num)
    content.text(step.top - 1, LEFT, t("overview.step"), st.subtitle)
    labels = t.lines("overview.step_parts")
    refs = [(names.LEARNING_RATE, learned.learning_rate, "General"), (names.LOSS, ctx.trace.loss, "0.0000"),
            (names.STEP_LOSS, learned.step_loss, "0.0000")]
    for i, ((key, value, fmt), label) in enumerate(zip(refs, labels, strict=True)):
        content.text(step.top + i, LEFT, label, st.text)
        merged(content, step, i, 0, VALUE_COLS, lay.ref(key, 0, 0, from_sheet=name), cached(float(value), "#NUM!"),
               st.value(fmt, bold=True))


STAGE = Stage(KIND, plan, overview_sheet, teaching=True)
