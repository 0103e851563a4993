"""The Back dense sheet, the first link of the chain rule: ∂L/∂logits = p − y, then the dense layer's weight and
bias gradients and ∂L/∂flatten, the gradient the dense layer sends back to every flattened value."""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import BACK_DENSE, HEADER_ROWS, LEFT, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.stages.dense import source_row, source_width
from xlcnn.book.styles import GRADIENT_FORMAT, GRADIENT_TABLE_FORMAT, diverging_scale, symmetric_limit
from xlcnn.model import names
from xlcnn.nn.layers import dense, softmax

KIND = SheetKind("back_dense")


def back_dense_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name, learned = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.learned
    arch = ctx.model.arch
    n, classes = arch.flatten_size, len(arch.classes)
    labels, grad_z, grad_b = lay.grid("back_labels"), lay.grid(names.GRAD_LOGITS), lay.grid(names.GRAD_DENSE_B)
    header, source = lay.grid("back_dense_header"), lay.grid("back_dense_source")
    matrix, grad_flat = lay.grid(names.GRAD_DENSE_W), lay.grid(names.GRAD_FLATTEN)
    limit = symmetric_limit(learned.grad_dense_w)
    content = SheetContent()
    stage_header(content, ctx, t("back_dense.title"), [
        t("back_dense.what"), t("back_dense.formula"), t("back_dense.shape", n=n, classes=classes),
        t("legend.gradient", limit=f"{limit:.3g}"),
    ])
    for grid, key in ((labels, "dense.class"), (grad_z, "back_dense.grad_logits"), (grad_b, "back_dense.grad_bias")):
        content.text(grid.top, LEFT, t(key), st.label)
    content.text(header.top, LEFT, t("dense.source"), st.label)
    content.text(header.top - 1, header.left, t("back_dense.weights"), st.grid_title)
    content.text(header.top - 1, grad_flat.left, t("back_dense.flatten"), st.grid_title)
    content.text(header.top, grad_flat.left, "∂L/∂flatten", st.label)
    probs, one_hot = lay.cells(names.PROBS, name), lay.cells("one_hot", name)
    labels_ref = lay.cells(names.LABELS, name)
    fmt, bold = st.value(GRADIENT_TABLE_FORMAT), st.value(GRADIENT_TABLE_FORMAT, bold=True)
    # General, as the Back pool grids that copy it are: LibreOffice gives a General cell that only repeats another
    # cell that cell's number format when it saves, which verify would see as a changed display.
    general = st.value(GRADIENT_FORMAT)
    for c, label in enumerate(arch.classes):
        content.formula(labels.top, labels.left + c, f"={labels_ref.ref(0, c)}", label, st.label)
        content.formula(grad_z.top, grad_z.left + c, softmax.grad_logit_formula(probs.ref(0, c), one_hot.ref(0, c)),
                        float(learned.grad_logits[c]), bold)
        content.formula(grad_b.top, grad_b.left + c, f"={grad_z.cell(0, c)}", float(learned.grad_dense_b[c]), fmt)
        content.formula(header.top, header.left + c, f"={labels.cell(0, c)}", label, st.label)
    flat = lay.cells(names.FLATTEN, name)
    weights = lay.grid(names.DENSE_W)
    weight_prefix = lay.prefix(names.DENSE_W, name)
    grads_row = grad_z.row_range(0, absolute=True)
    grad_cells = [grad_z.cell(0, c, absolute=True) for c in range(classes)]

    def emit(ws: Worksheet, row: int) -> None:
        i = row - matrix.top
        ws.write_string(row, source.left, source_row(ctx, i))
        x = flat.ref(i, 0)
        for col in range(classes):
            ws.write_formula(row, matrix.left + col, dense.grad_w_formula(x, grad_cells[col]), fmt,
                             float(learned.grad_dense_w[i, col]))
        ws.write_formula(row, grad_flat.left, dense.grad_x_formula(grads_row, weight_prefix + weights.row_range(i)),
                         general, float(learned.grad_flatten[i]))

    content.add(matrix.top, matrix.top + n - 1, emit)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, source_width(ctx)), (matrix.left, matrix.left + classes - 1, 14),
                                          (grad_flat.left, grad_flat.left, 16)])
        diverging_scale(ws, [matrix], limit)
        diverging_scale(ws, [grad_flat], symmetric_limit(learned.grad_flatten))
        ws.freeze_panes(matrix.top, matrix.left)

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(BACK_DENSE, KIND, square=False)
    classes, n = len(layout.arch.classes), layout.arch.flatten_size
    top, left = HEADER_ROWS, LEFT + 1
    for key, row, col, rows, cols, named in (
        ("back_labels", top, left, 1, classes, False),
        (names.GRAD_LOGITS, top + 1, left, 1, classes, True),
        (names.GRAD_DENSE_B, top + 2, left, 1, classes, True),
        ("back_dense_header", top + 4, left, 1, classes, False),
        ("back_dense_source", top + 5, LEFT, n, 1, False),
        (names.GRAD_DENSE_W, top + 5, left, n, classes, True),
        (names.GRAD_FLATTEN, top + 5, left + classes + 1, n, 1, True),
    ):
        holds = Holds.TEXT if key == "back_dense_source" else Holds.FORMULAS
        layout.add_grid(sheet, Grid(key, sheet.name, row, col, rows, cols, named=named, holds=holds))


STAGE = Stage(KIND, plan, back_dense_sheet, learning=True)
