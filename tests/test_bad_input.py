"""Issue 6: every bad file and option value gets one clear line and no output; odd but valid images build.

Everything goes through the ``xlcnn build`` command (click's ``CliRunner``), and every file is generated here.
A failure must give its exact ``Error: …`` line on stderr, exit code 1 (2 for usage errors), no traceback (no
exception other than click's own exit), and leave the folder exactly as it was: no output file, no temporary
file. Size limits no option can reach are checked through ``limits.check`` with synthetic estimates.
"""

from __future__ import annotations

import errno
import io
import os
import re
import shutil
import stat
import struct
import tempfile
import time
import tomllib
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
import tomli_w
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from xlcnn import modify_model
from xlcnn.book import build as workbook
from xlcnn.book import limits
from xlcnn.book.build import plan_for
from xlcnn.book.layout import MAX_COLS, MAX_ROWS
from xlcnn.book.limits import Estimate
from xlcnn.book.sheet import BuildContext, SheetContent
from xlcnn.book.stages import EMITTERS, plan_layout
from xlcnn.cli import as_flag, cli
from xlcnn.errors import spell
from xlcnn.model.spec import Architecture, ConvSpec, InputSpec, PoolSpec
from xlcnn.model.templates import list_templates, load_model
from xlcnn.resources import templates_root

TINY = templates_root() / "tiny"
BUILT_INS = ", ".join(list_templates())
TINY_CLASSES = "horizontal, vertical, diagonal"
ADVICE = "use a smaller --size, fewer --filters, a larger --stride or --pool"
INJECTION_LABELS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", '=HYPERLINK("http://x","y")']
USAGE = "Usage: xlcnn build [OPTIONS] IMAGE... | FOLDER\nTry 'xlcnn build --help' for help.\n\n"


# ------------------------------------------------------------------------------------------ helpers


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="xlcnn")


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``folder`` with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def assert_no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def assert_fails(result: Result, message: str, code: int = 1) -> None:
    """Exactly one ``Error:`` line on stderr (after click's usage lines for a usage error), nothing on stdout."""
    assert_no_traceback(result)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    expected = f"Error: {message}\n" if code == 1 else f"{USAGE}Error: {message}\n"
    assert result.stderr == expected


@dataclass
class Case:
    """A command line in a prepared folder, and the message it must fail with."""

    args: list[str | Path]
    message: str
    code: int = 1


def run_case(folder: Path, case: Case) -> None:
    before = snapshot(folder)
    result = invoke(*case.args)
    assert_fails(result, case.message, case.code)
    assert snapshot(folder) == before  # no output file, no temporary file, nothing changed


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height but whose data is one empty row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00"))
            + png_chunk(b"IEND", b""))


