"""Softmax with the maximum subtracted first (so EXP never overflows), then cross-entropy.

``e = exp(z − max z)``, ``p = e / Σe``. With a one-hot true label y, cross-entropy is the same number
three ways: the distance ``−ln p_true``, the negative log-likelihood ``−Σ y·ln p`` and the KL divergence
``Σ y·ln(y/p)`` (taking 0·ln 0 = 0). Logs are natural.
"""

from __future__ import annotations

import math

import numpy as np
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import LEFT, Grid, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_table_sheet, stage_header
from xlcnn.book.styles import sequential_scale


def forward(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N, K) logits → (max, exp, sum, probs) with shapes (N,), (N, K), (N,), (N, K)."""
    zmax = z.max(axis=1)
    e = np.exp(z - zmax[:, None])
    total = e.sum(axis=1)
    return zmax, e, total, e / total[:, None]


def cross_entropy(p: np.ndarray, true_index: np.ndarray) -> np.ndarray:
    """``−ln p_true`` for each row of (N, K) probabilities."""
    with np.errstate(divide="ignore"):
        return -np.log(p[np.arange(p.shape[0]), true_index])


def backward(p: np.ndarray, true_index: np.ndarray) -> np.ndarray:
    """dL/dz of the *mean* cross-entropy over the batch, through softmax: ``(p − y) / N``."""
    return (p - one_hot(true_index, p.shape[1])) / p.shape[0]


def one_hot(true_index: np.ndarray, classes: int) -> np.ndarray:
    y = np.zeros((true_index.shape[0], classes))
    y[np.arange(true_index.shape[0]), true_index] = 1.0
    return y


def nll(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``−Σ y·ln p``; terms where y = 0 contribute 0 even when p = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y > 0, y * np.log(p), 0.0)
    return -terms.sum(axis=1)


def kl(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``Σ y·ln(y/p)`` with 0·ln 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y > 0, y * np.log(y / p), 0.0)
    return terms.sum(axis=1)


# ------------------------------------------------------------------------------------ the workbook


def cached(value: float, error: str) -> float | str:
    """The value a spreadsheet shows: an infinite loss (the true class's probability underflowed to 0)
    is the error LN(0) or y/0 gives, which is what the cell must cache too."""
    return value if math.isfinite(value) else error


def _row_labels(content: SheetContent, ctx: BuildContext, grids: list[Grid | None], texts: list[str]) -> None:
    for grid, text in zip(grids, texts, strict=False):
        if grid is not None and text:
            content.text(grid.top, LEFT, text, ctx.styles.label)


def softmax_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Softmax: logits → max → EXP(z − max) → sum → probabilities → the predicted class."""
    t, st, lay, name, tr = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.trace
    k = len(ctx.model.classes)
    keys = ["softmax_labels", "softmax_logits", "softmax_max", "softmax_exp", "softmax_sum", "probs",
            "predicted", "predicted_prob"]
    labels_, logits, zmax, exp, total, probs, predicted, best = (lay.grid(key) for key in keys)
    content = SheetContent()
    stage_header(content, ctx, t("softmax.title"), [
        t("softmax.what"), t("softmax.formula"), t("softmax.shape", classes=k), t("legend.probability"),
    ])
    _row_labels(content, ctx, [labels_, logits, zmax, exp, total, probs, predicted, best], t.lines("softmax.rows"))
    dense_labels, dense_logits = lay.cells("labels", name), lay.cells("logits", name)
    num, bold = st.value("0.0000"), st.value("0.0000", bold=True)
    content.formula(zmax.top, zmax.left, f"=MAX({logits.row_range(0)})", tr.max_logit, num)
    content.formula(total.top, total.left, f"=SUM({exp.row_range(0)})", tr.exp_sum, num)
    for c, label in enumerate(ctx.model.classes):
        content.formula(labels_.top, labels_.left + c, f"={dense_labels.ref(0, c)}", label, st.label)
        content.formula(logits.top, logits.left + c, f"={dense_logits.ref(0, c)}", float(tr.logits[c]), num)
        content.formula(exp.top, exp.left + c, f"=EXP({logits.cell(0, c)}-{zmax.cell(0, 0, absolute=True)})",
                        float(tr.exp[c]), num)
        content.formula(probs.top, probs.left + c, f"={exp.cell(0, c)}/{total.cell(0, 0, absolute=True)}",
                        float(tr.probs[c]), bold)
    p = probs.row_range(0, absolute=True)
    all_labels = lay.ref("labels", 0, 0, 0, k - 1, from_sheet=name, absolute=True)
    content.formula(predicted.top, predicted.left, f"=INDEX({all_labels},1,MATCH(MAX({p}),{p},0))",
                    tr.predicted_label, st.big_value)
    content.formula(best.top, best.left, f"=MAX({p})", float(tr.probs.max()), st.percent)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, 30), (LEFT + 1, LEFT + k, 14)])
        sequential_scale(ws, [probs], 1.0)

    content.on_setup(setup)
    return content


