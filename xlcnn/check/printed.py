"""How large a printed handout's words are: ``pdftotext -bbox`` word heights, turned into font sizes by a
calibration page printed the same way (issue 15's goals: text 8 pt, numbers 6 pt). Needs LibreOffice and
poppler-utils; ``bench/handouts.py`` and the print tests use it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from xlsxwriter.workbook import Workbook

from xlcnn.check.handout import write_handout

GOALS = {"text": 8.0, "number": 6.0}  # the smallest readable sizes, pt
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
PAGE = re.compile(r"<page [^>]*>(.*?)</page>", re.S)
LETTER = re.compile(r"[A-Za-z\u3400-\u9fff]")
NUMBER = re.compile(r"^[−\-+]?[\d.,]+%?$")


def words(pdf: Path) -> Iterator[list[tuple[float, str]]]:
    """Per page: (height in PDF points, word) for every word."""
    xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for page in PAGE.findall(xml):
        yield [(float(y1) - float(y0), w) for _, y0, _, y1, w in WORD.findall(page)]


def kind(word: str) -> str | None:
    """"number" for a number, "text" for a word with a letter (Latin or CJK), None for anything else."""
    if NUMBER.match(word):
        return "number"
    return "text" if LETTER.search(word) else None


def calibration(font: str, folder: Path) -> float:
    """Points of font size per point of word height in ``font``: a 10-pt line printed at 100 %."""
    book = folder / "calibration.xlsx"
    wb = Workbook(str(book))
    ws = wb.add_worksheet()
    ws.write_string(0, 0, "Calibration 12345 样本", wb.add_format({"font_name": font, "font_size": 10}))
    ws.set_print_scale(100)
    wb.close()
    heights = [h for page in words(write_handout(book)) for h, w in page]
    return 10.0 / max(heights)


def smallest_sizes(pdf: Path, factor: float) -> list[dict[str, float]]:
    """Per page, the smallest printed size (pt) of each kind of word on it (inf where it has none)."""
    pages = []
    for page in words(pdf):
        least = dict.fromkeys(GOALS, float("inf"))
        for height, word in page:
            k = kind(word)
            if k is not None:
                least[k] = min(least[k], height * factor)
        pages.append(least)
    return pages
