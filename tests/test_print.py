"""Printed pages (issue 15): page breaks keep each band of grids whole and fall only where a band would not fit,
so that a handout has as few pages as its bands allow; LibreOffice prints exactly the pages planned."""

from __future__ import annotations

import re
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from xlcnn import build_workbook, load_model, write_handout
from xlcnn.book.sheet import band_breaks

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


def planned_breaks(book: Path) -> dict[str, int]:
    """Sheet name → how many page breaks the workbook asks for."""
    with zipfile.ZipFile(book) as z:
        workbook = z.read("xl/workbook.xml").decode()
        names = re.findall(r'<sheet name="([^"]+)"', workbook)
        return {name.replace("&amp;", "&"): len(re.findall(r"<brk ", z.read(f"xl/worksheets/sheet{i}.xml").decode()))
                for i, name in enumerate(names, start=1)}


@pytest.mark.libreoffice
def test_the_default_handout_prints_the_planned_pages(tmp_path: Path) -> None:
    book = tmp_path / "default.xlsx"
    build_workbook(SAMPLES / "circle.png", book, load_model("default"))
    pdf = write_handout(book)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = Counter(page.strip().split("  ")[0] for page in text.split("\f") if page.strip())
    planned = planned_breaks(book)
    banded = {name: n for name, n in planned.items() if n}
    assert len(banded) >= 8  # Conv 1, ReLU 1, Filters 2, Back filters 2 …
    for name, breaks in banded.items():
        assert pages[name] == breaks + 1, (name, pages[name], breaks)  # no page LibreOffice added on its own
    assert sum(pages.values()) <= 70  # 118 with a break before every band
