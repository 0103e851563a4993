"""Reading workbooks back for tests: formulas, cached values, recalculated values, defined names."""

from __future__ import annotations

import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
from openpyxl.utils.cell import range_boundaries

from xlcnn.check.recalc import engine
from xlcnn.check.verify import ATOL, RTOL


@dataclass
class Book:
    """A workbook as three openpyxl views: formulas, cached values, and (optionally) recalculated values."""

    path: Path
    formulas: Any
    cached: Any
    names: dict[str, tuple[str, tuple[int, int, int, int]]]  # name → (sheet, (min_col, min_row, max_col, max_row))

    @classmethod
    def open(cls, path: Path) -> Book:
        formulas = openpyxl.load_workbook(path)
        cached = openpyxl.load_workbook(path, data_only=True)
        names = {}
        for name, defn in formulas.defined_names.items():
            (sheet, ref), = list(defn.destinations)
            names[name] = (sheet, range_boundaries(ref.replace("$", "")))
        return cls(path, formulas, cached, names)

    def values(self, name: str, view: Any = None) -> np.ndarray:
        """The cells of defined name ``name`` as a 2-D array (of objects: numbers or text)."""
        sheet, (c0, r0, c1, r1) = self.names[name]
        ws = (view or self.cached)[sheet]
        return np.array([[ws.cell(r, c).value for c in range(c0, c1 + 1)] for r in range(r0, r1 + 1)], dtype=object)

    def formula_cells(self) -> list[tuple[str, str]]:
        """(sheet, A1) of every formula cell."""
        out = []
        for ws in self.formulas.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        out.append((ws.title, cell.coordinate))
        return out


def recalculated(paths: list[Path], outdir: Path, engine_key: str = "libreoffice") -> list[Any]:
    """Recalculate every workbook (LibreOffice: in one run); → openpyxl value views of the results."""
    return [load_values(p) for p in engine(engine_key).recalculate(paths, outdir, 600.0)]


def load_values(path: Path) -> Any:
    """openpyxl's view of the values of a workbook (as recalculated by a spreadsheet engine)."""
    with warnings.catch_warnings():
        # Gnumeric's copies carry no default cell style, which openpyxl mentions; values are unaffected.
        warnings.filterwarnings("ignore", "Workbook contains no default style", UserWarning)
        return openpyxl.load_workbook(path, data_only=True)


ERROR_VALUES = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"})


def error_cells(values: Any) -> list[str]:
    """Every cell of an openpyxl value view that holds a spreadsheet error, as 'Sheet'!A1."""
    return [f"'{ws.title}'!{cell.coordinate}" for ws in values.worksheets for row in ws.iter_rows()
            for cell in row if isinstance(cell.value, str) and cell.value in ERROR_VALUES]


POISON = 7777777.25  # a value no cell of any xlcnn workbook computes
_FORMULA_CELL = re.compile(r'<c ([^>]*?)(?: t="[a-z]+")?><f>(.*?)</f><v>.*?</v></c>', re.S)


def poisoned(src: Path, dst: Path) -> int:
    """Copy ``src`` to ``dst`` with the cached value of every formula cell replaced by ``POISON``; → how many.

    An engine that trusted cached values instead of recalculating would hand the poison back."""
    count = 0

    def poison(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"<c {match.group(1)}><f>{match.group(2)}</f><v>{POISON!r}</v></c>"

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = _FORMULA_CELL.sub(poison, data.decode()).encode()
            zout.writestr(item, data)
    return count


def assert_recalculated_equals_cached(book: Book, recalc: Any, rtol: float = RTOL, atol: float = ATOL) -> int:
    """Every formula cell's recalculated value equals the value the builder cached; → cells checked."""
    cells = book.formula_cells()
    assert cells, f"{book.path}: no formula cells"
    bad = []
    for sheet, ref in cells:
        want, got = book.cached[sheet][ref].value, recalc[sheet][ref].value
        if isinstance(want, (int, float)) and not isinstance(want, bool):
            ok = isinstance(got, (int, float)) and abs(got - want) <= atol + rtol * abs(want)
        else:
            ok = got == want
        if not ok:
            bad.append(f"{sheet}!{ref}: cached {want!r}, recalculated {got!r}")
    assert not bad, f"{book.path.name}: {len(bad)} of {len(cells)} cells differ, first: {bad[:3]}"
    return len(cells)


def name_cell(path: Path, name: str, r: int = 0, c: int = 0) -> tuple[str, str]:
    """(sheet, A1) of cell (r, c) of defined name ``name``."""
    wb = openpyxl.load_workbook(path, read_only=True)
    ((sheet, ref),) = list(wb.defined_names[name].destinations)
    col, row, _, _ = range_boundaries(ref.replace("$", ""))
    wb.close()
    return sheet, f"{openpyxl.utils.get_column_letter(col + c)}{row + r}"


def qualified(sheet: str, ref: str) -> str:
    """``'Sheet'!A1`` as verify's messages write it."""
    return f"'{sheet}'!{ref}" if " " in sheet else f"{sheet}!{ref}"


def sheet_part(path: Path, sheet: str) -> str:
    """The zip member of ``sheet``: XlsxWriter numbers sheet parts in sheet order."""
    wb = openpyxl.load_workbook(path, read_only=True)
    index = wb.sheetnames.index(sheet) + 1
    wb.close()
    return f"xl/worksheets/sheet{index}.xml"
