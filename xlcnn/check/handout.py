"""Handouts: a workbook printed to PDF by LibreOffice, after recalculation, each sheet as set up to print —
every sheet, or all but those left out (the learning layer's, by default, in ``xlcnn build --pdf``)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Collection, Sequence
from functools import partial
from pathlib import Path
from xml.sax.saxutils import quoteattr, unescape

from xlcnn.check.fonts import check_fonts
from xlcnn.check.libreoffice import DEFAULT_TIMEOUT, to_pdf
from xlcnn.errors import LibreOfficeError, OutputError
from xlcnn.files import write_atomically

MIN_FREE_BYTES = 8 * 1024 * 1024  # a handout of the biggest workbook is a few megabytes


def write_handout(workbook: str | os.PathLike[str], pdf: str | os.PathLike[str] | None = None,
                  timeout: float = DEFAULT_TIMEOUT, leave_out: Collection[str] = ()) -> Path:
    """Print ``workbook`` to ``pdf`` (default: beside it, same name, .pdf), but for the sheets named in
    ``leave_out``; written whole or not at all."""
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
            printed = with_sheets_hidden(book, Path(folder), leave_out)
            try:
                (made,) = to_pdf([printed], Path(folder), timeout)
            except LibreOfficeError:
                # LibreOffice says only that it could not convert: a full disk is the likeliest reason.
                if shutil.disk_usage(target.parent).free < MIN_FREE_BYTES:
                    raise OutputError(f"{target}: cannot be written (no space left on the disk of "
                                      f"{target.parent})") from None
                raise
            os.replace(made, tmp)

    write_atomically(target, write)
    return target


def write_handouts(workbooks: list[Path], timeout: float = DEFAULT_TIMEOUT,
                   leave_out: Collection[str] = ()) -> list[Path]:
    """Print several workbooks, each to a PDF beside it, in one LibreOffice run (it starts once, not per
    workbook), but for the sheets named in ``leave_out``; each PDF appears whole or not at all. The workbooks'
    names must differ."""
    for book in workbooks:
        check_fonts(book)
    folders = {book.parent for book in workbooks}
    made: list[Path] = []
    for folder in sorted(folders):
        books = [b for b in workbooks if b.parent == folder]
        with tempfile.TemporaryDirectory(prefix="xlcnn-pdf-", dir=folder) as scratch:
            copies = [with_sheets_hidden(book, Path(scratch), leave_out) for book in books]
            printed = to_pdf(copies, Path(scratch), timeout)
            for book, pdf in zip(books, printed, strict=True):
                target = book.with_suffix(".pdf")
                write_atomically(target, partial(os.replace, pdf))  # os.replace(pdf, tmp)
                made.append(target)
    order = {book.with_suffix(".pdf"): i for i, book in enumerate(workbooks)}
    return sorted(made, key=order.__getitem__)


def combine_pdfs(pdfs: Sequence[Path], target: Path) -> Path:
    """``pdfs`` in order as one PDF (a class set's summary and handouts, printed at once); whole or not at all."""
    from pypdf import PdfWriter  # only a class set needs it

    def write(tmp: Path) -> None:
        writer = PdfWriter()
        for pdf in pdfs:
            writer.append(pdf)
        with tmp.open("wb") as out:
            writer.write(out)

    write_atomically(target, write)
    return target


def with_sheets_hidden(book: Path, folder: Path, names: Collection[str]) -> Path:
    """``book`` itself when ``names`` is empty; else a copy of it in ``folder`` (same file name, since
    LibreOffice names the PDF after it) whose sheets named in ``names`` are hidden, which LibreOffice does not
    print. Hiding, not deleting, keeps every formula that reads those sheets right."""
    if not names:
        return book
    copy = folder / "workbooks" / book.name
    copy.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(book) as source, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/workbook.xml":
                data = _hide(data.decode("utf-8"), names).encode("utf-8")
            target.writestr(item, data)
    return copy


def _hide(workbook_xml: str, names: Collection[str]) -> str:
    """workbook.xml with ``state="hidden"`` on the sheets named (XML-escaped as the file writes them), and
    without their print areas: LibreOffice prints a hidden sheet that has one."""
    sheets = [unescape(name) for name in re.findall(r'<sheet name="([^"]*)"', workbook_xml)]
    for index, name in enumerate(sheets):
        if name not in names:
            continue
        tag = f"<sheet name={quoteattr(name)}"
        workbook_xml = re.sub(re.escape(tag) + r'(?![^>]*state=)', f'{tag} state="hidden"', workbook_xml)
        workbook_xml = re.sub(rf'<definedName name="_xlnm.Print_Area" localSheetId="{index}">[^<]*</definedName>',
                              "", workbook_xml)
    return workbook_xml
