"""Gnumeric, through its converter ``ssconvert``: a second spreadsheet engine, written by other people than
LibreOffice's, that recalculates workbooks. ``ssconvert --recalc`` recomputes every formula before it
writes the copy, whatever values the file had cached (a test poisons the cached values to prove it).

Gnumeric ignores conditional colour scales (it says so on stderr); they carry no values, so that is
harmless here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from xlcnn.check.programs import run_program
from xlcnn.errors import GnumericError

DEFAULT_TIMEOUT = 180.0  # seconds for one ssconvert run (the default workbook takes about one)
INSTALL_HINT = (
    "install Gnumeric (Debian/Ubuntu: sudo apt-get install gnumeric; macOS: brew install gnumeric) "
    "or set XLCNN_SSCONVERT to its ssconvert program"
)


def find_ssconvert() -> str:
    """The ssconvert program: $XLCNN_SSCONVERT, or ssconvert on the PATH."""
    override = os.environ.get("XLCNN_SSCONVERT")
    if override:
        if Path(override).is_file():
            return override
        raise GnumericError(f"XLCNN_SSCONVERT={override}: no such program; {INSTALL_HINT}")
    found = shutil.which("ssconvert")
    if found:
        return found
    raise GnumericError(f"Gnumeric is not installed (no ssconvert program found); {INSTALL_HINT}")


def recalculate(workbooks: Sequence[Path], outdir: Path, timeout: float = DEFAULT_TIMEOUT) -> list[Path]:
    """Recalculate workbooks in Gnumeric and save them as .xlsx in ``outdir``; → the copies, in order.

    One ssconvert run per workbook (each takes about a second); ``timeout`` applies to each run. Input
    names must differ, since the copies are named after them.
    """
    if not workbooks:
        return []
    ssconvert = find_ssconvert()
    outdir.mkdir(parents=True, exist_ok=True)
    outputs = [outdir / (Path(p).stem + ".xlsx") for p in workbooks]
    with tempfile.TemporaryDirectory(prefix="xlcnn-gnumeric-") as home:
        for source, target in zip(workbooks, outputs, strict=True):
            args = [ssconvert, "--recalc", "--export-type=Gnumeric_Excel:xlsx2",
                    str(Path(source).resolve()), str(target.resolve())]
            run_program(args, timeout, Path(home), "Gnumeric", GnumericError)
            if not target.is_file() or target.stat().st_size == 0:
                raise GnumericError(f"{source}: Gnumeric could not convert it to xlsx")
    return outputs
