"""Hostile numbers and arguments: a model that overflows, library calls with wrong types, option values
built to break parsers. Each gets one clear line (or a TypeError naming the parameter), no traceback, no
output, in bounded time."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

import xlcnn
from xlcnn.cli import cli
from xlcnn.errors import ModelError, OptionError
from xlcnn.model.spec import Model, Weights
from xlcnn.model.templates import save_model

ROOT = Path(__file__).resolve().parent.parent
CIRCLE = ROOT / "samples" / "circle.png"
USAGE = {"build": "Usage: xlcnn build [OPTIONS] IMAGE... | FOLDER\nTry 'xlcnn build --help' for help.\n\n",
         "verify": "Usage: xlcnn verify [OPTIONS] WORKBOOK\nTry 'xlcnn verify --help' for help.\n\n"}


def run(*args: object) -> Result:
    started = time.monotonic()
    result = CliRunner().invoke(cli, [str(a) for a in args], prog_name="xlcnn")
    assert time.monotonic() - started < 10, "bounded time"
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_usage_error(result: Result, command: str, message: str) -> None:
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"{USAGE[command]}Error: {message}\n"


def huge(model: Model, layer: str) -> Model:
    """``model`` with the weights of ``layer`` (conv or dense) ±1e308: finite numbers whose sums overflow."""
    w = model.weights
    conv = tuple(np.where(a < 0, -1e308, 1e308) for a in w.conv_w) if layer == "conv" else w.conv_w
    dense = np.where(w.dense_w < 0, -1e308, 1e308) if layer == "dense" else w.dense_w
    weights = Weights(conv, w.conv_b, dense, w.dense_b)
    return Model(model.name, model.title, model.description, model.arch, weights, model.provenance)


# ---------------------------------------------------------------------------------------------- overflow


@pytest.mark.parametrize(("layer", "stage"), [("conv", "conv1_out1"), ("dense", "logits")])
def test_a_model_that_overflows_on_the_image_is_refused_before_writing(tmp_path: Path, layer: str,
                                                                       stage: str) -> None:
    model = huge(xlcnn.load_model("tiny"), layer)
    folder = save_model(model, tmp_path / "huge")
    out = tmp_path / "out.xlsx"
    result = run("build", CIRCLE, "-o", out, "--model", folder)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: model 'tiny' overflows on {CIRCLE}: {stage} holds values too large for a "
                             "spreadsheet (infinite or not a number); its weights or input scale are too large\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge"]  # no workbook, no temporary file
    with pytest.raises(ModelError, match=f"overflows on .*: {stage} holds"):
        xlcnn.build_workbook(CIRCLE, out, model=model)


# ---------------------------------------------------------------------------- library calls, wrong types


LIBRARY_CASES: list[tuple[str, Any, type[Exception], str]] = [
    ("build: worked as text", lambda o: xlcnn.build_workbook(CIRCLE, o, model="tiny", worked="1,1,1"), TypeError,
     "worked must be three whole numbers (map, row, column), not '1,1,1'"),
    ("build: worked of floats", lambda o: xlcnn.build_workbook(CIRCLE, o, model="tiny", worked=(1.0, 1, 1)),
     TypeError, "worked must be three whole numbers (map, row, column), not (1.0, 1, 1)"),
    ("build: worked of booleans", lambda o: xlcnn.build_workbook(CIRCLE, o, model="tiny", worked=(True, 1, 1)),
     TypeError, "worked must be three whole numbers (map, row, column), not (True, 1, 1)"),
    ("build: image a number", lambda o: xlcnn.build_workbook(3, o), TypeError,
     "image must be a path (str or os.PathLike), not int"),
    ("build: output None", lambda o: xlcnn.build_workbook(CIRCLE, None), TypeError,
     "output must be a path (str or os.PathLike), not NoneType"),
    ("build: model a number", lambda o: xlcnn.build_workbook(CIRCLE, o, model=3), TypeError,
     "model must be a template name, a folder or a Model, not int"),
    ("build: label a number", lambda o: xlcnn.build_workbook(CIRCLE, o, model="tiny", label=3), TypeError,
     "label must be a string or None, not int"),
    ("build: lang None", lambda o: xlcnn.build_workbook(CIRCLE, o, model="tiny", lang=None), TypeError,
     "lang must be a language code (a string), not NoneType"),
    ("modify: filters a float", lambda o: xlcnn.modify_model(xlcnn.load_model("tiny"), filters=8.0), OptionError,
     "filters 8.0: must be whole numbers"),
    ("modify: seed a float", lambda o: xlcnn.modify_model(xlcnn.load_model("tiny"), filters=3, seed=1.5),
     OptionError, "seed 1.5: must be a whole number, 0 or more"),
    ("verify: timeout as text", lambda o: xlcnn.verify_workbook(o, timeout="5"), TypeError,
     "timeout must be a number of seconds, not str"),
    ("verify: timeout infinite", lambda o: xlcnn.verify_workbook(o, timeout=float("inf")), OptionError,
     "timeout inf: must be a number of seconds above 0 and at most 86,400"),
    ("verify: timeout nan", lambda o: xlcnn.verify_workbook(o, timeout=float("nan")), OptionError,
     "timeout nan: must be a number of seconds above 0 and at most 86,400"),
    ("verify: timeout negative", lambda o: xlcnn.verify_workbook(o, timeout=-1), OptionError,
     "timeout -1: must be a number of seconds above 0 and at most 86,400"),
    ("load_image: 100,000 × 100,000", lambda o: xlcnn.load_image(CIRCLE, (100_000, 100_000)), OptionError,
     "the image size must be at most 512×512 (height×width), not 100000×100000"),
    ("load_image: size as text", lambda o: xlcnn.load_image(CIRCLE, "28"), TypeError,
     "size must be (height, width), not '28'"),
    ("load_image: size of floats", lambda o: xlcnn.load_image(CIRCLE, (28.0, 28)), TypeError,
     "the image height must be a whole number, not float"),
    ("train: epochs a float", lambda o: xlcnn.train_model(dataset="stripes", epochs=1.5), TypeError,
     "epochs must be a whole number, not float"),
    ("train: seed a float", lambda o: xlcnn.train_model(dataset="stripes", seed=1.5), TypeError,
     "seed must be a whole number, not float"),
    ("train: learning rate as text", lambda o: xlcnn.train_model(dataset="stripes", learning_rate="0.1"),
     TypeError, "learning_rate must be a number, not str"),
    ("train: learning rate nan", lambda o: xlcnn.train_model(dataset="stripes", learning_rate=float("nan")),
     OptionError, "learning_rate must be above 0 and at most 1, not nan"),
]


@pytest.mark.parametrize(("call", "error", "message"), [case[1:] for case in LIBRARY_CASES],
                         ids=[case[0] for case in LIBRARY_CASES])
def test_library_calls_with_wrong_types_name_the_parameter(tmp_path: Path, call: Any, error: type[Exception],
                                                           message: str) -> None:
    book = tmp_path / "tiny.xlsx"
    if "verify" in message or "timeout" in message:
        xlcnn.build_workbook(CIRCLE, book, model="tiny")
    before = sorted(p.name for p in tmp_path.iterdir())
    started = time.monotonic()
    with pytest.raises(error) as info:
        call(book)
    assert str(info.value) == message
    assert time.monotonic() - started < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# -------------------------------------------------------------------------------- option values, hostile


@pytest.mark.parametrize(("value", "message"), [
    ("¹,¹,¹", "Invalid value for '--worked': '¹,¹,¹' is not MAP,ROW,COL (three whole numbers, e.g. 1,14,14)"),
    ("١,١,١", "Invalid value for '--worked': '١,١,١' is not MAP,ROW,COL (three whole numbers, e.g. 1,14,14)"),
    ("1,1," + "9" * 5000, "Invalid value for '--worked': '1,1," + "9" * 36 + "'… (5,004 characters) is not "
                          "MAP,ROW,COL (three whole numbers, e.g. 1,14,14)"),
    ("1,1\n,1", "Invalid value for '--worked': '1,1\\n,1' is not MAP,ROW,COL (three whole numbers, e.g. 1,14,14)"),
], ids=["superscripts", "Arabic-Indic digits", "5,000 digits", "a line break"])
def test_worked_values_that_isdigit_accepts_but_int_does_not(tmp_path: Path, value: str, message: str) -> None:
    result = run("build", CIRCLE, "-o", tmp_path / "out.xlsx", "--model", "tiny", "--worked", value)
    assert_usage_error(result, "build", message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e300", "-1", "0", "86401"])
def test_verify_timeouts_out_of_range_are_usage_errors(tmp_path: Path, value: str) -> None:
    result = run("verify", tmp_path / "any.xlsx", "--timeout", value)
    assert_usage_error(result, "verify", f"Invalid value for '--timeout': {value!r}: give a number of seconds above "
                                         "0 and at most 86,400")


def test_a_long_option_value_is_not_echoed_whole(tmp_path: Path) -> None:
    result = run("build", CIRCLE, "-o", tmp_path / "o.xlsx", "--filters", "x" * 100_000)
    assert result.exit_code == 2 and len(result.stderr) < 400
    assert "(100,000 characters)" in result.stderr


def test_a_short_timeout_prints_as_given(tmp_path: Path) -> None:
    book = tmp_path / "tiny.xlsx"
    xlcnn.build_workbook(CIRCLE, book, model="tiny")
    script = tmp_path / "soffice"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    result = CliRunner().invoke(cli, ["verify", str(book), "--timeout", "0.01"], env={"XLCNN_SOFFICE": str(script)})
    assert result.exit_code == 1
    assert result.stderr == f"Error: {book}: LibreOffice did not finish within 0.01 s and was stopped\n"


def test_a_full_temporary_folder_is_not_blamed_on_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("xlcnn.book.build.tempfile.TemporaryDirectory", full)
    out = tmp_path / "out.xlsx"
    result = run("build", CIRCLE, "-o", out, "--model", "tiny")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: the temporary folder {tempfile.gettempdir()}: cannot be written (No space left "
                             "on device); free some space there or set TMPDIR to another folder\n")
    assert list(tmp_path.iterdir()) == []


def test_stray_library_warnings_do_not_reach_the_terminal(tmp_path: Path) -> None:
    """The command itself (not CliRunner, which keeps the test's warning filters) silences them."""
    script = "import warnings, xlcnn.cli as c; c._quiet_warnings(); warnings.warn('stray', UserWarning); print('ok')"
    done = subprocess.run([sys.executable, "-W", "default", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "ok\n" and done.stderr == ""


def test_a_full_disk_during_pdf_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LibreOffice (here a stand-in) writes nothing on a full disk and says only that it could not convert."""
    script = tmp_path / "soffice"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    monkeypatch.setenv("XLCNN_SOFFICE", str(script))
    monkeypatch.setattr("xlcnn.check.handout.shutil.disk_usage", lambda path: SimpleNamespace(free=0))
    out = tmp_path / "out" / "tiny.xlsx"
    out.parent.mkdir()
    result = run("build", CIRCLE, "-o", out, "--model", "tiny", "--pdf")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {out.with_suffix('.pdf')}: cannot be written (no space left on the disk of "
                             f"{out.parent})\n")
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.xlsx"]  # the workbook, and no half a PDF

