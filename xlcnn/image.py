"""Image input: any file Pillow reads → an (H, W, 3) uint8 RGB array of the model's input size.

What happens to a picture, in order:

1. The first frame is taken (animated GIF, PNG, WebP); Pillow's decompression-bomb guard stays on and
   its warning counts as a refusal, so a file claiming billions of pixels is refused from its header.
   Pillow's warnings about damaged metadata (e.g. corrupt EXIF) are silenced: the pixels still load.
2. EXIF orientation is applied, so a phone photo is upright.
3. Transparency is composited on white; palette, greyscale, CMYK and other modes become 8-bit RGB;
   16-bit greyscale is scaled (÷257) rather than clipped.
4. It is fitted to the model's size with Lanczos resampling by one of three methods:
   ``crop`` (default) — centre-crop to the model's aspect ratio (in whole pixels), then resize;
   ``pad`` — shrink to fit inside, then pad the rest with white;
   ``stretch`` — resize to the size, ignoring the aspect ratio.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from xlcnn.errors import ImageError, OptionError, one_line, option
from xlcnn.model.spec import FIT_MODES, FitMode
from xlcnn.model.templates import MAX_INPUT_SIDE

RESAMPLE = Image.Resampling.LANCZOS


@dataclass(frozen=True, eq=False)
class SourceImage:
    """An image read from a file and turned into 8-bit RGB, before fitting."""

    path: Path
    rgb: Image.Image
    format: str  # "PNG", "JPEG", …
    mode: str  # the file's own mode ("RGBA", "P", "I;16", …)
    size: tuple[int, int]  # (width, height) after EXIF orientation
    frames: int


# What Pillow may raise from a damaged file besides OSError: its decoders index, unpack and divide
# header fields they have not validated (found by truncating and corrupting PNG, JPEG, GIF and TIFF files).
_DECODE_ERRORS = (
    OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError, ZeroDivisionError,
)


def _permission_denied(path: Path) -> ImageError:
    return ImageError(f"{path}: permission denied (cannot read the file)")


def _check_file(path: Path) -> None:
    try:
        if not path.exists():
            raise ImageError(f"{path}: no such file")
        if path.is_dir():
            raise ImageError(f"{path}: is a directory, not an image")
        if not path.is_file():
            raise ImageError(f"{path}: not a regular file")
        if not os.access(path, os.R_OK):
            raise _permission_denied(path)
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: the file is empty")
    except PermissionError:  # e.g. a folder on the way that may not be searched
        raise _permission_denied(path) from None
    except OSError as exc:  # e.g. a name too long for the file system
        raise ImageError(f"{path}: cannot open the file ({one_line(exc.strerror or str(exc))})") from None


def _not_an_image(path: Path) -> ImageError:
    """Pillow could not identify the file: say what it is when it is a common look-alike (PDF, SVG)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1024)
    except OSError:
        head = b""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")  # a UTF-8 byte-order mark, blank lines
    if start.startswith(b"%PDF-"):
        return ImageError(f"{path}: is a PDF document, not an image; export the page as PNG or JPEG first")
    if start.startswith(b"<") and b"<svg" in head.lower():
        return ImageError(f"{path}: is an SVG drawing, which xlcnn cannot read; export it as PNG or JPEG first")
    return ImageError(f"{path}: not an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP, …)")


def _bomb(path: Path, exc: Exception) -> ImageError:
    """One message for Pillow's warning (over the limit) and its error (over twice the limit), which both refuse."""
    claimed = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"it claims {int(claimed.group(1)):,} pixels; " if claimed else ""
    return ImageError(
        f"{path}: refused as a possible decompression bomb ({size}the limit is {Image.MAX_IMAGE_PIXELS or 0:,} pixels)"
    )


