"""The defined-name contract (docs/architecture.md): every block of a workbook carries a workbook-level name that a
user can type in the Name Box and a program can read without knowing the layout. This module is its one
definition: the builders below make every name, and ``parse`` is the one way to read one back.

Layer numbers ``k``, filter/map numbers ``f`` and input-channel numbers ``c`` count from 1; for the first
conv, channels 1, 2, 3 are R, G, B.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INPUT = ("input_r", "input_g", "input_b")  # the unpadded H×W raw 0–255 pixel grids
INPUT_SCALE = "input_scale"
FLATTEN = "flatten"
DENSE_W, DENSE_B = "dense_w", "dense_b"
LABELS, LOGITS, PROBS = "labels", "logits", "probs"
TRUE_LABEL, LOSS = "true_label", "loss"

MAP_KINDS = ("conv", "relu", "pool")  # the stages whose output maps are named ``{kind}{k}_out{f}``


def conv_w(k: int, f: int, c: int) -> str:
    """Kernel of filter ``f``, input channel ``c``, of conv layer ``k``."""
    return f"conv{k}_w{f}_{c}"


def conv_b(k: int, f: int) -> str:
    """Bias cell of filter ``f`` of conv layer ``k``."""
    return f"conv{k}_b{f}"


def conv_stride(k: int) -> str:
    return f"conv{k}_stride"


def conv_pad(k: int) -> str:
    return f"conv{k}_pad"


def pool_size(k: int) -> str:
    return f"pool{k}_size"


def pool_stride(k: int) -> str:
    return f"pool{k}_stride"


def out(kind: str, k: int, f: int) -> str:
    """Map ``f`` of stage ``kind`` (conv, relu, pool) of block ``k``: ``conv1_out2``."""
    return f"{kind}{k}_out{f}"


def conv_out(k: int, f: int) -> str:
    return out("conv", k, f)


def relu_out(k: int, f: int) -> str:
    return out("relu", k, f)


def pool_out(k: int, f: int) -> str:
    return out("pool", k, f)


def block_input(k: int, c: int) -> str:
    """Channel ``c`` of what conv ``k`` reads: the R, G, B pixels for the first layer, else pool k−1's map."""
    return INPUT[c - 1] if k == 1 else pool_out(k - 1, c)


@dataclass(frozen=True)
class BlockName:
    """A parsed per-block name: ``conv1_w2_3`` is kind "conv", part "w", block 1, filter 2, channel 3."""

    kind: str  # conv, relu, pool
    part: str  # w (kernel), b (bias), out (map), stride, pad, size
    block: int
    filter: int | None = None
    channel: int | None = None


_BLOCK_NAME = re.compile(r"^(conv|relu|pool)(\d+)_(?:(w)(\d+)_(\d+)|(b)(\d+)|(out)(\d+)|(stride|pad|size))$")


def parse(name: str) -> BlockName | None:
    """The parts of a per-block name, or None for any other name (``flatten``, ``probs``, ``dense_w``)."""
    m = _BLOCK_NAME.match(name)
    if m is None:
        return None
    kind, block = m.group(1), int(m.group(2))
    if m.group(3):
        return BlockName(kind, "w", block, int(m.group(4)), int(m.group(5)))
    if m.group(6):
        return BlockName(kind, "b", block, int(m.group(7)))
    if m.group(8):
        return BlockName(kind, "out", block, int(m.group(9)))
    return BlockName(kind, m.group(10), block)


def is_map(name: str) -> bool:
    """Whether ``name`` is a stage's output map (``conv1_out2``, ``relu2_out1``, …)."""
    parsed = parse(name)
    return parsed is not None and parsed.part == "out"


# ------------------------------------------------------------------------------ the learning layer
# docs/architecture.md's learning table: every ``grad_*`` grid has the shape and orientation of what it is the
# gradient of; ``step_*`` holds the parameters after one step of gradient descent.

LEARNING_RATE = "learning_rate"
GRAD_LOGITS = "grad_logits"
GRAD_DENSE_W, GRAD_DENSE_B = "grad_dense_w", "grad_dense_b"
GRAD_FLATTEN = "grad_flatten"
GRAD_INPUT = ("grad_input_r", "grad_input_g", "grad_input_b")
SALIENCY = "saliency"
STEP_DENSE_W, STEP_DENSE_B = "step_dense_w", "step_dense_b"
STEP_LOGITS, STEP_PROBS, STEP_LOSS = "step_logits", "step_probs", "step_loss"
CAM_CLASS, GRADCAM, GRADCAM_INPUT = "cam_class", "gradcam", "gradcam_input"
CONTRIB = "contrib"


def grad(name: str) -> str:
    """∂L/∂ the grid named ``name``: ``grad_conv1_out2``, ``grad_conv1_w2_3``, ``grad_dense_w``."""
    return f"grad_{name}"


def step(name: str) -> str:
    """The parameter ``name`` after one step of gradient descent: ``step_conv1_w2_3``, ``step_dense_b``."""
    return f"step_{name}"


def grad_block_input(k: int, c: int) -> str:
    """∂L/∂ channel ``c`` of what conv ``k`` reads: the raw pixels for the first layer, else pool k−1's map."""
    return GRAD_INPUT[c - 1] if k == 1 else grad(pool_out(k - 1, c))
