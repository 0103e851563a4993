"""The learning layer of one workbook: how the network learns and what it looked at, for one image.

Conventions, shared with the trainer (``xlcnn.nn.engine.backward``) and the learning sheets' formulas:

- The loss is ``L = −ln p_true``, so ``∂L/∂z = p − y``. Every gradient has the shape and orientation of
  the thing it is the gradient of.
- ReLU's derivative is 0 where its input is ≤ 0; max pooling sends a window's gradient to its maximum,
  the first one in row-major order when several tie, and overlapping windows add up.
- The first convolution's gradients include the input scale: ``∂L/∂pixel`` is per raw 0–255 value.
- Saliency is, per pixel, the largest of the three channels' ``|∂L/∂pixel|``.
- Grad-CAM explains the logit of ``cam_class``: ``α_f`` is the mean over map f of ``∂z_class/∂A_f``
  (A_f the last block's ReLU map f), the map is ``max(0, Σ_f α_f·A_f)``, brought to the input's size by
  nearest neighbour (input cell (y, x) takes cell (⌊y·h/H⌋, ⌊x·w/W⌋)).
- ``contrib[f, k]`` is Σ over map f's flattened cells of value × dense weight of class k: each column's sum
  plus the class's bias *is* its logit.
- One step of gradient descent moves every weight and bias to ``w − η·∂L/∂w``; the forward pass after it
  runs on the same image with the stepped weights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from xlcnn.errors import OptionError, option
from xlcnn.model.spec import Model, Weights
from xlcnn.nn import engine
from xlcnn.nn.layers import dense, flatten, pool, softmax

# On the default model a step this size lowers the loss of every sample picture, whatever the true label; with a
# wrong label, ten times that overshoots on some (the square called a circle) and not on others.
DEFAULT_LEARNING_RATE = 0.003
MAX_LEARNING_RATE = 1e6  # beyond any step a lesson takes; a rate this large only overflows


@dataclass(frozen=True, eq=False)
class Learning:
    """Every number of the learning sheets for one image (single image: no batch axis)."""

    learning_rate: float
    grad_logits: np.ndarray  # (K,)
    grad_dense_w: np.ndarray  # (D, K)
    grad_dense_b: np.ndarray  # (K,)
    grad_flatten: np.ndarray  # (D,)
    grad_pool: tuple[np.ndarray, ...]  # per block, (F, h, w)
    grad_relu: tuple[np.ndarray, ...]
    grad_conv: tuple[np.ndarray, ...]
    grad_conv_w: tuple[np.ndarray, ...]  # per block, (F, C, k, k)
    grad_conv_b: tuple[np.ndarray, ...]  # per block, (F,)
    grad_input: np.ndarray  # (3, H, W), per raw 0–255 pixel
    saliency: np.ndarray  # (H, W)
    cam_class: int
    cam_alpha: np.ndarray  # (F,) of the last block
    gradcam: np.ndarray  # (h, w) of the last block's maps
    gradcam_input: np.ndarray  # (H, W)
    contrib: np.ndarray  # (F of the last pool, K)
    step: Weights
    step_logits: np.ndarray  # (K,)
    step_probs: np.ndarray  # (K,)
    step_loss: float
    step_trace: engine.Trace  # the whole forward pass after the step (the step sheets show its maps)


def learning_overflow(learned: Learning) -> str | None:
    """The first of the learning layer's numbers (by its field's name) that is not finite, or None. (An
    infinite loss after the step is fine: the workbook shows LN's error for it, as for the loss.)"""
    for name, value in vars(learned).items():
        arrays = value.stages().values() if isinstance(value, engine.Trace) else (
            [*value.conv_w, *value.conv_b, value.dense_w, value.dense_b] if isinstance(value, Weights) else
            list(value) if isinstance(value, tuple) else [value])
        for array in arrays:
            if name == "step_loss" or (name == "step_trace" and np.ndim(array) == 0):
                continue
            if isinstance(array, np.ndarray | float) and not np.isfinite(array).all():
                return name
    return None


def stepped(weights: Weights, grads: Weights, rate: float) -> Weights:
    """``w − η·∂L/∂w`` for every weight and bias."""
    return Weights(
        tuple(w - rate * g for w, g in zip(weights.conv_w, grads.conv_w, strict=True)),
        tuple(b - rate * g for b, g in zip(weights.conv_b, grads.conv_b, strict=True)),
        weights.dense_w - rate * grads.dense_w,
        weights.dense_b - rate * grads.dense_b,
    )


def contributions(flat: np.ndarray, dense_w: np.ndarray, maps: int) -> np.ndarray:
    """(maps, K): Σ over each map's run of flattened cells of value × weight (flatten is map-major)."""
    per_map = flat.shape[0] // maps
    return (flat[:, None] * dense_w).reshape(maps, per_map, -1).sum(axis=1)


def upsample(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest neighbour: input cell (y, x) takes ``cam[⌊y·h/H⌋, ⌊x·w/W⌋]``."""
    h, w = cam.shape
    rows = (np.arange(height) * h) // height
    cols = (np.arange(width) * w) // width
    return cam[rows[:, None], cols[None, :]]


def _grad_cam(model: Model, batch: engine.Batch, cam_class: int) -> tuple[np.ndarray, np.ndarray]:
    """(α per map, the Grad-CAM map) of ``cam_class`` on the last block."""
    arch, weights = model.arch, model.weights
    last = arch.blocks[-1]
    one = np.zeros((1, len(arch.classes)))
    one[0, cam_class] = 1.0
    dflat, _, _ = dense.backward(one, batch.flatten, weights.dense_w)
    dpool = flatten.backward(dflat, batch.pool[-1].shape)
    d_relu = pool.backward(dpool, batch.relu[-1], last.pool.size, last.pool.stride)[0]  # ∂z_class/∂A_f
    alpha = d_relu.mean(axis=(1, 2))
    cam = np.maximum(0.0, np.tensordot(alpha, batch.relu[-1][0], axes=1))
    return alpha, cam


def learn(model: Model, image: np.ndarray, true_label: str, learning_rate: float = DEFAULT_LEARNING_RATE,
          cam_class: str | None = None) -> Learning:
    """The learning layer for ``image`` (H, W, 3) raw 0–255, the loss measured against ``true_label``;
    Grad-CAM explains ``cam_class`` (default: the predicted class)."""
    if (isinstance(learning_rate, bool) or not isinstance(learning_rate, int | float)
            or not 0 <= learning_rate < MAX_LEARNING_RATE):
        raise OptionError(f"{option('learning_rate')} must be 0 or more and below {MAX_LEARNING_RATE:,.0f}, "
                          f"not {learning_rate!r}")
    arch, weights = model.arch, model.weights
    x = np.asarray(image, dtype=np.float64).transpose(2, 0, 1)[None]
    batch = engine.run(arch, weights, x)
    t = engine.true_index_of(model, true_label)
    grads = engine.backward(arch, weights, batch, softmax.backward(batch.probs, np.array([t])), input_grad=True)
    if grads.input is None:  # pragma: no cover - input_grad=True always fills it
        raise RuntimeError("the backward pass did not reach the input")
    cam_index = int(batch.probs[0].argmax()) if cam_class is None else engine.true_index_of(model, cam_class)
    alpha, cam = _grad_cam(model, batch, cam_index)
    step = stepped(weights, grads.weights, float(learning_rate))
    after = engine.forward(image, replace(model, weights=step), true_label)
    return Learning(
        learning_rate=float(learning_rate),
        grad_logits=batch.probs[0] - softmax.one_hot(np.array([t]), len(model.classes))[0],
        grad_dense_w=grads.dense_w,
        grad_dense_b=grads.dense_b,
        grad_flatten=grads.flatten[0],
        grad_pool=tuple(g.pool[0] for g in grads.blocks),
        grad_relu=tuple(g.relu[0] for g in grads.blocks),
        grad_conv=tuple(g.conv[0] for g in grads.blocks),
        grad_conv_w=tuple(g.w for g in grads.blocks),
        grad_conv_b=tuple(g.b for g in grads.blocks),
        grad_input=grads.input[0],
        saliency=np.abs(grads.input[0]).max(axis=0),
        cam_class=cam_index,
        cam_alpha=alpha,
        gradcam=cam,
        gradcam_input=upsample(cam, arch.input.height, arch.input.width),
        contrib=contributions(batch.flatten[0], weights.dense_w, arch.blocks[-1].pool_shape[0]),
        step=step,
        step_logits=after.logits,
        step_probs=after.probs,
        step_loss=after.loss + 0.0,  # −ln 1 is −0.0: show 0
        step_trace=after,
    )


# The formulas of one cell each.

def step_formula(weight: str, grad: str, rate: str) -> str:
    """A parameter after one step of gradient descent: ``=w − η·∂L/∂w``."""
    return f"={weight}-{rate}*{grad}"


def saliency_formula(r: str, g: str, b: str) -> str:
    """How much the loss cares about one pixel: the largest of its three channels' ``|∂L/∂pixel|``."""
    return f"=MAX(ABS({r}),ABS({g}),ABS({b}))"


def alpha_formula(sums: str, cam: str, labels: str, cells: int) -> str:
    """α of one map: the mean over its ``cells`` of ∂z_class/∂A — max pooling hands each pooled cell's weight to
    exactly one ReLU cell, so the map's sum is the class's dense weights on its pooled cells (``sums``, one
    per class)."""
    return f"=INDEX({sums},1,MATCH({cam},{labels},0))/{cells}"


def gradcam_formula(alphas: list[str], maps: list[str]) -> str:
    """One Grad-CAM cell: ``=MAX(0,α₁·A₁+α₂·A₂+…)`` over the last block's ReLU maps at that cell."""
    return "=MAX(0," + "+".join(f"{a}*{m}" for a, m in zip(alphas, maps, strict=True)) + ")"


def contrib_formula(values: str, weights: str) -> str:
    """What one map gives one class's logit: ``=SUMPRODUCT(<its flattened values>,<their weights>)``."""
    return f"=SUMPRODUCT({values},{weights})"
