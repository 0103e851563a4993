"""How fit a trained model is for teaching, measured on held-out images: is every filter alive, is its
confidence honest, and what does the frame do to its maps.

- *Activity*: the share of images on which a filter's map is positive somewhere after ReLU. A filter that is
  never positive ("dead") shows a sheet of zeros and teaches nothing; below ``MIN_ACTIVITY`` counts as dead.
- *Confidence*: the median top probability. A model that says 100.0% to everything gives a student nothing
  to watch move when a weight changes.
- *Calibration error* (expected calibration error): sort the images into ``BINS`` equal-width bins of top
  probability and average, weighted by the bins' sizes, how far each bin's mean confidence is from its
  accuracy. 0 means "when it says 90%, it is right 90% of the time".
- *Temperature scaling* divides the logits by ``T``; with a single dense layer that is the same as dividing
  its weights and bias by ``T``, so a calibrated model is an ordinary model and its workbook shows the
  calibrated probabilities with no extra step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xlcnn.model.spec import Architecture, Weights
from xlcnn.nn import engine
from xlcnn.nn.layers import softmax as layers_softmax

MIN_ACTIVITY = 0.2  # a filter positive somewhere on fewer held-out images than this is dead
BINS = 10
MAX_MEDIAN_CONFIDENCE = 0.98  # temperature scaling never sharpens the model beyond this median confidence
# Fitted on other images than the held-out ones the model card reports, the temperature aims this much lower:
# another sample's median differs a little (by about 0.001 for 1,000 generated shapes).
SAMPLE_MARGIN = 0.004
CHUNK = 500


def _batches(images: np.ndarray) -> list[np.ndarray]:
    """(N, H, W, 3) raw images as (n, 3, H, W) float64 batches of at most ``CHUNK``."""
    return [np.asarray(images[i : i + CHUNK], dtype=np.float64).transpose(0, 3, 1, 2)
            for i in range(0, images.shape[0], CHUNK)]


def activity(arch: Architecture, weights: Weights, images: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Per conv layer, per filter: the share of ``images`` whose map is positive somewhere after ReLU."""
    counts = [np.zeros(block.conv.filters) for block in arch.blocks]
    for x in _batches(images):
        batch = engine.run(arch, weights, x)
        for k, relu in enumerate(batch.relu):
            counts[k] += (relu.max(axis=(2, 3)) > 0).sum(axis=0)
    n = max(1, images.shape[0])
    return tuple(tuple(float(c) / n for c in layer) for layer in counts)


def dead_filters(active: tuple[tuple[float, ...], ...]) -> list[tuple[int, int]]:
    """(layer, filter) pairs, 0-based, whose activity is below ``MIN_ACTIVITY``."""
    return [(k, f) for k, layer in enumerate(active) for f, share in enumerate(layer) if share < MIN_ACTIVITY]


def logits(arch: Architecture, weights: Weights, images: np.ndarray) -> np.ndarray:
    """(N, K) logits of raw (N, H, W, 3) images."""
    parts = [engine.run(arch, weights, x).logits for x in _batches(images)]
    return np.concatenate(parts) if parts else np.zeros((0, len(arch.classes)))


def softmax(z: np.ndarray) -> np.ndarray:
    """(N, K) probabilities of (N, K) logits, as the workbook computes them."""
    return layers_softmax.forward(z)[3]


def calibration_error(probs: np.ndarray, labels: np.ndarray) -> float:
    """Expected calibration error of (N, K) probabilities against (N,) labels, ``BINS`` equal-width bins."""
    top = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    which = np.minimum((top * BINS).astype(int), BINS - 1)
    error = 0.0
    for b in range(BINS):
        members = which == b
        if members.any():
            error += float(members.mean()) * abs(float(right[members].mean()) - float(top[members].mean()))
    return error


