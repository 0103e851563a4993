"""An independent, deliberately naive CNN: plain Python loops over every output cell.

It shares no code with xlcnn's engine and follows the textbook definitions, so agreement between the
two is evidence that the vectorised engine is right.
"""

from __future__ import annotations

import math

import numpy as np


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int, scale: float = 1.0) -> np.ndarray:
    channels, height, width = x.shape
    filters, _, k, _ = w.shape
    out_h = (height + 2 * padding - k) // stride + 1
    out_w = (width + 2 * padding - k) // stride + 1
    out = np.zeros((filters, out_h, out_w))
    for f in range(filters):
        for i in range(out_h):
            for j in range(out_w):
                total = 0.0
                for c in range(channels):
                    for di in range(k):
                        for dj in range(k):
                            row = i * stride + di - padding
                            col = j * stride + dj - padding
                            if 0 <= row < height and 0 <= col < width:
                                total += x[c, row, col] * w[f, c, di, dj]
                out[f, i, j] = total * scale + b[f]
    return out


def relu(x: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: v if v > 0 else 0.0)(x).astype(float)


def maxpool(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    channels, height, width = x.shape
    out_h = (height - size) // stride + 1
    out_w = (width - size) // stride + 1
    out = np.zeros((channels, out_h, out_w))
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                out[c, i, j] = max(
                    x[c, i * stride + di, j * stride + dj] for di in range(size) for dj in range(size)
                )
    return out


def flatten(x: np.ndarray) -> list[float]:
    channels, height, width = x.shape
    return [x[c, i, j] for c in range(channels) for i in range(height) for j in range(width)]


def dense(v: list[float], w: np.ndarray, b: np.ndarray) -> list[float]:
    return [sum(v[i] * w[i, k] for i in range(len(v))) + b[k] for k in range(w.shape[1])]


def softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return [v / s for v in e]


def network(image: np.ndarray, conv_w, conv_b, convs, scale, dense_w, dense_b, true_index):  # type: ignore[no-untyped-def]
    """image (H, W, 3) raw; convs = [(stride, padding, pool_size, pool_stride), …]."""
    x = np.asarray(image, dtype=float).transpose(2, 0, 1)
    stages = {}
    for k, (w, b, (stride, padding, psize, pstride)) in enumerate(zip(conv_w, conv_b, convs, strict=True), start=1):
        c = conv(x, w, b, stride, padding, scale if k == 1 else 1.0)
        r = relu(c)
        x = maxpool(r, psize, pstride)
        stages[f"conv{k}"], stages[f"relu{k}"], stages[f"pool{k}"] = c, r, x
    v = flatten(x)
    z = dense(v, dense_w, dense_b)
    p = softmax(z)
    stages.update(flatten=np.array(v), logits=np.array(z), probs=np.array(p), loss=-math.log(p[true_index]))
    return stages
