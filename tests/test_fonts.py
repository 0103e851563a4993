"""Every language prints (issue 15): cells use the language's font, ``--pdf`` says which package to install
before printing boxes, and a Chinese handout embeds a CJK font and holds every character of the workbook."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from xlcnn import build_workbook, load_model, write_handout
from xlcnn.check import fonts
from xlcnn.cli import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
HAN = re.compile("[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def tiny_zh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zh") / "tiny-zh.xlsx"
    build_workbook(SAMPLES / "stripes.png", path, load_model("tiny"), lang="zh")
    return path


@pytest.fixture
def no_cjk_font(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fontconfig that knows no font for any language (an fc-list that prints nothing)."""
    fake = tmp_path / "bin" / "fc-list"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{__import__('os').environ['PATH']}")


def test_chinese_cells_use_a_cjk_font_and_english_ones_calibri(tiny_zh: Path, tmp_path: Path) -> None:
    english = tmp_path / "tiny-en.xlsx"
    build_workbook(SAMPLES / "stripes.png", english, load_model("tiny"))
    for path, font in ((tiny_zh, "Noto Sans CJK SC"), (english, "Calibri")):
        guide = openpyxl.load_workbook(path).worksheets[0]  # the Guide, whatever its language calls it
        cells = [c for row in guide.iter_rows() for c in row if isinstance(c.value, str)]
        assert len(cells) > 50
        assert {c.font.name for c in cells} == {font}, path.name


def test_the_scripts_of_a_workbook_are_found(tiny_zh: Path, tmp_path: Path) -> None:
    assert [s.language for s in fonts.scripts_in(tiny_zh)] == ["zh"]
    english = tmp_path / "en.xlsx"
    build_workbook(SAMPLES / "stripes.png", english, load_model("tiny"))
    assert fonts.scripts_in(english) == []
    assert fonts.scripts_in(tmp_path / "missing.xlsx") == []  # LibreOffice will say what is wrong with it


@pytest.mark.usefixtures("no_cjk_font")
def test_without_a_cjk_font_the_handout_is_refused_before_printing(tiny_zh: Path) -> None:
    with pytest.raises(fonts.LibreOfficeError) as caught:
        write_handout(tiny_zh)
    assert str(caught.value) == (
        f"{tiny_zh}: holds Chinese text, but no installed font has Chinese characters, so the PDF would print them "
        "as boxes; install one (on Debian or Ubuntu: apt-get install fonts-noto-cjk) and run again")
    assert not tiny_zh.with_suffix(".pdf").exists()


@pytest.mark.usefixtures("no_cjk_font")
def test_build_pdf_in_chinese_says_so_before_building(tmp_path: Path) -> None:
    out = tmp_path / "zh.xlsx"
    result = CliRunner().invoke(cli, ["build", str(SAMPLES / "stripes.png"), "--model", "tiny", "--lang", "zh",
                                      "--pdf", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == (
        "Error: the language zh (简体中文) has Chinese text, but no installed font has Chinese characters, so the "
        "PDF would print them as boxes; install one (on Debian or Ubuntu: apt-get install fonts-noto-cjk) and run "
        "again\n")
    assert list(tmp_path.iterdir()) == [tmp_path / "bin"]  # nothing written


def test_without_fontconfig_nothing_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts.shutil, "which", lambda name: None)
    assert fonts.has_font_for("zh") is None
    fonts.check_language_fonts("zh")  # no error: the system's own fallback is trusted


@pytest.mark.libreoffice
def test_the_chinese_handout_embeds_a_cjk_font_and_holds_every_character(tiny_zh: Path, tmp_path: Path) -> None:
    pdf = write_handout(tiny_zh, tmp_path / "tiny-zh.pdf")
    listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in listing.splitlines()[2:]]
    cjk = [row for row in rows if "CJK" in row[0]]
    assert cjk, listing
    assert all(row[-5] == "yes" for row in rows), listing  # every font embedded
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    book = openpyxl.load_workbook(tiny_zh)
    strings = [v for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
               if isinstance(v, str) and not v.startswith("=")]
    wanted = set(HAN.findall("".join(strings)))
    assert len(wanted) > 300
    assert wanted == set(HAN.findall(text))  # every Chinese character printed and extractable, none extra
    squashed = re.sub(r"\s+", "", text)
    guide = [v for row in book.worksheets[0].iter_rows(values_only=True) for v in row
             if isinstance(v, str) and not v.startswith("=")]
    missing = [line for line in guide if re.sub(r"\s+", "", line) not in squashed]
    assert missing == []  # the Guide's every line, whole
