"""The Softmax sheet: logits → max → EXP(z − max) → sum → probabilities → the predicted class."""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import HEADER_ROWS, LEFT, SOFTMAX, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import CLASS_WIDTH, BuildContext, SheetContent, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.styles import SMALL_AS_SCIENTIFIC, sequential_scale
from xlcnn.model import names
from xlcnn.nn.layers import softmax

KIND = SheetKind("softmax")


def row_labels(content: SheetContent, ctx: BuildContext, grids: list[Grid | None], texts: list[str]) -> None:
    for grid, text in zip(grids, texts, strict=False):
        if grid is not None and text:
            content.text(grid.top, LEFT, text, ctx.styles.label)


def softmax_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Softmax: logits → max → EXP(z − max) → sum → probabilities → the predicted class."""
    t, st, lay, name, tr = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.trace
    k = len(ctx.model.classes)
    keys = ["softmax_labels", "softmax_logits", "softmax_max", "softmax_exp", "softmax_sum", names.PROBS,
            "predicted", "predicted_prob"]
    labels_, logits, zmax, exp, total, probs, predicted, best = (lay.grid(key) for key in keys)
    content = SheetContent()
    stage_header(content, ctx, t("softmax.title"), [
        t("softmax.what"), t("softmax.formula"), t("softmax.shape", classes=k), t("legend.probability"),
    ])
    row_labels(content, ctx, [labels_, logits, zmax, exp, total, probs, predicted, best], t.lines("softmax.rows"))
    dense_labels, dense_logits = lay.cells(names.LABELS, name), lay.cells(names.LOGITS, name)
    num, bold, small = st.value("0.0000"), st.value(SMALL_AS_SCIENTIFIC, bold=True), st.value(SMALL_AS_SCIENTIFIC)
    content.formula(zmax.top, zmax.left, softmax.max_formula(logits.row_range(0)), tr.max_logit, num)
    content.formula(total.top, total.left, softmax.sum_formula(exp.row_range(0)), tr.exp_sum, num)
    for c, label in enumerate(ctx.model.classes):
        content.formula(labels_.top, labels_.left + c, f"={dense_labels.ref(0, c)}", label, st.label)
        content.formula(logits.top, logits.left + c, f"={dense_logits.ref(0, c)}", float(tr.logits[c]), num)
        content.formula(exp.top, exp.left + c, softmax.exp_formula(logits.cell(0, c), zmax.cell(0, 0, absolute=True)),
                        float(tr.exp[c]), small)
        content.formula(probs.top, probs.left + c,
                        softmax.prob_formula(exp.cell(0, c), total.cell(0, 0, absolute=True)), float(tr.probs[c]), bold)
    p = probs.row_range(0, absolute=True)
    all_labels = lay.ref(names.LABELS, 0, 0, 0, k - 1, from_sheet=name, absolute=True)
    content.formula(predicted.top, predicted.left, softmax.predicted_formula(all_labels, p),
                    tr.predicted_label, st.big_value)
    content.formula(best.top, best.left, f"=MAX({p})", float(tr.probs.max()), st.percent)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, 30), (LEFT + 1, LEFT + k, CLASS_WIDTH)])
        sequential_scale(ws, [probs], 1.0)

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(SOFTMAX, KIND, square=False)
    classes, top, left = len(layout.arch.classes), HEADER_ROWS, LEFT + 1
    rows = [("softmax_labels", classes, False), ("softmax_logits", classes, True), ("softmax_max", 1, True),
            ("softmax_exp", classes, True), ("softmax_sum", 1, True), (names.PROBS, classes, True),
            ("predicted", 1, True), ("predicted_prob", 1, True)]
    for i, (key, cols, named) in enumerate(rows):
        layout.add_grid(sheet, Grid(key, sheet.name, top + i, left, 1, cols, named=named, holds=Holds.FORMULAS))


STAGE = Stage(KIND, plan, softmax_sheet)
