"""Image input: every kind of picture becomes the right 8-bit RGB pixels, and unreadable files get one clear line.

Every file is generated here, in ``tmp_path``, with Pillow and NumPy (no binary fixtures). The assertions check
pixel values, not just shapes. Unless a test is about resizing, it loads the picture at its own size, so the
resize step is an exact copy and the pixels can be compared exactly.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from xlcnn.errors import ImageError, OptionError
from xlcnn.image import fit_image, load_image, read_image
from xlcnn.model.spec import FIT_MODES

WHITE = (255, 255, 255)
RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


def noise(height: int, width: int, seed: int = 0) -> Image.Image:
    """A picture that compresses badly, so cutting its file in half cuts into the pixel data."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def halves(width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = left
    pixels[:, width // 2:] = right
    return Image.fromarray(pixels)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, rows: bytes) -> bytes:
    """A PNG written by hand: 8-bit RGB, ``rows`` is the raw scanlines (each starting with filter byte 0)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def image_error(path: Path, size: tuple[int, int] = (4, 4)) -> str:
    with pytest.raises(ImageError) as info:
        load_image(path, size)
    return str(info.value)


# ------------------------------------------------------------------------------------------ every mode


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    pixels = np.array(
        [[[0, 0, 0, 0], [255, 0, 0, 128]], [[0, 0, 255, 255], [0, 255, 0, 0]]], dtype=np.uint8
    )  # transparent black, half-transparent red, opaque blue, transparent green
    path = tmp_path / "rgba.png"
    Image.fromarray(pixels, "RGBA").save(path)
    out = load_image(path, (2, 2))
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert tuple(out[0, 0]) == WHITE  # a fully transparent pixel shows the white behind it, whatever its colour
    assert tuple(out[1, 1]) == WHITE
    # alpha 128/255 over white: R = 255·a + 255·(1 − a) = 255; G = B = 0·a + 255·(1 − a) = 255·127/255 = 127
    assert tuple(out[0, 1]) == (255, 127, 127)
    assert tuple(out[1, 0]) == BLUE  # opaque pixels are untouched


def test_la_greyscale_with_alpha_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "la.png"
    Image.fromarray(np.array([[[100, 255], [100, 0]]], np.uint8), "LA").save(path)
    assert read_image(path).mode == "LA"
    out = load_image(path, (1, 2))
    assert out.tolist() == [[[100, 100, 100], [255, 255, 255]]]


def test_palette_image_with_a_transparent_index_becomes_white_there(tmp_path: Path) -> None:
    img = Image.new("P", (4, 2), 0)
    img.putpalette([0, 128, 0, 200, 0, 0] + [0] * (256 * 3 - 6))  # index 0 green, index 1 red
    for x in (2, 3):
        for y in (0, 1):
            img.putpixel((x, y), 1)
    path = tmp_path / "palette.png"
    img.save(path, transparency=1)
    source = read_image(path)
    assert source.mode == "P"
    out = load_image(path, (2, 4))
    assert (out[:, :2] == (0, 128, 0)).all()  # the opaque index keeps its palette colour
    assert (out[:, 2:] == WHITE).all()  # the transparent index (red in the palette) is white


def test_palette_image_with_partial_alpha_is_composited(tmp_path: Path) -> None:
    img = Image.new("P", (2, 1), 0)
    img.putpalette([0, 128, 0, 200, 0, 0] + [0] * (256 * 3 - 6))
    img.putpixel((1, 0), 1)
    path = tmp_path / "palette_alpha.png"
    img.save(path, transparency=b"\xff\x80")  # index 1 has alpha 128
    out = load_image(path, (1, 2))
    assert tuple(out[0, 0]) == (0, 128, 0)
    # (200, 0, 0) at alpha 128/255 over white: R = (200·128 + 255·127)/255 = 227.4, G = B = 255·127/255 = 127
    assert tuple(out[0, 1]) == (227, 127, 127)


def test_rgb_colour_key_transparency_becomes_white(tmp_path: Path) -> None:
    path = tmp_path / "key.png"
    halves(4, 2, GREEN, (10, 20, 30)).save(path, transparency=GREEN)  # PNG tRNS: "green means transparent"
    out = load_image(path, (2, 4))
    assert (out[:, :2] == WHITE).all()
    assert (out[:, 2:] == (10, 20, 30)).all()


def test_greyscale_keeps_its_level_in_all_three_channels(tmp_path: Path) -> None:
    grey = np.array([[0, 77], [200, 255]], np.uint8)
    path = tmp_path / "grey.png"
    Image.fromarray(grey, "L").save(path)
    assert read_image(path).mode == "L"
    out = load_image(path, (2, 2))
    for channel in range(3):
        assert (out[..., channel] == grey).all()


def test_one_bit_image_is_black_and_white(tmp_path: Path) -> None:
    path = tmp_path / "bits.png"
    Image.fromarray(np.array([[False, True]])).save(path)
    assert read_image(path).mode == "1"
    assert load_image(path, (1, 2)).tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    levels = np.arange(256, dtype=np.uint16).reshape(16, 16)
    path = tmp_path / "grey16.png"
    Image.fromarray(levels * 257).save(path)  # 257·v spans 0…65535 exactly as v spans 0…255
    assert read_image(path).mode == "I;16"
    out = load_image(path, (16, 16))
    for channel in range(3):
        assert (out[..., channel] == levels).all()  # 257·v → v, so 65535 → 255


def test_16_bit_values_between_the_steps_round_to_the_nearest_level(tmp_path: Path) -> None:
    path = tmp_path / "grey16_odd.png"
    Image.fromarray(np.array([[0, 1000, 32896, 65535]], np.uint16)).save(path)
    out = load_image(path, (1, 4))
    # 1000/257 = 3.89 → 4 (clipping would give 255); 32896/257 = 128; 65535/257 = 255
    assert out[0, :, 0].tolist() == [0, 4, 128, 255]


def test_cmyk_jpeg_converts_to_roughly_the_right_colour(tmp_path: Path) -> None:
    pixels = np.zeros((16, 32, 4), np.uint8)
    pixels[:, :16] = (0, 255, 255, 0)  # no cyan, full magenta and yellow → red
    pixels[:, 16:] = (255, 0, 0, 0)  # full cyan → (0, 255, 255)
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(pixels, "CMYK").save(path, quality=95)
    source = read_image(path)
    assert (source.format, source.mode) == ("JPEG", "CMYK")
    out = load_image(path, (16, 32)).astype(int)
    # JPEG is lossy (DCT quantisation, and blocks bleed into each other near the edge between the halves), so
    # compare the middle of each half with a tolerance of 8 levels out of 255; the inverted or missing CMYK
    # conversion this test guards against is off by ~255.
    assert np.abs(out[4:12, 2:12] - RED).max() <= 8
    assert np.abs(out[4:12, 20:30] - (0, 255, 255)).max() <= 8


@pytest.mark.parametrize(
    ("orientation", "upright_size", "top", "bottom", "left", "right"),
    [
        (1, (40, 20), None, None, RED, BLUE),  # no rotation: 40 wide, red on the left
        (3, (40, 20), None, None, BLUE, RED),  # rotated 180°
        (6, (20, 40), RED, BLUE, None, None),  # shown turned 90° clockwise: the left half goes on top
        (8, (20, 40), BLUE, RED, None, None),  # shown turned 90° anticlockwise: the left half goes below
    ],
)
def test_exif_orientation_is_applied(
    tmp_path: Path,
    orientation: int,
    upright_size: tuple[int, int],
    top: tuple[int, int, int] | None,
    bottom: tuple[int, int, int] | None,
    left: tuple[int, int, int] | None,
    right: tuple[int, int, int] | None,
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation  # the Orientation tag
    path = tmp_path / f"rotated{orientation}.jpg"
    halves(40, 20, RED, BLUE).save(path, exif=exif, quality=95, subsampling=0)  # stored 40 wide, 20 high
    source = read_image(path)
    assert source.size == upright_size  # (width, height) after turning upright
    width, height = upright_size
    out = load_image(path, (height, width)).astype(int)
    # JPEG is lossy: compare each half's middle, away from the edge between them, within 10 levels.
    if top is not None and bottom is not None:
        assert np.abs(out[3: height // 2 - 3] - top).max() <= 10
        assert np.abs(out[height // 2 + 3: -3] - bottom).max() <= 10
    if left is not None and right is not None:
        assert np.abs(out[:, 3: width // 2 - 3] - left).max() <= 10
        assert np.abs(out[:, width // 2 + 3: -3] - right).max() <= 10


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, GREEN, BLUE)]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    source = read_image(path)
    assert (source.format, source.frames) == ("GIF", 3)
    assert (load_image(path, (8, 8)) == RED).all()


def test_animated_gif_with_damaged_later_frames_still_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, GREEN, BLUE)]
    whole = io.BytesIO()
    frames[0].save(whole, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    data = whole.getvalue()
    second = data.index(b"\x21\xf9", data.index(b"\x21\xf9") + 1)  # the second frame's control block
    path = tmp_path / "cut.gif"
    path.write_bytes(data[: second + 5])  # cut inside the second frame's header
    # Counting the frames used to crash here (IndexError inside Pillow); only the first frame is used.
    assert read_image(path).frames == 1
    assert (load_image(path, (8, 8)) == RED).all()


@pytest.mark.parametrize(
    ("fmt", "suffix", "options"),
    [
        ("PNG", "png", {}),
        ("BMP", "bmp", {}),
        ("TIFF", "tif", {}),
        ("GIF", "gif", {}),
        ("WEBP", "webp", {"lossless": True}),
        ("PPM", "ppm", {}),
        ("TGA", "tga", {}),
    ],
)
def test_lossless_formats_keep_exact_pixels(tmp_path: Path, fmt: str, suffix: str, options: dict[str, object]) -> None:
    picture = halves(6, 4, (10, 200, 30), (250, 5, 128))  # two colours: a GIF palette stores them exactly
    path = tmp_path / f"picture.{suffix}"
    picture.save(path, fmt, **options)
    assert read_image(path).format == fmt
    assert (load_image(path, (4, 6)) == np.asarray(picture)).all()


# ------------------------------------------------------------------------------------------ fitting


@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
def test_one_pixel_image_fills_the_whole_output(tmp_path: Path, fit: str) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (12, 34, 56)).save(path)
    out = load_image(path, (6, 6), fit=fit)  # type: ignore[arg-type]
    assert out.shape == (6, 6, 3)
    assert (out == (12, 34, 56)).all()


def very_wide(tmp_path: Path) -> Path:
    """5000×20, blue, with a red 20×20 square in the very middle (columns 2490–2509)."""
    pixels = np.zeros((20, 5000, 3), np.uint8)
    pixels[:] = BLUE
    pixels[:, 2490:2510] = RED
    path = tmp_path / "wide.png"
    Image.fromarray(pixels).save(path)
    return path


def test_very_wide_image_crop_takes_the_centre(tmp_path: Path) -> None:
    out = load_image(very_wide(tmp_path), (6, 6), fit="crop")
    assert out.shape == (6, 6, 3)
    assert (out == RED).all()  # the centre 20×20 square, scaled down; no blue from the sides bleeds in


def test_very_wide_image_pad_letterboxes_with_white(tmp_path: Path) -> None:
    out = load_image(very_wide(tmp_path), (6, 6), fit="pad").astype(int)
    assert out.shape == (6, 6, 3)
    # 5000×20 shrunk to fit 6 wide is 6×0.024, kept as one row, centred: row (6 − 1) // 2 = 2
    white_rows = [0, 1, 3, 4, 5]
    assert (out[white_rows] == WHITE).all()
    # The strip is the blue picture; the red square (0.4% of the width) tints its middle by a few levels.
    assert np.abs(out[2] - BLUE).max() <= 8


def test_very_wide_image_stretch_squeezes_everything_in(tmp_path: Path) -> None:
    out = load_image(very_wide(tmp_path), (6, 6), fit="stretch").astype(int)
    assert out.shape == (6, 6, 3)
    # 5000 columns squeezed into 6: each output pixel averages ~833 columns of blue; the 20 red ones (0.4%)
    # tint the middle two by a few levels at most.
    assert np.abs(out - BLUE).max() <= 8
    assert (out[:, [0, -1]] == BLUE).all()


def test_crop_takes_the_centre_of_a_tall_image(tmp_path: Path) -> None:
    pixels = np.zeros((30, 10, 3), np.uint8)
    pixels[:10], pixels[10:20], pixels[20:] = RED, GREEN, BLUE
    path = tmp_path / "tall.png"
    Image.fromarray(pixels).save(path)
    assert (load_image(path, (10, 10)) == GREEN).all()
    assert (load_image(path, (5, 5)) == GREEN).all()


def test_pad_puts_a_tall_image_between_white_columns(tmp_path: Path) -> None:
    path = tmp_path / "tall_green.png"
    Image.new("RGB", (10, 30), GREEN).save(path)
    out = load_image(path, (6, 6), fit="pad")
    # 10×30 scaled by 6/30 is 2×6, centred at column (6 − 2) // 2 = 2
    assert (out[:, [0, 1, 4, 5]] == WHITE).all()
    assert (out[:, 2:4] == GREEN).all()


def test_stretch_ignores_the_aspect_ratio(tmp_path: Path) -> None:
    path = tmp_path / "three.png"
    Image.fromarray(np.array([[RED, GREEN, BLUE]], np.uint8)).save(path)
    out = load_image(path, (4, 3), fit="stretch")  # only the height changes, so the columns stay pure
    assert out.tolist() == [[list(RED), list(GREEN), list(BLUE)]] * 4


def test_output_is_a_fresh_uint8_array_of_the_asked_size(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    noise(20, 30).save(path)
    for fit in FIT_MODES:
        out = load_image(path, (5, 7), fit=fit)
        assert out.shape == (5, 7, 3) and out.dtype == np.uint8
        assert out.flags.writeable and out.flags.c_contiguous


def test_unknown_fit_and_empty_size_are_refused() -> None:
    img = Image.new("RGB", (4, 4))
    with pytest.raises(OptionError) as info:
        fit_image(img, 4, 4, "zoom")  # type: ignore[arg-type]
    assert str(info.value) == "fit 'zoom' is not one of crop, pad, stretch"  # the CLI says --fit
    with pytest.raises(OptionError) as info:
        fit_image(img, 0, 4)
    assert str(info.value) == "the image size must be at least 1×1 (height×width), not 0×4"


# ------------------------------------------------------------------------------------------ unreadable


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.png"
    assert image_error(path) == f"{path}: no such file"


def test_directory(tmp_path: Path) -> None:
    assert image_error(tmp_path) == f"{tmp_path}: is a directory, not an image"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert image_error(path) == f"{path}: the file is empty"


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("these are my notes, not a picture\n")
    assert image_error(path) == f"{path}: not an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP, …)"


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", "png"), ("JPEG", "jpg")])
def test_truncated_file(tmp_path: Path, fmt: str, suffix: str) -> None:
    whole = io.BytesIO()
    noise(64, 64).save(whole, fmt)
    data = whole.getvalue()
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(data[: len(data) // 2])  # the header is intact; the pixel data stops halfway
    assert image_error(path) == f"{path}: the image file is truncated (its data ends early)"


def test_svg_file(tmp_path: Path) -> None:
    path = tmp_path / "drawing.svg"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>\n'
    )
    assert image_error(path) == f"{path}: is an SVG drawing, which xlcnn cannot read; export it as PNG or JPEG first"


def test_pdf_file(tmp_path: Path) -> None:
    path = tmp_path / "page.pdf"
    path.write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    assert image_error(path) == f"{path}: is a PDF document, not an image; export the page as PNG or JPEG first"


def test_hand_written_png_is_valid(tmp_path: Path) -> None:
    """The writer the bomb test uses makes real PNGs, so the bomb is refused for its size, not bad bytes."""
    path = tmp_path / "two.png"
    path.write_bytes(png_bytes(2, 1, b"\x00" + bytes(RED) + bytes(BLUE)))
    assert load_image(path, (1, 2)).tolist() == [[list(RED), list(BLUE)]]


def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    # The header claims 100000×100000 (10 gigapixels, 30 GB as RGB); the data is a single empty row.
    path.write_bytes(png_bytes(100_000, 100_000, b"\x00"))
    assert Image.MAX_IMAGE_PIXELS is not None  # xlcnn leaves Pillow's guard on
    start = time.perf_counter()
    message = image_error(path)
    assert time.perf_counter() - start < 0.5  # refused from the header, nothing allocated or decoded
    assert message == (
        f"{path}: refused as a possible decompression bomb (it claims 10,000,000,000 pixels; "
        f"the limit is {Image.MAX_IMAGE_PIXELS:,} pixels)"
    )


@pytest.mark.parametrize("side", [40, 50])  # 1,600 px: Pillow only warns; 2,500 px: over twice the limit, it raises
def test_pillows_bomb_warning_also_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (side, side), GREEN).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    # Both are refused, with the same limit in the message (Pillow's own error text quotes twice the limit).
    assert image_error(path) == (
        f"{path}: refused as a possible decompression bomb (it claims {side * side:,} pixels; "
        "the limit is 1,000 pixels)"
    )


def test_file_without_read_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", (4, 4), RED).save(path)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            # Running as root (as in CI): chmod cannot stop root reading, so make the permission check see
            # what an ordinary user would.
            real_access = os.access

            def access(p: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
                return False if Path(str(p)) == path else real_access(p, mode, *args, **kwargs)

            monkeypatch.setattr(os, "access", access)
        assert image_error(path) == f"{path}: permission denied (cannot read the file)"
    finally:
        path.chmod(0o644)


def test_permission_refused_when_opening_gets_the_same_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.access can say yes and open still fail (ACLs, a race); the message must not change."""
    path = tmp_path / "locked.png"
    Image.new("RGB", (4, 4), RED).save(path)

    def refuse(*args: object, **kwargs: object) -> Image.Image:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", refuse)
    assert image_error(path) == f"{path}: permission denied (cannot read the file)"


