"""Is every built-in model fit for teaching? Measures what issue 13 asks of them, on held-out images.

    python bench/teaching.py            # all trained templates (needs the data extra for digits and faces)
    python bench/teaching.py default    # one

For each template: accuracy (for ``default`` also per style), the least active filter of every conv layer
(the share of held-out images whose map is positive somewhere after ReLU), median top probability and
expected calibration error; then, on the sample images and three photos bundled with scikit-image, the
largest share of a conv-1 map's 20 strongest cells on the outermost ring of the map; and for ``default``,
on each sample image, the share of conv-1 weights whose change by +1 or by −1 moves the top
probability by at least 0.5 percentage points.

The held-out images are ones no training step saw, the temperature's fit included: fresh shapes and
stripes from seed 7 (training used seeds 1–3), and the held-out fifth of digits and faces that
``xlcnn train`` kept back (it fits the temperature on a fifth of the rest).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from xlcnn import forward, load_image, load_model
from xlcnn.learn import quality
from xlcnn.learn.datasets import Dataset, generate, split
from xlcnn.model.spec import Model

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
FRESH_SEED = 7
FRESH = 3_000
SAMPLES_OF = {
    "default": ["circle", "circle-2", "square", "square-2", "triangle", "triangle-2", "star", "smiley"],
    "tiny": ["stripes", "stripes-diagonal"],
    "digits": ["digit-3", "digit-7"],
    "faces": ["face", "not-a-face"],
}
PHOTOS = ("chelsea", "astronaut", "coffee")  # skimage.data: a cat, a person, a cup


def held_out(model: Model) -> Dataset:
    if model.name in ("default", "tiny"):
        data = {"default": "shapes", "tiny": "stripes"}[model.name]
        return generate(data, FRESH, FRESH_SEED, (model.arch.input.height, model.arch.input.width))
    from xlcnn.learn.realdata import real

    data = real(model.name).load((model.arch.input.height, model.arch.input.width))
    return split(data, 0.2, model.provenance.seed or 1)[1]


def per_style(model: Model, data: Dataset) -> dict[str, float]:
    predicted = quality.softmax(quality.logits(model.arch, model.weights, data.images)).argmax(axis=1)
    right = predicted == data.labels
    styles = np.array([style.split(", ") for style in data.styles])
    return {value: float(right[styles[:, j] == value].mean())
            for j in range(styles.shape[1]) for value in sorted(set(styles[:, j]))}


def photos(model: Model) -> dict[str, np.ndarray]:
    from PIL import Image
    from skimage import data as bundled

    from xlcnn.image import fit_image

    size = (model.arch.input.height, model.arch.input.width)
    return {name: fit_image(Image.fromarray(getattr(bundled, name)()), *size, "crop") for name in PHOTOS}


def pictures(model: Model) -> dict[str, np.ndarray]:
    size = (model.arch.input.height, model.arch.input.width)
    found = {name: load_image(SAMPLES / f"{name}.png", size, model.arch.input.fit)
             for name in SAMPLES_OF[model.name] if (SAMPLES / f"{name}.png").exists()}
    return found | photos(model)


def report(name: str) -> list[str]:
    model = load_model(name)
    data = held_out(model)
    q = quality.measure(model.arch, model.weights, data.images, data.labels)
    lines = [f"## {name}: {len(data):,} held-out images", "",
             "| measure | value | goal |", "|---|---|---|",
             f"| accuracy | {q.accuracy:.1%} | ≥ {GOAL[name]:.0%} |"]
    if data.styles:
        worst = min(per_style(model, data).items(), key=lambda kv: kv[1])
        lines.append(f"| worst style ({worst[0]}) | {worst[1]:.1%} | ≥ 90% |")
    for k, layer in enumerate(q.activity, start=1):
        lines.append(f"| least active conv-{k} filter | {min(layer):.0%} | ≥ 20% |")
    lines += [f"| median top probability | {q.median_confidence:.3f} | 0.75–0.98 |",
              f"| expected calibration error | {q.calibration_error:.3f} | ≤ 0.05 |"]
    rings = {pic: quality.ring_share(forward(image, model).blocks[0].conv) for pic, image in pictures(model).items()}
    worst_ring = max(rings.items(), key=lambda kv: kv[1])
    lines.append(f"| conv-1 top-20 cells on the ring, worst picture ({worst_ring[0]}) | {worst_ring[1]:.0%} | ≤ 25% |")
    if name == "default":
        shares = {pic: float((quality.weight_sensitivity(model.arch, model.weights, image) >= 0.005).mean())
                  for pic, image in pictures(model).items() if pic not in PHOTOS}
        least = min(shares.items(), key=lambda kv: kv[1])
        lines.append(f"| weights whose ±1 moves the top probability ≥ 0.5 points, worst sample ({least[0]}) "
                     f"| {least[1]:.0%} | ≥ 50% |")
    if data.styles:
        lines += ["", "Accuracy per style: " + ", ".join(f"{k} {v:.1%}" for k, v in per_style(model, data).items())]
    lines += ["", "Conv-1 top-20 cells on the ring: " + ", ".join(f"{k} {v:.0%}" for k, v in rings.items()), ""]
    return lines


GOAL = {"default": 0.97, "tiny": 0.97, "digits": 0.96, "faces": 0.90}


def main(names: list[str]) -> None:
    for name in names or list(GOAL):
        print("\n".join(report(name)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
