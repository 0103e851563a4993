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
    ho, wo = dout.shape[2:]
    winner = winners(x, size, stride) - 1
    dx = np.zeros(x.shape, dtype=np.result_type(dout, x))
    for offset in range(size * size):
        i, j = divmod(offset, size)
        dx[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += np.where(winner == offset, dout, 0.0)
    return dx


# Two values this close (relative to the window's maximum) tie. Spreadsheets compare numbers one unit in the
# last place apart as equal (0.1·3 = 0.3·1 there, not in float64), so an exact rule would let the engine and
# the workbook crown different cells; with this margin both crown the first of the near-equal cells.
TIE = 1e-12
TIE_TEXT = "1E-12"


def winners(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """(N, C, Ho, Wo): which cell of each window holds its maximum, counted 1, 2, … in row-major order — the
    first one when several tie (as PyTorch's ``max_pool2d`` picks), within ``TIE`` of the maximum."""
    n, c = x.shape[:2]
    view = windows(x, size, stride)
    cells = view.reshape(n, c, view.shape[2], view.shape[3], size * size)
    top = cells.max(axis=4, keepdims=True)
    return (cells >= top - TIE * np.abs(top)).argmax(axis=4) + 1


def formula(window: str) -> str:
    """One cell of a pooled map: ``=MAX(<size×size window of the ReLU map>)``."""
    return f"=MAX({window})"


def winner_formula(cells: list[str], pooled: str) -> str:
    """Which cell of a window won: ``=IF(a>=m-1E-12*ABS(m),1,IF(b>=…,2,…,n))`` over its cells in row-major
    order, ``m`` the pooled cell (the window's MAX): the first within ``TIE`` of the maximum wins."""
    low = f"{pooled}-{TIE_TEXT}*ABS({pooled})"
    text = str(len(cells))
    for i in range(len(cells) - 2, -1, -1):
        text = f"IF({cells[i]}>={low},{i + 1},{text})"
    return "=" + text


def backward_formula(terms: list[tuple[str, int, str]]) -> str:
    """∂L/∂ one cell of the ReLU map: for each window that holds it — (its winner cell, the cell's place in
    that window, the window's ∂L/∂pooled) — the window's gradient if this cell won, else 0; overlapping windows
    add up. A cell no window reads gets none (``=0``)."""
    if not terms:
        return "=0"
    return "=" + "+".join(f"IF({winner}={place},{grad},0)" for winner, place, grad in terms)
