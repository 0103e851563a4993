"""The spreadsheet engines that recalculate a workbook for ``verify``: LibreOffice Calc and Gnumeric.

Two engines that no one here wrote, and that were written independently of each other: a workbook whose
every formula cell both compute as the NumPy engine does is right in more than one program's reading of
the formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from xlcnn.check import gnumeric, libreoffice
from xlcnn.errors import GnumericError, LibreOfficeError, SpreadsheetEngineError


@dataclass(frozen=True)
class Engine:
    """A spreadsheet engine: how to find it and how to recalculate workbooks into copies in a folder."""

    key: str  # what callers pass: "libreoffice", "gnumeric"
    title: str  # what people read: "LibreOffice", "Gnumeric"
    find: Callable[[], str]
    recalculate: Callable[[Sequence[Path], Path, float], list[Path]]
    error: type[SpreadsheetEngineError]


ENGINES = {
    "libreoffice": Engine("libreoffice", "LibreOffice", libreoffice.find_soffice, libreoffice.recalculate,
                          LibreOfficeError),
    "gnumeric": Engine("gnumeric", "Gnumeric", gnumeric.find_ssconvert, gnumeric.recalculate, GnumericError),
}
DEFAULT_ENGINE = "libreoffice"


def engine(key: str) -> Engine:
    """The engine called ``key`` (a ``ValueError`` naming the choices otherwise)."""
    if key not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {key!r}")
    return ENGINES[key]
