"""Convolution: cross-correlation (as PyTorch ``Conv2d``) with zero padding and a stride.

Output size per axis is ``floor((n + 2p − k) / s) + 1``. The first layer multiplies the raw 0–255 pixel
sums by the input scale before adding the bias, exactly as its spreadsheet formula does.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad(x: np.ndarray, padding: int) -> np.ndarray:
    """Zero-pad the last two axes of ``x`` by ``padding`` on every side."""
    if padding == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)]
    return np.pad(x, widths)


def windows(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """(N, C, H, W) → (N, C, Ho, Wo, k, k): the receptive field of every output cell (a view, no copy)."""
    view = sliding_window_view(pad(x, padding), (kernel, kernel), axis=(2, 3))
    return view[:, :, ::stride, ::stride]


def forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int, scale: float = 1.0
) -> np.ndarray:
    """(N, C, H, W) × (F, C, k, k) → (N, F, Ho, Wo): ``(Σ window·kernel) · scale + bias``."""
    patches = windows(x, w.shape[2], stride, padding)
    out = np.tensordot(patches, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, F)
    if scale != 1.0:
        out = out * scale
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)) + b[None, :, None, None]
