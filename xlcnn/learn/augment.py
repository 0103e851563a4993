"""Data augmentation: every mini-batch is seen a little differently — shifted, perhaps mirrored, brighter or
darker, tinted — so that a network learns the class, not the photos. With 20 photos of a class a network
can learn each photo by heart; with every photo also seen moved by a pixel or two, in other light, it has to
learn what the photos have in common.

All changes keep the image a plausible photo of the same class: a shift of at most ``SHIFT`` of the side
(the edge pixels are repeated into the gap, as a camera moved a little would see more of the same
background), a mirror image only where the classes allow it (a mirrored 7 is not a 7), and brightness,
contrast and colour changes of the size a different lamp or camera makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHIFT = 1 / 12  # of the image side: 2 pixels of 28


@dataclass(frozen=True)
class Augment:
    """How much to vary the images; ``NONE`` leaves them as they are."""

    shift: float = SHIFT
    flip: bool = True  # mirror left to right half the time
    brightness: float = 25.0  # ± this many of 255, added
    contrast: float = 0.2  # × (1 ± this) about the image's mean
    tint: float = 0.1  # each channel × (1 ± this)


NONE = Augment(shift=0.0, flip=False, brightness=0.0, contrast=0.0, tint=0.0)


def _moved(images: np.ndarray, rng: np.random.Generator, most: int, flip: bool) -> np.ndarray:
    """(n, H, W, 3) → (n, 3, H, W): each image shifted by up to ``most`` pixels each way (edge pixels repeated
    into the gap) and, if ``flip``, mirrored half the time — one slice of the edge-padded image each."""
    n, h, w, _ = images.shape
    dy, dx = (rng.integers(0, 2 * most + 1, (n,)) for _ in "yx") if most else (np.zeros(n, dtype=int),) * 2
    mirror = rng.random((n,)) < 0.5 if flip else np.zeros(n, dtype=bool)
    planes = images.transpose(0, 3, 1, 2)
    padded = np.pad(planes, ((0, 0), (0, 0), (most, most), (most, most)), mode="edge") if most else planes
    out = np.empty(planes.shape, dtype=images.dtype)
    for i in range(n):
        part = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        out[i] = part[:, :, ::-1] if mirror[i] else part
    return out


def augment(images: np.ndarray, rng: np.random.Generator, how: Augment) -> np.ndarray:
    """A varied copy of a batch of (n, H, W, 3) uint8 images, drawn from ``rng``.

    The light changes are ``((x − mean)·contrast + mean)·tint + brightness`` per pixel, done as one
    multiply-add with a factor and an offset per image and channel. The work is done, and the copy laid out,
    channel by channel (the result is a (n, H, W, 3) view of an (n, 3, H, W) array), because that is how the
    trainer reads it and because a factor per channel is slow to apply to pixels stored R, G, B, R, G, B …"""
    if how == NONE or images.shape[0] == 0:
        return images
    n, h, w, _ = images.shape
    most = round(how.shift * min(h, w))
    planes = _moved(images, rng, most, how.flip) if most > 0 or how.flip else images.transpose(0, 3, 1, 2)
    x = planes.astype(np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    contrast = 1 + rng.uniform(-how.contrast, how.contrast, (n, 1, 1, 1))
    tint = 1 + rng.uniform(-how.tint, how.tint, (n, 3, 1, 1))
    shift = rng.uniform(-how.brightness, how.brightness, (n, 1, 1, 1))
    x *= (contrast * tint).astype(np.float32)
    x += (mean * (1 - contrast) * tint + shift).astype(np.float32)
    np.rint(x, out=x)
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8).transpose(0, 2, 3, 1)


def describe(how: Augment, size: tuple[int, int]) -> str:
    """What ``augment`` does to images of ``size``, in words for a model card; "" when nothing."""
    most = round(how.shift * min(size))
    words = [f"shifted by up to {most} pixel{'s' if most > 1 else ''}"] if most > 0 else []
    if how.flip:
        words.append("mirrored")
    if how.brightness or how.contrast:
        words.append("brightened or darkened")
    if how.tint:
        words.append("tinted")
    if not words:
        return ""
    listed = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
    return f"each image {listed} a little at random"
