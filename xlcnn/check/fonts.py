"""Fonts for handouts: LibreOffice prints a character only if an installed font has its glyph; otherwise the
PDF shows boxes and nobody is told. So before printing, the workbook's text is searched for Chinese, Japanese
and Korean, and fontconfig (which LibreOffice uses to find fonts on Linux and the BSDs) is asked for a font
that covers each language found. Where fontconfig is not installed (Windows, macOS), the system's own font
fallback has these glyphs, and nothing is checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from xlcnn.book.texts import load_texts
from xlcnn.errors import LibreOfficeError

SCAN_LIMIT = 64 * 1024 * 1024  # bytes of sheet XML searched at most: an xlcnn workbook's text is near the top
FC_TIMEOUT = 30.0  # seconds: fontconfig answers from its cache in milliseconds, a first run builds the cache


@dataclass(frozen=True)
class Script:
    """A writing system that needs a font of its own: how to find its characters, and how to get a font."""

    language: str  # the language as fontconfig knows it (``fc-list :lang=zh``)
    name: str  # for the error message
    characters: re.Pattern[str]


SCRIPTS = (
    Script("ko", "Korean", re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")),  # Hangul
    Script("ja", "Japanese", re.compile("[\u3040-\u30ff]")),  # hiragana and katakana
    Script("zh", "Chinese", re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")),  # Han (also in Japanese)
)
PACKAGE = "fonts-noto-cjk"  # Debian's and Ubuntu's package of Noto Sans CJK: Chinese, Japanese and Korean


def scripts_in(book: Path) -> list[Script]:
    """The scripts of ``SCRIPTS`` whose characters the workbook's sheets hold (its text is stored inline)."""
    found: list[Script] = []
    try:
        return _scan(book, found)
    except (OSError, zipfile.BadZipFile, EOFError):
        return found  # not a workbook that can be read: LibreOffice says so in its own words


def _scan(book: Path, found: list[Script]) -> list[Script]:
    with zipfile.ZipFile(book) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        sheets += [n for n in ("xl/sharedStrings.xml",) if n in z.namelist()]
        budget = SCAN_LIMIT
        for name in sheets:
            with z.open(name) as f:
                text = f.read(max(0, budget)).decode("utf-8", errors="ignore")
            budget -= len(text)
            found += [s for s in SCRIPTS if s not in found and s.characters.search(text)]
            if budget <= 0 or len(found) == len(SCRIPTS):
                break
    return found


def has_font_for(language: str) -> bool | None:
    """Whether fontconfig knows a font that covers ``language``; None when fontconfig is not there to ask."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        run = subprocess.run([fc_list, f":lang={language}", "family"], capture_output=True, text=True,
                             timeout=FC_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.returncode != 0 or bool(run.stdout.strip())  # a failing fc-list says nothing either way


def check_fonts(book: Path) -> None:
    """A one-line LibreOfficeError before printing when the workbook holds text no installed font can show."""
    _check(scripts_in(book), f"{book}: holds")


def check_language_fonts(code: str) -> None:
    """The same before building a workbook in language ``code`` that is to be printed: its texts' scripts."""
    texts = load_texts(code)
    sample = texts("guide.title") + texts("steps.intro")
    _check([s for s in SCRIPTS if s.characters.search(sample)], f"the language {code} ({texts('meta.language')}) has")


def _check(scripts: list[Script], holder: str) -> None:
    for script in scripts:
        if has_font_for(script.language) is False:
            raise LibreOfficeError(
                f"{holder} {script.name} text, but no installed font has {script.name} characters, so the PDF "
                f"would print them as boxes; install one (on Debian or Ubuntu: apt-get install {PACKAGE}) and "
                "run again")
