"""Handouts: a workbook printed to PDF by LibreOffice, after recalculation, every sheet as set up to print."""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import partial
from pathlib import Path

from xlcnn.check.fonts import check_fonts
from xlcnn.check.libreoffice import DEFAULT_TIMEOUT, to_pdf
from xlcnn.errors import LibreOfficeError, OutputError
from xlcnn.files import write_atomically

MIN_FREE_BYTES = 8 * 1024 * 1024  # a handout of the biggest workbook is a few megabytes


def write_handout(workbook: str | os.PathLike[str], pdf: str | os.PathLike[str] | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Print ``workbook`` to ``pdf`` (default: beside it, same name, .pdf); written whole or not at all."""
    book = Path(workbook)
    target = Path(pdf) if pdf is not None else book.with_suffix(".pdf")
    if not target.parent.is_dir():
        raise OutputError(f"{target}: the folder {target.parent} does not exist")
    if target.is_dir():
        raise OutputError(f"{target}: is a directory; give a file name ending in .pdf")
    check_fonts(book)  # before LibreOffice starts: boxes instead of characters are found only by reading the PDF

    def write(tmp: Path) -> None:
        # LibreOffice names its output after the workbook: it prints into a folder beside the target.
        with tempfile.TemporaryDirectory(prefix="xlcnn-pdf-", dir=target.parent) as folder:
            try:
                (made,) = to_pdf([book], Path(folder), timeout)
            except LibreOfficeError:
                # LibreOffice says only that it could not convert: a full disk is the likeliest reason.
                if shutil.disk_usage(target.parent).free < MIN_FREE_BYTES:
                    raise OutputError(f"{target}: cannot be written (no space left on the disk of "
                                      f"{target.parent})") from None
                raise
            os.replace(made, tmp)

    write_atomically(target, write)
    return target


def write_handouts(workbooks: list[Path], timeout: float = DEFAULT_TIMEOUT) -> list[Path]:
    """Print several workbooks, each to a PDF beside it, in one LibreOffice run (it starts once, not per
    workbook); each PDF appears whole or not at all. The workbooks' names must differ."""
    for book in workbooks:
        check_fonts(book)
    folders = {book.parent for book in workbooks}
    made: list[Path] = []
    for folder in sorted(folders):
        books = [b for b in workbooks if b.parent == folder]
        with tempfile.TemporaryDirectory(prefix="xlcnn-pdf-", dir=folder) as scratch:
            printed = to_pdf(books, Path(scratch), timeout)
            for book, pdf in zip(books, printed, strict=True):
                target = book.with_suffix(".pdf")
                write_atomically(target, partial(os.replace, pdf))  # os.replace(pdf, tmp)
                made.append(target)
    order = {book.with_suffix(".pdf"): i for i, book in enumerate(workbooks)}
    return sorted(made, key=order.__getitem__)
