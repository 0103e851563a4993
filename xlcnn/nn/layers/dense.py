"""Fully connected layer: each class's logit is the flattened vector · that class's weight column + bias."""

from __future__ import annotations

import numpy as np
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import LEFT, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_table_sheet, stage_header
from xlcnn.book.styles import diverging_scale, number_format, symmetric_limit
from xlcnn.nn.layers.flatten import position


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D) @ (D, K) + (K,) → (N, K) logits."""
    return x @ w + b


def backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dL/d(logits) (N, K) → (dL/dx (N, D), dL/dw (D, K), dL/db (K,))."""
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


# ------------------------------------------------------------------------------------ the workbook


def dense_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Dense: class labels, biases and live logits on top; the weight matrix (flatten × classes) below."""
    t, st, lay, name = ctx.texts, ctx.styles, ctx.layout, plan.name
    arch, weights = ctx.model.arch, ctx.model.weights
    n, classes = arch.flatten_size, len(arch.classes)
    labels, bias, logits = lay.grid("labels"), lay.grid("dense_b"), lay.grid("logits")
    header, source, matrix = lay.grid("dense_w_header"), lay.grid("dense_w_source"), lay.grid("dense_w")
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
    flat = lay.ref("flatten", 0, 0, n - 1, 0, from_sheet=name, absolute=True)
    wfmt = st.value(number_format(weights.dense_w))
    for c, label in enumerate(arch.classes):
        content.text(labels.top, labels.left + c, label, st.label_text)  # a class name is text, never a formula
        content.number(bias.top, bias.left + c, float(weights.dense_b[c]), wfmt)
        column = matrix.col_range(c)
        content.formula(logits.top, logits.left + c, f"=SUMPRODUCT({flat},{column})+{bias.cell(0, c)}",
                        float(ctx.trace.logits[c]), st.value("0.0000", bold=True))
        content.formula(header.top, header.left + c, f"={labels.cell(0, c)}", label, st.label)
    last = arch.blocks[-1].pool_shape

    def emit(ws: Worksheet, row: int) -> None:
        i = row - matrix.top
        f, r, c = position(i, last)
        ws.write_string(row, source.left, t("dense.source_row", i=i + 1, f=f + 1, r=r + 1, c=c + 1))
        for col in range(classes):
            ws.write_number(row, matrix.left + col, float(weights.dense_w[i, col]), wfmt)

    content.add(matrix.top, matrix.top + n - 1, emit)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, 22), (matrix.left, matrix.left + classes - 1, 14)])
        diverging_scale(ws, [matrix, bias], limit)
        ws.freeze_panes(matrix.top, matrix.left)

    content.on_setup(setup)
    return content
