"""Fully connected layer: each class's logit is the flattened vector · that class's weight column + bias."""

from __future__ import annotations

import numpy as np


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D) @ (D, K) + (K,) → (N, K) logits."""
    return x @ w + b


def backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dL/d(logits) (N, K) → (dL/dx (N, D), dL/dw (D, K), dL/db (K,))."""
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def formula(flat: str, weights: str, bias: str) -> str:
    """One logit: ``=SUMPRODUCT(<flatten column>,<the class's weight column>)+<its bias>``."""
    return f"=SUMPRODUCT({flat},{weights})+{bias}"


def grad_w_formula(x: str, grad: str) -> str:
    """∂L/∂ one weight: ``=<its flattened value>*<∂L/∂ its class's logit>``."""
    return f"={x}*{grad}"


def grad_x_formula(grads: str, weights: str) -> str:
    """∂L/∂ one flattened value: ``=SUMPRODUCT(<∂L/∂ logits row>,<its row of weights>)`` — every class it
    feeds sends gradient back through its weight."""
    return f"=SUMPRODUCT({grads},{weights})"
