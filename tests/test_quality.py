"""The measures of a model's fitness for teaching (xlcnn.learn.quality) and the training pieces that serve
them (augmentation, keeping filters alive, temperature scaling), each against a naive reference."""

from __future__ import annotations

import numpy as np
import pytest

from xlcnn.learn import quality
from xlcnn.learn.augment import NONE, Augment, augment
from xlcnn.learn.datasets import generate
from xlcnn.learn.train import TrainConfig, _centre, _flat, _keep_alive, _raw, _unflat, fit
from xlcnn.model.spec import Architecture, ConvSpec, InputSpec, PoolSpec, Weights
from xlcnn.model.zoo import initial_weights
from xlcnn.nn import engine


def small_arch(filters: int = 3, padding: int = 0) -> Architecture:
    return Architecture(InputSpec(8, 8, 3, 1 / 255, "1/255"),
                        ((ConvSpec(filters, 3, 1, padding), PoolSpec(2, 2)),), ("a", "b", "c"))


def test_calibration_error_against_a_loop_over_bins() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3) * 0.5, 400)
    labels = rng.integers(0, 3, 400)
    expected = 0.0
    for b in range(10):
        low, high = b / 10, (b + 1) / 10
        members = [i for i in range(400) if low <= probs[i].max() < high or (b == 9 and probs[i].max() == 1.0)]
        if members:
            accuracy = np.mean([probs[i].argmax() == labels[i] for i in members])
            confidence = np.mean([probs[i].max() for i in members])
            expected += len(members) / 400 * abs(accuracy - confidence)
    assert quality.calibration_error(probs, labels) == pytest.approx(expected, abs=1e-12)


def test_a_perfectly_calibrated_model_has_no_calibration_error() -> None:
    probs = np.array([[0.75, 0.25]] * 4)
    assert quality.calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0)  # 3 of 4 right at 75%
    assert quality.calibration_error(probs, np.array([0, 0, 0, 0])) == pytest.approx(0.25)


def test_temperature_folded_into_the_dense_layer_divides_the_logits() -> None:
    arch = small_arch()
    weights = initial_weights(arch, 3)
    images = generate("stripes", 20, 1, (8, 8)).images
    z = quality.logits(arch, weights, images)
    scaled = quality.logits(arch, quality.with_temperature(weights, 2.5), images)
    np.testing.assert_allclose(scaled, z / 2.5, rtol=1e-12, atol=1e-15)


def test_temperature_minimises_held_out_loss_unless_that_makes_the_model_too_sure() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 2000)
    # Logits of a model that is right 70% of the time, and twice as sure as it should be.
    right = rng.random(2000) < 0.7
    guess = np.where(right, labels, (labels + 1) % 3)
    z = np.where(np.arange(3)[None, :] == guess[:, None], 2 * np.log(0.7 / 0.15), 0.0)
    t = quality.fit_temperature(z, labels)
    a = right.mean()  # about 0.7: the temperature that gives exactly this confidence minimises the loss
    assert t == pytest.approx(2 * np.log(0.7 / 0.15) / np.log(2 * a / (1 - a)), rel=0.01)
    assert quality.calibration_error(quality.softmax(z / t), labels) < 0.02
    # A model right every time is sharpened only until its median confidence reaches the cap.
    sure = np.where(np.arange(3)[None, :] == labels[:, None], 3.0, 0.0)
    t = quality.fit_temperature(sure, labels)
    median = float(np.median(quality.softmax(sure / t).max(axis=1)))
    assert quality.MAX_MEDIAN_CONFIDENCE - 0.01 < median <= quality.MAX_MEDIAN_CONFIDENCE


def test_activity_counts_images_whose_map_is_positive_somewhere() -> None:
    arch = small_arch(filters=2)
    w = np.zeros((2, 3, 3, 3))
    w[0, 0, 1, 1] = 1.0  # filter 1 sees the red of the centre pixel
    w[1] = -1.0  # filter 2 is negative on anything but black
    weights = Weights((w,), (np.array([-0.5, 0.0]),), np.zeros((18, 3)), np.zeros(3))
    images = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    images[0, 3, 3, 0] = 255  # one image with a bright red pixel: filter 1 fires there
    images[1, 3, 3, 0] = 100  # too dim: 100/255 − 0.5 < 0
    active = quality.activity(arch, weights, images)
    assert active == ((0.25, 0.0),)
    assert quality.dead_filters(active) == [(0, 1)]


def test_ring_share_counts_the_strongest_cells_on_the_outermost_ring() -> None:
    maps = np.zeros((2, 6, 6))
    maps[0, 0, :] = 10.0  # map 1: its six strongest cells are the top row
    maps[1, 2:4, 2:4] = 5.0  # map 2: the middle
    assert quality.ring_share(maps, strongest=6) == pytest.approx(1.0)
    assert quality.ring_share(maps[1:], strongest=4) == pytest.approx(0.0)


def test_weight_sensitivity_against_editing_each_weight_by_hand() -> None:
    arch = small_arch(filters=2)
    weights = initial_weights(arch, 5)
    weights = Weights(weights.conv_w, weights.conv_b, weights.dense_w * 5, weights.dense_b)
    image = generate("stripes", 1, 2, (8, 8)).images[0]
    moves = quality.weight_sensitivity(arch, weights, image)
    x = image.astype(float).transpose(2, 0, 1)[None]
    base = engine.run(arch, weights, x).probs[0]
    top = base.argmax()
    for index in [(0, 0, 0, 0), (1, 2, 1, 2), (0, 1, 2, 1)]:
        shifts = []
        for sign in (1, -1):
            w = weights.conv_w[0].copy()
            w[index] += sign
            p = engine.run(arch, Weights((w,), weights.conv_b, weights.dense_w, weights.dense_b), x).probs[0]
            shifts.append(abs(p[top] - base[top]))
        assert moves[index] == pytest.approx(max(shifts), abs=1e-15)


