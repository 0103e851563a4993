"""Where a cell is: positions and references the checker reports, and the error for an unreadable part."""

from __future__ import annotations

from xlsxwriter.utility import quote_sheetname

from xlcnn.book.layout import col_name

Pos = tuple[int, int]  # (row, column), 1-based as in openpyxl and A1 references
Box = tuple[int, int, int, int]  # (top, left, bottom, right) of a block of cells, 1-based and inclusive


def cell_ref(sheet: str, row: int, col: int) -> str:
    """``'Conv 1'!B9``: a reference a user can paste into the Name Box (1-based row and column)."""
    return f"{quote_sheetname(sheet)}!{col_name(col - 1)}{row}"


class ContentError(ValueError):
    """A part of the workbook that cannot be read. The message says where (a cell, a sheet, a part) but not
    the file, which the caller names: the user's workbook, or the copy a spreadsheet engine wrote of it."""


