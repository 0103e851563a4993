"""The Why this class sheet: what each map of the last pool gives each class's logit.

``contrib[f, class] = Σ over map f's flattened cells of value × that class's dense weight``; each column's
sum plus the class's bias *is* its logit, which the sheet shows beside the Dense sheet's own. A bar chart draws
the table. Under it, each map's summed weights per class, which Grad-CAM's α uses.
"""

from __future__ import annotations

import numpy as np
from xlsxwriter.chart import Chart
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import HEADER_ROWS, LEFT, WHY, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.styles import CHANNEL_COLOURS, diverging_scale, symmetric_limit
from xlcnn.model import names
from xlcnn.nn import learning
from xlcnn.nn.layers import softmax

KIND = SheetKind("why")
CAM_SUMS = "cam_sums"  # rows = maps, columns = classes: Σ of the class's dense weights on the map's pooled cells
CHART_WIDTH_PX = 640
CHART_COLOURS = (*CHANNEL_COLOURS, "#FF7F0E", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF")


def map_rows(layout: Layout, f: int) -> tuple[int, int]:
    """The first and last flattened row (0-based) of last-pool map ``f`` (from 1)."""
    _, h, w = layout.arch.blocks[-1].pool_shape
    return (f - 1) * h * w, f * h * w - 1


def weight_sums(model_w: np.ndarray, maps: int) -> np.ndarray:
    """(maps, classes): each map's dense weights summed per class."""
    return model_w.reshape(maps, -1, model_w.shape[1]).sum(axis=1)


def why_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name, learned = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.learned
    arch = ctx.model.arch
    maps, classes = arch.blocks[-1].pool_shape[0], len(arch.classes)
    keys = ("why_labels", names.CONTRIB, "why_bias", "why_sum", "why_logits", "cam_sums_labels", CAM_SUMS)
    labels, contrib, bias, total, logits, sums_labels, sums = (lay.grid(key) for key in keys)
    content = SheetContent()
    stage_header(content, ctx, t("why.title"), [t("why.what"), t("why.formula"), t("why.check"),
                                                t("why.legend", k=arch.blocks[-1].index)])
    for grid, key in ((labels, "why.map"), (bias, "dense.bias"), (total, "why.sum"), (logits, "why.logit"),
                      (sums_labels, "why.sums")):
        content.text(grid.top, LEFT, t(key), st.label)
    dense_labels, dense_b, dense_z = (lay.cells(key, name) for key in (names.LABELS, names.DENSE_B, names.LOGITS))
    flat_sheet = lay.prefix(names.FLATTEN, name)
    weights = lay.grid(names.DENSE_W)
    w_prefix = lay.prefix(names.DENSE_W, name)
    flat = lay.grid(names.FLATTEN)
    num = st.value("0.0000")
    cam_sums = weight_sums(ctx.model.weights.dense_w, maps)
    for c, label in enumerate(arch.classes):
        for grid in (labels, sums_labels):
            content.formula(grid.top, grid.left + c, f"={dense_labels.ref(0, c)}", label, st.label)
        for f in range(1, maps + 1):
            first, last = map_rows(lay, f)
            values = flat_sheet + flat.range(first, 0, last, 0, absolute=True)
            column = w_prefix + weights.range(first, c, last, c, absolute=True)
            content.formula(contrib.top + f - 1, contrib.left + c, learning.contrib_formula(values, column),
                            float(learned.contrib[f - 1, c]), num)
            content.formula(sums.top + f - 1, sums.left + c, softmax.sum_formula(column),
                            float(cam_sums[f - 1, c]), num)
        content.formula(bias.top, bias.left + c, f"={dense_b.ref(0, c)}", float(ctx.model.weights.dense_b[c]), num)
        content.formula(total.top, total.left + c, f"=SUM({contrib.col_range(c)})+{bias.cell(0, c)}",
                        float(learned.contrib[:, c].sum() + ctx.model.weights.dense_b[c]), st.value(bold=True))
        content.formula(logits.top, logits.left + c, f"={dense_z.ref(0, c)}", float(ctx.trace.logits[c]), num)
    for f in range(1, maps + 1):
        content.text(contrib.top + f - 1, LEFT, t("why.map_row", f=f, k=arch.blocks[-1].index), st.text)
        content.text(sums.top + f - 1, LEFT, t("why.map_row", f=f, k=arch.blocks[-1].index), st.text)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, 34), (LEFT + 1, LEFT + classes, 12)])
        diverging_scale(ws, [contrib], symmetric_limit(learned.contrib))

    def chart(book: Workbook, ws: Worksheet) -> None:
        place = lay.grid("why_chart")
        ws.insert_chart(place.top, LEFT, _chart(book, ctx, plan), {"object_position": 3})

    content.on_setup(setup)
    content.on_book(chart)
    return content


def _chart(book: Workbook, ctx: BuildContext, plan: SheetPlan) -> Chart:
    """A native bar chart of the table: a bar per map and class, each class in its own colour."""
    lay, t = ctx.layout, ctx.texts
    contrib, labels = lay.grid(names.CONTRIB), lay.grid("why_labels")
    maps = contrib.rows
    chart = book.add_chart({"type": "bar"})
    for c in range(contrib.cols):
        chart.add_series({
            "name": [plan.name, labels.top, labels.left + c],
            "categories": [plan.name, contrib.top, LEFT, contrib.top + maps - 1, LEFT],
            "values": [plan.name, contrib.top, contrib.left + c, contrib.top + maps - 1, contrib.left + c],
            "fill": {"color": CHART_COLOURS[c % len(CHART_COLOURS)]}, "gap": 60,
        })
    font = {"name": ctx.styles.font}  # the language's, with its glyphs
    chart.set_title({"name": t("why.chart_title"), "name_font": {"size": 12, "bold": True, **font}})
    chart.set_x_axis({"name": t("why.chart_axis"), "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
                      "name_font": font, "num_font": font})
    # Map 1 on top, as in the table; the values' axis and the maps' names stay at the bottom and the left.
    chart.set_y_axis({"reverse": True, "crossing": "max", "label_position": "low", "num_font": font})
    chart.set_legend({"position": "bottom", "font": font})
    chart.set_size({"width": CHART_WIDTH_PX, "height": chart_height(maps, contrib.cols)})
    return chart


def chart_height(maps: int, classes: int) -> int:
    return min(1400, 140 + 12 * maps * max(2, classes))


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(WHY, KIND, square=False)
    classes, maps = len(layout.arch.classes), layout.arch.blocks[-1].pool_shape[0]
    top, left = HEADER_ROWS, LEFT + 1
    rows = [("why_labels", 1, False), (names.CONTRIB, maps, True), ("why_bias", 1, False), ("why_sum", 1, False),
            ("why_logits", 1, False), (None, 1, False), ("cam_sums_labels", 1, False), (CAM_SUMS, maps, False),
            (None, 1, False)]
    for key, height, named in rows:
        if key is not None:
            layout.add_grid(sheet, Grid(key, sheet.name, top, left, height, classes, named=named, holds=Holds.FORMULAS))
        top += height
    # The chart's place, so that it prints: rows of 20 px as tall as the chart.
    layout.add_grid(sheet, Grid("why_chart", sheet.name, top, LEFT, -(-chart_height(maps, classes) // 20) + 1, 1,
                                named=False))


STAGE = Stage(KIND, plan, why_sheet, learning=True)
