"""ReLU: a switch that lets positive evidence through and turns negative evidence off, ``max(0, x)``."""

from __future__ import annotations

import numpy as np


def forward(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)
