"""Translated class names (issue 15): a template's ``labels.zh`` names the classes in a Chinese workbook, while
the defined names, ``--label`` in English and verify keep working."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

from xlcnn import ModelError, build_workbook, load_model, verify_workbook
from xlcnn.model.zoo import TRANSLATED_LABELS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.mark.parametrize("name", ["default", "tiny", "digits", "faces", "edges"])
def test_every_shipped_template_names_its_classes_in_chinese(name: str) -> None:
    model = load_model(name)
    assert model.labels_in("zh") == dict(TRANSLATED_LABELS[model.classes])["zh"]
    assert model.labels_in("fr") is None


def test_a_chinese_workbook_shows_them_and_an_english_label_still_works(tmp_path: Path) -> None:
    out = tmp_path / "zh.xlsx"
    result = build_workbook(SAMPLES / "stripes.png", out, load_model("tiny"), lang="zh", label="vertical")
    assert result.trace.true_label == "竖条纹"
    wb = openpyxl.load_workbook(out, data_only=True)
    (sheet, ref), = list(wb.defined_names["labels"].destinations)
    assert [c.value for c in wb[sheet][ref.replace("$", "")][0]] == ["横条纹", "竖条纹", "斜条纹"]
    (sheet, ref), = list(wb.defined_names["true_label"].destinations)
    assert wb[sheet][ref.replace("$", "").split(":")[0]].value == "竖条纹"
    english = tmp_path / "en.xlsx"
    build_workbook(SAMPLES / "stripes.png", english, load_model("tiny"), label="vertical")
    wb = openpyxl.load_workbook(english, data_only=True)
    (sheet, ref), = list(wb.defined_names["labels"].destinations)
    assert [c.value for c in wb[sheet][ref.replace("$", "")][0]] == ["horizontal", "vertical", "diagonal"]


@pytest.mark.parametrize(("labels", "message"), [
    ('[labels]\nzh = ["一", "二"]\n', "labels.zh names 2 classes, but classes lists 3"),
    ('[labels]\nChinese = ["一", "二", "三"]\n', "labels.Chinese: not a language code (such as zh)"),
    ('[labels]\nzh = ["一", "一", "三"]\n', "labels.zh has duplicate class '一'"),
])
def test_a_wrong_labels_table_is_refused(tmp_path: Path, labels: str, message: str) -> None:
    folder = tmp_path / "t"
    shutil.copytree(Path(load_model("tiny").source or ""), folder)
    toml = folder / "model.toml"
    text = toml.read_text(encoding="utf-8")
    start, end = text.index("[labels]"), text.index("[input]")
    toml.write_text(text[:start] + labels + "\n" + text[end:], encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        load_model(folder)
    assert str(caught.value) == f"{toml}: {message}"


@pytest.mark.libreoffice
def test_a_chinese_workbook_with_translated_classes_verifies(tmp_path: Path) -> None:
    out = tmp_path / "zh.xlsx"
    build_workbook(SAMPLES / "face.png", out, load_model("faces"), lang="zh")
    report = verify_workbook(out)
    assert report.ok, report.summary()
    assert report.true_label in ("人脸", "不是人脸")