def loss_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Loss: the true label (a dropdown), one-hot y, and cross-entropy three ways that must agree."""
    t, st, lay, name, tr = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.trace
    k = len(ctx.model.classes)
    keys = ["true_label", "loss_labels", "loss_probs", "one_hot", "loss_nll_terms", "loss_kl_terms", "loss",
            "loss_nll", "loss_kl"]
    true, labels_, probs, onehot, nll_terms, kl_terms, loss, nll_, kl_ = (lay.grid(key) for key in keys)
    content = SheetContent()
    stage_header(content, ctx, t("loss.title"), [t("loss.what"), t("loss.formula"), t("loss.shape", classes=k), ""])
    rows: list[Grid | None] = [true, labels_, probs, onehot, nll_terms, kl_terms, None, loss, nll_, kl_]
    _row_labels(content, ctx, rows, t.lines("loss.rows"))
    # Text, whatever characters it holds; formatted as text ("@") so that a label typed or picked from the
    # dropdown stays text even when it looks like a number or a date.
    content.text(true.top, true.left, tr.true_label, st.param_format("@"))
    dense_labels, softmax_probs = lay.cells("labels", name), lay.cells("probs", name)
    num = st.value("0.0000")
    for c, label in enumerate(ctx.model.classes):
        y, pc, yc = float(tr.one_hot[c]), probs.cell(0, c), onehot.cell(0, c)
        content.formula(labels_.top, labels_.left + c, f"={dense_labels.ref(0, c)}", label, st.label)
        content.formula(probs.top, probs.left + c, f"={softmax_probs.ref(0, c)}", float(tr.probs[c]), num)
        content.formula(onehot.top, onehot.left + c, f"=IF({labels_.cell(0, c)}={true.cell(0, 0, True)},1,0)",
                        y, st.value("0"))
        content.formula(nll_terms.top, nll_terms.left + c, f"=IF({yc}=0,0,-{yc}*LN({pc}))",
                        cached(-y * math.log(tr.probs[c]) if tr.probs[c] > 0 else math.inf, "#NUM!") if y else 0.0,
                        num)
        content.formula(kl_terms.top, kl_terms.left + c, f"=IF({yc}=0,0,{yc}*LN({yc}/{pc}))",
                        cached(y * math.log(y / tr.probs[c]) if tr.probs[c] > 0 else math.inf, "#DIV/0!")
                        if y else 0.0, num)
    all_probs = lay.ref("probs", 0, 0, 0, k - 1, from_sheet=name, absolute=True)
    all_labels = lay.ref("labels", 0, 0, 0, k - 1, from_sheet=name, absolute=True)
    big = st.big_number
    content.formula(loss.top, loss.left, f"=-LN(INDEX({all_probs},1,MATCH({true.cell(0, 0, True)},{all_labels},0)))",
                    cached(tr.loss, "#NUM!"), big)
    content.formula(nll_.top, nll_.left, f"=SUM({nll_terms.row_range(0)})", cached(tr.nll, "#NUM!"), big)
    content.formula(kl_.top, kl_.left, f"=SUM({kl_terms.row_range(0)})", cached(tr.kl, "#DIV/0!"), big)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, 36), (LEFT + 1, LEFT + k, 14)])
        ws.data_validation(true.top, true.left, true.top, true.left, {
            "validate": "list", "source": "=" + all_labels,
        })

    content.on_setup(setup)
    return content
