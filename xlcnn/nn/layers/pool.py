"""Max pooling in floor mode: the largest value of each size × size window, windows ``stride`` apart.

A partial window at the right or bottom edge is dropped (PyTorch's ``ceil_mode=False``), so the output
length per axis is ``floor((n − size) / stride) + 1``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """(N, C, H, W) → (N, C, Ho, Wo, size, size), a view."""
    return sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]


def forward(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    return windows(x, size, stride).max(axis=(4, 5))


def backward(dout: np.ndarray, x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """dL/dx: each window's gradient goes to its largest cell (the first one on a tie), the rest get 0.

    Loops over the size² offsets inside a window, never over pixels; overlapping windows add up.
    """
    n, c, ho, wo = dout.shape
    winner = windows(x, size, stride).reshape(n, c, ho, wo, size * size).argmax(axis=4)
    dx = np.zeros(x.shape, dtype=np.result_type(dout, x))
    for offset in range(size * size):
        i, j = divmod(offset, size)
        dx[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += np.where(winner == offset, dout, 0.0)
    return dx


def formula(window: str) -> str:
    """One cell of a pooled map: ``=MAX(<size×size window of the ReLU map>)``."""
    return f"=MAX({window})"
