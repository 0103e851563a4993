"""Flatten: channel, then row, then column (PyTorch's NCHW ``flatten``) into one long vector."""

from __future__ import annotations

import numpy as np


def forward(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) → (N, C·H·W)."""
    return x.reshape(x.shape[0], -1)


def backward(dout: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(N, C·H·W) → ``shape`` (N, C, H, W): flattening only moves numbers, so does its gradient."""
    return dout.reshape(shape)


def position(index: int, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Which (map, row, column) — all 0-based — flatten entry ``index`` came from."""
    _, h, w = shape
    return index // (h * w), (index // w) % h, index % w


def formula(value: str) -> str:
    """One flattened value: ``=<pool cell>`` — flattening only moves numbers."""
    return f"={value}"
