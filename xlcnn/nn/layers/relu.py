"""ReLU: a switch that lets positive evidence through and turns negative evidence off, ``max(0, x)``."""

from __future__ import annotations

import numpy as np


def forward(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The switch passes the gradient where it let the value through (x > 0) and blocks it elsewhere."""
    return dout * (x > 0)


def formula(x: str) -> str:
    """One cell of a ReLU map: ``=MAX(0,<conv cell>)``."""
    return f"=MAX(0,{x})"


def backward_formula(x: str, grad: str) -> str:
    """∂L/∂ one conv cell: ``=IF(<conv cell>>0,<∂L/∂ its ReLU cell>,0)`` — the switch passes or blocks it."""
    return f"=IF({x}>0,{grad},0)"
