"""What a model is: frozen dataclasses for the architecture, its weights and where they came from.

The pipeline is fixed by the product: ``input → [conv → relu → maxpool] × k → flatten → dense → softmax →
cross-entropy``. ``Architecture.layers`` spells that sequence out with one spec object per layer, which is
what ``model.toml`` lists; ``Architecture.blocks`` groups the repeated part for the code that needs it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

FitMode = Literal["crop", "pad", "stretch"]
FIT_MODES: tuple[FitMode, ...] = ("crop", "pad", "stretch")


def conv_out_size(n: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis: floor((n + 2p − k) / s) + 1."""
    return (n + 2 * padding - kernel) // stride + 1


def pool_out_size(n: int, size: int, stride: int) -> int:
    """Output length of a max pool along one axis, floor mode (a partial last window is dropped)."""
    return (n - size) // stride + 1


@dataclass(frozen=True)
class InputSpec:
    """The image the network takes: height × width × 3 raw 0–255 pixels, multiplied by ``scale``."""

    height: int
    width: int
    channels: int = 3
    scale: float = 1.0
    scale_text: str = "1"  # how the scale is shown to people, e.g. "1/255"
    fit: FitMode = "crop"  # how an image of another size is brought to height × width


@dataclass(frozen=True)
class ConvSpec:
    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0
    type: str = field(default="conv", init=False, repr=False)

    def out_size(self, n: int) -> int:
        return conv_out_size(n, self.kernel, self.stride, self.padding)


@dataclass(frozen=True)
class ReluSpec:
    type: str = field(default="relu", init=False, repr=False)


@dataclass(frozen=True)
class PoolSpec:
    size: int
    stride: int
    type: str = field(default="maxpool", init=False, repr=False)

    def out_size(self, n: int) -> int:
        return pool_out_size(n, self.size, self.stride)


@dataclass(frozen=True)
class FlattenSpec:
    type: str = field(default="flatten", init=False, repr=False)


@dataclass(frozen=True)
class DenseSpec:
    units: int
    type: str = field(default="dense", init=False, repr=False)


@dataclass(frozen=True)
class SoftmaxSpec:
    type: str = field(default="softmax", init=False, repr=False)


@dataclass(frozen=True)
class CrossEntropySpec:
    type: str = field(default="cross_entropy", init=False, repr=False)


LayerSpec = ConvSpec | ReluSpec | PoolSpec | FlattenSpec | DenseSpec | SoftmaxSpec | CrossEntropySpec


@dataclass(frozen=True)
class Block:
    """One repeated unit: conv k, then ReLU k, then max pool k."""

    index: int  # 1-based, as in the defined names conv{k}_…
    conv: ConvSpec
    pool: PoolSpec
    in_shape: tuple[int, int, int]  # (channels, height, width) entering the conv
    conv_shape: tuple[int, int, int]  # after conv (and ReLU)
    pool_shape: tuple[int, int, int]  # after the pool


@dataclass(frozen=True)
class Architecture:
    input: InputSpec
    convs: tuple[tuple[ConvSpec, PoolSpec], ...]
    classes: tuple[str, ...]

    @functools.cached_property  # asked for in every emitter's inner loops; the fields never change
    def blocks(self) -> tuple[Block, ...]:
        blocks = []
        shape = (self.input.channels, self.input.height, self.input.width)
        for k, (conv, pool) in enumerate(self.convs, start=1):
            conv_shape = (conv.filters, conv.out_size(shape[1]), conv.out_size(shape[2]))
            pool_shape = (conv.filters, pool.out_size(conv_shape[1]), pool.out_size(conv_shape[2]))
            blocks.append(Block(k, conv, pool, shape, conv_shape, pool_shape))
            shape = pool_shape
        return tuple(blocks)

    @property
    def flatten_size(self) -> int:
        c, h, w = self.blocks[-1].pool_shape
        return c * h * w

    @property
    def dense(self) -> DenseSpec:
        return DenseSpec(units=len(self.classes))

    @property
    def layers(self) -> tuple[LayerSpec, ...]:
        """The whole pipeline in order, one spec per layer (what model.toml lists)."""
        layers: list[LayerSpec] = []
        for conv, pool in self.convs:
            layers += [conv, ReluSpec(), pool]
        layers += [FlattenSpec(), self.dense, SoftmaxSpec(), CrossEntropySpec()]
        return tuple(layers)


@dataclass(frozen=True)
class Provenance:
    """How the weights were made; the Guide's model card shows it."""

    method: str  # "trained", "hand-set", "random" or "modified"
    summary: str  # one sentence for the model card
    dataset: str = ""
    seed: int | None = None
    epochs: int | None = None
    train_size: int | None = None
    accuracy: float | None = None  # fraction correct on held-out data, 0..1
    accuracy_note: str = ""  # on what the accuracy was measured
    command: str = ""  # the command that made the weights, to reproduce them
    licence: str = ""  # the licence of the training data, for data that is not xlcnn's own
    # Measured on the same held-out data as ``accuracy``: how sure the model is and whether it is right
    # that often, and how often each filter switches on (see xlcnn.learn.quality).
    median_confidence: float | None = None  # median top probability, 0..1
    calibration_error: float | None = None  # expected calibration error (10 equal-width bins), 0..1
    temperature: float | None = None  # the dense weights and bias were divided by it (temperature scaling)
    activity: tuple[tuple[float, ...], ...] = ()  # per conv layer, per filter: share of images whose map
    #                                             is positive somewhere after ReLU


@dataclass(frozen=True, eq=False)
class Weights:
    """float64 arrays: conv_w[k] is (filters, channels, kernel, kernel); dense_w is (flatten, classes)."""

    conv_w: tuple[np.ndarray, ...]
    conv_b: tuple[np.ndarray, ...]
    dense_w: np.ndarray
    dense_b: np.ndarray

    def as_npz_dict(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for k, (w, b) in enumerate(zip(self.conv_w, self.conv_b, strict=True), start=1):
            arrays[f"conv{k}_w"] = w
            arrays[f"conv{k}_b"] = b
        arrays["dense_w"] = self.dense_w
        arrays["dense_b"] = self.dense_b
        return arrays


@dataclass(frozen=True, eq=False)
class Model:
    name: str
    title: str
    description: str
    arch: Architecture
    weights: Weights
    provenance: Provenance
    source: Path | None = None  # the template folder it was loaded from
    # What each conv-1 filter looks for: (filters, P, k, k, 3) uint8, the P training patches (raw RGB
    # pixels) that excite filter f most, strongest first; stored beside the weights (patches.npz).
    patches: np.ndarray | None = None
    # The class names in other languages, for display (``[labels.zh]`` in model.toml): (language, names) pairs,
    # each names tuple in the order of ``classes``.
    labels: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.arch.classes

    def labels_in(self, language: str) -> tuple[str, ...] | None:
        """The class names in ``language``, if the template has them."""
        return dict(self.labels).get(language)
