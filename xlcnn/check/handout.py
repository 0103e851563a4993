"""Handouts: a workbook printed to PDF by LibreOffice, after recalculation, every sheet as set up to print."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from xlcnn.check.libreoffice import DEFAULT_TIMEOUT, to_pdf
from xlcnn.errors import OutputError
from xlcnn.files import write_atomically


def write_handout(workbook: str | os.PathLike[str], pdf: str | os.PathLike[str] | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Print ``workbook`` to ``pdf`` (default: beside it, same name, .pdf); written whole or not at all."""
    book = Path(workbook)
    target = Path(pdf) if pdf is not None else book.with_suffix(".pdf")
    if not target.parent.is_dir():
        raise OutputError(f"{target}: the folder {target.parent} does not exist")
    if target.is_dir():
        raise OutputError(f"{target}: is a directory; give a file name ending in .pdf")

    def write(tmp: Path) -> None:
        # LibreOffice names its output after the workbook: it prints into a folder beside the target.
        with tempfile.TemporaryDirectory(prefix="xlcnn-pdf-", dir=target.parent) as folder:
            (made,) = to_pdf([book], Path(folder), timeout)
            os.replace(made, tmp)

    write_atomically(target, write)
    return target
