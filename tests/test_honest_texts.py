"""Honest predictions (issue 13): the Guide and the Loss sheet say whether the true label was given when the
workbook was built or assumed to be the prediction (and how to choose the real one), the Guide says that the
model can only answer with its own classes, and the model card shows the held-out measurements and the data
licence a model's provenance has — and nothing for those it lacks (the models are built here with and without
them; the shipped templates now have them all but a licence). In English and in Chinese. Fast: no LibreOffice."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from helpers import zh_sheet

from xlcnn import build_workbook, load_model
from xlcnn.book.layout import LEFT, LOSS
from xlcnn.book.stages import plan_layout
from xlcnn.model.spec import Model

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
STRIPES = SAMPLES / "stripes.png"
TINY_CLASSES = "horizontal, vertical, diagonal"
LOSS_SOURCE_ROW = 5  # the Loss header's fourth line (openpyxl counts from 1; row 1 is the title)


def guide_rows(path: Path) -> list[list[Any]]:
    """The Guide's rows (the first sheet's, whatever its language calls it), each its non-empty values left to
    right."""
    book = openpyxl.load_workbook(path)
    return [[v for v in row if v is not None] for row in book.worksheets[0].iter_rows(values_only=True)]


def notes_under_the_loss(path: Path, model: Model) -> list[str]:
    """The two cells right under the Guide's live loss, in its column."""
    loss = plan_layout(model.arch, teaching=True).grid("guide_loss")
    sheet = openpyxl.load_workbook(path).worksheets[0]  # the Guide
    return [sheet.cell(loss.top + 1 + i, loss.left + 1).value for i in (1, 2)]  # openpyxl counts from 1


def loss_source_line(path: Path) -> str:
    book = openpyxl.load_workbook(path)
    sheet = book[LOSS] if LOSS in book.sheetnames else book[zh_sheet(LOSS)]
    return str(sheet.cell(LOSS_SOURCE_ROW, LEFT + 1).value)


def model_card(path: Path) -> dict[str, str]:
    """The Guide's label → value rows (the model card's among them), in sheet order."""
    return {row[0]: row[1] for row in guide_rows(path) if len(row) == 2 and isinstance(row[1], str)}


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str, str]]:
    """Tiny on the stripes sample: (workbook, true label, prediction) without a label, with the label of
    another class, and with the predicted class given as the label, in English and in Chinese."""
    folder = tmp_path_factory.mktemp("honest")
    out: dict[str, tuple[Path, str, str]] = {}
    for lang in ("en", "zh"):
        result = build_workbook(STRIPES, folder / f"assumed-{lang}.xlsx", model="tiny", lang=lang)
        predicted = result.trace.predicted_label
        out[f"assumed-{lang}"] = (result.path, result.trace.true_label, predicted)
        other = next(c for c in result.model.classes if c != predicted)
        given = build_workbook(STRIPES, folder / f"given-{lang}.xlsx", model="tiny", label=other, lang=lang)
        out[f"given-{lang}"] = (given.path, given.trace.true_label, given.trace.predicted_label)
    same = build_workbook(STRIPES, folder / "same.xlsx", model="tiny", label=predicted)
    out["same-en"] = (same.path, same.trace.true_label, same.trace.predicted_label)
    return out


# ------------------------------------------------------------------------------ assumed or given


def test_without_a_label_the_true_label_is_the_prediction_and_says_so(books: dict[str, Any]) -> None:
    path, true, predicted = books["assumed-en"]
    assert true == predicted == "horizontal"
    assert notes_under_the_loss(path, load_model("tiny"))[0] == (
        "When this workbook was built no true label was given, so the true label is assumed to be the prediction "
        "(horizontal). To choose the real one, open the Loss sheet and pick the right class from the dropdown "
        "(the true_label cell).")
    assert loss_source_line(path) == (
        "When this workbook was built no true label was given, so the true label is assumed to be the prediction "
        "(horizontal). To choose the real one, pick the right class from the dropdown below.")


def test_with_a_label_the_guide_and_the_loss_say_it_was_given(books: dict[str, Any]) -> None:
    path, true, predicted = books["given-en"]
    assert true != predicted and true == "vertical"
    assert notes_under_the_loss(path, load_model("tiny"))[0] == (
        "True label: vertical (given when the workbook was built).")
    assert loss_source_line(path) == (
        "True label: vertical (given when the workbook was built). Pick another class from the dropdown below to "
        "see its loss.")
    texts = [v for row in guide_rows(path) for v in row if isinstance(v, str)]
    assert not any("assumed" in text for text in texts)


