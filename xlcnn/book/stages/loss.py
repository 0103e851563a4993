"""The Loss sheet: the true label (a dropdown), one-hot y, and cross-entropy three ways that must agree."""

from __future__ import annotations

import math

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import HEADER_ROWS, LEFT, LOSS, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import CLASS_WIDTH, BuildContext, SheetContent, cached, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.stages.softmax import row_labels
from xlcnn.book.styles import SMALL_AS_SCIENTIFIC
from xlcnn.model import names
from xlcnn.nn.layers import softmax

KIND = SheetKind("loss")


def loss_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Loss: the true label (a dropdown), one-hot y, and cross-entropy three ways that must agree."""
    t, st, lay, name, tr = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.trace
    k = len(ctx.model.classes)
    keys = [names.TRUE_LABEL, "loss_labels", "loss_probs", "one_hot", "loss_nll_terms", "loss_kl_terms", names.LOSS,
            "loss_nll", "loss_kl"]
    true, labels_, probs, onehot, nll_terms, kl_terms, loss, nll_, kl_ = (lay.grid(key) for key in keys)
    content = SheetContent()
    # The header's fourth line (a legend elsewhere) says where the true label came from when it was built.
    source = t("loss.label_given" if ctx.label_given else "loss.label_assumed", label=tr.true_label)
    stage_header(content, ctx, t("loss.title"), [t("loss.what"), t("loss.formula"), t("loss.shape", classes=k),
                                                  source])
    rows: list[Grid | None] = [true, labels_, probs, onehot, nll_terms, kl_terms, None, loss, nll_, kl_]
    row_labels(content, ctx, rows, t.lines("loss.rows"))
    # Text, whatever characters it holds; formatted as text ("@") so that a label typed or picked from the
    # dropdown stays text even when it looks like a number or a date.
    content.text(true.top, true.left, tr.true_label, st.param_format("@"))
    dense_labels, softmax_probs = lay.cells(names.LABELS, name), lay.cells(names.PROBS, name)
    num = st.value("0.0000")
    for c, label in enumerate(ctx.model.classes):
        y, pc, yc = float(tr.one_hot[c]), probs.cell(0, c), onehot.cell(0, c)
        content.formula(labels_.top, labels_.left + c, f"={dense_labels.ref(0, c)}", label, st.label)
        content.formula(probs.top, probs.left + c, f"={softmax_probs.ref(0, c)}", float(tr.probs[c]),
                        st.value(SMALL_AS_SCIENTIFIC))
        content.formula(onehot.top, onehot.left + c, softmax.one_hot_formula(labels_.cell(0, c), true.cell(0, 0, True)),
                        y, st.value("0"))
        content.formula(nll_terms.top, nll_terms.left + c, softmax.nll_term_formula(yc, pc),
                        cached(-y * math.log(tr.probs[c]) if tr.probs[c] > 0 else math.inf, "#NUM!") if y else 0.0,
                        num)
        content.formula(kl_terms.top, kl_terms.left + c, softmax.kl_term_formula(yc, pc),
                        cached(y * math.log(y / tr.probs[c]) if tr.probs[c] > 0 else math.inf, "#DIV/0!")
                        if y else 0.0, num)
    all_probs = lay.ref(names.PROBS, 0, 0, 0, k - 1, from_sheet=name, absolute=True)
    all_labels = lay.ref(names.LABELS, 0, 0, 0, k - 1, from_sheet=name, absolute=True)
    big = st.big_number
    content.formula(loss.top, loss.left, softmax.loss_formula(all_probs, true.cell(0, 0, True), all_labels),
                    cached(tr.loss, "#NUM!"), big)
    content.formula(nll_.top, nll_.left, softmax.sum_formula(nll_terms.row_range(0)), cached(tr.nll, "#NUM!"), big)
    content.formula(kl_.top, kl_.left, softmax.sum_formula(kl_terms.row_range(0)), cached(tr.kl, "#DIV/0!"), big)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, 36), (LEFT + 1, LEFT + k, CLASS_WIDTH)])
        ws.data_validation(true.top, true.left, true.top, true.left, {
            "validate": "list", "source": "=" + all_labels,
        })

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(LOSS, KIND, square=False)
    classes, top, left = len(layout.arch.classes), HEADER_ROWS, LEFT + 1
    rows = [(names.TRUE_LABEL, 1, True), ("loss_labels", classes, False), ("loss_probs", classes, True),
            ("one_hot", classes, True), ("loss_nll_terms", classes, True), ("loss_kl_terms", classes, True),
            (None, 0, False), (names.LOSS, 1, True), ("loss_nll", 1, True), ("loss_kl", 1, True)]
    for i, (key, cols, named) in enumerate(rows):
        if key is not None:
            holds = Holds.SETTING if key == names.TRUE_LABEL else Holds.FORMULAS
            layout.add_grid(sheet, Grid(key, sheet.name, top + i, left, 1, cols, named=named, holds=holds))


STAGE = Stage(KIND, plan, loss_sheet)
