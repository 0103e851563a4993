"""The file before it is parsed: a regular file, and an archive within limits derived from the largest workbook
``xlcnn build`` writes (a device, a FIFO or a zip bomb is refused before it costs time or memory)."""

from __future__ import annotations

import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import ParseError, fromstring

from openpyxl.utils.exceptions import InvalidFileException

from xlcnn.book.limits import MAX_CELLS
from xlcnn.errors import WorkbookError, one_line

# ------------------------------------------------------------------------------------- the file itself


def check_regular_file(path: Path) -> None:
    """Refuse anything but a regular file before opening it: a device (/dev/zero) reads until memory runs
    out, and opening a named pipe blocks until someone writes to it."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise WorkbookError(f"{path}: no such file") from None
    except OSError as exc:  # a folder on the way that may not be searched, a name too long, …
        raise WorkbookError(f"{path}: cannot be read ({one_line(exc.strerror or str(exc))})") from None
    if stat.S_ISDIR(mode):
        raise WorkbookError(f"{path}: is a directory, not a workbook")
    if not stat.S_ISREG(mode):
        raise WorkbookError(f"{path}: not a regular file ({_file_kind(mode)})")


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))
    return next((text for test, text in kinds if test(mode)), "a special file")


# ------------------------------------------------------------------------------------- the archive

# Limits on the zip archive, checked before any part is parsed, so that a small file cannot unpack to
# gigabytes (a zip bomb) or hold millions of parts. Each comes from the largest workbook `xlcnn build` can
# write (xlcnn.book.limits: at most MAX_CELLS = 5 million cells; formulas of at most MAX_FILTERS = 64 terms)
# and from measured builds (the default model on samples/circle.png; `--size 128 --filters 16`; 4,096 colours;
# and each of them saved again by LibreOffice), with a wide margin:
#
# Parts: a build writes 25 to 29 for two conv blocks and about 45 for six (the most a template may have);
# LibreOffice and Excel add a few per sheet when they save.
MAX_PARTS = 1_000
# A worksheet's XML: builds measure 20 to 250 bytes a cell, except conv sheets, whose formulas grow with the
# filters before them (996 bytes a cell after 16, about 4,100 after 64). Over every architecture the size limits
# allow, the largest sheet is about 1.7 GB (a conv sheet of 64 filters over 64 channels).
MAX_SHEET_BYTES = 4_000_000_000
# Every other part (styles, shared strings, the workbook with its defined names) is held whole in memory by
# openpyxl, so it gets a far smaller limit: styles.xml is at most about 16 MB (some 250 bytes for each of the
# 64,000 cell formats spreadsheets allow), workbook.xml about 2 MB (the names of six blocks of 64 × 64 kernels).
MAX_PART_BYTES = 64_000_000
# All parts together: the largest workbook the size limits allow is about 6 GB (five blocks of 64 filters, 4.96
# million cells); the default model's is 2.2 MB, `--size 128 --filters 16` 169 MB.
MAX_UNPACKED_BYTES = 10_000_000_000
# Compression: xlcnn's sheets compress 3:1 to 11:1, styles.xml up to 38:1 (after a save by LibreOffice); a part
# padded with whitespace compresses 1,000:1. Parts below RATIO_FLOOR are too small to matter on their own (the
# whole archive's ratio still counts them).
MAX_RATIO = 100
RATIO_FLOOR = 1_000_000
# The archive's directory of parts: 46 bytes a part plus its name (xlcnn's are under 40 characters).
MAX_DIRECTORY_BYTES = MAX_PARTS * 1_000
# Cells kept while reading: xlcnn writes at most MAX_CELLS (blank styled cells, such as the Image sheet's, are
# not kept), and a student's notes add a few.
MAX_READ_CELLS = 2 * MAX_CELLS

# What openpyxl may raise on a zip that is not a well-formed workbook (found by feeding it .docx, .ods,
# truncated and hand-edited files).
LOAD_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError, TypeError, AttributeError,
                IndexError, ParseError, InvalidFileException, OSError)
_CHUNK = 1 << 20  # bytes unpacked at a time while counting
_WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_SHEET_PART = re.compile(r"xl/worksheets/[^/]+\.xml", re.IGNORECASE)  # where every spreadsheet writes its sheets
# A document type declaration, in each encoding an XML parser reads: .xlsx parts never have one, and its
# entities could expand a few bytes into gigabytes (the "billion laughs").
_DTD = tuple("<!DOCTYPE".encode(encoding) for encoding in ("utf-8", "utf-16-le", "utf-16-be"))
_END_RECORD = struct.Struct("<4s4H2LH")  # the zip's end of central directory record
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_LOCATOR_SIZE = 20


def _size(n: int) -> str:
    return f"{n / 1e9:.3g} GB" if n >= 1e9 else f"{n / 1e6:.3g} MB" if n >= 1e6 else f"{n:,} bytes"


def _bomb(path: Path, problem: str) -> WorkbookError:
    return WorkbookError(f"{path}: refused as a possible zip bomb ({problem})")


def check_archive(path: Path) -> None:
    """The archive's parts: how many, how large they say they are and how far they are compressed — then how
    large they really are, counted while each is unpacked and stopped at its limit."""
    with path.open("rb") as fh:
        _check_directory(path, fh)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_PARTS:
                raise _bomb(path, f"it holds {len(infos):,} parts; an xlcnn workbook has fewer than {MAX_PARTS:,}")
            sheets = _worksheet_parts(path, archive)
            for info in infos:
                _check_declared(path, info, sheets)
            _check_total(path, sum(i.file_size for i in infos), sum(i.compress_size for i in infos))
            unpacked = 0
            for info in infos:
                unpacked += sum(len(chunk) for chunk in _unpack(path, archive, info, _limit(info, sheets)))
                if unpacked > MAX_UNPACKED_BYTES:
                    raise _bomb(path, f"its parts unpack to more than {_size(MAX_UNPACKED_BYTES)}, the most an "
                                      "xlcnn workbook holds")
    except LOAD_ERRORS as exc:
        raise WorkbookError(f"{path}: not a valid .xlsx workbook ({error_detail(exc)})") from None


def _check_directory(path: Path, fh: IO[bytes]) -> None:
    """The number of parts and the size of their directory, as the end record states them, before zipfile
    reads the directory into memory (which it does whole)."""
    fh.seek(0, 2)
    end = fh.tell()
    start = max(0, end - _END_RECORD.size - 0xFFFF)  # the record, then a comment of up to 64 KiB
    fh.seek(start)
    tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END_RECORD.size:
        return  # not a zip: zipfile says so
    *_, parts, directory, _, _ = _END_RECORD.unpack_from(tail, at)
    zip64_at = start + at - _ZIP64_LOCATOR_SIZE - _ZIP64_END_RECORD.size
    if zip64_at >= 0:  # zipfile reads a ZIP64 end record just before the locator, when there is one
        fh.seek(zip64_at)
        record = fh.read(_ZIP64_END_RECORD.size + 4)
        if record[:4] == b"PK\x06\x06" and record[-4:] == b"PK\x06\x07":
            fields = _ZIP64_END_RECORD.unpack_from(record)
            parts, directory = fields[7], fields[8]
    if parts > MAX_PARTS:
        raise _bomb(path, f"it holds {parts:,} parts; an xlcnn workbook has fewer than {MAX_PARTS:,}")
    if directory > MAX_DIRECTORY_BYTES:
        raise _bomb(path, f"its directory of parts is {_size(directory)}; an xlcnn workbook's is under "
                          f"{_size(MAX_DIRECTORY_BYTES)}")


def _worksheet_parts(path: Path, archive: zipfile.ZipFile) -> frozenset[str]:
    """The parts that may be as large as a worksheet: those [Content_Types].xml declares worksheets, in the
    folder where spreadsheets write them. openpyxl streams worksheets but parses every other part whole."""
    try:
        info = archive.getinfo("[Content_Types].xml")
    except KeyError:
        return frozenset()  # openpyxl says what is missing
    _check_declared(path, info, frozenset())
    root = fromstring(b"".join(_unpack(path, archive, info, MAX_PART_BYTES)))
    defaults = {el.get("Extension", "").lower(): el.get("ContentType") for el in root if el.tag.endswith("Default")}
    overrides = {el.get("PartName", "").lstrip("/").lower(): el.get("ContentType")
                 for el in root if el.tag.endswith("Override")}

    def content_type(name: str) -> str | None:
        return overrides.get(name.lower(), defaults.get(name.rsplit(".", 1)[-1].lower()))

    return frozenset(i.filename for i in archive.infolist()
                     if _SHEET_PART.fullmatch(i.filename) and content_type(i.filename) == _WORKSHEET_TYPE)


def _limit(info: zipfile.ZipInfo, sheets: frozenset[str]) -> int:
    return MAX_SHEET_BYTES if info.filename in sheets else MAX_PART_BYTES


def _check_declared(path: Path, info: zipfile.ZipInfo, sheets: frozenset[str]) -> None:
    name = info.filename
    if info.flag_bits & 0x1:
        raise WorkbookError(f"{path}: not a valid .xlsx workbook ({name} is encrypted, which .xlsx parts never are)")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise WorkbookError(f"{path}: not a valid .xlsx workbook ({name} is compressed with method "
                            f"{info.compress_type}; .xlsx parts are stored or deflated)")
    limit = _limit(info, sheets)
    if info.file_size > limit:
        what = "a worksheet" if info.filename in sheets else "a part other than a worksheet"
        raise _bomb(path, f"{name} unpacks to {_size(info.file_size)}; {what} of an xlcnn workbook is at most "
                          f"{_size(limit)}")
    if info.file_size >= RATIO_FLOOR:
        _check_ratio(path, name, info.file_size, info.compress_size)


def _check_ratio(path: Path, name: str, unpacked: int, packed: int) -> None:
    ratio = unpacked / max(packed, 1)
    if ratio > MAX_RATIO:
        raise _bomb(path, f"{name} is compressed {ratio:,.0f}:1; xlcnn's workbooks compress at most {MAX_RATIO}:1")


def _check_total(path: Path, unpacked: int, packed: int) -> None:
    if unpacked > MAX_UNPACKED_BYTES:
        raise _bomb(path, f"its parts unpack to {_size(unpacked)}; an xlcnn workbook holds at most "
                          f"{_size(MAX_UNPACKED_BYTES)}")
    if unpacked >= RATIO_FLOOR:
        _check_ratio(path, "the archive", unpacked, packed)


def _unpack(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Iterator[bytes]:
    """A part's bytes, a chunk at a time, stopped as soon as there are more than ``limit`` (whatever its
    header says) or a document type declaration appears."""
    count, tail = 0, b""
    with archive.open(info) as part:
        while chunk := part.read(_CHUNK):
            count += len(chunk)
            if count > limit:  # zipfile stops at the size the header states, which was checked: a second guard
                raise _bomb(path, f"{info.filename} unpacks to more than {_size(limit)}")
            window = tail + chunk
            if any(dtd in window for dtd in _DTD):
                raise WorkbookError(f"{path}: not a valid .xlsx workbook ({info.filename} declares a document "
                                    "type, which .xlsx parts never do: its entities could expand without bound)")
            tail = window[-2 * len(_DTD[0]):]
            yield chunk


def error_detail(exc: BaseException) -> str:
    """What a library's exception says, on one line (a KeyError's str() adds quotes)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    return one_line(str(text)) or type(exc).__name__