def test_augmentation_keeps_images_plausible_and_is_seeded() -> None:
    images = generate("shapes", 64, 1).images
    a = augment(images, np.random.default_rng(4), Augment())
    b = augment(images, np.random.default_rng(4), Augment())
    assert a.dtype == np.uint8 and a.shape == images.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, images)
    # Small changes: the mean brightness moves by at most the brightness and contrast jitter allow.
    assert np.abs(a.astype(float).mean(axis=(1, 2, 3)) - images.astype(float).mean(axis=(1, 2, 3))).max() < 40
    assert augment(images, np.random.default_rng(4), NONE) is images


def test_a_shift_repeats_the_edge_and_a_flip_mirrors() -> None:
    image = np.arange(12 * 12 * 3, dtype=np.uint8).reshape(1, 12, 12, 3)
    shifted = augment(image, np.random.default_rng(0), Augment(shift=1 / 12, flip=False, brightness=0,
                                                              contrast=0, tint=0))
    # Each output row and column is some input row and column, at most one place away, in order.
    found = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
             if np.array_equal(shifted[0], np.pad(image[0], ((1, 1), (1, 1), (0, 0)), mode="edge")
                               [1 + dy : 13 + dy, 1 + dx : 13 + dx])]
    assert len(found) == 1
    flip_only = Augment(shift=0, flip=True, brightness=0, contrast=0, tint=0)
    images = np.repeat(image, 40, axis=0)
    out = augment(images, np.random.default_rng(1), flip_only)
    mirrored = [np.array_equal(o, image[0, :, ::-1]) for o in out]
    kept = [np.array_equal(o, image[0]) for o in out]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True)) and 5 < sum(mirrored) < 35


def test_keep_alive_raises_only_the_bias_of_filters_that_are_off() -> None:
    arch = small_arch(filters=2)
    weights = initial_weights(arch, 2)
    relu_max = (np.array([[0.3, 0.0, 1.2, 0.7], [0.0, 0.0, 0.0, 0.0]]),)  # (filters, images)
    grads = Weights(weights.conv_w, (np.array([0.5, 0.5]),), weights.dense_w, weights.dense_b)
    pushed = _keep_alive(grads, relu_max, 0.1)
    np.testing.assert_allclose(pushed.conv_b[0], [0.475, 0.4])  # filter 1 is off on one image, 2 on all four


def test_a_dead_filter_is_revived_or_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    train = generate("stripes", 300, 1)
    check = generate("stripes", 200, 2)
    arch = Architecture(InputSpec(6, 6, 3, 1 / 255, "1/255"), ((ConvSpec(3, 3, 1, 1), PoolSpec(2, 2)),),
                        train.classes)
    start = initial_weights(arch, 1)
    w = start.conv_w[0].copy()
    w[1] = -1.0  # filter 2 is negative on every picture: dead from the start
    dead_start = Weights((w,), (np.array([0.0, -1.0, 0.0]),), start.dense_w, start.dense_b)
    monkeypatch.setattr("xlcnn.learn.train.initial_weights", lambda _arch, _seed: dead_start)
    assert quality.dead_filters(quality.activity(arch, dead_start, check.images)) == [(0, 1)]
    said: list[str] = []
    stuck = fit(arch, train, TrainConfig(epochs=1, learning_rate=1e-6, revivals=0, alive=0.0), check, None,
                said.append)
    assert said == ["conv 1 filter 2 stayed dead (its map is almost never positive) after 0 fresh starts"]
    assert quality.dead_filters(quality.activity(arch, stuck, check.images)) == [(0, 1)]
    said.clear()
    revived = fit(arch, train, TrainConfig(epochs=4, learning_rate=0.02), check, None, said.append)
    assert said == []
    assert min(quality.activity(arch, revived, check.images)[0]) >= quality.MIN_ACTIVITY


def test_training_on_centred_pixels_is_folded_exactly_into_the_first_biases() -> None:
    arch = small_arch(filters=3, padding=0)
    params = _flat(initial_weights(arch, 4))
    params[len(arch.blocks)] += 0.3  # some first-layer bias
    x = np.random.default_rng(0).integers(0, 256, (5, 3, 8, 8)).astype(float)
    centred = engine.run(arch, _unflat(params, 1), x - _centre(arch))
    raw = engine.run(arch, _raw(arch, params), x)
    assert _centre(arch) == 127.5 and _centre(small_arch(padding=1)) == 0.0  # padded borders would differ
    np.testing.assert_allclose(raw.conv[0], centred.conv[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(raw.probs, centred.probs, rtol=1e-12, atol=1e-15)


def test_the_temperature_keeps_the_cap_even_for_logits_far_apart() -> None:
    labels = np.arange(400) % 3
    z = np.where(np.arange(3)[None, :] == labels[:, None], 60.0, 0.0)  # 60 apart: sure beyond any grid
    t = quality.fit_temperature(z, labels)
    assert float(np.median(quality.softmax(z / t).max(axis=1))) <= quality.MAX_MEDIAN_CONFIDENCE
