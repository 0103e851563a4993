"""A class set at once (issue 15): ``xlcnn build photos/ -o handouts/`` builds a workbook per picture in parallel,
reports each bad picture on its own line and skips it, writes the summaries, and exits 1 if any failed."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner
from PIL import Image
from pypdf import PdfReader

from xlcnn import build_class_set, forward, load_image, load_model
from xlcnn.book.classset import pictures_in, workbook_names
from xlcnn.cli import cli


def photos(folder: Path, good: int, bad: tuple[str, ...] = ()) -> list[Path]:
    """``good`` random pictures and the ``bad`` files (not images, though named like them)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    made = []
    for i in range(good):
        path = folder / f"pupil-{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path)
        made.append(path)
    for name in bad:
        (folder / name).write_bytes(b"not a picture at all")
    return made


def test_thirty_pictures_two_bad_build_28_and_report_2(tmp_path: Path) -> None:
    good = photos(tmp_path / "photos", 28, ("broken.png", "empty.jpg"))
    (tmp_path / "photos" / "notes.txt").write_text("the class list")
    out = tmp_path / "handouts"
    result = CliRunner().invoke(cli, ["build", str(tmp_path / "photos"), "-o", str(out), "--model", "tiny",
                                      "--no-learn", "--jobs", "2"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f"Error: {tmp_path / 'photos' / 'broken.png'}: not an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, "
        "WebP, …) (skipped)",
        f"Error: {tmp_path / 'photos' / 'empty.jpg'}: not an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, "
        "WebP, …) (skipped)"]
    assert "Note: left out 1 file(s) whose names do not end like an image: notes.txt" in result.output
    assert f"Wrote 28 of 30 workbooks to {out}" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{p.stem}.xlsx" for p in good]
                                                           + ["summary.csv", "summary.xlsx"])  # no temporary files
    rows = list(csv.DictReader((out / "summary.csv").read_text(encoding="utf-8").splitlines()))
    assert [Path(r["file"]).name for r in rows] == sorted([p.name for p in good] + ["broken.png", "empty.jpg"])
    tiny = load_model("tiny")
    for row in rows:
        if row["error"]:
            assert row["workbook"] == "" and Path(row["file"]).name in ("broken.png", "empty.jpg")
            continue
        trace = forward(load_image(Path(row["file"]), (6, 6)), tiny)  # what the engine says of that picture
        assert row["prediction"] == trace.predicted_label
        assert float(row["probability"]) == pytest.approx(float(trace.probs.max()), abs=5e-5)
        book = openpyxl.load_workbook(out / row["workbook"], data_only=True)
        assert book["Guide"].max_row > 10
    table = openpyxl.load_workbook(out / "summary.xlsx")["Class set"]
    listed = [table.cell(r, 1).value for r in range(5, 5 + 30)]
    assert listed == [Path(r["file"]).name for r in rows]
    assert table.cell(5 + listed.index("broken.png"), 2).value.endswith("WebP, …)")


def test_one_process_and_two_give_the_same_workbooks(tmp_path: Path) -> None:
    pictures = photos(tmp_path / "p", 3)
    one = build_class_set(pictures, tmp_path / "one", "tiny", jobs=1, learn=False)
    two = build_class_set(pictures, tmp_path / "two", "tiny", jobs=2, learn=False)
    assert [r.predicted for r in one.built] == [r.predicted for r in two.built]
    for a, b in zip(one.built, two.built, strict=True):
        assert a.workbook.read_bytes() == b.workbook.read_bytes()  # deterministic, whichever process built it


def test_names_that_clash_get_their_extension(tmp_path: Path) -> None:
    names = workbook_names([Path("a/cat.png"), Path("b/cat.jpg"), Path("dog.png"), Path("c/cat.png")])
    assert names == ["cat-png.xlsx", "cat-jpg.xlsx", "dog.xlsx", "cat-png-2.xlsx"]
    # The class set's own files and the answer keys keep their names: a picture named like one gets its extension.
    names = workbook_names([Path("cat-key.png"), Path("cat.png"), Path("summary.jpg"), Path("Handouts.png")])
    assert names == ["cat-key-png.xlsx", "cat.xlsx", "summary-jpg.xlsx", "Handouts-png.xlsx"]
    folder = tmp_path / "f"
    photos(folder, 2)
    (folder / ".hidden.png").write_bytes(b"x")
    assert pictures_in([folder]) == ([folder / "pupil-00.png", folder / "pupil-01.png"], [])


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "x.xlsx", "--verify"], "--verify checks one workbook; for a class set"),
    ([], "several images, or a folder, build a class set into a folder: give it with -o DIR"),
])
def test_usage_errors_of_a_class_set(tmp_path: Path, args: list[str], message: str) -> None:
    pictures = photos(tmp_path / "p", 2)
    result = CliRunner().invoke(cli, ["build", *map(str, pictures), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_wrong_label_is_refused_once_before_anything_is_built(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", str(photos(tmp_path / "p", 3)[0].parent), "-o", str(tmp_path / "o"),
                                      "--model", "tiny", "--label", "cat"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: --label 'cat' is not a class of model 'tiny' (one of: horizontal, vertical, diagonal)"]
    assert not (tmp_path / "o").exists()


@pytest.mark.libreoffice
def test_a_class_set_prints_a_handout_per_workbook_the_summary_and_all_in_one(tmp_path: Path) -> None:
    pictures = photos(tmp_path / "p", 2, ("bad.png",))
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["build", *map(str, pictures), str(tmp_path / "p" / "bad.png"), "-o", str(out),
                                      "--model", "tiny", "--pdf", "--exercise"])
    assert result.exit_code == 1, result.output
    assert ("Wrote 5 PDF handouts beside the workbooks, and handouts.pdf: the summary and every handout in one file, "
            "to print at once; answer-keys.pdf: every answer key.") in result.output
    pages = {}
    for name in ("pupil-00", "pupil-01", "pupil-00-key", "pupil-01-key", "summary", "handouts", "answer-keys"):
        pdf = out / f"{name}.pdf"
        assert pdf.read_bytes().startswith(b"%PDF")
        pages[name] = len(PdfReader(pdf).pages)
    assert pages["handouts"] == pages["summary"] + pages["pupil-00"] + pages["pupil-01"] > 3
    assert pages["answer-keys"] == pages["pupil-00-key"] + pages["pupil-01-key"] == 2
    text = PdfReader(out / "handouts.pdf").pages[pages["summary"]].extract_text()
    assert "Guide" in text  # the first pupil's handout follows the summary
    assert not (out / "bad.pdf").exists() and not (out / "bad.xlsx").exists()


def test_a_class_set_is_not_written_to_a_workbook_name(tmp_path: Path) -> None:
    folder = photos(tmp_path / "p", 2)[0].parent
    result = CliRunner().invoke(cli, ["build", str(folder), "-o", str(tmp_path / "class.xlsx"), "--model", "tiny"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'class.xlsx'}: names a workbook, but a class set of 2 pictures is written to a folder, "
        "one workbook per picture: give a folder"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
