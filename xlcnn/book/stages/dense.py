"""The Dense sheet: class labels, biases and live logits on top; the weight matrix (flatten × classes) below."""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import DENSE, HEADER_ROWS, LEFT, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, display_width, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.styles import diverging_scale, number_format, symmetric_limit
from xlcnn.model import names
from xlcnn.nn.layers import dense
from xlcnn.nn.layers.flatten import position

KIND = SheetKind("dense")


def dense_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Dense: class labels, biases and live logits on top; the weight matrix (flatten × classes) below."""
    t, st, lay, name = ctx.texts, ctx.styles, ctx.layout, plan.name
    arch, weights = ctx.model.arch, ctx.model.weights
    n, classes = arch.flatten_size, len(arch.classes)
    labels, bias, logits = lay.grid(names.LABELS), lay.grid(names.DENSE_B), lay.grid(names.LOGITS)
    header, source, matrix = lay.grid("dense_w_header"), lay.grid("dense_w_source"), lay.grid(names.DENSE_W)
    limit = symmetric_limit(weights.dense_w, weights.dense_b)
    content = SheetContent()
    stage_header(content, ctx, t("dense.title"), [
        t("dense.what", n=n), t("dense.formula"),
        t("dense.shape", n=n, classes=classes, weights=n * classes), t("legend.diverging", limit=f"{limit:.3g}"),
    ])
    for grid, key in ((labels, "dense.class"), (bias, "dense.bias"), (logits, "dense.logit")):
        content.text(grid.top, LEFT, t(key), st.label)
    content.text(header.top, LEFT, t("dense.source"), st.label)
    content.text(header.top - 1, header.left, t("dense.weights"), st.grid_title)
    flat = lay.ref(names.FLATTEN, 0, 0, n - 1, 0, from_sheet=name, absolute=True)
    wfmt = st.editable_value(number_format(weights.dense_w))
    for c, label in enumerate(arch.classes):
        content.text(labels.top, labels.left + c, label, st.label_text)  # a class name is text, never a formula
        content.number(bias.top, bias.left + c, float(weights.dense_b[c]), wfmt)
        column = matrix.col_range(c)
        content.formula(logits.top, logits.left + c, dense.formula(flat, column, bias.cell(0, c)),
                        float(ctx.trace.logits[c]), st.value("0.0000", bold=True))
        content.formula(header.top, header.left + c, f"={labels.cell(0, c)}", label, st.label)

    def emit(ws: Worksheet, row: int) -> None:
        i = row - matrix.top
        ws.write_string(row, source.left, source_row(ctx, i))
        for col in range(classes):
            ws.write_number(row, matrix.left + col, float(weights.dense_w[i, col]), wfmt)

    content.add(matrix.top, matrix.top + n - 1, emit)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, source_width(ctx)),
                                          (matrix.left, matrix.left + classes - 1, 14)])
        diverging_scale(ws, [matrix, bias], limit)
        ws.freeze_panes(matrix.top, matrix.left)

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(DENSE, KIND, square=False)
    classes, n = len(layout.arch.classes), layout.arch.flatten_size
    top, left = HEADER_ROWS, LEFT + 1
    for key, row, rows, cols, named, holds in (
        (names.LABELS, top, 1, classes, True, Holds.TEXT),
        (names.DENSE_B, top + 1, 1, classes, True, Holds.NUMBERS),
        (names.LOGITS, top + 2, 1, classes, True, Holds.FORMULAS),
        ("dense_w_header", top + 4, 1, classes, False, Holds.FORMULAS),
        ("dense_w_source", top + 5, n, 1, False, Holds.TEXT),
        (names.DENSE_W, top + 5, n, classes, True, Holds.NUMBERS),
    ):
        layout.add_grid(sheet, Grid(key, sheet.name, row, LEFT if key == "dense_w_source" else left, rows, cols,
                                    named=named, holds=holds))


STAGE = Stage(KIND, plan, dense_sheet)


def source_row(ctx: BuildContext, i: int) -> str:
    """The label of flattened value ``i`` (0-based): its number and the last pool's cell it came from."""
    blocks = ctx.model.arch.blocks
    f, r, c = position(i, blocks[-1].pool_shape)
    return ctx.texts("dense.source_row", i=i + 1, k=len(blocks), f=f + 1, r=r + 1, c=c + 1)


def source_width(ctx: BuildContext) -> float:
    """The width of the column of those labels: the last one is the longest (its numbers are the largest)."""
    return max(22.0, display_width(source_row(ctx, ctx.model.arch.flatten_size - 1)) * 1.1 + 2)
