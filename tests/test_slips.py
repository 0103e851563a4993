"""The slips a careful student noticed (issue 15), each read back from a built workbook, in both languages where
the text is the point. Fast: no LibreOffice (the ✗ turning red is a conditional format, read from the file)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from helpers import zh_sheet

from xlcnn import build_workbook, load_model
from xlcnn.cli import _loss

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("slips")
    out = {}
    for key, lang in (("en", "en"), ("zh", "zh")):
        path = folder / f"default-{key}.xlsx"
        build_workbook(SAMPLES / "circle.png", path, load_model("default"), lang=lang)
        out[key] = path
    return out


def texts(path: Path, sheet: str) -> list[str]:
    ws = openpyxl.load_workbook(path)[sheet]
    return [str(v) for row in ws.iter_rows(values_only=True) for v in row if isinstance(v, str)]


def test_cross_entropy_is_not_called_a_distance(books: dict[str, Any]) -> None:
    guide = " ".join(texts(books["en"], "Guide"))
    assert "as a distance" not in guide
    assert "not a distance: it is not symmetric" in guide
    assert "但不是距离" in " ".join(texts(books["zh"], zh_sheet("Guide")))


def test_the_worked_example_keys_both_scales_and_says_what_each_row_holds(books: dict[str, Any]) -> None:
    lines = texts(books["en"], "Worked example")
    legend = next(line for line in lines if line.startswith("Colour:"))
    products, weights = re.findall(r"±([\d.]+)", legend)
    assert float(products) > 10 * float(weights)  # two scales: products of 0–255 pixels, weights near 1
    assert "scaled sum = that × input scale (1/255)" in lines
    assert "bias of the filter" in lines and "output = scaled sum + bias" in lines
    assert "+ bias" not in lines and "× input scale (1/255)" not in lines
    assert [x for x in lines if x in ("map", "row", "column")][-3:] == ["map", "row", "column"]
    assert "(column 2 is column B)" in " ".join(lines)  # the origin table's note, wrapped to the table's width


def test_the_check_is_green_and_turns_red_when_it_reads_a_cross(books: dict[str, Any]) -> None:
    wb = openpyxl.load_workbook(books["en"])
    ws = wb["Worked example"]
    check = next(c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=IF("))
    assert check.font.color.rgb == "FF2E7D32"  # green
    with zipfile.ZipFile(books["en"]) as z:
        index = wb.sheetnames.index("Worked example") + 1
        xml = z.read(f"xl/worksheets/sheet{index}.xml").decode()
        styles = z.read("xl/styles.xml").decode()
    rule = re.search(rf'<conditionalFormatting sqref="{check.coordinate}"><cfRule type="beginsWith" dxfId="(\d+)"'
                     r'[^>]*text="✗"', xml)
    assert rule is not None
    dxfs = re.findall(r"<dxf>(.*?)</dxf>", styles)
    assert 'rgb="FFB2182B"' in dxfs[int(rule.group(1))]  # red


def test_dense_rows_name_the_pool_their_value_came_from(books: dict[str, Any]) -> None:
    rows = texts(books["en"], "Dense")
    assert "1  (pool 2 map 1, row 1, col 1)" in rows
    assert "432  (pool 2 map 12, row 6, col 6)" in rows
    assert not any(re.search(r"\(map \d+, \d+, \d+\)", row) for row in rows)
    assert "432  (池化 2 图 12，第 6 行，第 6 列)" in texts(books["zh"], zh_sheet("Dense"))


def test_kernels_are_counted_in_words(books: dict[str, Any]) -> None:
    assert any("Each filter is 3 kernels of 3×3" in line for line in texts(books["en"], "Filters 1"))
    assert any("Each filter is 6 kernels of 3×3" in line for line in texts(books["en"], "Filters 2"))
    assert not any("kernel(s)" in line for sheet in ("Filters 1", "Filters 2") for line in texts(books["en"], sheet))


def test_the_model_card_says_how_the_weights_were_made_once(books: dict[str, Any]) -> None:
    guide = texts(books["en"], "Guide")
    assert any(line.startswith("Trained by xlcnn with backpropagation") for line in guide)
    assert not any(line.startswith("trained:") for line in guide)


def test_pooling_says_which_rows_and_columns_it_leaves_out(books: dict[str, Any]) -> None:
    """Pool 2 reads 13×13 ReLU maps with 2×2 windows 2 apart: row and column 13 fit no window. Pool 1's 28×28
    maps lose nothing, and say nothing."""
    shape = ("Shape: 12×13×13 in → 12×6×6 out; each side is floor((n − size) / stride) + 1 = floor((13 − 2) / 2) + 1"
             " = 6.")
    assert shape + " Pooling leaves out row 13 and column 13 of the ReLU maps, which no whole window covers." in texts(
        books["en"], "Pool 2")
    assert not any("leaves out" in line for line in texts(books["en"], "Pool 1"))
    assert any(line.endswith("池化略去了 ReLU 特征图的第 13 行和第 13 列：那里放不下一个完整的窗口。")
               for line in texts(books["zh"], zh_sheet("Pool 2")))


def test_the_shapes_panel_shows_padding_that_changes_something(books: dict[str, Any]) -> None:
    """Conv 1 of the default has no padding, so the panel's padded row shows padding 1 (which keeps the 28×28
    size), not a second copy of the unpadded row."""
    ws = openpyxl.load_workbook(books["en"], data_only=True)["Shapes"]
    rows = {row[1]: row[7] for row in ws.iter_rows(values_only=True) if isinstance(row[1], str) and row[7]}
    assert [rows[label] for label in ("values in (height × width × channels)", "values out without padding",
                                      "values out with padding 1", "values out with twice the filters")] == [
        28 * 28 * 3, 6 * 26 * 26, 6 * 28 * 28, 2 * 6 * 26 * 26]


def test_the_shapes_sheet_keys_its_blue(books: dict[str, Any]) -> None:
    assert any(line.startswith("Blue cells are live formulas") for line in texts(books["en"], "Shapes"))
    assert any(line.startswith("蓝色单元格是实时公式") for line in texts(books["zh"], zh_sheet("Shapes")))


@pytest.mark.parametrize(("loss", "shown"), [(-0.0, "0.0000"), (-2e-16, "0.0000"), (0.00649, "0.0065"),
                                             (float("inf"), "inf")])
def test_a_loss_never_prints_as_minus_zero(loss: float, shown: str) -> None:
    assert _loss(loss) == shown
