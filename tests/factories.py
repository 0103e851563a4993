"""Small models made in code for tests."""

from __future__ import annotations

import numpy as np

from xlcnn.model.spec import Architecture, ConvSpec, InputSpec, Model, PoolSpec, Provenance, Weights
from xlcnn.model.zoo import initial_weights

ConvTuple = tuple[int, int, int, int, int, int]


def make_arch(
    height: int, width: int, convs: list[ConvTuple], classes: int = 3, scale: float = 1 / 255
) -> Architecture:
    """convs = [(filters, kernel, stride, padding, pool_size, pool_stride), …]."""
    return Architecture(
        input=InputSpec(height, width, 3, scale, "1/255" if scale == 1 / 255 else repr(scale)),
        convs=tuple((ConvSpec(f, k, s, p), PoolSpec(ps, pst)) for f, k, s, p, ps, pst in convs),
        classes=tuple(f"class {chr(65 + i)}" for i in range(classes)),
    )


def make_model(
    height: int, width: int, convs: list[ConvTuple], classes: int = 3, seed: int = 0, scale: float = 1 / 255
) -> Model:
    """A model of that shape with random weights and biases from ``seed``."""
    arch = make_arch(height, width, convs, classes, scale)
    rng = np.random.default_rng(seed + 1)
    w = initial_weights(arch, seed)
    weights = Weights(
        w.conv_w,
        tuple(rng.normal(0, 0.1, b.shape) for b in w.conv_b),
        w.dense_w,
        rng.normal(0, 0.1, w.dense_b.shape),
    )
    return Model("test", "test", "", arch, weights, Provenance("random", "test weights", seed=seed))


def random_image(model: Model, seed: int = 0) -> np.ndarray:
    spec = model.arch.input
    return np.random.default_rng(seed).integers(0, 256, (spec.height, spec.width, 3)).astype(np.uint8)