def noise(height: int, width: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def picture(path: Path, size: tuple[int, int] = (24, 16)) -> Path:
    """A small valid image."""
    noise(size[1], size[0]).save(path, "PNG")
    return path


def encoded(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def template(folder: Path, doc: Callable[[dict[str, Any]], None] | None = None,
             arrays: Callable[[dict[str, np.ndarray]], None] | None = None) -> Path:
    """A copy of the built-in tiny template with its model.toml and weights edited."""
    shutil.copytree(TINY, folder)
    if doc is not None:
        config = tomllib.loads((folder / "model.toml").read_text(encoding="utf-8"))
        doc(config)
        (folder / "model.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    if arrays is not None:
        with np.load(folder / "weights.npz", allow_pickle=False) as npz:
            weights = {key: npz[key] for key in npz.files}
        arrays(weights)
        np.savez(folder / "weights.npz", **weights)  # type: ignore[arg-type]
    return folder


def deny(monkeypatch: pytest.MonkeyPatch, path: Path, mode: int) -> None:
    """Make os.access say no for ``path`` and ``mode`` (chmod cannot stop root, who runs CI)."""
    real = os.access

    def access(p: Any, m: int, *args: Any, **kwargs: Any) -> bool:
        if Path(str(p)) == path and m & mode:
            return False
        return real(p, m, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of its own as the current directory, so a default output file would land in it."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


# ------------------------------------------------------------------------------------------ images


def image_cases(d: Path) -> dict[str, Case]:
    out = d / "out.xlsx"
    cases: dict[str, Case] = {}

    def case(name: str, path: Path, message: str) -> None:
        cases[name] = Case(["build", path, "-o", out], f"{path}: {message}")

    case("missing", d / "nope.png", "no such file")
    (d / "folder.png").mkdir()
    # A folder is a class set's pictures (issue 15): an empty one has none to build.
    case("directory", d / "folder.png", "a folder with no pictures in it (no file whose name ends like an image)")
    (d / "empty.png").write_bytes(b"")
    case("empty", d / "empty.png", "the file is empty")
    (d / "notes.png").write_text("these are my notes, not a picture\n")
    case("text named .png", d / "notes.png", "not an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP, …)")
    for fmt, suffix in (("PNG", "png"), ("JPEG", "jpg")):
        data = encoded(noise(64, 64), fmt)
        (d / f"cut.{suffix}").write_bytes(data[: len(data) // 2])
        case(f"truncated {fmt}", d / f"cut.{suffix}", "the image file is truncated (its data ends early)")
    (d / "drawing.svg").write_text('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" '
                                   'height="9"><rect width="9" height="9"/></svg>\n')
    case("SVG", d / "drawing.svg", "is an SVG drawing, which xlcnn cannot read; export it as PNG or JPEG first")
    (d / "page.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    case("PDF", d / "page.pdf", "is a PDF document, not an image; export the page as PNG or JPEG first")
    (d / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    case("decompression bomb", d / "bomb.png",
         "refused as a possible decompression bomb (it claims 10,000,000,000 pixels; the limit is "
         f"{Image.MAX_IMAGE_PIXELS:,} pixels)")
    return cases


IMAGE_CASES = ["missing", "directory", "empty", "text named .png", "truncated PNG", "truncated JPEG", "SVG", "PDF",
               "decompression bomb"]


def test_the_image_cases_are_all_run(tmp_path: Path) -> None:
    assert list(image_cases(tmp_path)) == IMAGE_CASES


@pytest.mark.parametrize("name", IMAGE_CASES)
def test_bad_image(here: Path, name: str) -> None:
    run_case(here, image_cases(here)[name])


def test_decompression_bomb_is_refused_within_a_second(here: Path) -> None:
    bomb = here / "bomb.png"
    bomb.write_bytes(png_claiming(100_000, 100_000))
    invoke("build", picture(here / "warm.png"), "-o", here / "warm.xlsx", "--model", "tiny")  # imports, caches
    start = time.perf_counter()
    result = invoke("build", bomb, "-o", here / "out.xlsx")
    assert time.perf_counter() - start < 1.0
    assert result.exit_code == 1 and "decompression bomb" in result.stderr
    assert not (here / "out.xlsx").exists()


def test_image_without_read_permission(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = picture(here / "secret.png")
    secret.chmod(0)
    try:
        deny(monkeypatch, secret, os.R_OK)
        run_case(here, Case(["build", secret, "-o", here / "out.xlsx"],
                            f"{secret}: permission denied (cannot read the file)"))
    finally:
        secret.chmod(0o644)


# ------------------------------------------------------------------------------------------ output


def test_output_in_a_folder_that_does_not_exist(here: Path) -> None:
    out = here / "missing" / "out.xlsx"
    run_case(here, Case(["build", picture(here / "p.png"), "-o", out],
                        f"{out}: the folder {here / 'missing'} does not exist"))


def test_output_inside_a_file(here: Path) -> None:
    image = picture(here / "p.png")
    out = image / "out.xlsx"
    run_case(here, Case(["build", image, "-o", out], f"{out}: {image} is not a folder"))


@pytest.mark.parametrize("name", ["results", "results.xlsx"])
def test_output_that_is_a_directory(here: Path, name: str) -> None:
    (here / name).mkdir()
    run_case(here, Case(["build", picture(here / "p.png"), "-o", here / name],
                        f"{here / name}: is a directory; give a file name ending in .xlsx"))


def test_output_that_is_not_xlsx(here: Path) -> None:
    out = here / "out.csv"
    run_case(here, Case(["build", picture(here / "p.png"), "-o", out], f"{out}: the output must be an .xlsx file"))


def test_output_that_is_the_input_image(here: Path) -> None:
    image = picture(here / "photo.xlsx")  # a PNG with an unlucky name
    run_case(here, Case(["build", image, "-o", image], f"{image}: is the input image; choose another output file"))
    # The default output is the image's name with .xlsx, here: the image itself, named relatively.
    run_case(here, Case(["build", "photo.xlsx"], "photo.xlsx: is the input image; choose another output file"))


def test_output_folder_without_write_permission(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = here / "locked"
    folder.mkdir()
    image = picture(here / "p.png")
    deny(monkeypatch, folder, os.W_OK)
    out = folder / "out.xlsx"
    run_case(here, Case(["build", image, "-o", out], f"{out}: permission denied (cannot write in {folder})"))


def test_read_only_output_file_is_left_alone(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = here / "old.xlsx"
    out.write_bytes(b"an earlier workbook")
    deny(monkeypatch, out, os.W_OK)
    run_case(here, Case(["build", picture(here / "p.png"), "-o", out],
                        f"{out}: permission denied (the file is read-only)"))


def test_a_folder_that_refuses_the_temporary_file(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.access may say yes and creating the file still fail (a read-only file system, ACLs)."""
    real_open = os.open

    def refuse(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith(".xlsx.tmp"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    out = here / "out.xlsx"
    run_case(here, Case(["build", picture(here / "p.png"), "-o", out, "--model", "tiny"],
                        f"{out}: cannot be written ({os.strerror(errno.EROFS)})"))


# ------------------------------------------------------------------------------------------ models


def model_cases(d: Path) -> dict[str, Case]:
    image = picture(d / "p.png")
    out = d / "out.xlsx"
    cases: dict[str, Case] = {}

    def case(name: str, folder: Path | str, message: str) -> None:
        cases[name] = Case(["build", image, "-o", out, "--model", folder], message)

    folder = template(d / "no-toml")
    (folder / "model.toml").unlink()
    case("missing model.toml", folder,
               f"{folder / 'model.toml'}: missing (a template folder needs model.toml and weights.npz)")
    folder = template(d / "bad-toml")
    text = 'name = "tiny\nclasses = [\n'
    (folder / "model.toml").write_text(text, encoding="utf-8")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # the parser's own words, whatever Python's version
        problem = str(exc)
    case("malformed model.toml", folder, f"{folder / 'model.toml'}: not valid TOML ({problem})")
    folder = template(d / "no-weights")
    (folder / "weights.npz").unlink()
    case("missing weights.npz", folder,
               f"{folder / 'weights.npz'}: missing (a template folder needs model.toml and weights.npz)")
    folder = template(d / "shape", arrays=lambda a: a.update(conv1_w=np.zeros((2, 3, 2, 2))))
    case("weights of the wrong shape", folder,
               f"{folder / 'weights.npz'}: conv1_w has shape (2, 3, 2, 2), but the architecture needs (2, 3, 3, 3)")

    def poke(key: str, value: float) -> Callable[[dict[str, np.ndarray]], None]:
        def edit(arrays: dict[str, np.ndarray]) -> None:
            arrays[key] = arrays[key].copy()
            arrays[key].flat[1] = value

        return edit

    for name, key, value in (("NaN weights", "dense_w", np.nan), ("infinite weights", "conv1_b", np.inf),
                             ("-infinite weights", "conv1_w", -np.inf)):
        folder = template(d / name.replace(" ", "-"), arrays=poke(key, value))
        case(name, folder, f"{folder / 'weights.npz'}: {key} holds NaN or infinite values")

    def pickled(arrays: dict[str, np.ndarray]) -> None:
        bias = np.empty(3, dtype=object)
        bias[:] = [{"a": 1}, 0.0, 0.0]
        arrays["dense_b"] = bias  # np.savez pickles an object array

    folder = template(d / "pickled", arrays=pickled)
    case("pickled .npz", folder,
               f"{folder / 'weights.npz'}: dense_b holds pickled Python objects, which xlcnn never loads")
    for name, labels, problem in (
        ("duplicate labels", ["cat", "dog", "cat"], "classes has duplicate class 'cat'"),
        ("duplicate labels by case", ["cat", "dog", "Cat"],
         "classes has duplicate class 'Cat' (same as 'cat' ignoring case)"),
        ("empty label", ["cat", "", "dog"], "classes[1] is empty"),
        ("blank label", ["cat", "  ", "dog"], "classes[1] is empty"),
        ("label TRUE", ["cat", "TRUE", "dog"],
         "classes[1] 'TRUE' would become the spreadsheet boolean TRUE; give classes other names"),
        ("label false", ["cat", "dog", "false"],
         "classes[2] 'false' would become the spreadsheet boolean FALSE; give classes other names"),
    ):
        folder = template(d / name.replace(" ", "-"), doc=lambda doc, labels=labels: doc.update(classes=labels))
        case(name, folder, f"{folder / 'model.toml'}: {problem}")
    case("unknown template", "no-such-model",
               f"unknown template 'no-such-model' (built-in templates: {BUILT_INS}; or give a folder path)")
    case("missing template folder", d / "nowhere", f"{d / 'nowhere'}: no such template folder")
    return cases


MODEL_CASES = ["missing model.toml", "malformed model.toml", "missing weights.npz", "weights of the wrong shape",
               "NaN weights", "infinite weights", "-infinite weights", "pickled .npz", "duplicate labels",
               "duplicate labels by case", "empty label", "blank label", "label TRUE", "label false",
               "unknown template", "missing template folder"]


def test_the_model_cases_are_all_run(tmp_path: Path) -> None:
    assert list(model_cases(tmp_path)) == MODEL_CASES


@pytest.mark.parametrize("name", MODEL_CASES)
def test_bad_model(here: Path, name: str) -> None:
    run_case(here, model_cases(here)[name])


def test_a_bare_built_in_name_beats_a_folder_of_that_name(here: Path) -> None:
    template(here / "tiny", doc=lambda doc: doc.update(classes=["cat", "dog", "cow"]))
    template(here / "mine", doc=lambda doc: doc.update(classes=["cat", "dog", "cow"]))
    image = picture(here / "p.png")
    for model, classes in (("tiny", ["horizontal", "vertical", "diagonal"]), ("./tiny", ["cat", "dog", "cow"]),
                           ("mine", ["cat", "dog", "cow"])):  # a bare name that is no built-in: the folder here
        out = here / f"{model.strip('./')}-{len(model)}.xlsx"
        result = invoke("build", image, "-o", out, "--model", model)
        assert result.exit_code == 0, result.output
        wb = openpyxl.load_workbook(out)
        (sheet, ref), = list(wb.defined_names["labels"].destinations)
        assert [c.value for row in wb[sheet][ref.replace("$", "")] for c in row] == classes


# ------------------------------------------------------------------------------------------ options


OPTION_CASES = [
    # (arguments after "build IMAGE -o OUT", exact message)
    (["--size", "0"], "--size 0: must be between 1 and 512"),
    (["--size", "-5"], "--size -5: must be between 1 and 512"),
    (["--size", "100000"], "--size 100000: must be between 1 and 512"),
    (["--size", "28x0"], "--size 28x0: the height and width must be between 1 and 512"),
    (["--size", "600x28"], "--size 600x28: the height and width must be between 1 and 512"),
    (["--filters", "0"], "--filters 0: must be between 1 and 64"),
    (["--filters", "-1"], "--filters -1: must be between 1 and 64"),
    (["--filters", "1000"], "--filters 1000: must be between 1 and 64"),
    (["--filters", "4,0"], "--filters 4,0: each value must be between 1 and 64"),
    (["--filters", "4,8,16"],
     "--filters 4,8,16: 3 values, but model 'default' has 2 conv blocks; give one value for all, or one per block"),
    (["--kernel", "0"], "--kernel 0: must be between 1 and 15"),
    (["--kernel", "16"], "--kernel 16: must be between 1 and 15"),
    (["--kernel", "9", "--model", "tiny"], "--kernel 9: conv 1's 9×9 kernel does not fit its 6×6 input with padding 1"),
    (["--size", "4", "--kernel", "7", "--model", "tiny"],
     "--size 4 --kernel 7: conv 1's 7×7 kernel does not fit its 4×4 input with padding 1"),
    (["--kernel", "3,15", "--padding", "0"],
     "--kernel 3,15 --padding 0: conv 2's 15×15 kernel does not fit its 13×13 input with padding 0"),
    (["--stride", "0"], "--stride 0: must be between 1 and 8"),
    (["--stride", "9"], "--stride 9: must be between 1 and 8"),
    (["--padding", "-1"], "--padding -1: must be between 0 and 8"),
    (["--padding", "9"], "--padding 9: must be between 0 and 8"),
    (["--pool", "0"], "--pool 0: must be between 1 and 8"),
    (["--pool", "9"], "--pool 9: must be between 1 and 8"),
    (["--pool", "7", "--model", "tiny"], "--pool 7: pool 1's 7×7 window does not fit conv 1's 6×6 output"),
    (["--size", "512", "--filters", "64", "--pool", "1", "--model", "tiny"],
     f"the workbook's Dense sheet would need 16,777,228 rows; spreadsheets hold 1,048,576 ({ADVICE})"),
    (["--size", "500", "--filters", "64"],
     "the workbook would have 140,678,581 cells (129,328,424 of them formulas); xlcnn writes at most 5,000,000, "
     f"beyond which Excel and LibreOffice take minutes and gigabytes to open a file ({ADVICE})"),
    (["--label", "nope", "--model", "tiny"],
     f"--label 'nope' is not a class of model 'tiny' (one of: {TINY_CLASSES})"),
    (["--label", "Horizontal", "--model", "tiny"],
     f"--label 'Horizontal' is not a class of model 'tiny' (one of: {TINY_CLASSES})"),
    (["--worked", "9,1,1", "--model", "tiny"], "--worked 9,1,1: the map must be from 1 to 2, not 9"),
]

USAGE_CASES = [
    (["--fit", "sideways"], "Invalid value for '--fit': 'sideways' is not one of 'crop', 'pad', 'stretch'."),
    (["--filters", "abc"],
     "Invalid value for '--filters': 'abc' is not a whole number or a list of them (e.g. 8 or 4,8)"),
    (["--filters", "4,"],
     "Invalid value for '--filters': '4,' is not a whole number or a list of them (e.g. 8 or 4,8)"),
    (["--kernel", "3.5"],
     "Invalid value for '--kernel': '3.5' is not a whole number or a list of them (e.g. 8 or 4,8)"),
    (["--size", "5x"], "Invalid value for '--size': '5x' is not N or HxW (whole numbers, e.g. 64 or 48x64)"),
    (["--size", "big"], "Invalid value for '--size': 'big' is not N or HxW (whole numbers, e.g. 64 or 48x64)"),
    (["--size", "9" * 200], f"Invalid value for '--size': {'9' * 20}… has 200 characters: far too large a number"),
    (["--seed", "-1"], "Invalid value for '--seed': -1 is not in the range x>=0."),
    (["--seed", "x"], "Invalid value for '--seed': 'x' is not a valid integer range."),
    (["--worked", "a"], "Invalid value for '--worked': 'a' is not MAP,ROW,COL (three whole numbers, e.g. 1,14,14)"),
    (["--colour"], "No such option '--colour'."),
]


@pytest.mark.parametrize(("extra", "message"), OPTION_CASES, ids=[" ".join(c[0]) for c in OPTION_CASES])
def test_bad_option(here: Path, extra: list[str], message: str) -> None:
    run_case(here, Case(["build", picture(here / "p.png"), "-o", here / "out.xlsx", *extra], message))


def test_absurd_sizes_are_refused_before_any_weight_is_made(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no(*args: object) -> None:
        raise AssertionError("weights made for a workbook that was going to be refused")

    monkeypatch.setattr("xlcnn.model.modify.initial_weights", no)
    image = picture(here / "p.png")
    start = time.perf_counter()
    result = invoke("build", image, "-o", here / "out.xlsx", "--size", "512", "--filters", "64", "--pool", "1")
    assert time.perf_counter() - start < 2.0
    assert result.exit_code == 1 and "rows; spreadsheets hold 1,048,576" in result.stderr


@pytest.mark.parametrize(("extra", "message"), USAGE_CASES, ids=[" ".join(c[0])[:30] for c in USAGE_CASES])
def test_usage_error(here: Path, extra: list[str], message: str) -> None:
    run_case(here, Case(["build", picture(here / "p.png"), "-o", here / "out.xlsx", *extra], message, code=2))


def test_missing_image_argument(here: Path) -> None:
    run_case(here, Case(["build"], "Missing argument 'IMAGE... | FOLDER'.", code=2))


# ------------------------------------------------------------------------------------------ limits


BASE = Estimate(formulas=1_000, constants=1_000, max_row=99, max_col=99, longest_formula=200, formats=100,
                row_sheet="Flatten", col_sheet="Input")


@pytest.mark.parametrize(("change", "message"), [
    ({"max_row": MAX_ROWS},
     f"the workbook's Flatten sheet would need 1,048,577 rows; spreadsheets hold 1,048,576 ({ADVICE})"),
    ({"max_col": MAX_COLS},
     f"the workbook's Input sheet would need 16,385 columns; spreadsheets hold 16,384 ({ADVICE})"),
    ({"longest_formula": 8193},
     "a convolution formula would be 8,193 characters long; spreadsheets allow 8,192 (use fewer filters in the "
     "layer before)"),
    ({"formats": 64_001}, "the workbook would need 64,001 cell formats; spreadsheets allow about 64,000"),
    ({"formulas": 4_000_000, "constants": 1_000_001},
     "the workbook would have 5,000,001 cells (4,000,000 of them formulas); xlcnn writes at most 5,000,000, beyond "
     f"which Excel and LibreOffice take minutes and gigabytes to open a file ({ADVICE})"),
], ids=["rows", "columns", "formula length", "cell formats", "cells"])
def test_each_limit_is_refused_with_the_numbers_and_the_limit(change: dict[str, int], message: str) -> None:
    with pytest.raises(limits.LimitError) as info:
        limits.check(replace(BASE, **change))
    # The command line names its options (ADVICE), the library its parameters.
    assert spell(info.value.message, as_flag) == message
    assert "--" not in str(info.value)


def test_at_each_limit_the_workbook_is_still_allowed() -> None:
    at = replace(BASE, max_row=MAX_ROWS - 1, max_col=MAX_COLS - 1, longest_formula=8192, formats=64_000,
                 formulas=400_000, constants=4_600_000)
    assert limits.check(at) == []


def test_slow_workbooks_get_a_warning() -> None:
    assert limits.check(replace(BASE, formulas=500_000)) == []
    assert limits.check(replace(BASE, formulas=500_001)) == [
        "the workbook has 500,001 formulas (more than 500,000); Excel and LibreOffice will be slow to open and "
        "recalculate it"]


def test_the_benchmark_network_is_allowed_with_a_warning() -> None:
    """A 128×128 input with 16 filters (the README's budget) fits, and is slow enough to warn about."""
    arch = modify_model(load_model("default"), size=128, filters=16).arch
    warnings = limits.check_architecture(plan_layout(arch, teaching=True))
    assert len(warnings) == 1 and warnings[0].startswith("the workbook has 762,293 formulas")


def test_the_cli_prints_the_warning_on_stderr(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "SLOW_FORMULAS", 100)
    out = here / "out.xlsx"
    result = invoke("build", picture(here / "p.png"), "-o", out, "--model", "tiny")
    assert result.exit_code == 0
    assert result.stderr == ("Warning: the workbook has 1,332 formulas (more than 100); Excel and LibreOffice will be "
                             "slow to open and recalculate it\n")
    assert result.stdout.startswith(f"Wrote {out}: 1,332 live formulas.")


def worst_case(pool: int, blocks: int = 2) -> Architecture:
    """The largest network the options allow on a template of ``blocks`` blocks."""
    conv = ConvSpec(filters=64, kernel=15, stride=1, padding=8)
    return Architecture(InputSpec(512, 512, 3, 1 / 255, "1/255"), ((conv, PoolSpec(pool, pool)),) * blocks,
                        ("a", "b", "c"))


@pytest.mark.parametrize("pool", [1, 2, 8])
def test_no_option_can_reach_the_column_or_formula_length_limits(pool: int) -> None:
    """Why those two checks are tested only with synthetic estimates: the widest, longest-formula networks
    the option ranges allow stay far below both (they are refused for their rows or cells instead)."""
    layout = plan_layout(worst_case(pool), teaching=True)
    est = limits.estimate(layout, 4096)
    assert est.max_col + 1 < MAX_COLS // 10
    assert est.longest_formula < limits.MAX_FORMULA_CHARS * 2 // 3
    assert est.formats < limits.MAX_CELL_FORMATS // 10  # the Image sheet quantises to at most 4,096 colours


# ------------------------------------------------------------------------------------------ estimate


def cell_counts(path: Path) -> tuple[int, int, int, int, int]:
    """(formula cells, all used cells, longest formula, last row and last column of the grid sheets)."""
    wb = openpyxl.load_workbook(path)
    formulas = cells = longest = last_row = last_col = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                # The Image sheet's pixels and Filters 1's pictures of its filters and their training patches
                # are blank cells holding only a fill: cells all the same.
                styled = ws.title in ("Image", "Filters 1") and c.fill.fill_type == "solid"
                if c.value is None and not styled:
                    continue
                cells += 1
                if ws.title != "Guide":
                    last_row, last_col = max(last_row, c.row), max(last_col, c.column)
                if c.data_type == "f":
                    formulas += 1
                    longest = max(longest, len(c.value) - 1)
    return formulas, cells, longest, last_row, last_col


def formats_in(path: Path) -> int:
    with zipfile.ZipFile(path) as z:
        styles = z.read("xl/styles.xml").decode()
    found = re.search(r'<cellXfs count="(\d+)"', styles)
    assert found
    return int(found.group(1))


@pytest.mark.parametrize(("model", "options"), [
    ("default", {}), ("tiny", {}), ("edges", {}),
    ("default", {"size": (20, 30), "filters": (3, 5), "kernel": (5, 2), "stride": (2, 1), "padding": (2, 0)}),
    ("tiny", {"size": 13, "filters": 7, "kernel": 4, "stride": 3, "padding": 3, "pool": 1}),
    ("default", {"size": 17, "pool": (3, 1), "kernel": 1, "padding": 0}),
])
def test_the_estimate_is_honest(tmp_path: Path, model: str, options: dict[str, Any]) -> None:
    net = modify_model(load_model(model), **options)
    out = tmp_path / "out.xlsx"
    result = workbook.build_workbook(picture(tmp_path / "p.png"), out, model=net)
    formulas, cells, longest, last_row, last_col = cell_counts(out)
    est = result.estimate
    assert est.formulas == result.formulas == formulas  # exact
    assert cells <= est.cells <= cells + 150  # an upper bound, within the text of a few notes
    assert longest <= max(est.longest_formula, est.longest_backward)
    sheets = openpyxl.load_workbook(out).worksheets

    def longest_on(*prefixes: str) -> int:
        return max(len(str(c.value)) - 1 for ws in sheets if ws.title.startswith(prefixes) for row in ws.iter_rows()
                   for c in row if c.data_type == "f")

    assert limits.longest_conv_formula(result_layout := plan_for(net)) == longest_on("Conv ")
    # The gradients sent back through a convolution (Back pool k, Back input) and Grad-CAM: an upper bound.
    assert longest_on("Back pool ", "Back input", "Grad-CAM") <= est.longest_backward
    assert (est.max_row + 1, est.max_col + 1) == (last_row, last_col)
    assert formats_in(out) <= est.formats
    assert limits.estimate(result_layout, 1).formulas == est.formulas


def test_a_noisy_128_by_128_image_is_quantised_under_the_format_limit(here: Path) -> None:
    image = here / "noise.png"
    noise(128, 128).save(image)
    assert len(np.unique(np.asarray(Image.open(image)).reshape(-1, 3), axis=0)) > 16_000  # every pixel differs
    out = here / "noise.xlsx"
    result = invoke("build", image, "-o", out, "--model", "tiny", "--size", "128", "--filters", "1")
    assert result.exit_code == 0, result.output
    formats = formats_in(out)
    assert formats <= 4096 + limits.OWN_FORMATS < limits.MAX_CELL_FORMATS
    fills = {c.fill.fgColor.rgb for row in openpyxl.load_workbook(out)["Image"].iter_rows() for c in row
             if c.fill.fill_type == "solid"}
    assert 1000 < len(fills) <= 4096


# ------------------------------------------------------------------------------------------ safe output


def failing_builder(kind: str, error: BaseException, at_row: int = 12) -> Callable[..., SheetContent]:
    """The ``kind`` sheet's emitter, made to raise ``error`` once it has written its first rows."""
    original = EMITTERS[kind]

    def builder(ctx: BuildContext, plan: Any) -> SheetContent:
        content = original(ctx, plan)

        def boom(ws: Any, row: int) -> None:
            raise error

        content.add(at_row, at_row, boom)
        return content

    return builder


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temporary folder, moved where a test can see what is left in it."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def earlier_workbook(folder: Path) -> tuple[Path, Path, bytes]:
    image = picture(folder / "p.png")
    out = folder / "out.xlsx"
    result = invoke("build", image, "-o", out, "--model", "tiny", "--label", "vertical")
    assert result.exit_code == 0, result.output
    return image, out, out.read_bytes()


@pytest.mark.parametrize("kind", ["conv", "dense", "shapes"])
def test_a_build_that_fails_half_way_leaves_the_earlier_file_and_no_temporary_files(
    here: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    image, out, before = earlier_workbook(here)
    seen: list[list[str]] = []
    original = EMITTERS[kind]

    def builder(ctx: BuildContext, plan: Any) -> SheetContent:
        content = original(ctx, plan)

        def boom(ws: Any, row: int) -> None:
            seen.append(sorted(p.name for p in here.glob(".*.xlsx.tmp")))  # the half-written file is there
            raise RuntimeError("the writer broke")

        content.add(12, 12, boom)
        return content

    monkeypatch.setitem(EMITTERS, kind, builder)
    with pytest.raises(RuntimeError, match="the writer broke"):
        workbook.build_workbook(image, out, model="tiny")
    assert seen and len(seen[0]) == 1 and seen[0][0].startswith(".out.")
    assert out.read_bytes() == before
    assert sorted(p.name for p in here.iterdir()) == ["out.xlsx", "p.png"]
    assert list(scratch.iterdir()) == []  # XlsxWriter's row files too


@pytest.mark.parametrize(("error", "message"), [
    (KeyboardInterrupt(), "interrupted; no file was left half-written"),
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "{out}: cannot be written (" + os.strerror(errno.ENOSPC) + ")"),
], ids=["Ctrl+C", "disk full"])
def test_an_interrupted_build_through_the_cli(here: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch,
                                              error: BaseException, message: str) -> None:
    image, out, before = earlier_workbook(here)
    monkeypatch.setitem(EMITTERS, "relu", failing_builder("relu", error))
    run_case(here, Case(["build", image, "-o", out, "--model", "tiny"], message.format(out=out)))
    assert out.read_bytes() == before
    assert list(scratch.iterdir()) == []


def test_the_new_file_gets_ordinary_permissions_and_a_replaced_file_keeps_its_own(here: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    image = picture(here / "p.png")
    out = here / "out.xlsx"
    assert invoke("build", image, "-o", out, "--model", "tiny").exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    out.chmod(0o640)
    assert invoke("build", image, "-o", out, "--model", "edges").exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in here.iterdir()) == ["out.xlsx", "p.png"]


# ------------------------------------------------------------------------------------------ odd images


def odd_images(d: Path) -> dict[str, tuple[Path, tuple[int, int, int] | None]]:
    """Odd but valid pictures → (file, the colour every input pixel must have, if one)."""
    made: dict[str, tuple[Path, tuple[int, int, int] | None]] = {}
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent: white on the sheet
    Image.fromarray(rgba, "RGBA").save(d / "rgba.png")
    made["RGBA"] = (d / "rgba.png", (255, 255, 255))
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 128, 0, 200, 0, 0] + [0] * (256 * 3 - 6))
    pal.save(d / "palette.png", transparency=1)  # every pixel is the transparent index
    made["P with transparency"] = (d / "palette.png", (255, 255, 255))
    Image.fromarray(np.full((9, 9), 257 * 40, np.uint16)).save(d / "grey16.png")
    made["I;16"] = (d / "grey16.png", (40, 40, 40))
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(d / "cmyk.jpg", quality=95)
    made["CMYK JPEG"] = (d / "cmyk.jpg", None)
    exif = Image.Exif()
    exif[0x0112] = 6
    noise(20, 40).save(d / "rotated.jpg", exif=exif)
    made["EXIF-rotated JPEG"] = (d / "rotated.jpg", None)
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((0, 0, 255), (0, 255, 0), (255, 0, 0))]
    frames[0].save(d / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    made["animated GIF"] = (d / "animated.gif", (0, 0, 255))
    Image.new("RGB", (1, 1), (12, 34, 56)).save(d / "dot.png")
    made["1×1"] = (d / "dot.png", (12, 34, 56))
    wide = np.zeros((20, 5000, 3), np.uint8)
    wide[:] = (200, 100, 0)
    Image.fromarray(wide).save(d / "wide.png")
    made["5000×20"] = (d / "wide.png", (200, 100, 0))
    return made


ODD = ["RGBA", "P with transparency", "I;16", "CMYK JPEG", "EXIF-rotated JPEG", "animated GIF", "1×1", "5000×20"]


def test_the_odd_images_are_all_run(tmp_path: Path) -> None:
    assert list(odd_images(tmp_path)) == ODD


@pytest.mark.parametrize("name", ODD)
def test_odd_but_valid_images_build(here: Path, name: str) -> None:
    path, colour = odd_images(here)[name]
    out = here / "odd.xlsx"
    result = invoke("build", path, "-o", out, "--model", "tiny")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Wrote {out}: 1,332 live formulas.")
    wb = openpyxl.load_workbook(out, data_only=True)
    names = set(wb.defined_names)
    assert {"input_r", "input_g", "input_b", "conv1_out1", "flatten", "probs", "loss", "labels"} <= names
    channels = []
    for key in ("input_r", "input_g", "input_b"):
        (sheet, ref), = list(wb.defined_names[key].destinations)
        values = np.array([[c.value for c in row] for row in wb[sheet][ref.replace("$", "")]])
        assert values.shape == (6, 6) and values.dtype.kind in "iu"
        assert ((values >= 0) & (values <= 255)).all()
        channels.append(values)
    if colour is not None:
        assert [int(np.unique(c)[0]) for c in channels] == list(colour)
        assert all(len(np.unique(c)) == 1 for c in channels)
    (sheet, ref), = list(wb.defined_names["probs"].destinations)
    probs = [c.value for row in wb[sheet][ref.replace("$", "")] for c in row]
    assert abs(sum(probs) - 1) < 1e-12


# ------------------------------------------------------------------------------------------ text, not formulas


def test_formula_looking_template_names_labels_and_file_names_stay_text(here: Path) -> None:
    folder = here / "=1+1"  # the template's name is its folder's name

    def doc(config: dict[str, Any]) -> None:
        config.pop("name")
        config.pop("labels")  # tiny's Chinese names are for its own three classes
        config.update(classes=INJECTION_LABELS, title='=HYPERLINK("http://x","y")', description="@cmd")

    def arrays(weights: dict[str, np.ndarray]) -> None:
        weights["dense_w"] = np.zeros((18, 5))
        weights["dense_b"] = np.arange(5.0)

    template(folder, doc, arrays)
    image = picture(here / "+SUM(A1).png")
    out = here / "out.xlsx"
    result = invoke("build", image, "-o", out, "--model", "./=1+1", "--label", "-2+3")
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    texts: list[str] = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    # No formula is made of outside text: each one only refers to cells.
                    assert not any(label in c.value for label in ('"http://x"', "@cmd", "+SUM(A1)", "=1+1")), c.value
                elif isinstance(c.value, str):
                    texts.append(c.value)
    (sheet, ref), = list(wb.defined_names["labels"].destinations)
    labels = wb[sheet][ref.replace("$", "")][0]
    assert [c.value for c in labels] == INJECTION_LABELS and {c.data_type for c in labels} == {"s"}
    (sheet, ref), = list(wb.defined_names["true_label"].destinations)
    true = wb[sheet][ref.replace("$", "")][0][0]
    assert (true.value, true.data_type) == ("-2+3", "s")
    for literal in ("=1+1", '=HYPERLINK("http://x","y")', "+SUM(A1).png"):
        assert any(literal in text for text in texts), literal
    assert "=1+1" in texts  # the model card's name line, exactly
    assert '=HYPERLINK("http://x","y")' in texts  # its title


def test_sheet_names_are_fixed_short_and_legal(tmp_path: Path) -> None:
    """xlcnn's sheet names never come from user text; even with the most blocks a template may have they
    stay within 31 characters, free of []:*?/\\ and unique."""
    conv = ConvSpec(filters=2, kernel=1, stride=1, padding=0)
    for blocks in range(1, 7):
        arch = Architecture(InputSpec(8, 8, 3), ((conv, PoolSpec(1, 1)),) * blocks, ("a", "b"))
        names = [plan.name for plan in plan_layout(arch, teaching=True).sheets]
        assert len({n.casefold() for n in names}) == len(names)
        for name in names:
            assert 1 <= len(name) <= 31 and not set(name) & set("[]:*?/\\") and name[0] != "'", name
    out = tmp_path / "out.xlsx"
    workbook.build_workbook(picture(tmp_path / "p.png"), out, model="default")
    assert all(len(n) <= 31 for n in openpyxl.load_workbook(out).sheetnames)


# ------------------------------------------------------------------------------------------ fuzzing


VALID_IMAGES = [encoded(noise(12, 10), "PNG"), encoded(noise(9, 14), "JPEG"),
                encoded(Image.new("P", (5, 7), 3), "GIF"), encoded(noise(3, 3), "BMP")]


@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "valid", "valid", "valid", "cut", "flipped"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    data = draw(st.sampled_from(VALID_IMAGES))
    if kind == "cut":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "flipped":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    return data


def number_option(small: int, huge: int) -> st.SearchStrategy[str]:
    """Mostly small numbers (so that a build stays quick), some out of range, some lists, some junk."""
    return st.one_of(
        st.integers(-2, small).map(str),
        st.integers(1, small).map(str),
        st.integers(huge, 10**12).map(str),
        st.lists(st.integers(-1, small), min_size=1, max_size=3).map(lambda xs: ",".join(map(str, xs))),
        st.text(max_size=6),
    )


OPTIONS: dict[str, st.SearchStrategy[str]] = {
    "--size": st.one_of(number_option(20, 513), st.tuples(st.integers(-1, 20), st.integers(-1, 20)).map(
        lambda hw: f"{hw[0]}x{hw[1]}")),
    "--filters": number_option(6, 65),
    "--kernel": number_option(6, 16),
    "--stride": number_option(4, 9),
    "--padding": number_option(3, 9),
    "--pool": number_option(3, 9),
    "--label": st.one_of(st.sampled_from(["horizontal", "circle", "red", "=1+1"]), st.text(max_size=8)),
    "--fit": st.one_of(st.sampled_from(["crop", "pad", "stretch"]), st.text(max_size=6)),
    "--model": st.one_of(st.sampled_from(["tiny", "default", "edges", "./nowhere"]), st.text(max_size=8)),
}


@st.composite
def option_values(draw: st.DrawFn) -> dict[str, str]:
    """A few of the options above, each with a value."""
    chosen = draw(st.lists(st.sampled_from(sorted(OPTIONS)), max_size=4, unique=True))
    return {option: draw(OPTIONS[option]) for option in chosen}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=image_bytes(), options=option_values())
def test_random_files_and_option_values_never_give_a_traceback(data: bytes, options: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        image = folder / "input.img"
        image.write_bytes(data)
        out = folder / "out.xlsx"
        args: list[str | Path] = ["build", image, "-o", out]
        for option, value in options.items():
            args += [option, value]
        result = invoke(*args)
        event(f"exit code {result.exit_code}")  # shown by pytest --hypothesis-show-statistics
        assert_no_traceback(result)
        assert result.exit_code in (0, 1, 2), result.output
        if result.exit_code == 0:
            wb = openpyxl.load_workbook(out, read_only=True)
            assert "probs" in wb.defined_names
            wb.close()
            assert sorted(p.name for p in folder.iterdir()) == ["input.img", "out.xlsx"]
        else:
            assert sorted(p.name for p in folder.iterdir()) == ["input.img"]
            assert result.stderr.endswith("\n") and result.stderr.splitlines()[-1].startswith("Error: ")
            if result.exit_code == 1:
                assert result.stderr.count("\n") == 1  # one line
