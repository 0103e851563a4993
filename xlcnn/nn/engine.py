"""The NumPy reference engine: one forward pass that keeps every intermediate stage.

Conventions, shared with the workbook (which must compute the same numbers):

- float64 throughout; the input is the raw 0–255 pixel grid as (3, H, W) — R, G, B.
- Convolution is cross-correlation with zero padding; output size ``floor((n + 2p − k)/s) + 1``.
  The first convolution multiplies its window sums by the model's input scale (e.g. 1/255) before adding
  the bias: ``(Σ window·kernel) · scale + bias``.
- ReLU is ``max(0, x)``; max pooling runs in floor mode.
- Flatten order is channel, then row, then column (NCHW).
- Dense logits are ``flatten · W[:, class] + b[class]`` with W of shape (flatten, classes).
- Softmax subtracts the largest logit before ``exp``; cross-entropy is ``−ln p_true`` (natural log).

Nothing here loops over pixels: each layer is a handful of array operations (see ``xlcnn.nn.layers``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xlcnn.errors import OptionError, option
from xlcnn.model import names
from xlcnn.model.spec import Architecture, Block, Model, Weights
from xlcnn.nn.layers import conv, dense, flatten, pool, relu, softmax


@dataclass(frozen=True, eq=False)
class BlockTrace:
    """Block k's stages, each (filters, rows, cols)."""

    conv: np.ndarray
    relu: np.ndarray
    pool: np.ndarray


@dataclass(frozen=True, eq=False)
class Trace:
    """Every stage of one forward pass, named as in the workbook's defined names."""

    input: np.ndarray  # (3, H, W) raw 0–255 values
    blocks: tuple[BlockTrace, ...]
    flatten: np.ndarray  # (D,)
    logits: np.ndarray  # (K,)
    max_logit: float
    exp: np.ndarray  # (K,) exp(z − max)
    exp_sum: float
    probs: np.ndarray  # (K,)
    predicted_index: int
    true_index: int
    one_hot: np.ndarray  # (K,)
    loss: float  # −ln p_true
    nll: float  # −Σ y·ln p (equals loss)
    kl: float  # Σ y·ln(y/p) (equals loss for a one-hot y)
    classes: tuple[str, ...]

    @property
    def predicted_label(self) -> str:
        return self.classes[self.predicted_index]

    @property
    def true_label(self) -> str:
        return self.classes[self.true_index]

    def stages(self) -> dict[str, np.ndarray]:
        """All derived stages by contract name (``conv1_out2``, ``probs``, …), in pipeline order."""
        out: dict[str, np.ndarray] = {}
        for k, block in enumerate(self.blocks, start=1):
            for kind, maps in (("conv", block.conv), ("relu", block.relu), ("pool", block.pool)):
                for f, grid in enumerate(maps, start=1):
                    out[names.out(kind, k, f)] = grid
        out["flatten"] = self.flatten
        out["logits"] = self.logits
        out["probs"] = self.probs
        out["loss"] = np.array(self.loss)
        return out


def first_overflow(trace: Trace) -> str | None:
    """The first stage (by contract name) holding a value that is not a finite number, or None.

    A finite but huge weight or scale (1e308) overflows float64 on the way: a spreadsheet would show errors,
    and an .xlsx cannot store inf or nan as a value. (An infinite *loss* is fine: it is −ln of a probability
    that underflowed to 0, and the workbook shows LN's error for it.)"""
    for name, values in trace.stages().items():
        if name != names.LOSS and not np.isfinite(values).all():
            return name
    return None


def true_index_of(model: Model, true_label: str) -> int:
    """The index of ``true_label`` among the model's classes (exactly: the spreadsheet's dropdown offers
    them as they are)."""
    try:
        return model.classes.index(true_label)
    except ValueError:
        known = ", ".join(model.classes)
        raise OptionError(f"{option('label')} {true_label!r} is not a class of model {model.name!r} "
                          f"(one of: {known})") from None


def input_scale(arch: Architecture, block: Block) -> float:
    """The factor on a block's window sums: the model's input scale on the first conv, 1 after it."""
    return arch.input.scale if block.index == 1 else 1.0


@dataclass(frozen=True, eq=False)
class Batch:
    """A batched forward pass: every stage of N inputs at once, and what the backward pass needs."""

    conv_in: tuple[np.ndarray, ...]  # what each conv read, (N, C, H, W)
    conv: tuple[np.ndarray, ...]  # each block's maps before ReLU, after it, after pooling
    relu: tuple[np.ndarray, ...]
    pool: tuple[np.ndarray, ...]
    flatten: np.ndarray  # (N, D)
    logits: np.ndarray  # (N, K)
    max_logit: np.ndarray  # (N,)
    exp: np.ndarray  # (N, K)
    exp_sum: np.ndarray  # (N,)
    probs: np.ndarray  # (N, K)


