"""Cells you cannot break: every sheet is protected without a password, and exactly the cells a student is
meant to edit (pixels, weights, biases, the true label, the learning rate, the choosers) are unlocked."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils.cell import range_boundaries
from PIL import Image

from tests.factories import make_model, random_image
from xlcnn import build_workbook, load_model

EDITABLE = re.compile(r"input_[rgb]|conv\d+_w\d+_\d+|conv\d+_b\d+|dense_[wb]|true_label|learning_rate|cam_class"
                      r"|worked_(map|row|col)|exercise_answers")


def cells_of(wb: openpyxl.Workbook, name: str) -> set[tuple[str, int, int]]:
    (sheet, ref), = list(wb.defined_names[name].destinations)
    c0, r0, c1, r1 = range_boundaries(ref.replace("$", ""))
    cells = {(sheet, r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
    for merged in wb[sheet].merged_cells.ranges:  # a merged chooser: all of its cells carry its format
        if (merged.min_row, merged.min_col) in {(r, c) for _, r, c in cells}:
            cells |= {(sheet, r, c) for r in range(merged.min_row, merged.max_row + 1)
                      for c in range(merged.min_col, merged.max_col + 1)}
    return cells


def unlocked(wb: openpyxl.Workbook) -> set[tuple[str, int, int]]:
    return {(ws.title, cell.row, cell.column) for ws in wb.worksheets for row in ws.iter_rows() for cell in row
            if cell.protection.locked is False}


def expected(wb: openpyxl.Workbook) -> set[tuple[str, int, int]]:
    return set().union(*(cells_of(wb, name) for name in wb.defined_names if EDITABLE.fullmatch(name)))


@pytest.mark.parametrize("learn", [True, False], ids=["learning", "forward"])
def test_every_sheet_protected_and_only_the_editable_cells_unlocked(tmp_path: Path, learn: bool) -> None:
    out = tmp_path / "book.xlsx"
    build_workbook(Path("samples/circle.png"), out, load_model("default"), learn=learn)
    wb = openpyxl.load_workbook(out)
    for ws in wb.worksheets:
        assert ws.protection.sheet, ws.title
        assert ws.protection.password is None, ws.title  # no password: a teacher unprotects from the menu
        assert not ws.protection.selectLockedCells and not ws.protection.selectUnlockedCells  # both selectable
    want = expected(wb)
    # 3·28·28 pixels, 6·3·9 + 6 and 12·6·9 + 12 conv weights and biases, 432·3 + 3 dense ones, the true label,
    # the three worked-example choosers, and with the learning layer the learning rate and cam_class (merged
    # over five cells).
    assert len(want) == 2352 + 168 + 660 + 1299 + 1 + 3 + (1 + 5 if learn else 0)
    assert unlocked(wb) == want
    assert ("Conv 1" in wb.sheetnames) and not any(s == "Conv 1" for s, _, _ in want)  # no formula is unlocked


def test_a_two_block_model_with_an_input_scale_unlocks_its_weights_only(tmp_path: Path) -> None:
    model = make_model(11, 9, [(3, 3, 1, 1, 2, 2), (2, 2, 2, 0, 1, 1)])
    out = tmp_path / "two.xlsx"
    picture = tmp_path / "p.png"
    Image.fromarray(random_image(model)).save(picture)
    build_workbook(picture, out, model)
    wb = openpyxl.load_workbook(out)
    assert unlocked(wb) == expected(wb)
    fixed = [name for name in wb.defined_names if re.fullmatch(r"conv\d+_(stride|pad)|pool\d+_(size|stride)"
                                                               r"|input_scale", name)]
    assert len(fixed) >= 8
    for name in fixed:  # the hyper-parameters shape the maps, so they are locked (a rebuild changes them)
        for sheet, r, c in cells_of(wb, name):
            assert wb[sheet].cell(r, c).protection.locked is not False, name


def test_an_exercise_workbook_unlocks_its_answer_cells_too(tmp_path: Path) -> None:
    out = tmp_path / "ex.xlsx"
    build_workbook(Path("samples/circle.png"), out, load_model("default"), learn=False, exercise=3)
    wb = openpyxl.load_workbook(out)
    assert all(ws.protection.sheet for ws in wb.worksheets)
    answers = cells_of(wb, "exercise_answers")
    assert len(answers) == 8 and answers <= unlocked(wb)
    assert unlocked(wb) == expected(wb)
