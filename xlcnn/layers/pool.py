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