def _count_frames(img: Image.Image) -> int:
    """How many frames the file holds; damage after the first frame does not matter (only it is used)."""
    try:
        return int(getattr(img, "n_frames", 1))
    except _DECODE_ERRORS:
        return 1


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB, transparency composited on white."""
    if img.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        values = np.asarray(img, dtype=np.float64)
        # 16/32-bit integer samples span 0..65535; a float image spans 0..1 or, failing that, 0..255.
        top = 65535.0
        if img.mode == "F":
            top = 1.0 if values.size and values.max() <= 1.0 else 255.0
        grey = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode in ("P", "L", "RGB", "1") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def read_image(path: str | os.PathLike[str]) -> SourceImage:
    """Open an image file and turn its first frame into upright 8-bit RGB."""
    p = Path(path)
    _check_file(p)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                fmt, mode = img.format or "unknown", img.mode
                img.seek(0)
                img.load()
                upright = ImageOps.exif_transpose(img)
                rgb = _to_rgb(upright)
                frames = _count_frames(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(p, exc) from None
    except UnidentifiedImageError:
        raise _not_an_image(p) from None
    except PermissionError:
        raise _permission_denied(p) from None
    except MemoryError:
        raise ImageError(f"{p}: the image is too large to load") from None
    except _DECODE_ERRORS as exc:
        problem = one_line(str(exc)) or type(exc).__name__
        if "truncated" in problem.lower():
            raise ImageError(f"{p}: the image file is truncated (its data ends early)") from None
        raise ImageError(f"{p}: cannot read the image ({problem})") from None
    return SourceImage(p, rgb, fmt, mode, rgb.size, frames)


def _centre_box(w: int, h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The largest box of the target's aspect ratio (width:height) centred in a w×h image, in whole pixels."""
    if w * height > h * width:  # wider than the target: keep the full height
        keep = max(1, min(w, round(h * width / height)))
        left = (w - keep) // 2
        return (left, 0, left + keep, h)
    keep = max(1, min(h, round(w * height / width)))
    top = (h - keep) // 2
    return (0, top, w, top + keep)


def check_fit(height: int, width: int, fit: str) -> None:
    """A target size (whole numbers from 1 to MAX_INPUT_SIDE) and a fit mode the library can use."""
    if fit not in FIT_MODES:
        raise OptionError(f"{option('fit')} {fit!r} is not one of {', '.join(FIT_MODES)}")
    for name, side in (("height", height), ("width", width)):
        if isinstance(side, bool) or not isinstance(side, int):
            raise TypeError(f"the image {name} must be a whole number, not {type(side).__name__}")
    if min(height, width) < 1:
        raise OptionError(f"the image size must be at least 1×1 (height×width), not {height}×{width}")
    if max(height, width) > MAX_INPUT_SIDE:  # a network's input, not a poster: memory stays bounded
        raise OptionError(f"the image size must be at most {MAX_INPUT_SIDE}×{MAX_INPUT_SIDE} (height×width), "
                          f"not {height}×{width}")


def fit_image(img: Image.Image, height: int, width: int, fit: FitMode = "crop") -> np.ndarray:
    """Bring an RGB image to height × width by ``fit`` → (height, width, 3) uint8."""
    check_fit(height, width, fit)
    size = (width, height)
    if fit == "crop":
        # Crop first, then resize: resizing with a box (as ImageOps.fit does) lets Lanczos read pixels
        # outside the box, so colour from the cut-away sides would bleed into the edges.
        out = img.crop(_centre_box(img.width, img.height, width, height)).resize(size, RESAMPLE)
    elif fit == "stretch":
        out = img.resize(size, RESAMPLE)
    else:
        ratio = min(width / img.width, height / img.height)
        inner = (max(1, min(width, round(img.width * ratio))), max(1, min(height, round(img.height * ratio))))
        out = Image.new("RGB", size, (255, 255, 255))
        out.paste(img.resize(inner, RESAMPLE), ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return np.asarray(out.convert("RGB"), dtype=np.uint8).copy()


def load_image(path: str | os.PathLike[str], size: tuple[int, int], fit: FitMode = "crop") -> np.ndarray:
    """Read ``path`` and fit it to ``size`` = (height, width) → (height, width, 3) uint8 RGB."""
    if not isinstance(size, tuple | list) or len(size) != 2:
        raise TypeError(f"size must be (height, width), not {size!r:.40}")
    check_fit(size[0], size[1], fit)  # before the file is read
    return fit_image(read_image(path).rgb, size[0], size[1], fit)
