"""The NumPy engine against the naive loop implementation in tests/naive.py, and hand-computed cases."""

from __future__ import annotations

import math

import naive
import numpy as np
import pytest
from factories import make_arch, make_model, random_image
from helpers import assert_stage_matches
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from xlcnn import OptionError, forward
from xlcnn.errors import ModelError
from xlcnn.model.templates import check_shapes
from xlcnn.nn.layers import conv, flatten, pool, softmax


@st.composite
def architectures(draw: st.DrawFn) -> tuple:  # type: ignore[type-arg]
    height = draw(st.integers(1, 14))
    width = draw(st.integers(1, 14))
    convs = []
    for _ in range(draw(st.integers(1, 2))):
        convs.append((
            draw(st.integers(1, 4)),  # filters
            draw(st.integers(1, 5)),  # kernel
            draw(st.integers(1, 3)),  # stride
            draw(st.integers(0, 2)),  # padding
            draw(st.integers(1, 3)),  # pool size
            draw(st.integers(1, 3)),  # pool stride
        ))
    return height, width, convs, draw(st.integers(2, 5)), draw(st.integers(0, 10_000))


def _valid(height: int, width: int, convs: list) -> bool:  # type: ignore[type-arg]
    try:
        check_shapes(make_arch(height, width, convs), "test")
    except ModelError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(architectures())
def test_engine_matches_naive_loops(case: tuple) -> None:  # type: ignore[type-arg]
    height, width, convs, classes, seed = case
    assume(_valid(height, width, convs))  # shapes that do not fit are refused by validation (tested elsewhere)
    model = make_model(height, width, convs, classes, seed)
    image = random_image(model, seed)
    true_index = seed % classes
    trace = forward(image, model, model.classes[true_index])
    w = model.weights
    ref = naive.network(
        image, w.conv_w, w.conv_b, [(s, p, ps, pst) for _, _, s, p, ps, pst in convs],
        model.arch.input.scale, w.dense_w, w.dense_b, true_index,
    )
    for k, block in enumerate(trace.blocks, start=1):
        assert_stage_matches(f"conv{k}", block.conv, ref[f"conv{k}"])
        assert_stage_matches(f"relu{k}", block.relu, ref[f"relu{k}"])
        assert_stage_matches(f"pool{k}", block.pool, ref[f"pool{k}"])
    for name in ("flatten", "logits", "probs", "loss"):
        assert_stage_matches(name, trace.stages()[name], ref[name])


def _article_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """5×5×3 input (R = 1…25, G = 2R, B = 0) and one 3×3×3 filter (R all ones, G centre 1, B all ones)."""
    red = np.arange(1, 26, dtype=float).reshape(5, 5)
    x = np.stack([red, 2 * red, np.zeros((5, 5))])[None]
    w = np.zeros((1, 3, 3, 3))
    w[0, 0] = 1.0
    w[0, 1, 1, 1] = 1.0
    w[0, 2] = 1.0
    return x, w, np.array([1.0])


def test_hand_computed_conv_without_padding_is_3x3() -> None:
    x, w, b = _article_case()
    out = conv.forward(x, w, b, stride=1, padding=0)
    assert out.shape == (1, 1, 3, 3)
    # top-left: R[0:3, 0:3] sums to 63, G's centre pixel is 2·7 = 14, bias 1
    assert out[0, 0, 0, 0] == 78.0
    # centre: R[1:4, 1:4] sums to 117, G centre 2·13 = 26, bias 1
    assert out[0, 0, 1, 1] == 144.0


def test_hand_computed_conv_with_padding_is_5x5() -> None:
    x, w, b = _article_case()
    out = conv.forward(x, w, b, stride=1, padding=1)
    assert out.shape == (1, 1, 5, 5)
    # top-left window hangs over the zero border: R 1+2+6+7 = 16, G centre 2·1 = 2, bias 1
    assert out[0, 0, 0, 0] == 19.0
    assert out[0, 0, 1, 1] == 78.0  # the unpadded top-left, shifted by the border


def test_stride_two_and_scale() -> None:
    x, w, b = _article_case()
    out = conv.forward(x, w, b, stride=2, padding=1, scale=0.5)
    assert out.shape == (1, 1, 3, 3)
    assert out[0, 0, 0, 0] == 18 * 0.5 + 1  # (16 + 2) · scale + bias


def test_maxpool_floor_mode_drops_the_partial_window() -> None:
    x = np.arange(25, dtype=float).reshape(1, 1, 5, 5)
    out = pool.forward(x, size=2, stride=2)
    assert out.tolist() == [[[[6.0, 8.0], [16.0, 18.0]]]]


def test_flatten_is_channel_row_column() -> None:
    x = np.arange(2 * 2 * 3, dtype=float).reshape(1, 2, 2, 3)
    assert flatten.forward(x)[0].tolist() == list(range(12))
    assert flatten.position(7, (2, 2, 3)) == (1, 0, 1)


def test_softmax_subtracts_the_max_and_losses_agree() -> None:
    z = np.array([[1.0, 2.0, 3.0]])
    zmax, e, _total, p = softmax.forward(z)
    assert zmax[0] == 3.0
    assert e[0].tolist() == [math.exp(-2), math.exp(-1), 1.0]
    expected = [math.exp(v) / (math.exp(1) + math.exp(2) + math.exp(3)) for v in (1, 2, 3)]
    assert_stage_matches("probs", p[0], expected)
    y = softmax.one_hot(np.array([0]), 3)
    ce = softmax.cross_entropy(p, np.array([0]))
    assert_stage_matches("ce", ce, [-math.log(expected[0])])
    assert_stage_matches("nll", softmax.nll(p, y), ce)
    assert_stage_matches("kl", softmax.kl(p, y), ce)


def test_softmax_does_not_overflow_on_huge_logits() -> None:
    _, _, _, p = softmax.forward(np.array([[1000.0, 1001.0, 999.0]]))
    assert np.all(np.isfinite(p)) and abs(p.sum() - 1.0) < 1e-15


def test_trace_names_every_stage_and_defaults_to_the_predicted_label() -> None:
    model = make_model(8, 8, [(2, 3, 1, 1, 2, 2)], classes=3)
    trace = forward(random_image(model), model)
    assert trace.true_index == trace.predicted_index
    assert list(trace.stages())[:6] == [
        "conv1_out1", "conv1_out2", "relu1_out1", "relu1_out2", "pool1_out1", "pool1_out2",
    ]
    assert trace.stages()["pool1_out1"].shape == (4, 4)
    assert trace.flatten.shape == (32,)
    assert math.isclose(trace.loss, trace.nll) and math.isclose(trace.loss, trace.kl, abs_tol=1e-15)


def test_unknown_true_label_lists_the_classes() -> None:
    model = make_model(4, 4, [(1, 3, 1, 1, 2, 2)], classes=2)
    with pytest.raises(OptionError, match=r"'dog' is not a class .*one of: class A, class B"):
        forward(random_image(model), model, "dog")


def test_wrong_image_size_is_refused() -> None:
    model = make_model(4, 4, [(1, 3, 1, 1, 2, 2)])
    with pytest.raises(OptionError, match="takes"):
        forward(np.zeros((5, 4, 3), np.uint8), model)


def test_forward_pass_is_float64() -> None:
    model = make_model(6, 6, [(2, 3, 1, 1, 2, 2)])
    trace = forward(random_image(model), model)
    assert trace.blocks[0].conv.dtype == np.float64 and trace.probs.dtype == np.float64
