"""The learning layer (xlcnn.nn.learning) against finite differences of the naive network in tests/naive.py
and against loops, on random architectures: strides 1–3, paddings 0–2, kernels 1–5, overlapping and
non-overlapping pools."""

from __future__ import annotations

import naive
import numpy as np
import pytest
from factories import make_model, random_image
from hypothesis import HealthCheck, assume, given, settings
from test_engine import _valid, architectures

from xlcnn import OptionError, forward
from xlcnn.model.spec import Model, Weights
from xlcnn.nn import learning
from xlcnn.nn.layers import pool

EPS = 1e-6


def naive_loss(model: Model, image: np.ndarray, weights: Weights, true_index: int) -> float:
    convs = [(b.conv.stride, b.conv.padding, b.pool.size, b.pool.stride) for b in model.arch.blocks]
    return float(naive.network(image, weights.conv_w, weights.conv_b, convs, model.arch.input.scale,
                               weights.dense_w, weights.dense_b, true_index)["loss"])


def nudged(weights: Weights, which: str, k: int, index: tuple[int, ...], delta: float) -> Weights:
    arrays = {"w": list(weights.conv_w), "b": list(weights.conv_b)}
    if which in arrays:
        changed = arrays[which][k].copy()
        changed[index] += delta
        arrays[which][k] = changed
        return Weights(tuple(arrays["w"]), tuple(arrays["b"]), weights.dense_w, weights.dense_b)
    dense = {"dense_w": weights.dense_w.copy(), "dense_b": weights.dense_b.copy()}
    dense[which][index] += delta
    return Weights(weights.conv_w, weights.conv_b, dense["dense_w"], dense["dense_b"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(architectures())
def test_every_gradient_matches_finite_differences_of_the_naive_network(case: tuple) -> None:  # type: ignore[type-arg]
    height, width, convs, classes, seed = case
    assume(_valid(height, width, convs))
    model = make_model(height, width, convs, classes, seed)
    image = random_image(model, seed).astype(float) + np.random.default_rng(seed).uniform(0, 0.5, (height, width, 3))
    true = model.classes[seed % classes]
    got = learning.learn(model, image, true)
    rng = np.random.default_rng(seed + 7)
    checks: list[tuple[str, int, tuple[int, ...], float]] = []
    for k in range(len(model.arch.blocks)):
        w = model.weights.conv_w[k]
        checks.append(("w", k, tuple(int(rng.integers(0, n)) for n in w.shape), 0.0))
        checks.append(("b", k, (int(rng.integers(0, w.shape[0])),), 0.0))
    checks.append(("dense_w", 0, tuple(int(rng.integers(0, n)) for n in model.weights.dense_w.shape), 0.0))
    checks.append(("dense_b", 0, (int(rng.integers(0, classes)),), 0.0))
    t = seed % classes
    for which, k, index, _ in checks:
        up = naive_loss(model, image, nudged(model.weights, which, k, index, EPS), t)
        down = naive_loss(model, image, nudged(model.weights, which, k, index, -EPS), t)
        grad = {"w": got.grad_conv_w[k] if which == "w" else None, "b": got.grad_conv_b[k] if which == "b" else None,
                "dense_w": got.grad_dense_w, "dense_b": got.grad_dense_b}[which]
        assert grad is not None
        assert grad[index] == pytest.approx((up - down) / (2 * EPS), rel=1e-4, abs=1e-7), (which, k, index)
    # and one raw pixel of each channel
    for c in range(3):
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        bumped = image.copy()
        bumped[y, x, c] += EPS * 255
        lowered = image.copy()
        lowered[y, x, c] -= EPS * 255
        up, down = naive_loss(model, bumped, model.weights, t), naive_loss(model, lowered, model.weights, t)
        fd = (up - down) / (2 * EPS * 255)
        assert got.grad_input[c, y, x] == pytest.approx(fd, rel=1e-4, abs=1e-9)


def test_the_stages_chain_the_gradient_from_the_loss_to_the_pixels() -> None:
    model = make_model(9, 9, [(3, 3, 1, 1, 2, 2), (2, 2, 1, 0, 2, 1)], classes=3, seed=2)
    image = random_image(model, 2)
    got = learning.learn(model, image, model.classes[1])
    trace = forward(image, model, model.classes[1])
    np.testing.assert_allclose(got.grad_logits, trace.probs - np.eye(3)[1], atol=1e-15)
    np.testing.assert_allclose(got.grad_dense_b, got.grad_logits, atol=0)
    np.testing.assert_allclose(got.grad_dense_w, np.outer(trace.flatten, got.grad_logits), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.grad_flatten, model.weights.dense_w @ got.grad_logits, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.grad_pool[-1].reshape(-1), got.grad_flatten, atol=0)  # flatten is map-major
    for k, block in enumerate(trace.blocks):
        np.testing.assert_allclose(got.grad_conv[k], np.where(block.conv > 0, got.grad_relu[k], 0.0), atol=0)
        np.testing.assert_allclose(got.grad_conv_b[k], got.grad_conv[k].sum(axis=(1, 2)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.saliency, np.abs(got.grad_input).max(axis=0), atol=0)


def test_max_pooling_sends_a_tied_window_s_gradient_to_its_first_maximum_and_overlaps_add_up() -> None:
    x = np.zeros((1, 1, 3, 3))
    x[0, 0] = [[1, 1, 0], [1, 1, 1], [0, 1, 1]]  # every 2×2 window ties
    d = np.ones((1, 1, 2, 2))  # windows 1 apart: they overlap
    got = pool.backward(d, x, 2, 1)[0, 0]
    # window (0,0) → (0,0); (0,1) → (0,1); (1,0) → (1,0); (1,1) → (1,1): first maximum in row-major order
    np.testing.assert_array_equal(got, [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    x[0, 0] = [[0, 0, 0], [0, 5, 0], [0, 0, 0]]  # one cell the maximum of all four windows
    np.testing.assert_array_equal(pool.backward(d, x, 2, 1)[0, 0], [[0, 0, 0], [0, 4, 0], [0, 0, 0]])


def _cam_by_loops(model: Model, image: np.ndarray, cls: int) -> np.ndarray:
    """Grad-CAM from the definition, by loops: ∂z/∂A sends each pooled cell's dense weight to its window's
    first maximum."""
    trace = forward(image, model)
    last = model.arch.blocks[-1]
    a = trace.blocks[-1].relu
    f_count = a.shape[0]
    _, ph, pw = last.pool_shape
    size, stride = last.pool.size, last.pool.stride
    d = np.zeros_like(a)
    for f in range(f_count):
        for i in range(ph):
            for j in range(pw):
                window = a[f, i * stride : i * stride + size, j * stride : j * stride + size]
                r, c = divmod(int(np.argmax(window)), size)  # np.argmax: the first maximum, row-major
                d[f, i * stride + r, j * stride + c] += model.weights.dense_w[(f * ph + i) * pw + j, cls]
    alpha = d.mean(axis=(1, 2))
    return np.maximum(0.0, sum(alpha[f] * a[f] for f in range(f_count)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_cam_and_the_contributions_follow_their_definitions(seed: int) -> None:
    model = make_model(10, 7, [(2, 3, 1, 1, 2, 2), (3, 3, 1, 1, 3, 2)], classes=4, seed=seed)
    image = random_image(model, seed)
    trace = forward(image, model)
    for cls in range(4):
        got = learning.learn(model, image, model.classes[0], cam_class=model.classes[cls])
        assert got.cam_class == cls
        np.testing.assert_allclose(got.gradcam, _cam_by_loops(model, image, cls), rtol=1e-12, atol=1e-15)
        h, w = got.gradcam.shape
        for y in range(10):
            for x in range(7):
                assert got.gradcam_input[y, x] == got.gradcam[y * h // 10, x * w // 7]
    assert learning.learn(model, image, model.classes[0]).cam_class == trace.predicted_index  # the default
    contrib = learning.learn(model, image, model.classes[0]).contrib
    np.testing.assert_allclose(contrib.sum(axis=0) + model.weights.dense_b, trace.logits, rtol=1e-12, atol=1e-12)
    per_map = trace.flatten.shape[0] // contrib.shape[0]
    for f in range(contrib.shape[0]):
        cells = slice(f * per_map, (f + 1) * per_map)
        np.testing.assert_allclose(contrib[f], trace.flatten[cells] @ model.weights.dense_w[cells], rtol=1e-12)


def test_one_step_of_gradient_descent_and_the_forward_pass_after_it() -> None:
    model = make_model(8, 8, [(3, 3, 1, 1, 2, 2)], classes=3, seed=5)
    image = random_image(model, 5)
    true = model.classes[2]
    before = forward(image, model, true)
    losses = []
    for rate in (0.0, 0.01, 0.1, 1.0):
        got = learning.learn(model, image, true, learning_rate=rate)
        np.testing.assert_array_equal(got.step.dense_w, model.weights.dense_w - rate * got.grad_dense_w)
        np.testing.assert_array_equal(got.step.conv_w[0], model.weights.conv_w[0] - rate * got.grad_conv_w[0])
        stepped = Model(model.name, model.title, "", model.arch, got.step, model.provenance)
        after = forward(image, stepped, true)
        np.testing.assert_allclose(got.step_probs, after.probs, rtol=1e-12, atol=1e-15)
        assert got.step_loss == pytest.approx(after.loss, rel=1e-12)
        losses.append(got.step_loss)
    assert losses[0] == pytest.approx(before.loss, rel=1e-12)
    assert losses[1] < losses[0] and losses[2] < losses[1]  # a small step downhill lowers the loss


def test_the_learning_rate_is_checked() -> None:
    model = make_model(6, 6, [(2, 3, 1, 1, 2, 2)], seed=1)
    image = random_image(model, 1)
    for bad in (-0.1, float("nan"), True, "0.1"):
        with pytest.raises(OptionError, match="must be 0 or more and below 1,000,000"):
            learning.learn(model, image, model.classes[0], learning_rate=bad)  # type: ignore[arg-type]
