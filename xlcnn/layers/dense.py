"""Fully connected layer: each class's logit is the flattened vector · that class's weight column + bias."""

from __future__ import annotations

import numpy as np


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D) @ (D, K) + (K,) → (N, K) logits."""
    return x @ w + b
