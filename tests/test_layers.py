"""Every layer, forward and backward, against the naive loops and finite differences, on random shapes:
one ``check_layer`` line per layer (tests/layer_check.py)."""

from __future__ import annotations

import math

import naive
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_check import check_layer

from xlcnn.nn.layers import conv, dense, flatten, pool, relu, softmax

small = st.integers(1, 3)
seeds = st.integers(0, 10_000)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=small, h=st.integers(1, 6), w=st.integers(1, 6), f=small, k=st.integers(1, 4),
       stride=small, pad=st.integers(0, 2), scale=st.sampled_from([1.0, 1 / 255, 0.5]), seed=seeds)
def test_conv(n: int, c: int, h: int, w: int, f: int, k: int, stride: int, pad: int, scale: float,
              seed: int) -> None:
    if k > min(h, w) + 2 * pad:
        k = min(h, w) + 2 * pad  # the kernel must fit the padded input
    check_layer(lambda x, wt, b: conv.forward(x, wt, b, stride, pad, scale),
                lambda x, wt, b: naive.conv(x, wt, b, stride, pad, scale),
                lambda g, x, wt, b: conv.backward(g, x, wt, stride, pad, scale), [(n, c, h, w), (f, c, k, k), (f,)],
                seed, "conv")


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=small, h=st.integers(1, 7), w=st.integers(1, 7), size=small, stride=small,
       seed=seeds)
def test_maxpool(n: int, c: int, h: int, w: int, size: int, stride: int, seed: int) -> None:
    size = min(size, h, w)  # continuous random values: no ties, no kink within a finite-difference step
    check_layer(lambda x: pool.forward(x, size, stride), lambda x: naive.maxpool(x, size, stride),
                lambda g, x: [pool.backward(g, x, size, stride)], [(n, c, h, w)], seed, "maxpool")


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 3), c=small, h=st.integers(1, 5), w=st.integers(1, 5), seed=seeds)
def test_relu(n: int, c: int, h: int, w: int, seed: int) -> None:
    check_layer(relu.forward, naive.relu, lambda g, x: [relu.backward(g, x)], [(n, c, h, w)], seed, "relu")


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 3), c=small, h=st.integers(1, 5), w=st.integers(1, 5), seed=seeds)
def test_flatten(n: int, c: int, h: int, w: int, seed: int) -> None:
    check_layer(flatten.forward, naive.flatten, lambda g, x: [flatten.backward(g, x.shape)], [(n, c, h, w)], seed,
                "flatten")


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 3), d=st.integers(1, 12), k=st.integers(2, 5), seed=seeds)
def test_dense(n: int, d: int, k: int, seed: int) -> None:
    check_layer(dense.forward, naive.dense, lambda g, x, w, b: dense.backward(g, x, w), [(n, d), (d, k), (k,)], seed,
                "dense")


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 4), k=st.integers(2, 6), seed=seeds)
def test_softmax_and_cross_entropy(n: int, k: int, seed: int) -> None:
    """−ln p_true for the first class of each sample; its backward is that of the batch mean, times N."""
    first = np.zeros(n, dtype=int)
    check_layer(lambda z: softmax.cross_entropy(softmax.forward(z)[3], first),
                lambda z: -math.log(naive.softmax(list(z))[0]),
                lambda g, z: [softmax.backward(softmax.forward(z)[3], first) * n * g[:, None]], [(n, k)], seed,
                "softmax + cross-entropy")
