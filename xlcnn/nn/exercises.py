"""Exercises: cells of the network for a student to compute by hand, drawn at random, and their answers.

One task of each kind, in this order: a conv-1 output cell, a ReLU-1 cell, a pool-1 cell, where a last-pool
cell lands in the flatten column, a logit, a probability, the loss, and one gradient of the learning layer
(∂L/∂ a dense weight = flattened value × (p − y)). The draw depends only on the seed and the network's shape,
so the same seed gives the same tasks, and a different seed (another student) other ones. The answers are the
engine's; a spreadsheet checks a typed answer against the live cell within the task's tolerance.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import Enum

import numpy as np

from xlcnn.model.spec import Model
from xlcnn.nn.engine import Trace


class Kind(Enum):
    CONV = "conv"
    RELU = "relu"
    POOL = "pool"
    FLATTEN = "flatten"
    LOGIT = "logit"
    SOFTMAX = "softmax"
    LOSS = "loss"
    GRADIENT = "gradient"


KINDS = tuple(Kind)

# (absolute, relative): an answer is right when |answer − value| ≤ max(absolute, relative·|value|). Sized for
# hand work with a few decimals; the flatten position is a whole number and must be exact.
TOLERANCE: dict[Kind, tuple[float, float]] = {
    Kind.CONV: (0.01, 0.01), Kind.RELU: (0.01, 0.01), Kind.POOL: (0.01, 0.01), Kind.FLATTEN: (0.0, 0.0),
    Kind.LOGIT: (0.01, 0.01), Kind.SOFTMAX: (0.001, 0.01), Kind.LOSS: (0.001, 0.01), Kind.GRADIENT: (0.0001, 0.01),
}


@dataclass(frozen=True)
class Task:
    """One cell to compute: its kind and three whole numbers, 1-based, whose meaning depends on the kind —
    (map, row, column) for conv, ReLU, pool and flatten (the flatten task names a last-pool cell); (class, 0, 0)
    for a logit or a probability; (0, 0, 0) for the loss; (flattened value, class, 0) for the gradient."""

    kind: Kind
    a: int
    b: int = 0
    c: int = 0

    @property
    def numbers(self) -> tuple[int, int, int]:
        return self.a, self.b, self.c


@dataclass(frozen=True)
class Exercise:
    tasks: tuple[Task, ...]  # one per kind, in ``KINDS`` order


def seed_for(name: str, seed: int) -> int:
    """Each file of a class set its own draw: the seed mixed with the picture's name (stable across runs)."""
    return zlib.crc32(f"{seed}:{name}".encode())


def draw(model: Model, trace: Trace, seed: int) -> Exercise:
    """The tasks for ``seed``: cells chosen at random, the flatten task a last-pool cell whose value no other
    flattened value shares (so that the check can find its position), the gradient a flattened value that is
    not 0 (so that its gradient is not 0 whatever the class)."""
    rng = np.random.default_rng(seed)
    arch = model.arch
    first, last = arch.blocks[0], arch.blocks[-1]
    classes = len(arch.classes)

    def cell(shape: tuple[int, int, int]) -> tuple[int, int, int]:
        return int(rng.integers(shape[0])) + 1, int(rng.integers(shape[1])) + 1, int(rng.integers(shape[2])) + 1

    flat = trace.flatten
    values, counts = np.unique(flat, return_counts=True)
    unique = [i for i in range(flat.size) if counts[np.searchsorted(values, flat[i])] == 1 and flat[i] != 0]
    position = int(rng.choice(unique)) if unique else int(rng.integers(flat.size))
    _, h, w = last.pool_shape
    nonzero = np.flatnonzero(flat)
    grad_index = int(rng.choice(nonzero)) if nonzero.size else int(rng.integers(flat.size))
    tasks = (
        Task(Kind.CONV, *cell(first.conv_shape)),
        Task(Kind.RELU, *cell(first.conv_shape)),
        Task(Kind.POOL, *cell(first.pool_shape)),
        Task(Kind.FLATTEN, position // (h * w) + 1, (position // w) % h + 1, position % w + 1),
        Task(Kind.LOGIT, int(rng.integers(classes)) + 1),
        Task(Kind.SOFTMAX, int(rng.integers(classes)) + 1),
        Task(Kind.LOSS, 0),
        Task(Kind.GRADIENT, grad_index + 1, int(rng.integers(classes)) + 1),
    )
    return Exercise(tasks)


def answer(task: Task, trace: Trace) -> float:
    """The right answer to ``task`` for the network's values in ``trace``."""
    f, r, c = task.a - 1, task.b - 1, task.c - 1
    block = trace.blocks[0]
    if task.kind is Kind.CONV:
        return float(block.conv[f, r, c])
    if task.kind is Kind.RELU:
        return float(block.relu[f, r, c])
    if task.kind is Kind.POOL:
        return float(block.pool[f, r, c])
    if task.kind is Kind.FLATTEN:
        # Where the pool cell's value first appears in the flatten column, as the workbook's MATCH finds it: the
        # cell's own position, since the draw picks a value no other cell shares (an edit may change that).
        return float(np.flatnonzero(trace.flatten == trace.blocks[-1].pool[f, r, c])[0] + 1)
    if task.kind is Kind.LOGIT:
        return float(trace.logits[f])
    if task.kind is Kind.SOFTMAX:
        return float(trace.probs[f])
    if task.kind is Kind.LOSS:
        return float(trace.loss)
    y = 1.0 if trace.true_index == r else 0.0
    return float(trace.flatten[f] * (trace.probs[r] - y))


def is_right(task: Task, typed: float, value: float) -> bool:
    """What the workbook's check says of ``typed``, for the right answer ``value``."""
    absolute, relative = TOLERANCE[task.kind]
    return abs(typed - value) <= max(absolute, relative * abs(value))
