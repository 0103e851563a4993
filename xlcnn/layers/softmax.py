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
