"""Image input: any file Pillow reads → an (H, W, 3) uint8 RGB array of the model's input size.

What happens to a picture, in order:

1. The first frame is taken (animated GIF, PNG, WebP); Pillow's decompression-bomb guard stays on and
   its warning counts as a refusal, so a file claiming billions of pixels is refused from its header.
2. EXIF orientation is applied, so a phone photo is upright.
3. Transparency is composited on white; palette, greyscale, CMYK and other modes become 8-bit RGB;
   16-bit greyscale is scaled (÷257) rather than clipped.
4. It is fitted to the model's size with Lanczos resampling by one of three methods:
   ``crop`` (default) — centre-crop to the model's aspect ratio, then resize;
   ``pad`` — shrink to fit inside, then pad the rest with white;
   ``stretch`` — resize to the size, ignoring the aspect ratio.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from xlcnn.errors import ImageError, OptionError, one_line
from xlcnn.spec import FIT_MODES, FitMode

RESAMPLE = Image.Resampling.LANCZOS
FIT_DESCRIPTIONS = {
    "crop": "centre-cropped to the model's aspect ratio, then resized (Lanczos)",
    "pad": "shrunk to fit (Lanczos), then padded with white",
    "stretch": "resized to the model's size ignoring the aspect ratio (Lanczos)",
}


@dataclass(frozen=True, eq=False)
class SourceImage:
    """An image read from a file and turned into 8-bit RGB, before fitting."""

    path: Path
    rgb: Image.Image
    format: str  # "PNG", "JPEG", …
    mode: str  # the file's own mode ("RGBA", "P", "I;16", …)
    size: tuple[int, int]  # (width, height) after EXIF orientation
    frames: int


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image")
    if not path.is_file():
        raise ImageError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: permission denied (cannot read the file)")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: the file is empty")


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
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                fmt, mode = img.format or "unknown", img.mode
                frames = getattr(img, "n_frames", 1)
                img.seek(0)
                img.load()
                upright = ImageOps.exif_transpose(img)
                rgb = _to_rgb(upright)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{p}: refused as a possible decompression bomb ({one_line(str(exc))})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{p}: not an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP, …)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        problem = one_line(str(exc)) or type(exc).__name__
        raise ImageError(f"{p}: cannot read the image ({problem})") from None
    except MemoryError:
        raise ImageError(f"{p}: the image is too large to load") from None
    return SourceImage(p, rgb, fmt, mode, rgb.size, frames)


def fit_image(img: Image.Image, height: int, width: int, fit: FitMode = "crop") -> np.ndarray:
    """Bring an RGB image to height × width by ``fit`` → (height, width, 3) uint8."""
    if fit not in FIT_MODES:
        raise OptionError(f"--fit {fit!r} is not one of {', '.join(FIT_MODES)}")
    size = (width, height)
    if fit == "crop":
        out = ImageOps.fit(img, size, method=RESAMPLE)
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
    return fit_image(read_image(path).rgb, size[0], size[1], fit)
