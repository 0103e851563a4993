"""The trainer's own forward and backward pass: the engine's network, in float32 and channels last.

The workbook and its checks use ``xlcnn.nn.engine``: float64, one (N, C, H, W) array per stage, each layer's
math beside the formula of its cell. Training runs the same network thousands of times over and needs none of
that, only speed, so here the same layers are laid out for it:

- *Channels last*, (N, H, W, C): a convolution's receptive fields become the rows of one matrix (im2col),
  built from k² contiguous slices, and the whole layer is one matrix product — forward, and both halves of
  backward, all with the matrix kept from the forward pass.
- *float32*: half the memory to move, and the BLAS kernels run twice as wide. The weights themselves stay
  float64 between steps (Adam updates them there); only each step's arithmetic is float32, which changes a
  gradient by about one part in 10⁷ — far below the noise of the mini-batches.
- ReLU and max pooling swap places: the largest of a window after ReLU is ``max(0, largest before)``, so
  the pool reads the conv output and ReLU runs on the pooled maps, a quarter of the cells. Backward, ReLU's
  switch is needed only at each window's winning cell, whose value is the pooled one: a window's gradient
  goes to its winner if the pooled value is positive, else nowhere. Each window remembers where its
  gradient goes, the first of equal cells as in the engine.

What a step computes is the engine's: ``tests/test_kernels.py`` checks the loss and every gradient against
``engine.backward`` on the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xlcnn.model.spec import Architecture, Block, Weights

DTYPE = np.float32


@dataclass(frozen=True, eq=False)
class _ConvCache:
    cols: np.ndarray  # (C·k·k, N·Ho·Wo): every receptive field as a column
    in_shape: tuple[int, int, int, int]  # (C, N, H, W) before padding
    out_shape: tuple[int, int, int, int]  # (F, N, Ho, Wo)


@dataclass(frozen=True, eq=False)
class Pass:
    """One forward pass of a batch, with what its backward pass needs."""

    probs: np.ndarray  # (N, K) float64
    relu_max: tuple[np.ndarray, ...]  # per block, (F, N): each map's largest value after ReLU
    convs: tuple[_ConvCache, ...]
    routes: tuple[np.ndarray, ...]  # per block, (size², F, N, Ho, Wo) bool: which cell of a window gets its gradient
    flatten: np.ndarray  # (N, D) in the engine's order: channel, row, column


def _matrix(w: np.ndarray, dtype: type[np.floating] = DTYPE) -> np.ndarray:
    """(F, C, k, k) → (F, C·k·k), columns in the order of ``_im2col``'s rows."""
    return np.ascontiguousarray(w.reshape(w.shape[0], -1), dtype=dtype)


def _cells(a: np.ndarray, i: int, j: int, stride: int, ho: int, wo: int) -> np.ndarray:
    """The cells kernel (or window) offset (i, j) reads, for every output cell: a strided slice."""
    return a[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride]


def _padded(x: np.ndarray, padding: int) -> np.ndarray:
    """(C, N, H, W) with a border of ``padding`` zeros (``np.pad`` does the same, with more overhead)."""
    c, n, h, w = x.shape
    out = np.zeros((c, n, h + 2 * padding, w + 2 * padding), dtype=x.dtype)
    out[:, :, padding : padding + h, padding : padding + w] = x
    return out


def _im2col(x: np.ndarray, kernel: int, stride: int, padding: int) -> tuple[np.ndarray, int, int]:
    """(C, N, H, W) → ((C·k·k, N·Ho·Wo), Ho, Wo), built from k² strided slices of the padded input."""
    if padding:
        x = _padded(x, padding)
    c, n, h, w = x.shape
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    cols = np.empty((c, kernel, kernel, n, ho, wo), dtype=x.dtype)
    for i in range(kernel):
        for j in range(kernel):
            cols[:, i, j] = _cells(x, i, j, stride, ho, wo)
    return cols.reshape(c * kernel * kernel, -1), ho, wo


def _col2im(dcols: np.ndarray, shape: tuple[int, int, int, int], kernel: int, stride: int, padding: int,
            ho: int, wo: int) -> np.ndarray:
    """The adjoint of ``_im2col``: each column's gradient added back onto the input cells it was read from."""
    c, n, h, w = shape
    dx = np.zeros((c, n, h + 2 * padding, w + 2 * padding), dtype=DTYPE)
    d = dcols.reshape(c, kernel, kernel, n, ho, wo)
    for i in range(kernel):
        for j in range(kernel):
            _cells(dx, i, j, stride, ho, wo)[...] += d[:, i, j]
    return dx[:, :, padding : padding + h, padding : padding + w]


