"""The built-in architectures, seeded initial weights, and the hand-set ``edges`` filters.

``templates/`` holds the built-in models as files; this module is how they are made, so that every
shipped number can be made again (``python -m xlcnn.model.zoo`` rewrites ``edges``; ``xlcnn train`` the others).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from xlcnn.model.spec import Architecture, ConvSpec, InputSpec, Model, PoolSpec, Provenance, Weights

SCALE_255 = (1 / 255, "1/255")


# Why the first convolution of the models made for photos and drawings has no zero padding: 0 is black,
# so padding draws a black frame around the picture, and on a light picture that frame is the strongest
# edge there is — a padded network spends its filters on the frame, not on the picture. Later layers pad:
# there 0 means "nothing found", which is what lies beyond the picture. (``tiny`` and ``edges`` keep the
# padding of the first layer, so the workbook still shows what padding is.)


def _photo_architecture(side: int, first: int, second: int, classes: tuple[str, ...]) -> Architecture:
    """side×side×3 → conv 3×3 ×first (no padding) → ReLU → pool 2 → conv 3×3 ×second (pad 1) → ReLU → pool 2
    → dense: the shape of the models made for photos and drawings (see the note above on padding)."""
    return Architecture(
        input=InputSpec(side, side, 3, *SCALE_255),
        convs=(
            (ConvSpec(filters=first, kernel=3, stride=1, padding=0), PoolSpec(2, 2)),
            (ConvSpec(filters=second, kernel=3, stride=1, padding=1), PoolSpec(2, 2)),
        ),
        classes=classes,
    )


def default_architecture(classes: tuple[str, ...] = ("circle", "square", "triangle")) -> Architecture:
    """28×28×3, 6 then 12 filters: 432 values into the dense layer."""
    return _photo_architecture(28, 6, 12, classes)


def tiny_architecture(classes: tuple[str, ...] = ("horizontal", "vertical", "diagonal")) -> Architecture:
    """6×6×3 → conv 3×3 ×2 (pad 1) → ReLU → pool 2 → 18 → dense: one printed page per stage."""
    return Architecture(
        input=InputSpec(6, 6, 3, *SCALE_255),
        convs=((ConvSpec(filters=2, kernel=3, stride=1, padding=1), PoolSpec(2, 2)),),
        classes=classes,
    )


DIGITS = tuple(f"digit {d}" for d in range(10))

# The built-in data sets' classes in other languages, for display (``labels`` in model.toml): a template trained
# on one of these class lists gets them. Keyed by the English names, in order.
TRANSLATED_LABELS: dict[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]] = {
    ("circle", "square", "triangle"): (("zh", ("圆形", "正方形", "三角形")),),
    ("horizontal", "vertical", "diagonal"): (("zh", ("横条纹", "竖条纹", "斜条纹")),),
    DIGITS: (("zh", tuple(f"数字 {d}" for d in range(10))),),
    ("face", "not a face"): (("zh", ("人脸", "不是人脸")),),
    ("horizontal edges", "vertical edges", "red"): (("zh", ("横向边缘", "纵向边缘", "红色")),),
}


def digits_architecture(classes: tuple[str, ...] = DIGITS) -> Architecture:
    """16×16×3, 8 then 12 filters: 108 values into the dense layer."""
    return _photo_architecture(16, 8, 12, classes)


def faces_architecture(classes: tuple[str, ...] = ("face", "not a face")) -> Architecture:
    """24×24×3, 6 then 8 filters: 200 values into the dense layer."""
    return _photo_architecture(24, 6, 8, classes)


ARCHITECTURES = {"default": default_architecture, "tiny": tiny_architecture, "digits": digits_architecture,
                 "faces": faces_architecture}


def initial_weights(arch: Architecture, seed: int) -> Weights:
    """He-normal weights and zero biases, from ``seed`` (the starting point of training)."""
    rng = np.random.default_rng(seed)
    conv_w, conv_b = [], []
    for block in arch.blocks:
        fan_in = block.in_shape[0] * block.conv.kernel**2
        shape = (block.conv.filters, block.in_shape[0], block.conv.kernel, block.conv.kernel)
        conv_w.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), shape))
        conv_b.append(np.zeros(block.conv.filters))
    dense_w = rng.normal(0.0, np.sqrt(1.0 / arch.flatten_size), (arch.flatten_size, len(arch.classes)))
    return Weights(tuple(conv_w), tuple(conv_b), dense_w, np.zeros(len(arch.classes)))


def edges_model() -> Model:
    """Three hand-set filters on a 16×16 image: horizontal edges, vertical edges, and red.

    Filter 1 is a Sobel kernel that fires where a bright row sits above a dark one, filter 2 where a
    bright column sits left of a dark one; both look at brightness, so all three channels share the
    kernel (÷3). Filter 3 adds red and subtracts green and blue at the centre pixel. Each class's dense
    weights average its own map after pooling, so the prediction is simply the strongest detector.
    """
    arch = Architecture(
        input=InputSpec(16, 16, 3, *SCALE_255),
        convs=((ConvSpec(filters=3, kernel=3, stride=1, padding=1), PoolSpec(2, 2)),),
        classes=("horizontal edges", "vertical edges", "red"),
    )
    sobel = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
    w = np.zeros((3, 3, 3, 3))
    w[0] = sobel / 3  # the same brightness kernel on R, G and B
    w[1] = sobel.T / 3
    w[2, :, 1, 1] = [1.0, -0.5, -0.5]
    b = np.array([0.0, 0.0, -0.1])  # red must beat grey by a margin before it counts
    maps = arch.blocks[0].pool_shape
    per_map = maps[1] * maps[2]
    dense_w = np.zeros((arch.flatten_size, 3))
    for f in range(3):
        dense_w[f * per_map : (f + 1) * per_map, f] = 1.0 / per_map
    return Model(
        name="edges",
        title="Hand-set edge and colour detectors",
        description="Three filters set by hand, not trained: horizontal edges, vertical edges, and red.",
        arch=arch,
        weights=Weights((w,), (b,), dense_w, np.zeros(3)),
        provenance=Provenance(
            method="hand-set",
            summary=(
                "Set by hand: Sobel kernels for horizontal and vertical edges, a red-minus-green-and-blue "
                "colour detector; each class averages its own pooled map."
            ),
            command="python -m xlcnn.model.zoo edges",
        ),
    )


def main(argv: list[str]) -> None:
    from xlcnn.model.templates import save_model
    from xlcnn.resources import templates_root

    if argv != ["edges"]:
        raise SystemExit("usage: python -m xlcnn.model.zoo edges")
    folder = save_model(edges_model(), templates_root() / "edges")
    print(f"wrote {Path(folder)}")


if __name__ == "__main__":
    main(sys.argv[1:])