def run(arch: Architecture, weights: Weights, x: np.ndarray) -> Batch:
    """(N, 3, H, W) raw 0–255 values → every stage, through each layer's ``forward``.

    Values that overflow become inf or nan silently (no RuntimeWarning on the user's terminal): callers
    that need finite stages check them (``first_overflow``)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _run(arch, weights, x)


def _run(arch: Architecture, weights: Weights, x: np.ndarray) -> Batch:
    ins, convs, relus, pools = [], [], [], []
    for block, w, b in zip(arch.blocks, weights.conv_w, weights.conv_b, strict=True):
        c = conv.forward(x, w, b, block.conv.stride, block.conv.padding, input_scale(arch, block))
        r = relu.forward(c)
        ins.append(x)
        x = pool.forward(r, block.pool.size, block.pool.stride)
        convs.append(c)
        relus.append(r)
        pools.append(x)
    flat = flatten.forward(x)
    z = dense.forward(flat, weights.dense_w, weights.dense_b)
    zmax, e, total, p = softmax.forward(z)
    return Batch(tuple(ins), tuple(convs), tuple(relus), tuple(pools), flat, z, zmax, e, total, p)


@dataclass(frozen=True, eq=False)
class BlockGrads:
    """∂L/∂ each stage of one block, batched like ``Batch``: (N, F, rows, cols), and of its weights."""

    pool: np.ndarray  # ∂L/∂ pool output
    relu: np.ndarray  # ∂L/∂ ReLU output
    conv: np.ndarray  # ∂L/∂ conv output (before ReLU)
    w: np.ndarray  # (F, C, k, k), summed over the batch
    b: np.ndarray  # (F,)


@dataclass(frozen=True, eq=False)
class Backward:
    """One backward pass: ∂L/∂ every stage, weight and (if asked) raw input pixel, last layer first."""

    flatten: np.ndarray  # (N, D)
    dense_w: np.ndarray
    dense_b: np.ndarray
    blocks: tuple[BlockGrads, ...]
    input: np.ndarray | None  # (N, 3, H, W): ∂L/∂ raw 0–255 pixel (the input scale included)

    @property
    def weights(self) -> Weights:
        return Weights(tuple(g.w for g in self.blocks), tuple(g.b for g in self.blocks), self.dense_w, self.dense_b)


def backward(arch: Architecture, weights: Weights, batch: Batch, dlogits: np.ndarray,
             input_grad: bool = False) -> Backward:
    """Every gradient, given ∂L/∂logits (N, K): each layer's ``backward``, last layer first. The trainer
    uses the weights' part; the workbook's learning sheets show every stage (``input_grad`` for saliency)."""
    dflat, dense_w, dense_b = dense.backward(dlogits, batch.flatten, weights.dense_w)
    dx = flatten.backward(dflat, batch.pool[-1].shape)
    grads: list[BlockGrads] = []
    d_input = None
    for block in reversed(arch.blocks):
        k = block.index - 1
        dpool = dx
        dr = pool.backward(dpool, batch.relu[k], block.pool.size, block.pool.stride)
        dc = relu.backward(dr, batch.conv[k])
        grad_in, dw, db = conv.backward(
            dc, batch.conv_in[k], weights.conv_w[k], block.conv.stride, block.conv.padding,
            input_scale(arch, block), input_grad=block.index > 1 or input_grad,
        )
        grads.insert(0, BlockGrads(dpool, dr, dc, dw, db))
        if grad_in is not None:
            dx = grad_in
            d_input = grad_in if block.index == 1 else None
    return Backward(dflat, dense_w, dense_b, tuple(grads), d_input)


def gradients(arch: Architecture, weights: Weights, batch: Batch, dlogits: np.ndarray) -> Weights:
    """∂L/∂ every weight and bias, given ∂L/∂logits (N, K) (see ``backward``)."""
    return backward(arch, weights, batch, dlogits).weights


def forward(image: np.ndarray, model: Model, true_label: str | None = None) -> Trace:
    """Run ``model`` on ``image`` — (H, W, 3) uint8 or any real array of raw 0–255 values.

    ``true_label`` is the class the loss is measured against; by default the predicted class, so a fresh
    workbook shows the loss of its own guess.
    """
    arch, weights = model.arch, model.weights
    expected = (arch.input.height, arch.input.width, arch.input.channels)
    if tuple(image.shape) != expected:
        raise OptionError(f"the image is {image.shape}, but model {model.name!r} takes {expected} (H, W, C)")
    x = np.asarray(image, dtype=np.float64).transpose(2, 0, 1)[None]
    batch = run(arch, weights, x)
    blocks = [BlockTrace(c[0], r[0], q[0]) for c, r, q in zip(batch.conv, batch.relu, batch.pool, strict=True)]
    p = batch.probs
    predicted = int(np.argmax(p[0]))
    t = predicted if true_label is None else true_index_of(model, true_label)
    y = softmax.one_hot(np.array([t]), len(model.classes))
    return Trace(
        input=x[0],
        blocks=tuple(blocks),
        flatten=batch.flatten[0],
        logits=batch.logits[0],
        max_logit=float(batch.max_logit[0]),
        exp=batch.exp[0],
        exp_sum=float(batch.exp_sum[0]),
        probs=p[0],
        predicted_index=predicted,
        true_index=t,
        one_hot=y[0],
        loss=float(softmax.cross_entropy(p, np.array([t]))[0]),
        nll=float(softmax.nll(p, y)[0]),
        kl=float(softmax.kl(p, y)[0]),
        classes=model.classes,
    )