def _relu_pool(x: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(F, N, H, W) conv maps → (ReLU of the pooled maps, routes): floor mode; a window's gradient goes to the
    first of its largest cells, and nowhere when that is not positive (ReLU switched it off)."""
    ho, wo = (x.shape[2] - size) // stride + 1, (x.shape[3] - size) // stride + 1
    cells = np.stack([_cells(x, *divmod(offset, size), stride, ho, wo) for offset in range(size * size)])
    best = cells.max(axis=0)
    open_ = best > 0  # still to be routed: ReLU passes it and no earlier cell has won it
    routes = np.empty(cells.shape, dtype=bool)
    for offset in range(size * size):
        np.logical_and(cells[offset] == best, open_, out=routes[offset])
        open_ &= ~routes[offset]
    return np.maximum(best, 0), routes


def _unpool(dout: np.ndarray, routes: np.ndarray, shape: tuple[int, int, int, int], size: int,
            stride: int) -> np.ndarray:
    """∂L/∂ the conv maps: each window's gradient to its route; overlapping windows add up."""
    ho, wo = dout.shape[2:]
    dx = np.zeros(shape, dtype=DTYPE)
    for offset in range(size * size):
        cells = _cells(dx, *divmod(offset, size), stride, ho, wo)
        if stride >= size:  # windows apart: each cell is written once (an add would cost a temporary)
            np.multiply(dout, routes[offset], out=cells)
        else:
            cells += dout * routes[offset]
    return dx


def _scale(arch: Architecture, block: Block) -> float:
    return arch.input.scale if block.index == 1 else 1.0


def forward(arch: Architecture, weights: Weights, x: np.ndarray, dtype: type[np.floating] = DTYPE) -> Pass:
    """(N, 3, H, W) input values, as ``engine.run`` takes them (the raw pixels, or centred as the trainer
    feeds them) → a ``Pass``. In float64 its probabilities are the engine's to the last few digits, which is
    how the trainer measures the validation accuracy every epoch, several times faster than the engine."""
    # One copy into (C, N, H, W) order: the images usually arrive channels last in memory (the augmenter's and
    # the data's layout), and the nine slices of ``_im2col`` read a contiguous block faster (a batch of 64: 0.55
    # against 0.65–0.79 ms).
    h = np.ascontiguousarray(np.asarray(x).transpose(1, 0, 2, 3), dtype=dtype)
    convs, routes, relu_max = [], [], []
    for block, w, b in zip(arch.blocks, weights.conv_w, weights.conv_b, strict=True):
        spec = block.conv
        cols, ho, wo = _im2col(h, spec.kernel, spec.stride, spec.padding)
        out = _matrix(w, dtype) @ cols
        scale = _scale(arch, block)
        if scale != 1.0:  # after the sums, as the engine and the workbook's formula do
            out *= dtype(scale)
        out += b.astype(dtype)[:, None]
        out = out.reshape(spec.filters, h.shape[1], ho, wo)
        convs.append(_ConvCache(cols, h.shape, out.shape))
        relu_max.append(np.maximum(out.max(axis=(2, 3)), 0))
        h, route = _relu_pool(out, block.pool.size, block.pool.stride)
        routes.append(route)
    flat = np.ascontiguousarray(h.transpose(1, 0, 2, 3)).reshape(h.shape[1], -1)
    z = flat.astype(np.float64) @ weights.dense_w + weights.dense_b
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return Pass(e / e.sum(axis=1, keepdims=True), tuple(relu_max), tuple(convs), tuple(routes), flat)


def backward(arch: Architecture, weights: Weights, run: Pass, dlogits: np.ndarray) -> Weights:
    """∂L/∂ every weight and bias (float64 arrays, the engine's shapes), given ∂L/∂logits (N, K)."""
    dense_w = run.flatten.astype(np.float64).T @ dlogits
    dense_b = dlogits.sum(axis=0)
    _, f, n, ph, pw = run.routes[-1].shape
    d = (dlogits @ weights.dense_w.T).astype(DTYPE).reshape(n, f, ph, pw).transpose(1, 0, 2, 3)
    conv_w: list[np.ndarray] = []
    conv_b: list[np.ndarray] = []
    for block, w, conv, route in zip(reversed(arch.blocks), reversed(weights.conv_w), reversed(run.convs),
                                     reversed(run.routes), strict=True):
        spec, scale = block.conv, _scale(arch, block)
        dc = _unpool(d, route, conv.out_shape, block.pool.size, block.pool.stride).reshape(w.shape[0], -1)
        dmatrix = dc @ conv.cols.T
        if scale != 1.0:
            dmatrix *= DTYPE(scale)
        conv_w.insert(0, dmatrix.reshape(w.shape).astype(np.float64))
        conv_b.insert(0, dc.sum(axis=1).astype(np.float64))
        if block.index > 1:
            d = _col2im(_matrix(w).T @ dc, conv.in_shape, spec.kernel, spec.stride, spec.padding,
                        conv.out_shape[2], conv.out_shape[3])
    return Weights(tuple(conv_w), tuple(conv_b), dense_w, dense_b)