def _nll(z: np.ndarray, labels: np.ndarray, t: float) -> float:
    scaled = z / t
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(z: np.ndarray, labels: np.ndarray, cap: float = MAX_MEDIAN_CONFIDENCE) -> float:
    """The temperature that minimises the cross-entropy of ``z / T`` on held-out data (a grid search from 0.25
    to 8), raised if needed to the lowest temperature (to four decimals) at which the median confidence is at
    most ``cap`` — a model that is nearly always 99.9% sure teaches nothing about
    confidence, and its probabilities do not move when a student edits a weight."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 241))
    t = float(grid[int(np.argmin([_nll(z, labels, g) for g in grid]))])
    if _median(z, t) <= cap:
        return round(t, 4)
    low, high = t, 8.0  # the median confidence falls as T rises: bisect for where it reaches the cap
    while _median(z, high) > cap and high < 1e6:  # logits far apart need a hotter temperature
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (low, middle) if _median(z, middle) <= cap else (middle, high)
    return math.ceil(high * 1e4) / 1e4  # rounded up, so the cap still holds


def _median(z: np.ndarray, t: float) -> float:
    return float(np.median(softmax(z / t).max(axis=1)))


def with_temperature(weights: Weights, t: float) -> Weights:
    """The same model with its logits divided by ``t``: the dense weights and bias divided by ``t``."""
    return Weights(weights.conv_w, weights.conv_b, weights.dense_w / t, weights.dense_b / t)


@dataclass(frozen=True)
class Quality:
    """What the model card reports, measured on held-out images."""

    accuracy: float
    median_confidence: float
    calibration_error: float
    activity: tuple[tuple[float, ...], ...]


def measure(arch: Architecture, weights: Weights, images: np.ndarray, labels: np.ndarray) -> Quality:
    probs = softmax(logits(arch, weights, images))
    return Quality(
        accuracy=float((probs.argmax(axis=1) == labels).mean()),
        median_confidence=float(np.median(probs.max(axis=1))),
        calibration_error=calibration_error(probs, labels),
        activity=activity(arch, weights, images),
    )


def ring_share(maps: np.ndarray, strongest: int = 20) -> float:
    """The largest share, over the maps (F, H, W), of a map's ``strongest`` cells that lie on its outermost
    ring: near 1 when the zero-padded frame, not the picture, is what the filters see best.

    Cells that tie with the ``strongest``-th value (a plain white background gives hundreds of equal cells)
    count as an even share of the places left, as if the ties were broken at random: only a value the
    frame really makes stronger counts against it, not the order in which a sort visits equal cells."""
    h, w = maps.shape[1:]
    ring = np.ones((h, w), dtype=bool)
    ring[1:-1, 1:-1] = False
    shares = []
    for grid in maps:
        values = grid.reshape(-1)
        cut = np.sort(values)[::-1][min(strongest, values.size) - 1]
        above, tied = values > cut, values == cut
        left = min(strongest, values.size) - int(above.sum())  # places the tied cells share
        on_ring = ring.reshape(-1)
        expected = on_ring[above].sum() + left * on_ring[tied].mean()
        shares.append(float(expected) / min(strongest, values.size))
    return max(shares)


def weight_sensitivity(arch: Architecture, weights: Weights, image: np.ndarray, delta: float = 1.0) -> np.ndarray:
    """For every conv-1 weight (F, C, k, k): the larger of how far adding ``delta`` and subtracting it move
    the probability of the class the model predicts for ``image`` (H, W, 3) — how much a student who tries
    ±``delta`` on that one weight sees the prediction move. (The larger, because a prediction at 99.9% can
    rise by at most 0.1 points: only one direction can show much.)"""
    x = np.asarray(image, dtype=np.float64).transpose(2, 0, 1)[None]
    base = engine.run(arch, weights, x).probs[0]
    top = int(base.argmax())
    w1 = weights.conv_w[0]
    count = w1.size
    # One forward pass per edited network: 2 × 162 for the default model, a millisecond or two each.
    moves = np.empty((2, count))
    for sign_index, sign in enumerate((1.0, -1.0)):
        for flat in range(count):
            edited = w1.copy()
            edited.reshape(-1)[flat] += sign * delta
            changed = Weights((edited, *weights.conv_w[1:]), weights.conv_b, weights.dense_w, weights.dense_b)
            moves[sign_index, flat] = abs(engine.run(arch, changed, x).probs[0, top] - base[top])
    return moves.max(axis=0).reshape(w1.shape)
