"""Reading workbooks back for tests: formulas, cached values, recalculated values, defined names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
from openpyxl.utils.cell import range_boundaries

from xlcnn.libreoffice import recalculate


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


def recalculated(paths: list[Path], outdir: Path) -> list[Any]:
    """Recalculate every workbook in one LibreOffice run; → openpyxl value views of the results."""
    return [openpyxl.load_workbook(p, data_only=True) for p in recalculate(paths, outdir)]


def assert_recalculated_equals_cached(book: Book, recalc: Any, rtol: float = 1e-12, atol: float = 1e-12) -> int:
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
