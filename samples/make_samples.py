"""Make the sample images in samples/ and print what the built-in models predict for them.

    python samples/make_samples.py            # rewrite the images, print a Markdown table of predictions
    python samples/make_samples.py --check    # only print the table

The shapes and stripes are drawn by the same code as the training data (``xlcnn.learn.datasets``), only
larger (200 × 200), from fixed seeds, so they are made again bit for bit. ``star.png`` and
``smiley.png`` are none of the classes: a network must still pick one, which is worth a lesson.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from xlcnn import forward, load_image, load_model
from xlcnn.learn.datasets import sample_image

HERE = Path(__file__).resolve().parent
SIZE = 200

# file name → (data set, class, seed); the seeds were picked by eye for one filled and one outlined shape
# of each class in different colours (not by what the model predicts)
SHAPES = {
    "circle.png": ("shapes", "circle", 5),
    "circle-2.png": ("shapes", "circle", 8),
    "square.png": ("shapes", "square", 2),
    "square-2.png": ("shapes", "square", 6),
    "triangle.png": ("shapes", "triangle", 4),
    "triangle-2.png": ("shapes", "triangle", 7),
    "stripes.png": ("stripes", "horizontal", 1),
    "stripes-diagonal.png": ("stripes", "diagonal", 2),
}
MODELS = {"shapes": "default", "stripes": "tiny"}


def star() -> Image.Image:
    """A five-pointed star in dark ink on light paper: not a circle, a square or a triangle."""
    img = Image.new("RGB", (SIZE, SIZE), (244, 238, 220))
    draw = ImageDraw.Draw(img)
    c, outer, inner = SIZE / 2, SIZE * 0.36, SIZE * 0.15
    points = [
        (c + (outer if i % 2 == 0 else inner) * math.cos(-math.pi / 2 + i * math.pi / 5),
         c + (outer if i % 2 == 0 else inner) * math.sin(-math.pi / 2 + i * math.pi / 5))
        for i in range(10)
    ]
    draw.polygon(points, fill=(40, 60, 150))
    return img


def smiley() -> Image.Image:
    """A smiley face: a circle with a face in it — which class will the network pick?"""
    img = Image.new("RGB", (SIZE, SIZE), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    r = SIZE * 0.34
    c = SIZE / 2
    draw.ellipse((c - r, c - r, c + r, c + r), fill=(250, 200, 40), outline=(60, 40, 0), width=6)
    for dx in (-0.35, 0.35):
        ex, ey = c + dx * r, c - 0.3 * r
        draw.ellipse((ex - 9, ey - 14, ex + 9, ey + 14), fill=(60, 40, 0))
    draw.arc((c - 0.6 * r, c - 0.45 * r, c + 0.6 * r, c + 0.6 * r), 20, 160, fill=(60, 40, 0), width=7)
    return img


def make() -> None:
    for name, (dataset, label, seed) in SHAPES.items():
        sample_image(dataset, label, seed, SIZE).save(HERE / name, optimize=True)
    star().save(HERE / "star.png", optimize=True)
    smiley().save(HERE / "smiley.png", optimize=True)


def predictions() -> list[tuple[str, str, str, float]]:
    """(file, model, predicted class, its probability) for every sample."""
    rows = []
    files = [*SHAPES, "star.png", "smiley.png"]
    for name in files:
        model = load_model(MODELS[SHAPES[name][0]] if name in SHAPES else "default")
        spec = model.arch.input
        image = load_image(HERE / name, (spec.height, spec.width), spec.fit)
        trace = forward(image, model)
        rows.append((name, model.name, trace.predicted_label, float(np.max(trace.probs))))
    return rows


def main(argv: list[str]) -> None:
    if argv not in ([], ["--check"]):
        raise SystemExit("usage: python samples/make_samples.py [--check]")
    if not argv:
        make()
    print("| image | model | prediction |")
    print("|---|---|---|")
    for name, model, label, p in predictions():
        print(f"| `samples/{name}` | {model} | {label} ({p:.1%}) |")


if __name__ == "__main__":
    main(sys.argv[1:])
