"""Printed pages (issue 15): a sheet prints whole on one page when it is readable so, else one readable page of it
(the grids that fit whole at 80 %), with a footer saying what the workbook holds beyond it; ``--pdf`` leaves the
learning layer out. A sheet of which no grid fits a page prints one page wide, page breaks keeping each band of
grids whole; LibreOffice prints exactly the pages planned."""

from __future__ import annotations

import re
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from xlcnn import build_workbook, load_model, write_handout
from xlcnn.book.build import learning_sheets
from xlcnn.book.layout import Grid, SheetKind, SheetPlan
from xlcnn.book.paper import READABLE_SCALE, readable_page, results_top
from xlcnn.book.sheet import band_breaks, display_width, header_line, numbers, wrap_lines
from xlcnn.book.styles import Styles
from xlcnn.check import printed

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.mark.parametrize(("starts", "end", "rows", "breaks"), [
    ([7, 37, 67], 100, 59, [37, 67]),  # two bands do not fit with the header: one per page
    ([7, 37, 67], 100, 70, [67]),  # the first two share a page
    ([7, 37, 67], 100, 100, []),  # all fit
    ([7, 17, 27, 37, 47], 57, 25, [17, 37]),  # greedy: as many as fit, then a new page
    ([7, 200], 400, 50, [200]),  # a band taller than a page: never a break before the first (the header's)
    ([], 40, 30, []),
])
def test_band_breaks(starts: list[int], end: int, rows: int, breaks: list[int]) -> None:
    assert band_breaks(starts, end, rows) == breaks


def test_a_note_wraps_at_spaces_or_between_chinese_characters_never_before_a_comma() -> None:
    assert wrap_lines("the row and column numbers", 12) == ["the row and", "column", "numbers"]
    assert wrap_lines("行号和列号，即每张", 10) == ["行号和列号，", "即每张"]  # five wide characters fill 10
    assert all(display_width(line) <= 30 for line in wrap_lines("word " * 40, 30))


def test_header_notes_are_plain_text_where_nothing_is_printed() -> None:
    """Verify's and the benchmark's recorders have no print area (the benchmark's answers any attribute)."""
    calls: list[tuple[str, tuple[object, ...]]] = []

    class Recorder:
        def __getattr__(self, name: str) -> object:
            return lambda *args: calls.append((name, args))

    header_line(Recorder(), 2, "a note", Styles(lambda props: props))  # type: ignore[arg-type]
    assert [name for name, _ in calls] == ["write_string"]


def test_numbers_shown_are_written_as_ranges() -> None:
    assert numbers([1]) == "1"
    assert numbers([1, 2, 3, 7, 8, 10]) == "1–3, 7–8, 10"


def planned_breaks(book: Path) -> dict[str, int]:
    """Sheet name → how many page breaks the workbook asks for."""
    with zipfile.ZipFile(book) as z:
        workbook = z.read("xl/workbook.xml").decode()
        names = re.findall(r'<sheet name="([^"]+)"', workbook)
        return {name.replace("&amp;", "&"): len(re.findall(r"<brk ", z.read(f"xl/worksheets/sheet{i}.xml").decode()))
                for i, name in enumerate(names, start=1)}


