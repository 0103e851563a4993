"""LibreOffice Calc, headless: the real spreadsheet engine that recalculates workbooks and prints them.

Every call starts ``soffice`` with a throwaway user profile whose ``OOXMLRecalcMode`` is 0 ("always
recalculate"). Without it LibreOffice trusts the values cached in an .xlsx file and recalculates
nothing, and a check built on it would prove nothing. The profile also lets several runs (tests, a
user's open LibreOffice) coexist, since each profile has its own lock.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from xlcnn.check.programs import Running, started_program
from xlcnn.errors import LibreOfficeError

DEFAULT_TIMEOUT = 180.0  # seconds for one soffice run (first start of a new profile takes a few)
INSTALL_HINT = (
    "install it (Debian/Ubuntu: sudo apt-get install libreoffice-calc; macOS: brew install --cask libreoffice; "
    "Windows: libreoffice.org) or set XLCNN_SOFFICE to its soffice program"
)

_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop>
  <prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop>
 </item>
 <item oor:path="/org.openoffice.Office.Common/Misc">
  <prop oor:name="FirstRun" oor:op="fuse"><value>false</value></prop>
 </item>
</oor:items>
"""


def find_soffice() -> str:
    """The soffice program: $XLCNN_SOFFICE, or soffice/libreoffice on the PATH, or the usual places."""
    override = os.environ.get("XLCNN_SOFFICE")
    if override:
        if Path(override).is_file():
            return override
        raise LibreOfficeError(f"XLCNN_SOFFICE={override}: no such program; {INSTALL_HINT}")
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    for candidate in ("/Applications/LibreOffice.app/Contents/MacOS/soffice",
                      r"C:\Program Files\LibreOffice\program\soffice.exe"):
        if Path(candidate).is_file():
            return candidate
    raise LibreOfficeError(f"LibreOffice is not installed (no soffice program found); {INSTALL_HINT}")


def _make_profile(root: Path) -> str:
    user = root / "user"
    user.mkdir(parents=True)
    (user / "registrymodifications.xcu").write_text(_PROFILE, encoding="utf-8")
    return root.resolve().as_uri()


# Every sheet's values to a CSV file of its own (<stem>-<sheet>.csv): comma-separated, "-quoted, UTF-8, the values
# as stored rather than as shown (15 significant digits, well inside verify's 1e-12), no formulas, every sheet (-1).
# Writing these is a third quicker than saving an .xlsx, for verify reads only the values of the copy.
CSV_VALUES = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


@contextmanager
def _started(inputs: Sequence[Path], outdir: Path, target: str, timeout: float) -> Iterator[Running]:
    """One soffice run converting ``inputs`` (recalculating each) into ``outdir``, started; it is stopped on
    leaving the block unless it has ended."""
    soffice = find_soffice()
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xlcnn-lo-") as tmp:
        args = [soffice, f"-env:UserInstallation={_make_profile(Path(tmp) / 'profile')}", "--headless",
                "--invisible", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
                "--convert-to", target, "--outdir", str(outdir), *[str(Path(p).resolve()) for p in inputs]]
        with started_program(args, timeout, Path(tmp), "LibreOffice", LibreOfficeError) as running:
            yield running


def _run(inputs: Sequence[Path], outdir: Path, target: str, timeout: float) -> None:
    with _started(inputs, outdir, target, timeout) as running:
        running.finish()


@dataclass(frozen=True)
class Values:
    """A recalculation of ``workbook`` into CSV values (``values_started``), running."""

    workbook: Path
    outdir: Path
    running: Running

    def files(self, sheets: Sequence[str]) -> tuple[dict[str, Path], float]:
        """Wait for LibreOffice; → the CSV files of ``sheets`` it wrote, by sheet name (a sheet the workbook lacks
        has none), and the seconds it ran."""
        seconds = self.running.finish()
        files = {sheet: self.outdir / f"{self.workbook.stem}-{sheet}.csv" for sheet in sheets}
        written = {sheet: path for sheet, path in files.items() if path.is_file()}
        if not written:
            raise LibreOfficeError(f"{self.workbook}: LibreOffice could not convert it to csv")
        return written, seconds


@contextmanager
def values_started(workbook: Path, outdir: Path, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Values]:
    """Start recalculating ``workbook`` into a CSV file of values per sheet, and hand it over running (verify
    reads the workbook meanwhile); it is stopped on leaving the block unless it has ended."""
    with _started([workbook], outdir, CSV_VALUES, timeout) as running:
        yield Values(workbook, outdir, running)


def recalculated_values(workbook: Path, sheets: Sequence[str], outdir: Path,
                        timeout: float = DEFAULT_TIMEOUT) -> dict[str, Path]:
    """Recalculate ``workbook`` and write each sheet's values to a CSV file; → the files of ``sheets`` that
    LibreOffice wrote, by sheet name (a sheet the workbook lacks has none)."""
    with values_started(workbook, outdir, timeout) as values:
        return values.files(sheets)[0]


def convert(inputs: Sequence[Path], outdir: Path, target: str, timeout: float = DEFAULT_TIMEOUT) -> list[Path]:
    """Convert ``inputs`` in one soffice run, recalculating each; → the converted files, in order.

    ``target`` is a LibreOffice filter spec such as ``"xlsx"`` (recalculated workbook) or ``"pdf"``.
    Input names must differ, since outputs are named after them.
    """
    if not inputs:
        return []
    extension = target.split(":")[0]
    outputs = [outdir / (Path(p).stem + "." + extension) for p in inputs]
    _run(inputs, outdir, target, timeout)
    missing = [p for p in outputs if not p.is_file() or p.stat().st_size == 0]
    if missing:
        raise LibreOfficeError(f"{inputs[outputs.index(missing[0])]}: LibreOffice could not convert it to {extension}")
    return outputs


def recalculate(workbooks: Sequence[Path], outdir: Path, timeout: float = DEFAULT_TIMEOUT) -> list[Path]:
    """Recalculate workbooks in LibreOffice and save them as .xlsx in ``outdir`` (values cached anew)."""
    return convert(workbooks, outdir, "xlsx:Calc MS Excel 2007 XML", timeout)


def to_pdf(workbooks: Sequence[Path], outdir: Path, timeout: float = DEFAULT_TIMEOUT) -> list[Path]:
    """Print workbooks to PDF (after recalculation), one PDF per workbook in ``outdir``."""
    return convert(workbooks, outdir, "pdf:calc_pdf_Export", timeout)
