"""Softmax with the maximum subtracted first (so EXP never overflows), then cross-entropy.

``e = exp(z − max z)``, ``p = e / Σe``. With a one-hot true label y, cross-entropy is the same number
three ways: the distance ``−ln p_true``, the negative log-likelihood ``−Σ y·ln p`` and the KL divergence
``Σ y·ln(y/p)`` (taking 0·ln 0 = 0). Logs are natural.
"""

from __future__ import annotations

import numpy as np


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


# The formulas of one cell each. ``z``, ``e``, ``p``: one class's logit, exp and probability; ``*_row``: the
# whole row of classes; ``labels``: the row of class names; ``true``: the true-label cell.

def max_formula(z_row: str) -> str:
    return f"=MAX({z_row})"


def exp_formula(z: str, zmax: str) -> str:
    return f"=EXP({z}-{zmax})"


def sum_formula(e_row: str) -> str:
    return f"=SUM({e_row})"


def prob_formula(e: str, total: str) -> str:
    return f"={e}/{total}"


def predicted_formula(labels: str, p_row: str) -> str:
    """The class of the largest probability (the first on a tie, as ``argmax``)."""
    return f"=INDEX({labels},1,MATCH(MAX({p_row}),{p_row},0))"


def one_hot_formula(label: str, true: str) -> str:
    return f"=IF({label}={true},1,0)"


def loss_formula(p_row: str, true: str, labels: str) -> str:
    """``−ln p_true``."""
    return f"=-LN(INDEX({p_row},1,MATCH({true},{labels},0)))"


def nll_term_formula(y: str, p: str) -> str:
    """``−y·ln p``, 0 where y = 0 (so that p = 0 there is no error)."""
    return f"=IF({y}=0,0,-{y}*LN({p}))"


def kl_term_formula(y: str, p: str) -> str:
    """``y·ln(y/p)`` with 0·ln 0 = 0."""
    return f"=IF({y}=0,0,{y}*LN({y}/{p}))"


def grad_logit_formula(p: str, y: str) -> str:
    """∂L/∂ one logit of ``L = −ln p_true`` through softmax: ``=p − y``."""
    return f"={p}-{y}"
