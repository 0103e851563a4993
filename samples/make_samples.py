"""Make the sample images in samples/ and print what the built-in models predict for them.

    python samples/make_samples.py            # rewrite the images, print a Markdown table of predictions
    python samples/make_samples.py --check    # only print the table

The shapes and stripes are drawn by the same code as the training data (``xlcnn.learn.datasets``), only
larger (200 × 200), from fixed seeds, so they are made again bit for bit. ``star.png`` and
``smiley.png`` are none of the classes: a network must still pick one, which is worth a lesson.

The samples for the ``digits`` and ``faces`` templates are drawn here too, never copied from their data
sets (whose pictures are not ours to give away): two digits written with a round pen, slanted and a
little unsteady, dark on white paper as a student writes them; a grey, softly lit face that fills the
frame as the faces in the training photos do; and a brick wall, which is not a face.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from xlcnn import forward, list_templates, load_image, load_model
from xlcnn.learn.datasets import sample_image

HERE = Path(__file__).resolve().parent
SIZE = 200

# file name → (data set, class, seed); the seeds were picked by eye (not by what the model predicts) for
# styles that differ: for each class one dark shape on light paper and one light shape on a dark, busy
# background, filled and outlined
SHAPES = {
    "circle.png": ("shapes", "circle", 11),
    "circle-2.png": ("shapes", "circle", 4),
    "square.png": ("shapes", "square", 6),
    "square-2.png": ("shapes", "square", 12),
    "triangle.png": ("shapes", "triangle", 9),
    "triangle-2.png": ("shapes", "triangle", 8),
    "stripes.png": ("stripes", "horizontal", 1),
    "stripes-diagonal.png": ("stripes", "diagonal", 2),
}
MODELS = {"shapes": "default", "stripes": "tiny"}
Point = tuple[float, float]


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


# ------------------------------------------------------------------------------- written digits

PAPER, INK = (255, 255, 255), (28, 28, 36)
PEN = 0.12  # the pen's width, of the side: load_digits' strokes are about one of its 8 cells wide
SUPERSAMPLE = 4  # drawn this many times larger and shrunk: smooth edges


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, stop: float, n: int = 40) -> list[Point]:
    """Points on an ellipse from angle ``start`` to ``stop`` (degrees; 0 is right, 90 is down)."""
    return [(cx + rx * math.cos(math.radians(t)), cy + ry * math.sin(math.radians(t)))
            for t in np.linspace(start, stop, n)]


def _line(a: Point, b: Point, n: int = 30) -> list[Point]:
    return [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t) for t in np.linspace(0, 1, n)]


# each digit is one stroke of the pen, in units of the side; like load_digits' digits, they fill the
# height of the picture and about half of its width
DIGIT_STROKES: dict[str, list[Point]] = {
    "3": _arc(0.5, 0.29, 0.21, 0.19, -160, 100) + _arc(0.5, 0.69, 0.25, 0.22, -100, 150),
    "7": _line((0.25, 0.12), (0.77, 0.11)) + _line((0.77, 0.11), (0.52, 0.5))[1:] + _line((0.52, 0.5), (0.42, 0.9))[1:],
}


def _by_hand(points: list[Point], rng: np.random.Generator, slant: float) -> list[Point]:
    """Slant the stroke (its top leans right) and let the hand wander slowly and a little."""
    n = len(points)
    t = np.linspace(0, 1, n)
    drift = [0.012 * (np.sin(2 * np.pi * (1.3 * t + rng.uniform())) + np.sin(2 * np.pi * (2.7 * t + rng.uniform())))
             for _ in range(2)]
    return [(x + slant * (0.5 - y) + drift[0][i], y + drift[1][i]) for i, (x, y) in enumerate(points)]


def written_digit(digit: str, seed: int) -> Image.Image:
    """``digit`` written in one stroke of a round pen, dark on white paper."""
    rng = np.random.default_rng(seed)
    big = SIZE * SUPERSAMPLE
    points = [(x * big, y * big) for x, y in _by_hand(DIGIT_STROKES[digit], rng, slant=rng.uniform(0.1, 0.16))]
    radius = PEN * big / 2
    img = Image.new("RGB", (big, big), PAPER)
    draw = ImageDraw.Draw(img)
    # The pen's round tip pressed down all along the stroke, a quarter of its radius apart: round ends and
    # bends without the gaps a wide polyline leaves where its segments meet at shallow angles.
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        steps = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / (radius / 4)))
        for t in np.linspace(0, 1, steps, endpoint=False):
            x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=INK)
    x, y = points[-1]
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=INK)
    return img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


# ---------------------------------------------------------------------------------- a face or not


def _soft(blur: float, *shapes: tuple[str, tuple[float, ...]], width: int = 0) -> np.ndarray:
    """(SIZE, SIZE) float mask 0..1 of ellipses, polygons or lines (in units of the side), blurred by ``blur``."""
    mask = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(mask)
    for kind, coords in shapes:
        xy = [c * SIZE for c in coords]
        if kind == "ellipse":
            draw.ellipse(xy, fill=255)
        elif kind == "polygon":
            draw.polygon(xy, fill=255)
        else:
            draw.line(xy, fill=255, width=width, joint="curve")
    return np.asarray(mask.filter(ImageFilter.GaussianBlur(blur * SIZE)), dtype=np.float64) / 255


def _blob(cx: float, cy: float, rx: float, ry: float) -> tuple[str, tuple[float, ...]]:
    return ("ellipse", (cx - rx, cy - ry, cx + rx, cy + ry))


def _curve(points: list[Point]) -> tuple[str, tuple[float, ...]]:
    return ("line", tuple(c for point in points for c in point))


def _face_outline(cx: float, cy: float, rx: float, ry: float) -> tuple[str, tuple[float, ...]]:
    """An egg: an ellipse narrowing towards the chin."""
    points = [(cx + rx * math.cos(t) * (1 - 0.22 * max(0.0, math.sin(t)) ** 2), cy + ry * math.sin(t))
              for t in np.linspace(0, 2 * math.pi, 90, endpoint=False)]
    return ("polygon", tuple(c for point in points for c in point))


def face() -> Image.Image:
    """A grey, softly shaded frontal face, cropped from the forehead to the chin like the training photos.

    Built up as a painter would: a dark background, the lit face, hair at the temples, then the shadows
    of the eye sockets, brows, eyes, nose and mouth, each a blurred mask added or taken away.
    """
    v, u = (np.mgrid[0:SIZE, 0:SIZE] + 0.5) / SIZE
    grey = 40 + 30 * v  # the room behind
    oval = _soft(0.012, _face_outline(0.5, 0.44, 0.48, 0.56))
    edge = np.clip(((u - 0.5) / 0.48) ** 2 + ((v - 0.44) / 0.56) ** 2, 0, 1)  # 0 at the centre, 1 at the rim
    skin = 195 * (1 + 0.16 * (0.5 - u)) * (1 - 0.5 * edge**1.5)  # lit from the left, rounding away at the rim
    grey = grey * (1 - oval) + skin * oval
    hair = _soft(0.03, _blob(0.5, -0.16, 0.55, 0.2), _blob(0.0, 0.1, 0.09, 0.22), _blob(1.0, 0.1, 0.09, 0.22))
    grey = grey * (1 - hair) + 30 * hair
    eyes, pupils = (0.3, 0.7), (0.31, 0.69)
    features = [
        (-25, _soft(0.05, _blob(0.08, 0.5, 0.08, 0.3), _blob(0.92, 0.5, 0.08, 0.3))),  # the temples and jaw
        (-65, _soft(0.045, *(_blob(x, 0.41, 0.14, 0.075) for x in eyes))),  # eye sockets
        (-90, _soft(0.012, *(_curve(_arc(x, 0.35, 0.13, 0.05, -168, -15)) for x in eyes),
                    width=round(0.045 * SIZE))),  # brows
        (30, _soft(0.012, *(_blob(x, 0.42, 0.075, 0.03) for x in eyes))),  # the whites of the eyes
        (-120, _soft(0.01, *(_blob(x, 0.42, 0.034, 0.032) for x in pupils))),  # irises
        (-70, _soft(0.008, *(_curve(_arc(x, 0.435, 0.08, 0.038, -172, -8)) for x in eyes),
                    width=round(0.016 * SIZE))),  # upper lids
        (-25, _soft(0.03, _curve(_line((0.43, 0.45), (0.41, 0.63))), width=round(0.04 * SIZE))),  # nose, lit side
        (-55, _soft(0.03, _curve(_line((0.57, 0.45), (0.59, 0.63))), width=round(0.05 * SIZE))),  # and dark side
        (22, _soft(0.02, _blob(0.49, 0.6, 0.05, 0.035))),  # light on the tip of the nose
        (-75, _soft(0.015, _blob(0.5, 0.67, 0.1, 0.024))),  # under the nose
        (-55, _soft(0.008, _blob(0.455, 0.66, 0.022, 0.012), _blob(0.545, 0.66, 0.022, 0.012))),  # nostrils
        (-30, _soft(0.03, _blob(0.36, 0.72, 0.05, 0.06), _blob(0.64, 0.72, 0.05, 0.06))),  # folds beside the mouth
        (-45, _soft(0.02, _blob(0.5, 0.785, 0.17, 0.045))),  # the lips
        (-110, _soft(0.008, _curve(_arc(0.5, 0.725, 0.17, 0.055, 28, 152)), width=round(0.022 * SIZE))),  # mouth
        (22, _soft(0.015, _blob(0.5, 0.83, 0.09, 0.016))),  # light on the lower lip
        (-45, _soft(0.03, _blob(0.5, 0.895, 0.14, 0.03))),  # the dip above the chin
        (15, _soft(0.06, _blob(0.26, 0.6, 0.09, 0.07), _blob(0.74, 0.6, 0.09, 0.07))),  # cheeks
        (15, _soft(0.06, _blob(0.45, 0.14, 0.22, 0.07))),  # light on the forehead
    ]
    for amount, mask in features:
        grey = grey + amount * mask * oval
    grain = np.random.default_rng(3).normal(0, 3, grey.shape)  # a photo's grain
    return _grey_image(grey + grain, blur=0.006)


def bricks() -> Image.Image:
    """A grey brick wall, lit from one side: texture and edges everywhere, and no face."""
    rng = np.random.default_rng(11)
    v, u = (np.mgrid[0:SIZE, 0:SIZE] + 0.5) / SIZE
    rows, per_row, mortar = 9, 4, 0.022
    row = np.floor(v * rows)
    offset = np.where(row % 2 == 1, 0.5, 0.0)  # each course is laid half a brick along
    col = np.floor(u * per_row + offset)
    tones = rng.uniform(85, 140, (rows + 1, per_row + 2))
    grey = tones[row.astype(int), col.astype(int)]
    joint = (np.abs(v * rows - np.round(v * rows)) < mortar * rows / 2) | (
        np.abs((u * per_row + offset) - np.round(u * per_row + offset)) < mortar * per_row / 2)
    grey = np.where(joint, 175.0, grey)
    texture = np.asarray(Image.fromarray(rng.uniform(0, 255, (SIZE, SIZE)).astype(np.uint8))
                         .filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float64) - 127.5
    return _grey_image((grey + 0.5 * texture) * (1.1 - 0.25 * u), blur=0.004)


def _grey_image(grey: np.ndarray, blur: float) -> Image.Image:
    img = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), mode="L")
    return img.filter(ImageFilter.GaussianBlur(blur * SIZE)).convert("RGB")


# file name → how it is drawn, and the template it is for
DRAWN: dict[str, tuple[Callable[[], Image.Image], str]] = {
    "digit-3.png": (lambda: written_digit("3", seed=3), "digits"),
    "digit-7.png": (lambda: written_digit("7", seed=7), "digits"),
    "face.png": (face, "faces"),
    "not-a-face.png": (bricks, "faces"),
}


def make() -> None:
    for name, (dataset, label, seed) in SHAPES.items():
        sample_image(dataset, label, seed, SIZE).save(HERE / name, optimize=True)
    star().save(HERE / "star.png", optimize=True)
    smiley().save(HERE / "smiley.png", optimize=True)
    make_drawn()


def make_drawn() -> None:
    """Only the samples drawn here (not by the data sets' generators)."""
    for name, (draw, _template) in DRAWN.items():
        draw().save(HERE / name, optimize=True)


def _template(name: str) -> str:
    if name in SHAPES:
        return MODELS[SHAPES[name][0]]
    return DRAWN[name][1] if name in DRAWN else "default"


def predictions() -> list[tuple[str, str, str, float]]:
    """(file, model, predicted class, its probability) for every sample whose template is built in."""
    rows = []
    files = [*SHAPES, "star.png", "smiley.png", *DRAWN]
    for name in files:
        if _template(name) not in list_templates():
            print(f"{name}: no built-in template {_template(name)!r} yet", file=sys.stderr)
            continue
        model = load_model(_template(name))
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