def test_a_label_given_that_is_the_prediction_is_still_given(books: dict[str, Any]) -> None:
    """What the build was told decides the sentence, not whether the label happens to equal the prediction."""
    path, true, predicted = books["same-en"]
    assert true == predicted == "horizontal"
    assert notes_under_the_loss(path, load_model("tiny"))[0] == (
        "True label: horizontal (given when the workbook was built).")
    assert loss_source_line(path).startswith("True label: horizontal (given when the workbook was built).")


@pytest.mark.parametrize("key", ["assumed-en", "given-en", "same-en"])
def test_the_guide_says_the_model_knows_only_its_classes(books: dict[str, Any], key: str) -> None:
    path = books[key][0]
    assert notes_under_the_loss(path, load_model("tiny"))[1] == (
        f"This model knows only its classes: {TINY_CLASSES}. It must force any other picture into one of them: "
        "a photo of a cat still gets one of these labels.")


def test_the_notes_list_the_model_s_own_classes(tmp_path: Path) -> None:
    result = build_workbook(SAMPLES / "circle.png", tmp_path / "circle.xlsx", label="square")
    notes = notes_under_the_loss(result.path, result.model)
    assert notes == ["True label: square (given when the workbook was built).",
                     "This model knows only its classes: circle, square, triangle. It must force any other picture "
                     "into one of them: a photo of a cat still gets one of these labels."]


def test_in_chinese_the_same_things_are_said_in_chinese(books: dict[str, Any]) -> None:
    tiny = load_model("tiny")  # its classes named by its labels.zh in a Chinese workbook
    assumed, given = books["assumed-zh"][0], books["given-zh"][0]
    classes = ("这个模型只认识它自己的类别：横条纹、竖条纹、斜条纹。任何别的图片都会被硬塞进其中一类："
               "就算是一张猫的照片，也会得到其中一个标签。")
    assert notes_under_the_loss(assumed, tiny) == [
        "生成这个工作簿时没有给出真实标签，所以假定真实标签就是预测结果（横条纹）。"
        "要选出真正的类别，请打开“损失”工作表，在下拉列表（true_label 单元格）里选择正确的类别。", classes]
    assert loss_source_line(assumed) == (
        "生成这个工作簿时没有给出真实标签，所以假定真实标签就是预测结果（横条纹）。"
        "要选出真正的类别，请在下面的下拉列表里选择正确的类别。")
    assert notes_under_the_loss(given, tiny) == ["真实标签：竖条纹（生成工作簿时给出）。", classes]
    assert loss_source_line(given) == (
        "真实标签：竖条纹（生成工作簿时给出）。在下面的下拉列表里换一个类别，就能看到它的损失。")


# ------------------------------------------------------------------------------------ the model card


MEASUREMENTS = ("licence", "median_confidence", "calibration_error", "temperature", "activity")
MEASURED_ROWS = {"Data licence", "Median confidence", "Calibration error", "Temperature", "Filters active"}
MEASURED = {"licence": "CC BY 4.0", "median_confidence": 0.934, "calibration_error": 0.0213, "temperature": 1.6,
            "activity": ((0.96, 0.88, 0.74, 0.91, 0.5, 1.0),
                         (1.0, 0.5, 0.25, 0.333, 0.9, 0.8, 0.7, 0.6, 0.42, 0.07, 0.18, 0.99))}
# The accuracy row is set too, so that its text is checked whatever the shipped model's retraining measured.
ACCURACY = {"accuracy": 0.985, "accuracy_note": "1,000 freshly generated images from seed 2, never used in training"}


def measured(model: Model, **fields: Any) -> Model:
    return replace(model, provenance=replace(model.provenance, **fields))


def unmeasured(model: Model) -> Model:
    """``model`` with none of the held-out measurements and no licence (as a model trained before them, or
    one whose trainer did not measure them, has)."""
    return measured(model, licence="", median_confidence=None, calibration_error=None, temperature=None, activity=())


def test_the_measured_example_fits_the_default_model() -> None:
    """One share per filter of each conv layer, as the trainer writes them."""
    arch = load_model("default").arch
    assert [len(layer) for layer in MEASURED["activity"]] == [conv.filters for conv, _ in arch.convs]


