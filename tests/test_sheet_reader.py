"""The sheet reader behind ``xlcnn verify`` (``xlcnn.check.sheets``) against an independent one: openpyxl's own.

verify streams each sheet's XML through the parser's callbacks rather than building an element for each of its
millions of cells; a part written by hand, with every shape of cell the format allows (inline and shared strings,
shared formulas, cells without references, text and elements where a spreadsheet writes none), must read as
openpyxl reads it, formulas and cached values alike.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from xlcnn.check.sheets import load_view

SHEET_DATA = """
<row r="1">
  <c r="A1" t="inlineStr"><is><r><t>in</t></r><r><t>line</t></r></is></c>
  <c r="B1" t="s"><v>0</v></c>
  <c r="C1"><v>42</v></c>
  <c r="D1"><v>-1.5E-3</v></c>
  <c r="E1" t="b"><v>1</v></c>
  <c><v>7</v></c>
  <c r="H1" t="str"><f>"a"&amp;"b"</f><v>ab</v></c>
</row>
<row r="2">
  <c r="A2"><f t="shared" ref="A2:C2" si="0">C1*2</f><v>84</v></c>
  <c r="B2"><f t="shared" si="0"/><v>0.5</v></c>
  <c r="C2"><f t="shared" si="0"/></c>
  <c r="D2"><x><v>99</v></x><v>3</v><v>4</v></c>tail text
  <c r="E2"><f>SUM(C1:D1)</f><v>41.9985</v></c>
  <c r="F2"><v></v></c>
  <c r="G2" t="e"><f>1/0</f><v>#DIV/0!</v></c>
</row>
"""


def _workbook(tmp_path: Path) -> Path:
    """A workbook written by XlsxWriter (one shared string, "shared"), then its sheet's cells replaced by hand."""
    made = tmp_path / "made.xlsx"
    with xlsxwriter.Workbook(made) as wb:
        wb.add_worksheet().write_string(0, 0, "shared")
    path = tmp_path / "hand.xlsx"
    with zipfile.ZipFile(made) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start, end = text.index("<sheetData>"), text.index("</sheetData>")
                data = (text[: start + len("<sheetData>")] + SHEET_DATA + text[end:]).encode()
            dst.writestr(item, data)
    return path


def _openpyxl_cells(path: Path, data_only: bool) -> dict[tuple[int, int], object]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    try:
        wb.active.reset_dimensions()  # the part's <dimension> still says A1:A1
        return {(cell.row, cell.column): cell.value for row in wb.active.iter_rows() for cell in row
                if getattr(cell, "value", None) is not None}
    finally:
        wb.close()


@pytest.mark.parametrize("data_only", [False, True], ids=["formulas", "cached values"])
def test_cells_read_as_openpyxl_reads_them(tmp_path: Path, data_only: bool) -> None:
    path = _workbook(tmp_path)
    ours = load_view(path, data_only=data_only).sheets["Sheet1"]
    theirs = _openpyxl_cells(path, data_only)
    assert ours.cells == theirs
    # What the part holds, spelled out, so that the two readers cannot agree on nothing.
    if data_only:
        assert ours.cells[(2, 1)] == 84 and ours.cells[(2, 7)] == "#DIV/0!" and (2, 3) not in ours.cells
    else:
        assert ours.cells[(2, 2)] == "=D1*2" and ours.cells[(2, 3)] == "=E1*2" and ours.cells[(1, 8)] == '="a"&"b"'
        assert ours.formulas == {(1, 8), (2, 1), (2, 2), (2, 3), (2, 5), (2, 7)}
        assert ours.cached == {(1, 8): "ab", (2, 1): 84, (2, 2): 0.5, (2, 5): 41.9985, (2, 7): "#DIV/0!"}
    assert ours.cells[(1, 1)] == "inline" and ours.cells[(1, 2)] == "shared" and ours.cells[(1, 6)] == 7
    assert ours.cells[(1, 5)] is True and ours.cells[(2, 4)] == 3 and (2, 6) not in ours.cells


def test_lazy_sheets_read_the_same(tmp_path: Path) -> None:
    path = _workbook(tmp_path)
    lazy = load_view(path, data_only=False, lazy=True).sheets["Sheet1"]
    eager = load_view(path, data_only=False).sheets["Sheet1"]
    assert (lazy.cells, lazy.formulas, lazy.cached, lazy.styles) == (eager.cells, eager.formulas, eager.cached,
                                                                      eager.styles)