def test_file_name_too_long(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 300 + ".png")  # longer than any file system allows for one name (255 bytes)
    assert image_error(path) == f"{path}: cannot open the file ({os.strerror(errno.ENAMETOOLONG)})"


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("JPEG", {}), ("GIF", {}), ("TIFF", {}), ("BMP", {}), ("WEBP", {}), ("GIF", {"save_all": True})],
    ids=["PNG", "JPEG", "GIF", "TIFF", "BMP", "WebP", "animated GIF"],
)
def test_every_truncation_is_an_image_error_or_loads(tmp_path: Path, fmt: str, options: dict[str, object]) -> None:
    """Pillow's decoders raise IndexError, struct.error, TypeError… on damaged files; none may escape."""
    picture = noise(12, 12)
    whole = io.BytesIO()
    if options.get("save_all"):
        picture.save(whole, fmt, append_images=[noise(12, 12, 1), noise(12, 12, 2)], **options)
    else:
        picture.save(whole, fmt, **options)
    data = whole.getvalue()
    path = tmp_path / "cut.img"
    for end in range(1, len(data), max(1, len(data) // 60)):
        path.write_bytes(data[:end])
        try:
            out = load_image(path, (3, 3))
        except ImageError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ") and "\n" not in message
        else:
            assert out.shape == (3, 3, 3)
