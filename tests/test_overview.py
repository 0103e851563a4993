"""The Overview sheet (issue 15): the whole story on one printed page — every ReLU map as a live heatmap, the
prediction and its probabilities, the contributions and the step — readable when printed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import openpyxl
import pytest
from helpers import zh_sheet

from xlcnn import build_workbook, load_model, write_handout
from xlcnn.check import printed

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = {"default": "circle", "tiny": "stripes", "digits": "digit-3", "faces": "face"}


@pytest.mark.parametrize("name", list(SAMPLE))
def test_the_overview_repeats_every_relu_cell_and_the_probabilities(name: str, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.xlsx"
    result = build_workbook(ROOT / "samples" / f"{SAMPLE[name]}.png", out, load_model(name))
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:2] == ["Guide", "Overview"]
    ws = wb["Overview"]
    formulas = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    repeated: dict[str, set[str]] = {}
    for cell in formulas:
        match = re.fullmatch(r"='(ReLU \d+)'!([A-Z]+\d+)", cell.value)
        if match:
            repeated.setdefault(match.group(1), set()).add(match.group(2))
            assert cell.number_format == ";;;"  # a picture: the colour shows, not the number
    for block in result.model.arch.blocks:
        relu = wb[f"ReLU {block.index}"]
        f, h, w = block.conv_shape
        assert len(repeated[f"ReLU {block.index}"]) == f * h * w  # every cell of every map, once
        (sheet, ref), = list(wb.defined_names[f"relu{block.index}_out1"].destinations)
        first = ref.replace("$", "").split(":")[0]
        assert first in repeated[f"ReLU {block.index}"] and sheet == relu.title
    texts = [c.value for c in formulas]
    classes = len(result.model.classes)
    probs = [v for v in texts if re.fullmatch(r"=Softmax!\$?[A-Z]+\$?\d+", v)]
    assert len(probs) == classes + 1  # each probability and the predicted class
    assert sum(v.startswith("=Step!") for v in texts) == 2  # the step in brief: η and the loss after it
    maps = result.model.arch.blocks[-1].pool_shape[0]
    assert sum(v.startswith("='Why this class'!") for v in texts) == classes * maps


@pytest.mark.libreoffice
@pytest.mark.parametrize(("name", "lang"), [("default", "en"), ("digits", "zh"), ("faces", "en"), ("tiny", "zh")])
def test_the_overview_prints_on_one_page_in_readable_sizes(name: str, lang: str, tmp_path: Path) -> None:
    out = tmp_path / f"{name}-{lang}.xlsx"
    build_workbook(ROOT / "samples" / f"{SAMPLE[name]}.png", out, load_model(name), lang=lang)
    pdf = write_handout(out)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    heads = [page.strip().split("  ")[0] for page in text.split("\f") if page.strip()]
    overview = zh_sheet("Overview") if lang == "zh" else "Overview"  # 总览 in Chinese
    assert heads.count(overview) == 1
    factor = printed.calibration("Noto Sans CJK SC" if lang == "zh" else "Calibri", tmp_path)
    smallest = printed.smallest_sizes(pdf, factor)[heads.index(overview)]
    assert smallest["text"] >= 8.0 and smallest["number"] >= 6.0, smallest
