"""Training data: built-in procedural data sets generated from a seed, and a teacher's folder of photos.

Built-in data sets need no download: every image is drawn with Pillow from ``numpy.random.default_rng``
(``seed``), so the same name, size and seed give the same uint8 pixels.

- ``shapes`` (for the ``default`` template): a circle, a square or a triangle in many styles — dark on light
  or light on dark, filled or outlined with a thin or a thick stroke, small, medium or large, at a random
  position (often off-centre) and rotation, hand-drawn wobbly, on plain, shaded, textured (crossing waves,
  like wood grain or cloth) or photo-like (smooth patches of colour, like an out-of-focus scene)
  backgrounds, with noise. Each image records its style (``Dataset.styles``), so accuracy can be measured
  style by style. Where the shape sits changes from image to image, so a network that gets them right has
  learnt *what* a shape looks like, not *where* it is (the lesson of translation invariance).
- ``stripes`` (for the ``tiny`` template): horizontal, vertical or diagonal stripes of random colours,
  widths and phases with noise, so the tiny network's two filters become edge detectors.

Shapes are drawn as a mask four times larger than asked and shrunk (box filter), which anti-aliases
their edges the way a camera or a resized drawing would.

A photo folder holds one sub-folder per class (``photos/cat/*.jpg``, ``photos/dog/*.jpg``, …); each
image is read by :func:`xlcnn.image.load_image` at the model's input size and fit, like ``xlcnn build``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from xlcnn.errors import DatasetError, XlcnnError, option
from xlcnn.image import load_image
from xlcnn.model.labels import as_text, check_label, check_labels
from xlcnn.model.spec import FitMode

SUPERSAMPLE = 4  # masks are drawn this many times larger, then shrunk: anti-aliased edges
CHUNK = 1_000  # images drawn at a time
Warn = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images (N, H, W, 3) uint8 and labels (N,) int64 indexing ``classes``."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    sources: tuple[str, ...] = ()  # the file of each image, for a photo folder
    styles: tuple[str, ...] = ()  # how each image is drawn ("light on dark, filled, small, textured"), if known

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: np.ndarray) -> Dataset:
        sources = tuple(self.sources[i] for i in index) if self.sources else ()
        styles = tuple(self.styles[i] for i in index) if self.styles else ()
        return Dataset(self.images[index], self.labels[index], self.classes, sources, styles)


# draws (n, H, W, 3) uint8 images of the labels, and the style of each image (or no styles at all)
Generator = Callable[[np.random.Generator, np.ndarray, tuple[int, int]], tuple[np.ndarray, tuple[str, ...]]]


@dataclass(frozen=True)
class BuiltinDataset:
    """A procedural data set: how to draw ``n`` images of its classes at any size."""

    name: str
    classes: tuple[str, ...]
    template: str  # the built-in template it is made for
    train_size: int  # how many images ``xlcnn train`` generates by default
    epochs: int  # how many epochs ``xlcnn train`` runs by default
    learning_rate: float  # Adam's first step size for it
    title: str  # the template's title
    what: str  # "generated images of …", for the model card
    draw: Generator

    def generate(self, n: int, seed: int, size: tuple[int, int]) -> Dataset:
        """``n`` images of ``size`` = (height, width), classes balanced (n // K or one more each), shuffled."""
        if n < 1:
            raise DatasetError(f"data set {self.name!r}: the number of images must be positive, not {n}")
        labels = np.random.default_rng(seed).permutation(np.arange(n) % len(self.classes)).astype(np.int64)
        images = np.empty((n, *size, 3), dtype=np.uint8)
        styles: list[str] = []
        for start in range(0, n, CHUNK):
            # Drawn a chunk at a time, each from its own stream of the seed, so the float64 work arrays
            # stay small (memory flat in n) and chunk k's pixels do not depend on how many follow.
            rng = np.random.default_rng([seed, start // CHUNK])
            images[start : start + CHUNK], chunk_styles = self.draw(rng, labels[start : start + CHUNK], size)
            styles += chunk_styles
        return Dataset(images, labels, self.classes, styles=tuple(styles))


# ------------------------------------------------------------------------------------------ colours


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def _contrasting_colours(rng: np.random.Generator, n: int, min_contrast: float) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) background and foreground colours whose brightness differs by at least ``min_contrast``.

    Colour alone is not enough: a photocopied handout or a grey-scale photo keeps only brightness, so the
    shape must stand out in brightness too, darker or lighter than its background.
    """
    bg = rng.uniform(0, 255, (n, 3))
    fg = rng.uniform(0, 255, (n, 3))
    for _ in range(100):  # redraw the few pairs too alike; each round keeps the pairs that already pass
        bad = np.abs(_luminance(fg) - _luminance(bg)) < min_contrast
        if not bad.any():
            break
        fg[bad] = rng.uniform(0, 255, (int(bad.sum()), 3))
    else:  # pragma: no cover - vanishingly unlikely; push the last ones to black or white
        bad = np.abs(_luminance(fg) - _luminance(bg)) < min_contrast
        fg[bad] = np.where(_luminance(bg[bad])[:, None] > 127, 0.0, 255.0)
    return bg, fg


def _gradients(rng: np.random.Generator, base: np.ndarray, size: tuple[int, int], spread: float) -> np.ndarray:
    """(n, H, W, 3) backgrounds: ``base`` colour shading linearly by up to ±``spread`` in a random direction."""
    n = base.shape[0]
    h, w = size
    angle = rng.uniform(0, 2 * math.pi, n)
    amount = rng.uniform(0, spread, (n, 1, 1, 3))
    ys = (np.arange(h) - (h - 1) / 2) / max(h, w)
    xs = (np.arange(w) - (w - 1) / 2) / max(h, w)
    ramp = np.cos(angle)[:, None, None] * xs[None, None, :] + np.sin(angle)[:, None, None] * ys[None, :, None]
    return base[:, None, None, :] + 2 * amount * ramp[..., None]


def _finish(rng: np.random.Generator, pixels: np.ndarray, max_noise: float) -> np.ndarray:
    """Add Gaussian noise of a random strength per image and round to uint8."""
    sigma = rng.uniform(0, max_noise, (pixels.shape[0], 1, 1, 1))
    noisy = pixels + sigma * rng.standard_normal(pixels.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------- shapes

SHAPES = ("circle", "square", "triangle")

# Every shape image is drawn in one value of each of these styles, chosen at random and recorded, so that
# accuracy can be measured style by style. A network that has seen all of them has learnt what a shape
# looks like, not what one kind of drawing looks like.
SHAPE_STYLES: dict[str, tuple[str, ...]] = {
    "contrast": ("dark on light", "light on dark"),
    "stroke": ("filled", "thin outline", "thick outline"),
    "size": ("small", "medium", "large"),
    "background": ("plain", "shaded", "textured", "photo-like"),
}
_RADIUS = {"small": (0.17, 0.23), "medium": (0.23, 0.3), "large": (0.3, 0.38)}  # of the side
_STROKE = {"thin outline": (0.05, 0.08), "thick outline": (0.11, 0.15)}  # of the side
# Equal areas on average, so size tells the classes nothing: a square's corners reach 1.25× the radius of
# a circle of the same area, an equilateral triangle's 1.56×.
_REACH = {"circle": 1.0, "square": math.sqrt(math.pi / 2), "triangle": math.sqrt(4 * math.pi / (3 * math.sqrt(3)))}


def _shape_mask(kind: str, stroke: str, size_style: str, rng: np.random.Generator,
                size: tuple[int, int]) -> np.ndarray:
    """One shape as an anti-aliased (H, W) mask in 0..1, drawn big and shrunk, at a random place and turn."""
    h, w = size
    big = (w * SUPERSAMPLE, h * SUPERSAMPLE)
    side = min(h, w) * SUPERSAMPLE
    radius = rng.uniform(*_RADIUS[size_style]) * side
    outer = min(radius * _REACH[kind], 0.47 * side)  # a large triangle still fits in the picture
    radius = outer / _REACH[kind]
    margin = min(outer, side / 2 - 1)
    cx = rng.uniform(margin, big[0] - margin)  # anywhere it fits: off-centre as often as not
    cy = rng.uniform(margin, big[1] - margin)
    outline = stroke != "filled"
    width = max(1, round(rng.uniform(*_STROKE[stroke]) * side)) if outline else 0
    mask = Image.new("L", big, 0)
    draw = ImageDraw.Draw(mask)
    if kind == "circle":
        rx, ry = radius * rng.uniform(0.9, 1.1), radius * rng.uniform(0.9, 1.1)
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        draw.ellipse(box, fill=None if outline else 255, outline=255 if outline else None, width=width)
    else:
        corners = 4 if kind == "square" else 3
        turn = rng.uniform(0, 2 * math.pi)
        wobble = rng.uniform(-0.08, 0.08, (corners, 2)) * outer  # a hand-drawn shape is never exact
        points = [
            (cx + outer * math.cos(turn + 2 * math.pi * i / corners) + wobble[i, 0],
             cy + outer * math.sin(turn + 2 * math.pi * i / corners) + wobble[i, 1])
            for i in range(corners)
        ]
        if outline:
            draw.line([*points, points[0], points[1]], fill=255, width=width, joint="curve")
        else:
            draw.polygon(points, fill=255)
    small = mask.resize((w, h), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64) / 255.0


def _texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """(H, W) in −1..1: two or three crossing waves, like wood grain, cloth or a tiled floor."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.zeros((h, w))
    for _ in range(int(rng.integers(2, 4))):
        angle, period = rng.uniform(0, math.pi), rng.uniform(0.12, 0.4)
        phase = rng.uniform(0, 2 * math.pi)
        out += np.sin(2 * math.pi * (xs * math.cos(angle) + ys * math.sin(angle)) / period + phase)
    return out / max(1e-9, float(np.abs(out).max()))


def _blur(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) in −1..1: smooth patches of colour, like an out-of-focus photo behind the shape."""
    h, w = size
    coarse = rng.uniform(-1, 1, (4, 4, 3))
    channels = [Image.fromarray(coarse[..., c].astype(np.float32), mode="F").resize((w, h), Image.Resampling.BICUBIC)
                for c in range(3)]
    return np.clip(np.stack([np.asarray(c, dtype=np.float64) for c in channels], axis=-1), -1, 1)


def _background(kind: str, rng: np.random.Generator, base: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) paper or scene behind the shape, around the ``base`` colour."""
    plain = np.broadcast_to(base, (*size, 3)).astype(np.float64)
    if kind == "plain":
        return plain
    if kind == "shaded":
        return _gradients(rng, base[None], size, spread=35)[0]
    if kind == "textured":
        return plain + rng.uniform(15, 35) * _texture(rng, size)[..., None]
    return plain + rng.uniform(30, 50) * _blur(rng, size)


def _draw_shapes(
    rng: np.random.Generator, labels: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, tuple[str, ...]]:
    n = labels.shape[0]
    picks = {name: rng.integers(0, len(values), (n,)) for name, values in SHAPE_STYLES.items()}
    # The shape must stand out from the busiest background too: textures swing the paper by up to ±50.
    bg, fg = _contrasting_colours(rng, n, min_contrast=90)
    lighter = _luminance(fg) > _luminance(bg)
    want_light = picks["contrast"] == 1
    swap = lighter != want_light
    bg[swap], fg[swap] = fg[swap], bg[swap].copy()
    images = np.empty((n, *size, 3))
    styles = []
    for i in range(n):
        style = {name: SHAPE_STYLES[name][picks[name][i]] for name in SHAPE_STYLES}
        mask = _shape_mask(SHAPES[labels[i]], style["stroke"], style["size"], rng, size)[..., None]
        back = _background(style["background"], rng, bg[i], size)
        images[i] = back * (1 - mask) + fg[i] * mask
        styles.append(", ".join(style.values()))
    return _finish(rng, images, max_noise=12), tuple(styles)


# ------------------------------------------------------------------------------------------ stripes

STRIPES = ("horizontal", "vertical", "diagonal")


def _draw_stripes(
    rng: np.random.Generator, labels: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Two-colour stripes: each pixel's colour follows ``(row·a + col·b + phase) / period`` mod 1."""
    n = int(labels.shape[0])
    h, w = size
    unit = min(h, w) / 6  # stripe sizes are set for a 6-pixel image and scale with it
    period = rng.uniform(2.6, 3.4, n) * unit
    duty = rng.uniform(0.4, 0.6, n)  # the share of each period in the first colour
    phase = rng.uniform(0, 1, n)
    direction = rng.choice([-1.0, 1.0], n)  # diagonal stripes run either way: / or \
    half = 1 / math.sqrt(2)
    along_row = np.array([1.0, 0.0, half])[labels]  # (horizontal, vertical, diagonal)
    along_col = np.array([0.0, 1.0, half])[labels] * np.where(labels == 2, direction, 1.0)
    # Sample each pixel on a SUPERSAMPLE × SUPERSAMPLE grid and average: anti-aliased stripe edges.
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    rows = (np.arange(h)[:, None] + sub[None, :]).reshape(-1)
    cols = (np.arange(w)[:, None] + sub[None, :]).reshape(-1)
    t = (along_row[:, None, None] * rows[None, :, None] + along_col[:, None, None] * cols[None, None, :])
    t = (t / period[:, None, None] + phase[:, None, None]) % 1.0
    first = (t < duty[:, None, None]).astype(np.float64)
    share = first.reshape(n, h, SUPERSAMPLE, w, SUPERSAMPLE).mean(axis=(2, 4))[..., None]
    a, b = _contrasting_colours(rng, n, min_contrast=80)
    return _finish(rng, a[:, None, None, :] * share + b[:, None, None, :] * (1 - share), max_noise=12), ()


BUILTIN: dict[str, BuiltinDataset] = {
    "shapes": BuiltinDataset(
        "shapes", SHAPES, "default", train_size=24_000, epochs=30, learning_rate=0.005,
        title="Shapes: circle, square or triangle",
        what="generated images of circles, squares and triangles in many styles (dark on light and light on "
        "dark, filled or outlined with a thin or thick stroke, small to large, at any position and rotation, on "
        "plain, shaded, textured and photo-like backgrounds, with noise)",
        draw=_draw_shapes,
    ),
    "stripes": BuiltinDataset(
        "stripes", STRIPES, "tiny", train_size=3_000, epochs=20, learning_rate=0.02,
        title="Stripes: horizontal, vertical or diagonal",
        what="generated images of horizontal, vertical and diagonal stripes (any colours, widths and "
        "phases, with noise)",
        draw=_draw_stripes,
    ),
}


def builtin(name: str) -> BuiltinDataset:
    """The built-in data set called ``name``, or a ``DatasetError`` listing them."""
    try:
        return BUILTIN[name]
    except KeyError:
        raise DatasetError(f"unknown generated data set {name!r} (generated data sets: {', '.join(BUILTIN)})") from None


def generate(name: str, n: int, seed: int, size: tuple[int, int] | None = None) -> Dataset:
    """``n`` images of built-in data set ``name`` from ``seed``, at ``size`` (default: its template's)."""
    spec = builtin(name)
    if size is None:
        from xlcnn.model.zoo import ARCHITECTURES

        arch = ARCHITECTURES[spec.template]()
        size = (arch.input.height, arch.input.width)
    return spec.generate(n, seed, size)


# ------------------------------------------------------------------------------------- photo folder


def _image_suffixes() -> frozenset[str]:
    """File name endings Pillow can open (.jpg, .png, .webp, …)."""
    return frozenset(Image.registered_extensions())


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _class_folders(folder: Path, warn: Warn) -> list[Path]:
    if not folder.exists():
        raise DatasetError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder (give a folder with one sub-folder of images per class)")
    try:
        entries = sorted(p for p in folder.iterdir() if _visible(p))
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot be read ({exc.strerror or exc})") from None
    loose = [p for p in entries if not p.is_dir()]
    if loose:
        warn(f"{folder}: ignored {len(loose)} file(s) outside the class folders, e.g. {loose[0].name}")
    return [p for p in entries if p.is_dir()]


def _images_in(class_folder: Path, warn: Warn) -> list[Path]:
    suffixes = _image_suffixes()
    try:
        files = sorted(p for p in class_folder.iterdir() if _visible(p) and p.is_file())
    except OSError as exc:
        raise DatasetError(f"{class_folder}: cannot be read ({exc.strerror or exc})") from None
    others = [p for p in files if p.suffix.lower() not in suffixes]
    if others:
        warn(f"{class_folder}: ignored {len(others)} file(s) that are not images by name, e.g. {others[0].name}")
    return [p for p in files if p.suffix.lower() in suffixes]


def _check_class_names(folder: Path, folders: list[str], warn: Warn) -> tuple[str, ...]:
    """Folder names become class labels, so they must be labels a workbook can MATCH on: a name a spreadsheet
    would read as a value (``7``) becomes ``class 7``, with a note."""
    names = [as_text(name) for name in folders]
    renamed = [(old, new) for old, new in zip(folders, names, strict=True) if old != new]
    for old, new in renamed:
        if new in folders:
            raise DatasetError(f"{folder}: the class folders {old!r} and {new!r} would both be the class {new!r} "
                               f"(a spreadsheet would read {old!r} as a value); rename one of them")
    if renamed:
        examples = ", ".join(f"{old!r} is {new!r}" for old, new in renamed[:3])
        warn(f"{folder}: class folders whose names a spreadsheet would read as numbers or dates get 'class' in "
             f"front in the workbook ({examples}{', …' if len(renamed) > 3 else ''})")
    for folder_name, name in zip(folders, names, strict=True):
        try:
            check_label(name, "class folder name")
        except ValueError as exc:
            raise DatasetError(f"{folder / folder_name}: {exc}") from None
    try:
        return check_labels(names, "class folders")
    except ValueError as exc:
        raise DatasetError(f"{folder}: {exc}") from None


def _too_few_classes(folder: Path, names: list[str]) -> DatasetError:
    found = f"found only {names[0]!r}" if names else "found none"
    return DatasetError(
        f"{folder}: needs at least two class folders of images ({found}); put each class's images in its own "
        f"sub-folder, e.g. {folder / 'cat'}{os.sep}*.jpg"
    )


def load_folder(
    folder: str | os.PathLike[str],
    size: tuple[int, int],
    fit: FitMode = "crop",
    skip_bad: bool = False,
    warn: Warn | None = None,
) -> Dataset:
    """Read ``folder/<class>/<image>`` at ``size`` = (height, width) with ``fit``; classes sorted by name.

    An empty class folder, an unreadable image, or fewer than two classes raise ``DatasetError`` naming
    the folder or file. With ``skip_bad`` an empty class or an unreadable image is skipped and reported
    through ``warn`` instead (fewer than two classes left is still an error). Hidden files and folders
    (``.DS_Store``, ``.git``) are ignored, and so are files whose names are not image names (``notes.txt``),
    with a warning.
    """
    root = Path(folder)
    say: Warn = warn or (lambda _message: None)
    per_class: list[tuple[str, list[np.ndarray], list[str]]] = []
    for class_folder in _class_folders(root, say):
        paths = _images_in(class_folder, say)
        if not paths:
            problem = f"{class_folder}: empty class folder (no images in it)"
            if not skip_bad:
                skip = option("skip_bad", "True")
                raise DatasetError(f"{problem}; add images, remove the folder, or skip it with {skip}")
            say(f"skipped {problem}")
            continue
        images, sources = _read_images(paths, size, fit, skip_bad, say)
        if not images:
            say(f"skipped {class_folder}: none of its images could be read")
            continue
        per_class.append((class_folder.name, images, sources))
    names = [name for name, _, _ in per_class]
    if len(names) < 2:
        raise _too_few_classes(root, names)
    classes = _check_class_names(root, names, say)
    return Dataset(
        images=np.stack([image for _, imgs, _ in per_class for image in imgs]),
        labels=np.concatenate([np.full(len(imgs), k, dtype=np.int64) for k, (_, imgs, _) in enumerate(per_class)]),
        classes=classes,
        sources=tuple(src for _, _, srcs in per_class for src in srcs),
    )


def _read_images(
    paths: list[Path], size: tuple[int, int], fit: FitMode, skip_bad: bool, say: Warn
) -> tuple[list[np.ndarray], list[str]]:
    images, sources = [], []
    for path in paths:
        try:
            images.append(load_image(path, size, fit))
        except XlcnnError as exc:
            if not skip_bad:
                skip = option("skip_bad", "True")
                raise DatasetError(f"{exc.message}; fix or remove it, or skip it with {skip}") from None
            say(f"skipped {exc}")
            continue
        sources.append(str(path))
    return images, sources


def split(data: Dataset, val_split: float, seed: int) -> tuple[Dataset, Dataset]:
    """(training, validation): ``val_split`` of each class, chosen by ``seed``, held out for validation.

    Each class keeps at least one image for training; a class of one image is not validated.
    """
    if not 0 <= val_split < 1:
        raise DatasetError(f"the validation split must be at least 0 and below 1, not {val_split}")
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    kept: list[np.ndarray] = []
    for k in range(len(data.classes)):
        members = rng.permutation(np.flatnonzero(data.labels == k))
        count = min(len(members) - 1, round(val_split * len(members)))
        if val_split > 0 and len(members) >= 2:
            count = max(count, 1)
        held.append(members[:count])
        kept.append(members[count:])
    return data.subset(np.sort(np.concatenate(kept))), data.subset(np.sort(np.concatenate(held)))


# ------------------------------------------------------------------------------------------ samples


def sample_image(name: str, label: str, seed: int, size: int = 200) -> Image.Image:
    """One large (``size`` × ``size``) image of ``label`` from built-in data set ``name``, for samples/."""
    spec = builtin(name)
    if label not in spec.classes:
        raise DatasetError(f"data set {name!r} has no class {label!r} (classes: {', '.join(spec.classes)})")
    rng = np.random.default_rng(seed)
    labels = np.array([spec.classes.index(label)])
    return Image.fromarray(spec.draw(rng, labels, (size, size))[0][0], mode="RGB")
