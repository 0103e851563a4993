"""The Step sheet: one step of gradient descent, side by side with where it started.

The learning rate η is the one cell to edit. Every weight and bias moves to ``w − η·∂L/∂w`` (the Step conv
and Step dense sheets), the same picture runs forward through the moved weights (Step conv, Step pool), and
here are the logits, probabilities and loss after the step beside those before it: a small η lowers the loss,
a larger one lowers it further, and one too large may overshoot and raise it (samples/square.png with the true
label circle does from η ≈ 0.005 on the default model; samples/circle.png with a wrong label never does).
"""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import HEADER_ROWS, LEFT, STEP, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, cached, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.stages.softmax import row_labels
from xlcnn.book.stages.step_dense import STEP_FLATTEN
from xlcnn.book.styles import SMALL_AS_SCIENTIFIC
from xlcnn.model import names
from xlcnn.nn.layers import dense, softmax

KIND = SheetKind("step")
ROWS = (names.LEARNING_RATE, None, "step_names", "step_logits_before", names.STEP_LOGITS, "step_max", "step_exp",
        "step_sum", "step_probs_before", names.STEP_PROBS, None, "step_true", "step_loss_before", names.STEP_LOSS,
        "step_change")
ONE_CELL = {names.LEARNING_RATE, "step_max", "step_sum", "step_true", "step_loss_before", names.STEP_LOSS,
            "step_change"}


def step_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name, tr, learned = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.trace, ctx.learned
    after = learned.step_trace
    k = len(ctx.model.classes)
    grids = {key: lay.grid(key) for key in ROWS if key is not None}
    content = SheetContent()
    stage_header(content, ctx, t("step.title"), [t("step.what"), t("step.formula"), t("step.try"), t("step.paste")])
    row_labels(content, ctx, [None if key is None else grids[key] for key in ROWS], t.lines("step.rows"))
    rate = lay.grid(names.LEARNING_RATE)
    content.number(rate.top, rate.left, learned.learning_rate, st.param_format("General"))  # 0.003 and 3E-05 alike
    num, small = st.value("0.0000"), st.value(SMALL_AS_SCIENTIFIC)
    bold_small, big = st.value(SMALL_AS_SCIENTIFIC, bold=True), st.big_number
    refs = {key: lay.cells(key, name) for key in (names.LABELS, names.LOGITS, names.PROBS)}
    flat = lay.ref(STEP_FLATTEN, 0, 0, ctx.model.arch.flatten_size - 1, 0, from_sheet=name, absolute=True)
    weights, biases = lay.grid(names.STEP_DENSE_W), lay.cells(names.STEP_DENSE_B, name)
    weights_prefix = lay.prefix(names.STEP_DENSE_W, name)
    z, zmax, e, total, p = (grids[key] for key in (names.STEP_LOGITS, "step_max", "step_exp", "step_sum",
                                                   names.STEP_PROBS))
    for c, label in enumerate(ctx.model.classes):
        content.formula(grids["step_names"].top, z.left + c, f"={refs[names.LABELS].ref(0, c)}", label, st.label)
        content.formula(grids["step_logits_before"].top, z.left + c, f"={refs[names.LOGITS].ref(0, c)}",
                        float(tr.logits[c]), num)
        content.formula(z.top, z.left + c, dense.formula(flat, weights_prefix + weights.col_range(c, absolute=True),
                                                         biases.ref(0, c)), float(after.logits[c]), st.value(bold=True))
        content.formula(e.top, e.left + c, softmax.exp_formula(z.cell(0, c), zmax.cell(0, 0, absolute=True)),
                        float(after.exp[c]), small)
        content.formula(grids["step_probs_before"].top, z.left + c, f"={refs[names.PROBS].ref(0, c)}",
                        float(tr.probs[c]), small)
        content.formula(p.top, p.left + c, softmax.prob_formula(e.cell(0, c), total.cell(0, 0, absolute=True)),
                        float(after.probs[c]), bold_small)
    content.formula(zmax.top, zmax.left, softmax.max_formula(z.row_range(0)), after.max_logit, num)
    content.formula(total.top, total.left, softmax.sum_formula(e.row_range(0)), after.exp_sum, num)
    true = lay.ref(names.TRUE_LABEL, 0, 0, from_sheet=name, absolute=True)
    content.formula(grids["step_true"].top, z.left, f"={true}", tr.true_label, st.label)
    content.formula(grids["step_loss_before"].top, z.left, f"={lay.ref(names.LOSS, 0, 0, from_sheet=name)}",
                    cached(tr.loss, "#NUM!"), big)
    labels = lay.ref(names.LABELS, 0, 0, 0, k - 1, from_sheet=name, absolute=True)
    loss = grids[names.STEP_LOSS]
    content.formula(loss.top, loss.left, softmax.loss_formula(p.row_range(0, absolute=True), true, labels),
                    cached(learned.step_loss, "#NUM!"), big)
    change = grids["step_change"]
    content.formula(change.top, change.left, f"={loss.cell(0, 0)}-{grids['step_loss_before'].cell(0, 0)}",
                    cached(learned.step_loss - tr.loss, "#NUM!"), big)  # (LibreOffice rewrites a "+0.0000" format)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, 34), (LEFT + 1, LEFT + k, 14)])

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(STEP, KIND, square=False)
    classes, top, left = len(layout.arch.classes), HEADER_ROWS, LEFT + 1
    for i, key in enumerate(ROWS):
        if key is None:
            continue
        cols = 1 if key in ONE_CELL else classes
        named = key in (names.LEARNING_RATE, names.STEP_LOGITS, names.STEP_PROBS, names.STEP_LOSS)
        holds = Holds.SETTING if key == names.LEARNING_RATE else Holds.FORMULAS
        layout.add_grid(sheet, Grid(key, sheet.name, top + i, left, 1, cols, named=named, holds=holds))


STAGE = Stage(KIND, plan, step_sheet, learning=True)
