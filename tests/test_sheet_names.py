"""Sheet names in the workbook's language: Chinese workbooks name their sheets in Chinese, the defined names and
``verify`` work the same, and a language file whose names a spreadsheet would refuse is refused first."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

import xlcnn.book.texts
from xlcnn import build_workbook, load_model, verify_workbook
from xlcnn.book.build import learning_sheets, plan_for
from xlcnn.book.layout import FORBIDDEN_IN_SHEET_NAMES, MAX_SHEET_NAME
from xlcnn.book.texts import available_languages, lang_dir, load_texts
from xlcnn.errors import OptionError

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CHINESE = ["指南", "总览", "图像", "输入", "滤波器 1", "卷积 1", "算例", "ReLU 1", "池化 1", "滤波器 2", "卷积 2",
           "ReLU 2", "池化 2", "展平", "全连接", "Softmax", "损失", "反向 全连接", "反向 池化 2", "反向 ReLU 2",
           "反向 卷积 2", "反向 滤波器 2", "反向 池化 1", "反向 ReLU 1", "反向 卷积 1", "反向 滤波器 1", "反向 输入",
           "更新", "更新后 卷积 1", "更新后 池化 1", "更新后 卷积 2", "更新后 池化 2", "更新后 全连接",
           "为什么是这一类", "显著图", "Grad-CAM", "形状", "练习"]


@pytest.fixture
def fresh_cache() -> None:
    xlcnn.book.texts._read.cache_clear()
    yield
    xlcnn.book.texts._read.cache_clear()


def test_the_default_model_in_chinese_names_every_sheet_in_chinese() -> None:
    model = load_model("default")
    assert [plan.name for plan in plan_for(model, exercise=True, lang="zh").sheets] == CHINESE
    assert [plan.key for plan in plan_for(model, exercise=True, lang="zh").sheets] == [
        plan.name for plan in plan_for(model, exercise=True).sheets]
    assert learning_sheets(model, "zh")[:3] == ("反向 全连接", "反向 池化 2", "反向 ReLU 2")


@pytest.mark.parametrize("code", available_languages())
def test_every_language_names_its_sheets_as_a_spreadsheet_allows(code: str) -> None:
    names = [plan.name for plan in plan_for(load_model("default"), exercise=True, lang=code).sheets]
    assert len({name.casefold() for name in names}) == len(names) == 38
    assert all(0 < len(name) <= MAX_SHEET_NAME and not set(name) & FORBIDDEN_IN_SHEET_NAMES for name in names)


@pytest.mark.parametrize(("entry", "problem"), [
    ('Conv = "卷积/层"', "'Conv' = '卷积/层' cannot name a sheet (it holds /)"),
    ('Loss = "一个非常非常非常非常非常非常非常非常非常非常非常非常长的名字"',
     "cannot name a sheet (over 28 characters)"),
    ('Loss = "dense"', "'Loss' and 'Dense' are both named 'dense'"),  # sheet names ignore case; Dense is English
    ('Loss = " 损失"', "'Loss' must be a name, not ' 损失'"),
])
def test_a_language_whose_sheet_name_a_spreadsheet_refuses_is_refused(
        entry: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: None) -> None:
    shutil.copy(lang_dir() / "en.toml", tmp_path / "en.toml")
    (tmp_path / "xx.toml").write_text(f"[sheets]\n{entry}\n", encoding="utf-8")
    monkeypatch.setattr(xlcnn.book.texts, "lang_dir", lambda: tmp_path)
    with pytest.raises(OptionError) as caught:
        build_workbook(SAMPLES / "circle.png", tmp_path / "out.xlsx", model="tiny", lang="xx")
    assert str(caught.value).startswith(f"{tmp_path / 'xx.toml'}, [sheets]: ")
    assert problem in str(caught.value)
    assert not (tmp_path / "out.xlsx").exists()


def test_a_partial_table_keeps_english_names_for_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         fresh_cache: None) -> None:
    shutil.copy(lang_dir() / "en.toml", tmp_path / "en.toml")
    (tmp_path / "xx.toml").write_text('[sheets]\nConv = "Faltung"\n', encoding="utf-8")
    monkeypatch.setattr(xlcnn.book.texts, "lang_dir", lambda: tmp_path)
    names = load_texts("xx").sheet_names()
    assert [names(key) for key in ("Conv 2", "Back conv 2", "Guide", "Pool 1")] == [
        "Faltung 2", "Back conv 2", "Guide", "Pool 1"]


@pytest.mark.libreoffice
def test_a_chinese_workbook_verifies_and_reads_back_in_chinese(tmp_path: Path) -> None:
    """verify finds the Chinese sheets by the Guide's Chinese name, and checks every formula on them."""
    path = tmp_path / "zh.xlsx"
    built = build_workbook(SAMPLES / "stripes.png", path, model="tiny", lang="zh", exercise=3)
    assert openpyxl.load_workbook(path, read_only=True).sheetnames[:4] == ["指南", "总览", "图像", "输入"]
    report = verify_workbook(path)
    assert report.ok, report
    assert report.cells == built.formulas
    assert {stage.stage for stage in report.stages} >= {"卷积 1", "池化 1", "损失", "反向 输入", "练习"}
    assert report.predicted == built.trace.predicted_label