def sheet_pages(pdf: Path) -> Counter[str]:
    """Sheet name → how many pages of the PDF carry it in their header."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return Counter(page.strip().split("  ")[0] for page in text.split("\f") if page.strip())


def footers(book: Path) -> dict[str, str]:
    """Sheet name → the left part of its printed footer (what a page printed in part says)."""
    wb = openpyxl.load_workbook(book, read_only=False)
    return {ws.title: ws.oddFooter.left.text or "" for ws in wb.worksheets}


def plan_of(grids: list[Grid], break_above: int = 0) -> SheetPlan:
    return SheetPlan("Conv 1", SheetKind("conv"), grids=grids, break_above=break_above)


def test_a_page_holds_the_maps_that_fit_whole_at_a_readable_scale() -> None:
    # Six 26 × 26 maps in two bands of three, 30-px cells: one map fits a portrait page at 80 %, not two.
    maps = [Grid(f"conv1_out{i + 1}", "Conv 1", 8 + 28 * (i // 3), 1 + 27 * (i % 3), 26, 26) for i in range(6)]
    columns = [16] + [30] * 120
    page = readable_page(plan_of(maps), columns, 30)
    assert page is not None
    assert (page.scale, page.landscape, page.grids_shown, page.list_rows) == (READABLE_SCALE, False, 1, None)
    assert page.shows(maps[0]) and not page.shows(maps[1]) and not page.shows(maps[3])
    assert page.last_col < maps[1].outer_left and page.last_row < maps[3].title_row


def test_a_list_longer_than_a_page_is_cut_by_rows_and_small_grids_by_bands() -> None:
    flat = Grid("flatten", "Flatten", 8, 5, 432, 1)
    page = readable_page(plan_of([flat]), [16] + [64] * 10, 20)
    assert page is not None and page.list_rows is not None
    shown, total = page.list_rows
    assert total == 432 and 40 <= shown <= 60  # a portrait page at 80 % holds about 60 rows of 20 px
    # Twelve bands of 3 × 3 kernels, each under a heading one row above its grid titles: the page ends above the
    # heading of the first band that does not fit.
    kernels = [Grid(f"conv1_w{f + 1}_1", "Filters 1", 9 + 6 * f, 1, 3, 3) for f in range(12)]
    page = readable_page(plan_of(kernels, break_above=1), [16] + [30] * 30, 30)
    assert page is not None
    first_out = next(g for g in kernels if not page.shows(g))
    assert page.last_row == first_out.title_row - 2


def test_a_map_too_big_for_a_readable_page_prints_alone_as_large_as_it_fits() -> None:
    big = [Grid(f"conv1_out{i + 1}", "Conv 1", 10, 3 + 35 * i, 30, 30, pad=2) for i in range(2)]
    page = readable_page(plan_of(big), [16] + [30] * 80, 30)
    assert page is not None
    assert page.scale < READABLE_SCALE and page.grids_shown == 1
    huge = [Grid("conv1_out1", "Conv 1", 8, 1, 128, 128)]
    assert readable_page(plan_of(huge), [16] + [30] * 140, 30) is None  # printed one page wide instead


def test_a_page_leaves_out_helper_grids_above_the_results_its_title_promises() -> None:
    # Back pool 1: twelve bands of unnamed turned filters, then the six named gradient maps it computes.
    helpers = [Grid(f"flip_conv2_w1_{f + 1}", "Back pool 1", 9 + 4 * f, 1, 3, 3, named=False) for f in range(12)]
    results = [Grid(f"grad_pool1_out{i + 1}", "Back pool 1", 58, 1 + 14 * i, 13, 13) for i in range(6)]
    plan = plan_of(helpers + results)
    assert results_top(plan) == results[0].title_row
    page = readable_page(plan, [16] + [30] * 100, 30)
    assert page is not None and page.first_row == results[0].title_row
    assert not any(page.shows(g) for g in helpers) and page.shows(results[0])
    below = Grid("pool1_winner1", "Back ReLU 1", 80, 1, 13, 13, named=False)  # a helper under the results
    assert results_top(plan_of([*results, below])) == results_top(plan_of(results)) == 0


@pytest.mark.libreoffice
def test_the_default_handout_is_twenty_odd_readable_pages(tmp_path: Path) -> None:
    book = tmp_path / "default.xlsx"
    model = load_model("default")
    build_workbook(SAMPLES / "circle.png", book, model)
    left_out = learning_sheets(model)
    pdf = write_handout(book, leave_out=left_out)
    pages = sheet_pages(pdf)
    assert not set(left_out) & set(pages)  # the learning layer is not printed …
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "#REF" not in text and "Err:" not in text  # … yet the Overview's learning step, which reads it, is right
    assert {name for name, n in pages.items() if n > 1} == {"Guide"}  # every stage a page
    assert sum(pages.values()) <= 22
    notes = footers(book)
    assert notes["Conv 1"] == "On paper: map 1 of 6, at a readable size. Every map is in the workbook, and on the " \
                              "Overview."
    assert notes["ReLU 2"].startswith("On paper: maps 1–2, 7–8 of 12,")  # two bands of six, two maps of each
    assert notes["Filters 1"].startswith("On paper: filters 1–5 of 6,")
    assert notes["Flatten"].startswith("On paper: the first ") and "of the 432 rows" in notes["Flatten"]
    assert notes["Softmax"] == notes["Loss"] == ""  # printed whole
    factor = printed.calibration("Calibri", tmp_path)
    sizes = printed.smallest_sizes(pdf, factor)
    assert min(page["text"] for page in sizes) >= 8.0 and min(page["number"] for page in sizes) >= 6.0, sizes
    everything = sheet_pages(write_handout(book, tmp_path / "all.pdf"))
    assert set(left_out) <= set(everything)
    planned = planned_breaks(book)
    for name, n in everything.items():
        assert name == "Guide" or n == planned[name] + 1, (name, n)  # no page LibreOffice added on its own
