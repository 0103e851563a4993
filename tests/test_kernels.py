"""The trainer's float32 channels-last pass against the engine: the same probabilities, map maxima and every
gradient, on networks with strides, padding, overlapping and lossy pools, and on ties."""

from __future__ import annotations

import numpy as np
import pytest
from factories import ConvTuple, make_model

from xlcnn import load_model
from xlcnn.learn import kernels
from xlcnn.learn.datasets import generate
from xlcnn.learn.train import evaluate
from xlcnn.model.spec import Model
from xlcnn.model.zoo import ARCHITECTURES, initial_weights
from xlcnn.nn import engine
from xlcnn.nn.layers import softmax

SHAPES: list[tuple[int, int, list[ConvTuple]]] = [  # (height, width, blocks), each block (F, k, s, p, pool, stride)
    (9, 8, [(3, 3, 2, 1, 2, 1), (2, 2, 1, 0, 2, 2)]),  # a strided conv, then an overlapping pool
    (13, 11, [(4, 3, 1, 0, 3, 2), (5, 3, 1, 1, 2, 2)]),  # 3×3 pools two apart; pools that drop a row
    (12, 12, [(2, 5, 3, 2, 1, 1)]),  # stride 3, padding 2, a 1×1 "pool"
]


def _compare(model: Model, images: np.ndarray, labels: np.ndarray) -> None:
    arch, weights = model.arch, model.weights
    planes = images.transpose(0, 3, 1, 2)
    batch = engine.run(arch, weights, planes)
    dlogits = softmax.backward(batch.probs, labels)
    expected = engine.gradients(arch, weights, batch, dlogits)
    run = kernels.forward(arch, weights, planes)
    np.testing.assert_allclose(run.probs, batch.probs, rtol=1e-5, atol=1e-6)
    for top, relu in zip(run.relu_max, batch.relu, strict=True):
        np.testing.assert_allclose(top, relu.max(axis=(2, 3)).T, rtol=1e-5, atol=1e-4)
    got = kernels.backward(arch, weights, run, dlogits)
    pairs = [*zip(got.conv_w, expected.conv_w, strict=True), *zip(got.conv_b, expected.conv_b, strict=True),
             (got.dense_w, expected.dense_w), (got.dense_b, expected.dense_b)]
    for mine, theirs in pairs:
        assert mine.shape == theirs.shape and mine.dtype == np.float64
        assert np.abs(theirs).max() > 1e-5  # a real signal, not zeros matching zeros
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())


@pytest.mark.parametrize(("height", "width", "blocks"), SHAPES)
def test_the_trainers_pass_computes_the_engines_gradients(height: int, width: int, blocks: list[ConvTuple]) -> None:
    model = make_model(height, width, blocks, classes=4, seed=height)
    rng = np.random.default_rng(width)
    images = rng.uniform(0, 255, (6, height, width, 3))
    _compare(model, images, np.array([0, 1, 2, 3, 1, 0]))


@pytest.mark.parametrize("template", ["default", "tiny"])
def test_the_built_in_architectures_train_on_the_engines_gradients(template: str) -> None:
    arch = ARCHITECTURES[template]()
    model = Model("t", "t", "", arch, initial_weights(arch, 4), make_model(6, 6, [(1, 3, 1, 0, 2, 2)]).provenance)
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (8, arch.input.height, arch.input.width, 3)).astype(np.float64) - 127.5
    _compare(model, images, rng.integers(0, len(arch.classes), 8))


def test_a_tied_window_sends_its_gradient_to_its_first_cell() -> None:
    """Flat pictures make every window a tie: the engine and the trainer must both pick the first cell."""
    model = make_model(8, 8, [(2, 3, 1, 1, 2, 2)], classes=3, seed=2)
    images = np.full((3, 8, 8, 3), 100.0)
    images[1, :, 4:] = 200.0
    _compare(model, images, np.array([0, 1, 2]))


def test_in_float64_the_pass_predicts_what_the_engine_predicts() -> None:
    """The trainer counts accuracies through its pass in float64: the engine's probabilities, to ~1e-15."""
    model = load_model("default")
    data = generate("shapes", 300, seed=11)
    planes = data.images.transpose(0, 3, 1, 2)
    ours = kernels.forward(model.arch, model.weights, planes, np.float64).probs
    theirs = engine.run(model.arch, model.weights, planes.astype(np.float64)).probs
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    expected = float((theirs.argmax(axis=1) == data.labels).mean())
    assert evaluate(model, data) == expected > 0.9
