"""The worked example: one output cell of conv 1, chosen by the user, expanded into its products.

The user types a map, a row and a column; INDEX (non-volatile) fetches the window of pixels and the
kernel of weights for that choice, every product is a live ``pixel × weight``, and the channel sums,
scale and bias add up to a number that must equal the Conv 1 sheet's cell — shown side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import (
    HEADER_ROWS,
    LEFT,
    WORKED,
    Grid,
    Holds,
    Layout,
    SheetKind,
    SheetPlan,
    conv_sheet,
    filters_sheet,
)
from xlcnn.book.sheet import BuildContext, SheetContent, param_cell, setup_grid_sheet, stage_header, wrap_lines
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.styles import diverging_scale, number_format, symmetric_limit, verdict_colours
from xlcnn.model import names
from xlcnn.model.spec import Model
from xlcnn.nn.engine import Trace
from xlcnn.nn.layers.conv import pad

CHECK_TOLERANCE = "1E-9"
ORIGIN_WIDTH = 7  # the origin table's row and column numbers
ORIGIN_NOTE_CHARS = 22  # the note under that table, per line: about its width (a grid column and two of these)

KIND = SheetKind("worked")


def default_choice(trace: Trace, model: Model) -> tuple[int, int, int]:
    """The strongest Conv 1 cell over all maps (1-based map, row, column): where a filter found the most, and a
    value that survives ReLU whenever any does, so the example follows a number all the way to the loss.

    Cells whose window overlaps the zero padding are passed over when there are others, so the example
    multiplies real pixels.
    """
    conv = model.arch.blocks[0].conv
    _, h, w = model.arch.blocks[0].in_shape
    scores = trace.blocks[0].conv.copy()  # (maps, rows, cols)
    rows = np.arange(scores.shape[1]) * conv.stride - conv.padding
    cols = np.arange(scores.shape[2]) * conv.stride - conv.padding
    inside = ((rows >= 0) & (rows + conv.kernel <= h))[:, None] & ((cols >= 0) & (cols + conv.kernel <= w))[None, :]
    if inside.any():
        scores[:, ~inside] = -np.inf
    f, i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)  # the first on a tie, map by map
    return int(f) + 1, int(i) + 1, int(j) + 1


@dataclass(frozen=True, eq=False)
class WorkedValues:
    """What every cell of the sheet holds for one choice, computed with NumPy (the cached values)."""

    windows: np.ndarray  # (channels, k, k) raw pixels, zero padding included
    kernels: np.ndarray  # (channels, k, k)
    products: np.ndarray
    sums: np.ndarray  # (channels,)
    total: float
    scaled: float
    bias: float
    output: float
    conv: float  # the Conv 1 cell it must equal

    @property
    def diff(self) -> float:
        return self.output - self.conv


def worked_values(ctx: BuildContext, choice: tuple[int, int, int]) -> WorkedValues:
    f, i, j = choice
    block = ctx.model.arch.blocks[0]
    k, s, p = block.conv.kernel, block.conv.stride, block.conv.padding
    padded = pad(ctx.trace.input, p)
    w, b = ctx.model.weights.conv_w[0][f - 1], float(ctx.model.weights.conv_b[0][f - 1])
    windows = padded[:, (i - 1) * s : (i - 1) * s + k, (j - 1) * s : (j - 1) * s + k]
    products = windows * w
    sums = products.sum(axis=(1, 2))
    total = float(sums.sum())
    scaled = total * ctx.model.arch.input.scale
    return WorkedValues(windows, w, products, sums, total, scaled, b, scaled + b,
                        float(ctx.trace.blocks[0].conv[f - 1, i - 1, j - 1]))


def worked_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name = ctx.texts, ctx.styles, ctx.layout, plan.name
    arch = ctx.model.arch
    block = arch.blocks[0]
    k, channels, filters = block.conv.kernel, block.in_shape[0], block.conv.filters
    _, oh, ow = block.conv_shape
    choice = ctx.worked or default_choice(ctx.trace, ctx.model)
    v = worked_values(ctx, choice)
    content = SheetContent()
    stage_header(content, ctx, t("worked.title"), [
        t("worked.what"), t("worked.formula", n=channels * k * k), t("worked.choose", maps=filters, rows=oh, cols=ow),
        t("worked.legend", products=f"{symmetric_limit(v.products):.3g}", weights=f"{symmetric_limit(v.kernels):.3g}"),
    ])
    for key, label, value in zip(("worked_map", "worked_row", "worked_col"), t.lines("worked.choice"), choice,
                                 strict=True):
        param_cell(content, ctx, key, label, value, editable=True)
    sel_map, sel_row, sel_col = (lay.grid(key).cell(0, 0, absolute=True)
                                 for key in ("worked_map", "worked_row", "worked_col"))
    stride = lay.ref("conv1_stride", 0, 0, from_sheet=name, absolute=True)

    # Lookup areas: every kernel of Filters 1 in one range (filters are bands a fixed step apart), the
    # bias column, and the whole Conv 1 sheet (maps start where the origin table says).
    first, last = lay.grid("conv1_w1_1"), lay.grid(f"conv1_w{filters}_{channels}")
    row_step = lay.grid("conv1_w2_1").top - first.top if filters > 1 else 0
    col_step = lay.grid("conv1_w1_2").left - first.left if channels > 1 else 0
    filters_1 = lay.sheet(filters_sheet(1)).name
    kernels = lay.area(filters_1, first.top, first.left, last.top + k - 1, last.left + k - 1, name)
    b1, bn = lay.grid("conv1_b1"), lay.grid(f"conv1_b{filters}")
    biases = lay.area(filters_1, b1.top, b1.left, bn.top, bn.left, name)
    conv_plan = lay.sheet(conv_sheet(1))
    conv_area = lay.area(conv_plan.name, 0, 0, conv_plan.last_row, conv_plan.last_col, name)

    letters, titles = t.lines("input.channel_letters"), t.lines("input.channel_titles")
    wfmt = st.grid(number_format(v.kernels))
    # A decimal more than a map's grid shows, so that the products add up to the channel's sum as printed.
    top = float(np.max(np.abs(v.products))) if v.products.size else 0.0
    pfmt = st.grid(number_format(v.products) if top < 9.95 else "0.0" if top < 999.95 else "0")
    pixel_fmt = st.grid("0")
    for c in range(1, channels + 1):
        window, kernel, products = (lay.grid(f"worked_{part}_{c}") for part in ("window", "kernel", "products"))
        total = lay.grid(f"worked_sum_{c}")
        content.text(window.title_row - 1, window.left, t("worked.band", channel=titles[c - 1]), st.subtitle)
        for grid, key in ((window, "worked.window"), (kernel, "worked.kernel"), (products, "worked.products")):
            content.grid_title(grid, t(key, channel=letters[c - 1], k=k), st.grid_title)
        content.text(window.top + k // 2, window.left + k, "×", st.subtitle)
        content.text(kernel.top + k // 2, kernel.left + k, "=", st.subtitle)
        content.text(products.top + k // 2, products.left + k, "→", st.subtitle)
        content.text(total.title_row, total.left, t("worked.sum"), st.grid_title)
        padded = lay.grid(list(names.INPUT)[c - 1]).outer()
        pixels = f"{lay.prefix('input_r', name)}{padded}"
        col0 = (c - 1) * col_step

        def pixel(i: int, j: int, pixels: str = pixels) -> str:
            return f"=INDEX({pixels},({sel_row}-1)*{stride}+{i + 1},({sel_col}-1)*{stride}+{j + 1})"

        def weight(i: int, j: int, col0: int = col0) -> str:
            return f"=INDEX({kernels},({sel_map}-1)*{row_step}+{i + 1},{col0 + j + 1})"

        def product(i: int, j: int, window: Grid = window, kernel: Grid = kernel) -> str:
            return f"={window.cell(i, j)}*{kernel.cell(i, j)}"

        content.grid_formulas(window, pixel, v.windows[c - 1], pixel_fmt)
        content.grid_formulas(kernel, weight, v.kernels[c - 1], wfmt)
        content.grid_formulas(products, product, v.products[c - 1], pfmt)
        content.formula(total.top, total.left, f"=SUM({products.whole(absolute=False)})",
                        float(v.sums[c - 1]), st.value("0.00", bold=True))

    scaled = arch.input.scale != 1.0
    keys = ("worked_total", "worked_scaled", "worked_bias", "worked_output", "worked_conv", "worked_diff")
    total, scaled_, bias, output, conv, diff = (lay.grid(key) for key in keys)
    sums = "+".join(lay.grid(f"worked_sum_{c}").cell(0, 0) for c in range(1, channels + 1))
    scale_ref = lay.ref(names.INPUT_SCALE, 0, 0, from_sheet=name, absolute=True) if scaled else "1"
    origin_rows, origin_cols = lay.grid("worked_origin_rows"), lay.grid("worked_origin_cols")
    # With one filter the origin table and the bias column are single cells: Gnumeric's INDEX gives #REF!
    # into a one-cell range, so those are read directly.
    one = filters == 1
    origin_row = origin_rows.cell(0, 0) if one else f"INDEX({origin_rows.whole()},{sel_map},1)"
    origin_col = origin_cols.cell(0, 0) if one else f"INDEX({origin_cols.whole()},{sel_map},1)"
    conv_cell = f"=INDEX({conv_area},{origin_row}+{sel_row}-1,{origin_col}+{sel_col}-1)"
    bias_cell = f"={lay.ref('conv1_b1', 0, 0, from_sheet=name, absolute=True)}" if one else (
        f"=INDEX({biases},({sel_map}-1)*{row_step}+1,1)")
    rows = [
        (total, f"={sums}", v.total),
        (scaled_, f"={total.cell(0, 0)}*{scale_ref}", v.scaled),
        (bias, bias_cell, v.bias),
        (output, f"={scaled_.cell(0, 0)}+{bias.cell(0, 0)}", v.output),
        (conv, conv_cell, v.conv),
        (diff, f"={output.cell(0, 0)}-{conv.cell(0, 0)}", v.diff),
    ]
    labels = t.lines("worked.rows", scale=arch.input.scale_text)
    for (grid, formula, number), label in zip(rows, labels, strict=False):
        content.text(grid.top, LEFT, label, st.label)
        content.formula(grid.top, grid.left, formula, number, st.value("0.000000", bold=True))
    check = lay.grid("worked_check")
    d = diff.cell(0, 0)
    same, different = t("worked.same"), t("worked.different")
    quoted_same, quoted_different = (text.replace('"', '""') for text in (same, different))
    content.text(check.top, LEFT, labels[-1], st.label)
    verdict = same if abs(v.diff) <= 1e-9 else different
    check_formula = f'=IF(MAX({d},-{d})<={CHECK_TOLERANCE},"{quoted_same}","{quoted_different}")'
    content.formula(check.top, check.left, check_formula, verdict, st.verdict)

    # Where each map's cell (1, 1) is on the Conv 1 sheet, 1-based: the lookup above needs it.
    content.text(origin_rows.title_row - 1, origin_rows.left - 1, t("worked.origins"), st.grid_title)
    for i, header in enumerate(t.lines("worked.origin_headers")):
        content.text(origin_rows.title_row, origin_rows.left - 1 + i, header, st.grid_title)
    for f in range(1, filters + 1):
        out = lay.grid(f"conv1_out{f}")
        content.number(origin_rows.top + f - 1, origin_rows.left - 1, f, st.grid("0"))
        content.number(origin_rows.top + f - 1, origin_rows.left, out.top + 1, st.grid("0"))
        content.number(origin_cols.top + f - 1, origin_cols.left, out.left + 1, st.grid("0"))
    # The note in lines as wide as the table, so that on paper it does not run past the page's edge.
    for i, line in enumerate(wrap_lines(t("worked.origins_note"), ORIGIN_NOTE_CHARS)):
        content.text(origin_rows.top + filters + i, origin_rows.left - 1, line, st.note)

    def setup(ws: Worksheet) -> None:
        sums = [lay.grid(f"worked_sum_{c}").left for c in range(1, channels + 1)]
        setup_grid_sheet(ws, ctx, plan, [(origin_rows.left, origin_cols.left, ORIGIN_WIDTH),
                                         (total.left, total.left, 12),  # the totals are wider than a grid cell
                                         *((col, col, 9) for col in sums)])
        limit = symmetric_limit(v.products)
        verdict_colours(ws, check, st)
        diverging_scale(ws, [lay.grid(f"worked_products_{c}") for c in range(1, channels + 1)], limit)
        diverging_scale(ws, [lay.grid(f"worked_kernel_{c}") for c in range(1, channels + 1)],
                        symmetric_limit(v.kernels))
        for key, top in (("worked_map", filters), ("worked_row", oh), ("worked_col", ow)):
            g = lay.grid(key)
            ws.data_validation(g.top, g.left, g.top, g.left, {
                "validate": "integer", "criteria": "between", "minimum": 1, "maximum": top,
                "error_title": "xlcnn", "error_message": t("worked.invalid", top=top),
            })

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    """One conv-1 output cell, chosen by the user, expanded product by product.

    Row 5 holds the choice (map, row, column). Then a band per input channel: the window of pixels,
    "×", the kernel of weights, "=", their products, and the channel's sum. Below, the totals; to
    the right, where each map starts on the Conv 1 sheet (for the lookup of the cell to compare).
    """
    block = layout.arch.blocks[0]
    kernel, channels, filters = block.conv.kernel, block.in_shape[0], block.conv.filters
    sheet = layout.add_sheet(WORKED, KIND, 1)
    for i, key in enumerate(("worked_map", "worked_row", "worked_col")):
        layout.add_grid(sheet, Grid(key, sheet.name, 5, 4 + 5 * i, 1, 1, holds=Holds.SETTING))
    y = HEADER_ROWS
    for c in range(1, channels + 1):
        for i, part in enumerate(("window", "kernel", "products")):
            layout.add_grid(sheet, Grid(f"worked_{part}_{c}", sheet.name, y + 2, LEFT + i * (kernel + 2), kernel,
                                        kernel, holds=Holds.FORMULAS))
        layout.add_grid(sheet, Grid(f"worked_sum_{c}", sheet.name, y + 2, LEFT + 3 * (kernel + 2) + 1, 1, 1,
                                    holds=Holds.FORMULAS))
        y += kernel + 3
    rows = ("worked_total", "worked_scaled", "worked_bias", "worked_output", "worked_conv", "worked_diff",
            "worked_check")
    for i, key in enumerate(rows):
        layout.add_grid(sheet, Grid(key, sheet.name, y + 1 + i, LEFT + 9, 1, 1, holds=Holds.FORMULAS))
    right = LEFT + 3 * (kernel + 2) + 4
    for i, key in enumerate(("worked_origin_rows", "worked_origin_cols")):
        layout.add_grid(sheet, Grid(key, sheet.name, HEADER_ROWS + 2, right + 1 + i, filters, 1, holds=Holds.NUMBERS))


STAGE = Stage(KIND, plan, worked_sheet, Repeat.FIRST_BLOCK, teaching=True)
