"""What each conv-1 filter looks for: the training windows that excite it most.

For every filter of the first convolution, the windows of the training images whose conv-1 output (before
ReLU, the input scale included: ``xlcnn.nn.layers.conv.forward``, exactly what the workbook computes) is
largest, strongest first, at most one per image so that the few shown are varied. A window is cut from the
zero-padded input exactly as the convolution reads it, so a window over the edge shows the padding as
black (0, 0, 0). Ties go to the lowest image index, then to the first position in row-major order, so the
same weights and images always give the same patches.

The Filters 1 sheet shows them beside each filter (``Model.patches``, stored in a template's patches.npz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xlcnn.model.spec import Architecture, Weights
from xlcnn.nn import engine
from xlcnn.nn.layers import conv

# Bytes of float64 work space per chunk of images. conv.forward copies every window of a chunk once (3 × k²
# numbers per output cell) and makes the maps about three times over (the product, its transpose, the bias
# added: 3 × filters per output cell), so 30,000 images of 28×28 go through the default model's conv 1
# (4 filters of 3×3) 137 at a time, in about 34 MB in all.
CHUNK_BYTES = 32 * 2**20


@dataclass(frozen=True, eq=False)
class Strongest:
    """Per conv-1 filter (rows) the ``count`` strongest windows, strongest first (columns): the image they
    come from, the output cell (row, column) whose window it is, and that cell's conv-1 value."""

    image: np.ndarray  # (filters, count) int64
    row: np.ndarray  # (filters, count) int64
    col: np.ndarray  # (filters, count) int64
    value: np.ndarray  # (filters, count) float64


def strongest_windows(arch: Architecture, weights: Weights, images: np.ndarray, count: int = 4) -> Strongest:
    """For each conv-1 filter, the ``count`` images whose strongest conv-1 cell is largest (one cell per
    image: its first maximum in row-major order), strongest first, ties to the lower image index.

    ``images`` is (N, H, W, 3) uint8, raw 0–255, at the model's input size; fewer than ``count`` images give
    one window per image. Memory stays bounded: the images go through in chunks of ``CHUNK_BYTES``, and only
    the best ``count`` of each filter are kept between chunks.
    """
    _check_images(arch, images, count)
    block = arch.blocks[0]
    spec, (_, out_h, out_w) = block.conv, block.conv_shape
    w, b = weights.conv_w[0], weights.conv_b[0]
    scale = engine.input_scale(arch, block)
    per_image = 8 * out_h * out_w * (block.in_shape[0] * spec.kernel**2 + 3 * spec.filters)
    chunk = max(1, CHUNK_BYTES // per_image)
    filters = spec.filters
    best_value = np.empty((0, filters))
    best_image = np.empty((0, filters), dtype=np.int64)
    best_cell = np.empty((0, filters), dtype=np.int64)
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].astype(np.float64).transpose(0, 3, 1, 2)
        out = conv.forward(x, w, b, spec.stride, spec.padding, scale).reshape(x.shape[0], filters, -1)
        cell = out.argmax(axis=2)  # (n, filters): argmax takes the first maximum, row-major
        value = np.take_along_axis(out, cell[:, :, None], axis=2)[:, :, 0]
        index = np.broadcast_to(np.arange(start, start + x.shape[0])[:, None], value.shape)
        # The kept ones come from earlier images, so a stable sort of the lot keeps ties in image order.
        best_value = np.concatenate([best_value, value])
        best_image = np.concatenate([best_image, index])
        best_cell = np.concatenate([best_cell, cell])
        order = np.argsort(-best_value, axis=0, kind="stable")[:count]
        best_value = np.take_along_axis(best_value, order, axis=0)
        best_image = np.take_along_axis(best_image, order, axis=0)
        best_cell = np.take_along_axis(best_cell, order, axis=0)
    row, col = np.divmod(best_cell.T, out_w)
    return Strongest(best_image.T.copy(), row, col, best_value.T.copy())


def top_patches(arch: Architecture, weights: Weights, images: np.ndarray, count: int = 4) -> np.ndarray:
    """(filters, count, k, k, 3) uint8: for each conv-1 filter, the raw RGB windows of ``strongest_windows``,
    cut from the zero-padded images as the convolution reads them (padded pixels are 0)."""
    best = strongest_windows(arch, weights, images, count)
    spec = arch.blocks[0].conv
    k, s, p = spec.kernel, spec.stride, spec.padding
    filters, shown = best.image.shape
    chosen = images[best.image.ravel()]  # (filters × shown, H, W, 3): only the images that are shown
    padded = np.pad(chosen, ((0, 0), (p, p), (p, p), (0, 0)))
    offsets = np.arange(k)
    rows = (best.row.ravel() * s)[:, None] + offsets  # (filters × shown, k): padded rows of each window
    cols = (best.col.ravel() * s)[:, None] + offsets
    which = np.arange(len(chosen))[:, None, None]
    windows = padded[which, rows[:, :, None], cols[:, None, :]]  # (filters × shown, k, k, 3)
    return windows.reshape(filters, shown, k, k, 3).astype(np.uint8, copy=False)


def _check_images(arch: Architecture, images: np.ndarray, count: int) -> None:
    spec = arch.input
    expected = (spec.height, spec.width, spec.channels)
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise TypeError(f"images must be a uint8 array, not {getattr(images, 'dtype', type(images).__name__)}")
    if images.ndim != 4 or images.shape[1:] != expected or images.shape[0] == 0:
        raise ValueError(f"images must be (N, {', '.join(map(str, expected))}) with N ≥ 1, not {images.shape}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a whole number of at least 1, not {count!r}")
