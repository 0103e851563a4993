"""Convolution: cross-correlation (as PyTorch ``Conv2d``) with zero padding and a stride.

Output size per axis is ``floor((n + 2p − k) / s) + 1``. The first layer multiplies the raw 0–255 pixel
sums by the input scale before adding the bias, exactly as its spreadsheet formula does.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, padding: int, scale: float = 1.0,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of ``forward`` given dL/d(out) (N, F, Ho, Wo) → (dL/dx or None, dL/dw, dL/db).

    One kernel offset (i, j) at a time — k² steps, never a loop over pixels: the input pixels that offset
    reads form a strided slice of the padded input, so ``dw[:, :, i, j]`` correlates that slice with dout
    and dx gets dout sent back through ``w[:, :, i, j]`` into the same slice (col2im). (One ``tensordot``
    over all windows at once is far slower here: it copies the overlapping windows k² times over.)
    The first layer needs no dx.
    """
    k = w.shape[2]
    ho, wo = dout.shape[2], dout.shape[3]
    xp = pad(x, padding)

    def at(a: np.ndarray, i: int, j: int) -> np.ndarray:  # the cells kernel offset (i, j) reads
        return a[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride]

    # dw[:, :, i, j] as one matrix product (F, N·Ho·Wo) × (N·Ho·Wo, C): BLAS, several times faster than
    # an einsum over the strided slice.
    d_rows = dout.transpose(1, 0, 2, 3).reshape(dout.shape[1], -1)
    dw = np.empty(w.shape, dtype=np.result_type(dout, x))
    for i in range(k):
        for j in range(k):
            dw[:, :, i, j] = d_rows @ at(xp, i, j).transpose(1, 0, 2, 3).reshape(x.shape[1], -1).T
    dw *= scale
    db = dout.sum(axis=(0, 2, 3))
    if not input_grad:
        return None, dw, db
    dxp = np.zeros(xp.shape, dtype=dw.dtype)
    d = dout.transpose(0, 2, 3, 1) * scale  # (N, Ho, Wo, F)
    for i in range(k):
        for j in range(k):
            at(dxp, i, j)[...] += (d @ w[:, :, i, j]).transpose(0, 3, 1, 2)
    return dxp[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]], dw, db


def dilate(dout: np.ndarray, stride: int) -> np.ndarray:
    """(…, Ho, Wo) → (…, (Ho−1)·s+1, (Wo−1)·s+1): the gradient spread out, ``stride − 1`` zeros between cells, so
    that the backward pass of a strided convolution is a plain (stride-1) one."""
    if stride == 1:
        return dout
    ho, wo = dout.shape[-2:]
    out = np.zeros((*dout.shape[:-2], (ho - 1) * stride + 1, (wo - 1) * stride + 1), dtype=dout.dtype)
    out[..., ::stride, ::stride] = dout
    return out


def formula(windows: Sequence[str], kernels: Sequence[str], bias: str, scale: str = "") -> str:
    """One cell of a conv map: ``=(SUMPRODUCT(window₁,kernel₁)+…)*<scale>+<bias>``, one SUMPRODUCT per input
    channel; without a ``scale`` (every layer after the first, or an unscaled input) ``=SUMPRODUCT(…)+…+<bias>``."""
    sums = "+".join(f"SUMPRODUCT({window},{kernel})" for window, kernel in zip(windows, kernels, strict=True))
    return f"=({sums})*{scale}+{bias}" if scale else f"={sums}+{bias}"


def input_grad_formula(windows: Sequence[str], flipped: Sequence[str], scale: str = "") -> str:
    """∂L/∂ one input cell: a convolution of ∂L/∂conv (spread out by the stride, with a zero border) with each
    filter turned 180°, ``=SUMPRODUCT(window₁,flipped₁)+…`` over the filters, times the input scale on the
    first layer."""
    sums = "+".join(f"SUMPRODUCT({window},{kernel})" for window, kernel in zip(windows, flipped, strict=True))
    return f"=({sums})*{scale}" if scale else f"={sums}"


def weight_grad_formula(grad: str, inputs: str, scale: str = "") -> str:
    """∂L/∂ one kernel weight: ``=SUMPRODUCT(<∂L/∂conv, spread out>,<the input cells that weight touched>)``,
    times the input scale on the first layer."""
    return f"=SUMPRODUCT({grad},{inputs})*{scale}" if scale else f"=SUMPRODUCT({grad},{inputs})"


def bias_grad_formula(grad: str) -> str:
    """∂L/∂ a filter's bias: ``=SUM(<∂L/∂ its map>)`` — the bias is added to every cell."""
    return f"=SUM({grad})"