def test_the_model_card_shows_the_held_out_measurements_and_the_licence(tmp_path: Path) -> None:
    model = measured(unmeasured(load_model("default")), **MEASURED, **ACCURACY)
    card = model_card(build_workbook(SAMPLES / "circle.png", tmp_path / "card.xlsx", model=model).path)
    assert card["Data licence"] == "CC BY 4.0"
    assert card["Accuracy"] == "98.5% (1,000 freshly generated images from seed 2, never used in training)"
    assert card["Median confidence"] == ("93% on held-out images, ones it never saw in training (its top "
                                         "probability; on half of them it is surer than this)")
    assert card["Calibration error"] == ("0.021 (how far its confidence is from how often it is right; 0 is "
                                         "perfect)")
    assert card["Temperature"] == ("confidence softened by temperature 1.6 (the dense weights and bias were "
                                   "divided by it)")
    assert card["Filters active"] == (
        "conv 1: 96%, 88%, 74%, 91%, 50%, 100%; conv 2: 100%, 50%, 25%, 33%, 90%, 80%, 70%, 60%, 42%, 7%, 18%, "
        "99% (the share of held-out images on which each filter's map is positive somewhere after ReLU)")
    labels = list(card)
    start = labels.index("Data")
    assert labels[start : start + 8] == ["Data", "Data licence", "Accuracy", "Median confidence", "Calibration error",
                                         "Temperature", "Filters active", "Reproduce with"]


def test_the_model_card_in_chinese(tmp_path: Path) -> None:
    model = measured(unmeasured(load_model("default")), **MEASURED)
    card = model_card(build_workbook(SAMPLES / "circle.png", tmp_path / "card.xlsx", model=model, lang="zh").path)
    assert card["数据许可"] == "CC BY 4.0"
    assert card["置信度中位数"] == (
        "在留出图像（训练时从未见过的图像）上为 93%（它给出的最高概率；一半图像上它比这更有把握）")
    assert card["校准误差"] == "0.021（它的置信度与它实际答对的频率相差多少；0 表示完美）"
    assert card["温度"] == "用温度 1.6 让置信度变得温和（全连接层的权重和偏置都除以了它）"
    assert card["激活的滤波器"] == (
        "卷积 1：96%, 88%, 74%, 91%, 50%, 100%; 卷积 2：100%, 50%, 25%, 33%, 90%, 80%, 70%, 60%, 42%, 7%, 18%, "
        "99%（在多少比例的留出图像上，每个滤波器的特征图经过 ReLU 后至少有一处为正）")


def test_a_model_card_without_the_measurements_shows_none_of_them(tmp_path: Path) -> None:
    model = unmeasured(load_model("tiny"))
    prov = model.provenance
    assert (prov.licence, prov.median_confidence, prov.calibration_error, prov.temperature, prov.activity) == (
        "", None, None, None, ())
    card = model_card(build_workbook(STRIPES, tmp_path / "bare.xlsx", model=model).path)
    assert not MEASURED_ROWS & set(card)
    labels = list(card)
    assert labels[labels.index("Data") + 1 : labels.index("Data") + 3] == ["Accuracy", "Reproduce with"]


def test_only_the_measurements_a_model_has_are_shown(tmp_path: Path) -> None:
    model = measured(unmeasured(load_model("tiny")), temperature=2.0, activity=((0.5, 0.25),))
    card = model_card(build_workbook(STRIPES, tmp_path / "some.xlsx", model=model).path)
    assert card["Temperature"] == ("confidence softened by temperature 2 (the dense weights and bias were divided "
                                   "by it)")
    assert card["Filters active"].startswith("conv 1: 50%, 25% (the share")
    assert not {"Data licence", "Median confidence", "Calibration error"} & set(card)
    labels = list(card)
    assert labels[labels.index("Data") + 1 : labels.index("Data") + 5] == [
        "Accuracy", "Temperature", "Filters active", "Reproduce with"]


@pytest.mark.parametrize("name", ["default", "tiny", "digits", "faces"])
def test_a_shipped_model_s_card_shows_the_measurements_its_template_has(tmp_path: Path, name: str) -> None:
    """The trained templates now carry held-out measurements (and a licence where their data is not xlcnn's
    own), and their cards show each of them, from the template's own numbers."""
    model = load_model(name)
    prov = model.provenance
    assert prov.median_confidence is not None and prov.calibration_error is not None
    assert prov.temperature is not None
    assert [len(layer) for layer in prov.activity] == [conv.filters for conv, _ in model.arch.convs]
    card = model_card(build_workbook(SAMPLES / "circle.png", tmp_path / f"{name}.xlsx", model=model).path)
    if prov.licence:
        assert card["Data licence"] == prov.licence
    else:
        assert "Data licence" not in card
    assert card["Median confidence"].startswith(f"{prov.median_confidence:.0%} on held-out images")
    assert card["Calibration error"].startswith(f"{prov.calibration_error:.3f} (how far")
    # Below 1, dividing by the temperature moves the logits apart: the card says it sharpens, not softens.
    word = "sharpened" if prov.temperature < 1 else "softened"
    assert card["Temperature"].startswith(f"confidence {word} by temperature {prov.temperature:.2f}".rstrip("0"))
    shares = "; ".join(f"conv {k}: " + ", ".join(f"{a:.0%}" for a in layer)
                       for k, layer in enumerate(prov.activity, start=1))
    assert card["Filters active"].startswith(shares + " (the share")
