"""One helper checks a layer both ways, in one line per layer (as tinygrad's op tests do):

    check_layer(forward, naive_forward, backward, shapes, seed)

- **forward** against the naive loops of ``tests/naive.py``, sample by sample;
- **backward** against central finite differences *of the naive forward*: for a random upstream
  gradient ``g``, the gradient of ``Σ g · naive_forward(inputs)`` with respect to every input array.

``forward(*arrays)`` and ``backward(g, *arrays)`` are the engine's, on a batch (N first); ``backward``
returns one gradient per array, in order (``None`` for one it does not compute). ``naive_forward`` takes
one sample's first array and the others as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from helpers import assert_stage_matches

EPS = 1e-6  # central differences: error ~ EPS² · f''' , far below the tolerance for these smooth pieces
RTOL, ATOL = 1e-6, 1e-8  # finite differences are good to about 1e-8; the forward must agree to 1e-12

Arrays = Sequence[np.ndarray]


def check_layer(forward: Callable[..., np.ndarray], naive_forward: Callable[..., Any],
                backward: Callable[..., Sequence[np.ndarray | None]], shapes: Sequence[tuple[int, ...]],
                seed: int, name: str = "layer") -> None:
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(0, 1, shape) for shape in shapes]
    got = forward(*arrays)
    want = np.stack([np.asarray(naive_forward(sample, *arrays[1:]), dtype=float) for sample in arrays[0]])
    assert want.size == got.size, f"{name} forward: {got.shape} values, the naive loops give {want.shape}"
    assert_stage_matches(f"{name} forward", got, want.reshape(got.shape))

    upstream = rng.normal(0, 1, got.shape)
    grads = backward(upstream, *arrays)
    assert len(grads) == len(arrays), f"{name}: {len(grads)} gradients for {len(arrays)} inputs"

    def probe() -> float:
        out = np.stack([np.asarray(naive_forward(sample, *arrays[1:]), dtype=float) for sample in arrays[0]])
        return float((out.reshape(upstream.shape) * upstream).sum())

    for i, (array, grad) in enumerate(zip(arrays, grads, strict=True)):
        if grad is not None:
            assert_stage_matches(f"{name} backward (input {i})", grad, numeric_gradient(probe, array), RTOL, ATOL)


def numeric_gradient(f: Callable[[], float], x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Central differences of ``f`` with respect to every element of ``x`` (changed in place, restored)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + eps
        up = f()
        x[i] = original - eps
        down = f()
        x[i] = original
        grad[i] = (up - down) / (2 * eps)
    return grad
