"""Exercises with self-check (issue 15): the draw, the answers against an independent implementation (naive
loops, and the engine's backward pass for the gradient), the answer key, and the live checks after LibreOffice
and Gnumeric recalculate a workbook with right, wrong, text and blank answers typed in."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner

from tests import naive
from tests.workbooks import recalculated
from xlcnn import build_workbook, forward, load_image, load_model, verify_workbook
from xlcnn import learning_layer as learn
from xlcnn.book.stages.exercises import ANSWERS, CHECKS, TASKS, key_path
from xlcnn.cli import cli
from xlcnn.nn.exercises import KINDS, Kind, answer, draw, is_right, seed_for

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CIRCLE = SAMPLES / "circle.png"


@pytest.fixture(scope="module")
def default() -> tuple[object, object, np.ndarray]:
    model = load_model("default")
    image = load_image(CIRCLE, (28, 28))
    return model, forward(image, model), image


def test_the_same_seed_draws_the_same_cells_and_other_seeds_others(default: tuple) -> None:
    model, trace, _ = default
    assert draw(model, trace, 7) == draw(model, trace, 7)
    convs = {draw(model, trace, seed).tasks[0].numbers for seed in range(20)}
    assert len(convs) >= 18  # 26·26·6 cells: neighbours practically never share one
    assert seed_for("anna.png", 1) != seed_for("ben.png", 1) and seed_for("anna.png", 1) == seed_for("anna.png", 1)


@pytest.mark.parametrize("seed", range(6))
def test_every_answer_agrees_with_naive_loops_and_the_backward_pass(default: tuple, seed: int) -> None:
    model, trace, image = default
    arch, w = model.arch, model.weights
    ref = naive.network(image, w.conv_w, w.conv_b,
                        [(b.conv.stride, b.conv.padding, b.pool.size, b.pool.stride) for b in arch.blocks],
                        arch.input.scale, w.dense_w, w.dense_b, trace.true_index)
    grads = learn(model, image, trace.true_label)
    exercise = draw(model, trace, seed)
    assert [t.kind for t in exercise.tasks] == list(KINDS)
    got = {t.kind: answer(t, trace) for t in exercise.tasks}
    conv, relu, pool, flat, logit, soft, _, grad = exercise.tasks
    assert got[Kind.CONV] == pytest.approx(ref["conv1"][conv.a - 1, conv.b - 1, conv.c - 1], abs=1e-12)
    assert got[Kind.RELU] == pytest.approx(max(0.0, ref["conv1"][relu.a - 1, relu.b - 1, relu.c - 1]), abs=1e-12)
    assert got[Kind.POOL] == pytest.approx(ref["pool1"][pool.a - 1, pool.b - 1, pool.c - 1], abs=1e-12)
    last = ref[f"pool{len(arch.blocks)}"]
    position = int(got[Kind.FLATTEN])
    assert ref["flatten"][position - 1] == last[flat.a - 1, flat.b - 1, flat.c - 1]
    assert np.count_nonzero(ref["flatten"] == ref["flatten"][position - 1]) == 1  # the value is unique
    assert got[Kind.LOGIT] == pytest.approx(ref["logits"][logit.a - 1], abs=1e-12)
    assert got[Kind.SOFTMAX] == pytest.approx(ref["probs"][soft.a - 1], abs=1e-12)
    assert got[Kind.LOSS] == pytest.approx(ref["loss"], abs=1e-12)
    assert got[Kind.GRADIENT] == pytest.approx(grads.grad_dense_w[grad.a - 1, grad.b - 1], abs=1e-15)
    assert ref["flatten"][grad.a - 1] != 0


def test_tolerances() -> None:
    task = draw(load_model("tiny"), forward(load_image(SAMPLES / "stripes.png", (6, 6)), load_model("tiny")), 1)
    conv = task.tasks[0]
    assert is_right(conv, 1.005, 1.0) and is_right(conv, 2.019, 2.0) and not is_right(conv, 1.02, 1.0)
    assert is_right(task.tasks[3], 7.0, 7.0) and not is_right(task.tasks[3], 8.0, 7.0)


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("ex") / "pupil.xlsx"
    result = build_workbook(CIRCLE, out, load_model("default"), exercise=11)
    assert result.key == key_path(out) == out.with_name("pupil-key.xlsx")
    return out, result.key


def test_the_key_holds_the_engine_s_answers_for_the_workbook_s_tasks(book: tuple[Path, Path], default: tuple) -> None:
    out, key = book
    model, trace, _ = default
    exercise = draw(model, trace, 11)
    student = openpyxl.load_workbook(out)
    (sheet, ref), = list(student.defined_names[TASKS].destinations)
    tasks = [[c.value for c in row] for row in student[sheet][ref.replace("$", "")]]
    assert tasks == [list(t.numbers) for t in exercise.tasks]
    teacher = openpyxl.load_workbook(key)
    (sheet, ref), = list(teacher.defined_names["exercise_key"].destinations)
    values = [row[0].value for row in teacher[sheet][ref.replace("$", "")]]
    assert values == pytest.approx([answer(t, trace) for t in exercise.tasks], abs=1e-12)
    (sheet, ref), = list(student.defined_names[CHECKS].destinations)
    checks = [row[0] for row in student[sheet][ref.replace("$", "")]]
    assert all(c.protection.hidden for c in checks)  # the formula does not show while the sheet is protected
    assert not any(str(round(v, 3)) in str(c.value) for c, v in zip(checks, values, strict=True) if v != 0)
    (sheet, ref), = list(student.defined_names[ANSWERS].destinations)
    assert all(row[0].protection.locked is False for row in student[sheet][ref.replace("$", "")])


def typed(book: Path, key: Path, out: Path, change: dict[int, object]) -> Path:
    """A copy of the student's workbook with the key's answers typed in, except ``change`` (row → value)."""
    answers = [row[0].value for row in openpyxl.load_workbook(key)["Answer key"]["D5:D12"]]
    wb = openpyxl.load_workbook(book)
    (sheet, ref), = list(wb.defined_names[ANSWERS].destinations)
    for i, row in enumerate(wb[sheet][ref.replace("$", "")]):
        row[0].value = change.get(i, answers[i])
    wb.save(out)
    return out


@pytest.mark.libreoffice
@pytest.mark.gnumeric
@pytest.mark.parametrize("engine_key", ["libreoffice", "gnumeric"])
def test_right_answers_check_and_wrong_ones_cross_after_recalculation(book: tuple[Path, Path], tmp_path: Path,
                                                                      engine_key: str) -> None:
    out, key = book
    answers = [row[0].value for row in openpyxl.load_workbook(key)["Answer key"]["D5:D12"]]
    right = typed(out, key, tmp_path / "right.xlsx", {0: round(answers[0], 3)})  # rounded by hand: still right
    wrong = typed(out, key, tmp_path / "wrong.xlsx",
                  {i: a + max(0.05, abs(a) * 0.05) for i, a in enumerate(answers)} | {6: "0,006", 7: None})
    folder = tmp_path / engine_key
    folder.mkdir()
    views = recalculated([right, wrong], folder, engine_key)
    checks = [[v["Exercises"].cell(9 + i, 8).value for i in range(len(KINDS))] for v in views]
    assert checks[0] == ["✓"] * 8
    assert checks[1][:7] == ["✗"] * 7  # six wrong numbers, and text where a number belongs
    assert checks[1][7] in (None, "")  # blank: no verdict
    shutil.rmtree(folder)


@pytest.mark.libreoffice
def test_verify_reads_the_answers_back(book: tuple[Path, Path], tmp_path: Path) -> None:
    out, key = book
    answered = typed(out, key, tmp_path / "answered.xlsx", {2: 123.0, 5: "no idea"})
    report = verify_workbook(answered, check_cache=False)
    assert report.formulas_ok, report.summary()


def test_each_picture_of_a_class_set_gets_its_own_cells(tmp_path: Path) -> None:
    for name in ("anna.png", "ben.png"):
        shutil.copy(CIRCLE, tmp_path / name)
    out = tmp_path / "set"
    result = CliRunner().invoke(cli, ["build", str(tmp_path / "anna.png"), str(tmp_path / "ben.png"), "-o", str(out),
                                      "--exercise", "--no-learn"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["anna-key.xlsx", "anna.xlsx", "ben-key.xlsx", "ben.xlsx",
                                                     "summary.csv", "summary.xlsx"]
    tasks = []
    for name in ("anna", "ben"):
        wb = openpyxl.load_workbook(out / f"{name}.xlsx")
        (sheet, ref), = list(wb.defined_names[TASKS].destinations)
        tasks.append([[c.value for c in row] for row in wb[sheet][ref.replace("$", "")]])
    assert tasks[0] != tasks[1]
