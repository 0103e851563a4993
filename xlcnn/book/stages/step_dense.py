"""The Step dense sheet: the stepped pool maps flattened again, and the dense weights and biases after the step
(``=w − learning_rate·∂L/∂w``); the Step sheet turns them into the new logits."""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import HEADER_ROWS, LEFT, STEP_DENSE, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.stages.dense import source_row, source_width
from xlcnn.book.styles import diverging_scale, number_format, symmetric_limit
from xlcnn.model import names
from xlcnn.nn import learning
from xlcnn.nn.layers import flatten
from xlcnn.nn.layers.flatten import position

KIND = SheetKind("step_dense")
STEP_FLATTEN = "step_flatten"


def step_dense_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name, learned = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.learned
    arch = ctx.model.arch
    n, classes = arch.flatten_size, len(arch.classes)
    labels, bias, header = lay.grid("step_labels"), lay.grid(names.STEP_DENSE_B), lay.grid("step_dense_header")
    source, flat, matrix = lay.grid("step_dense_source"), lay.grid(STEP_FLATTEN), lay.grid(names.STEP_DENSE_W)
    step = learned.step
    limit = symmetric_limit(step.dense_w, step.dense_b)
    content = SheetContent()
    stage_header(content, ctx, t("step_dense.title"), [
        t("step_dense.what"), t("step_dense.formula"), t("step_dense.paste"),
        t("legend.diverging", limit=f"{limit:.3g}"),
    ])
    content.text(labels.top, LEFT, t("dense.class"), st.label)
    content.text(bias.top, LEFT, t("dense.bias"), st.label)
    content.text(header.top, LEFT, t("dense.source"), st.label)
    content.text(header.top, flat.left, t("step_dense.flatten"), st.label)
    content.text(header.top - 1, header.left, t("dense.weights"), st.grid_title)
    rate = lay.ref(names.LEARNING_RATE, 0, 0, from_sheet=name, absolute=True)
    wfmt = st.value(number_format(step.dense_w))
    dense_labels, dense_b, grad_b = (lay.cells(key, name) for key in (names.LABELS, names.DENSE_B, names.GRAD_DENSE_B))
    for c, label in enumerate(arch.classes):
        content.formula(labels.top, labels.left + c, f"={dense_labels.ref(0, c)}", label, st.label)
        content.formula(bias.top, bias.left + c, learning.step_formula(dense_b.ref(0, c), grad_b.ref(0, c), rate),
                        float(step.dense_b[c]), wfmt)
        content.formula(header.top, header.left + c, f"={labels.cell(0, c)}", label, st.label)
    last = arch.blocks[-1].pool_shape
    pools = [lay.cells(names.step(names.pool_out(arch.blocks[-1].index, f)), name) for f in range(1, last[0] + 1)]
    weights, grads = lay.cells(names.DENSE_W, name), lay.cells(names.GRAD_DENSE_W, name)
    values = learned.step_trace.flatten
    ffmt = st.value(number_format(values))

    def emit(ws: Worksheet, row: int) -> None:
        i = row - matrix.top
        f, r, c = position(i, last)
        ws.write_string(row, source.left, source_row(ctx, i))
        ws.write_formula(row, flat.left, flatten.formula(pools[f].ref(r, c)), ffmt, float(values[i]))
        for col in range(classes):
            stepped = learning.step_formula(weights.ref(i, col), grads.ref(i, col), rate)
            ws.write_formula(row, matrix.left + col, stepped, wfmt, float(step.dense_w[i, col]))

    content.add(matrix.top, matrix.top + n - 1, emit)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, source_width(ctx)), (flat.left, flat.left, 14),
                                          (matrix.left, matrix.left + classes - 1, 14)])
        diverging_scale(ws, [matrix, bias], limit)
        ws.freeze_panes(matrix.top, matrix.left)

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(STEP_DENSE, KIND, square=False)
    classes, n = len(layout.arch.classes), layout.arch.flatten_size
    top, left = HEADER_ROWS, LEFT + 3  # the weights sit right of the flattened column, as on Back dense
    for key, row, col, rows, cols, named, holds in (
        ("step_labels", top, left, 1, classes, False, Holds.FORMULAS),
        (names.STEP_DENSE_B, top + 1, left, 1, classes, True, Holds.FORMULAS),
        ("step_dense_header", top + 3, left, 1, classes, False, Holds.FORMULAS),
        ("step_dense_source", top + 4, LEFT, n, 1, False, Holds.TEXT),
        (STEP_FLATTEN, top + 4, LEFT + 1, n, 1, True, Holds.FORMULAS),
        (names.STEP_DENSE_W, top + 4, left, n, classes, True, Holds.FORMULAS),
    ):
        layout.add_grid(sheet, Grid(key, sheet.name, row, col, rows, cols, named=named, holds=holds))


STAGE = Stage(KIND, plan, step_dense_sheet, learning=True)
