"""How readable are the printed handouts? Builds each template's first sample in English and Chinese, prints it
as ``--pdf`` does (the learning layer's sheets left out) and as ``--pdf-all`` does, and measures the PDFs
(issue 15):

    python bench/handouts.py                 # default, tiny, digits, faces × en, zh
    python bench/handouts.py tiny en         # one

For each handout: the pages, and per kind of word — text (words with a letter or a CJK character) and numbers —
the smallest printed size and the share of pages whose smallest such word is under the goal (text 8 pt,
numbers 6 pt), measured by ``xlcnn.check.printed``; fonts from ``pdffonts``: every font embedded, and
for Chinese a CJK font; and the sheets of the pages under a goal (a page's header names its sheet). Needs
LibreOffice and poppler-utils.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xlcnn import build_workbook, load_model, write_handout
from xlcnn.book.build import learning_sheets
from xlcnn.book.texts import Texts
from xlcnn.check.printed import GOALS, calibration, smallest_sizes, words

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = {"default": "circle", "tiny": "stripes", "digits": "digit-3", "faces": "face"}


@dataclass(frozen=True)
class Measured:
    pages: int
    smallest: dict[str, float]  # kind → smallest size, pt
    small_pages: dict[str, int]  # kind → pages whose smallest word of that kind is under the goal
    fonts_embedded: bool
    cjk_font: bool
    small_sheets: tuple[str, ...]  # the sheets of the pages under a goal


def measure(name: str, lang: str, folder: Path, everything: bool = False) -> Measured:
    book = folder / f"{name}-{lang}.xlsx"
    model = load_model(name)
    if not book.exists():
        build_workbook(ROOT / "samples" / f"{SAMPLE[name]}.png", book, model, lang=lang)
    pdf = write_handout(book, folder / f"{name}-{lang}-{'all' if everything else 'handout'}.pdf",
                        leave_out=() if everything else learning_sheets(model, lang))
    factor = calibration(Texts(lang)("style.font"), folder)
    smallest = {k: float("inf") for k in GOALS}
    small_pages = dict.fromkeys(GOALS, 0)
    small_sheets: list[str] = []
    sizes = smallest_sizes(pdf, factor)
    for least, page in zip(sizes, words(pdf), strict=True):
        for k in GOALS:
            smallest[k] = min(smallest[k], least[k])
            small_pages[k] += least[k] < GOALS[k]
        if any(least[k] < GOALS[k] for k in GOALS) and page and page[0][1] not in small_sheets:
            small_sheets.append(page[0][1])  # the header's first word: the sheet's name (its first word)
    pages = len(sizes)
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    return Measured(pages, smallest, small_pages, all(r[-5] == "yes" for r in rows),
                    any("CJK" in r[0] for r in rows), tuple(small_sheets))


def main(args: list[str]) -> None:
    names = [a for a in args if a in SAMPLE] or list(SAMPLE)
    langs = [a for a in args if a in ("en", "zh")] or ["en", "zh"]
    print("| handout | pages | smallest text | pages with text < 8 pt | smallest number | pages with numbers "
          "< 6 pt | fonts embedded | CJK font | pages under a goal (their sheets) |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for lang in langs:
                for everything in (False, True):
                    m = measure(name, lang, Path(tmp), everything)
                    label = f"{name} {lang}" + (" --pdf-all" if everything else "")
                    print(f"| {label} | {m.pages} | {m.smallest['text']:.1f} pt | {m.small_pages['text']} | "
                          f"{m.smallest['number']:.1f} pt | {m.small_pages['number']} | "
                          f"{'yes' if m.fonts_embedded else 'no'} | {'yes' if m.cjk_font else 'no'} | "
                          f"{', '.join(m.small_sheets) or '–'} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
