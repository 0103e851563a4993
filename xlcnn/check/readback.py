"""Reading an xlcnn workbook back: the file as a spreadsheet shows it, and the model, image and choices in it.

Everything is read through the workbook's defined names (docs/architecture.md), so a student's edits count. The
architecture is inferred from the names and their shapes, and every named grid must sit where xlcnn's
``Layout`` puts it; anything else is a one-line ``WorkbookError`` naming the cell or the name at fault.

The file may be hostile (a device, a zip bomb, hand-edited XML), so it is checked before it is parsed: it must be
a regular file, and its archive must stay within limits derived from the largest workbook ``xlcnn build``
writes. Worksheets are then streamed cell by cell, each cell's stored value checked as it is read, so that
memory holds the cells kept and never a whole sheet's XML.
"""

from __future__ import annotations

import colorsys
import math
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError, fromstring, iterparse

import numpy as np
import openpyxl
from openpyxl.cell.text import Text
from openpyxl.formula.tokenizer import TokenizerError
from openpyxl.formula.translate import Translator, TranslatorError
from openpyxl.styles.colors import COLOR_INDEX
from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.utils.cell import column_index_from_string, range_boundaries
from openpyxl.utils.exceptions import InvalidFileException
from xlsxwriter.utility import quote_sheetname

from xlcnn.book.layout import GUIDE, MAX_COLS, MAX_ROWS, TITLE, Layout, col_name
from xlcnn.book.limits import MAX_CELLS
from xlcnn.book.stages import plan_layout
from xlcnn.book.texts import DEFAULT_LANGUAGE, Texts, available_languages
from xlcnn.errors import ModelError, WorkbookError, one_line
from xlcnn.model import names
from xlcnn.model.spec import Architecture, ConvSpec, InputSpec, Model, PoolSpec, Provenance
from xlcnn.model.templates import check_label, check_labels, weights_from_arrays

Pos = tuple[int, int]  # (row, column), 1-based as in openpyxl and A1 references
Box = tuple[int, int, int, int]  # (top, left, bottom, right) of a block of cells, 1-based and inclusive


def cell_ref(sheet: str, row: int, col: int) -> str:
    """``'Conv 1'!B9``: a reference a user can paste into the Name Box (1-based row and column)."""
    return f"{quote_sheetname(sheet)}!{col_name(col - 1)}{row}"


class ContentError(ValueError):
    """A part of the workbook that cannot be read. The message says where (a cell, a sheet, a part) but not
    the file, which the caller names: the user's workbook, or the copy a spreadsheet engine wrote of it."""


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
        raise WorkbookError(f"{path}: not a valid .xlsx workbook ({_detail(exc)})") from None


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


# ------------------------------------------------------------------------------------- streaming XML

# XML elements held at once while a part streams: each element is dropped once read (a row holds one cell at a
# time), so only a hand-made file nests more than a few dozen.
MAX_HELD_ELEMENTS = 100_000


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xml_events(source: IO[bytes], where: str, keep_below: int, drop: str = "") -> Iterator[tuple[bool, Element, int]]:
    """(is it a start, element, depth) for the end of every element of an XML part, and the start of those at
    depth ``keep_below`` or less (the root is at depth 1).

    After its end is seen, an element at depth ``keep_below`` or less (or tagged ``drop``) is removed from its
    parent, and with it everything under it: deeper elements stay for their ancestor to read. At most
    ``MAX_HELD_ELEMENTS`` are held at once.
    """
    parents: list[Element] = []
    sizes: list[int] = []  # elements held under each open element, itself included
    held = 0
    for event, el in iterparse(source, events=("start", "end")):
        if event == "start":
            held += 1
            if held > MAX_HELD_ELEMENTS:
                raise ContentError(f"{where} nests more than {MAX_HELD_ELEMENTS:,} XML elements in one place")
            parents.append(el)
            sizes.append(1)
            if len(parents) <= keep_below:
                yield True, el, len(parents)
            continue
        depth = len(parents)
        yield False, el, depth
        parents.pop()
        size = sizes.pop()
        if parents and (depth <= keep_below or el.tag == drop):
            parents[-1].remove(el)  # its only child by now: every earlier one was removed the same way
            held -= size
        elif sizes:
            sizes[-1] += size


def _flag(value: str | None) -> bool:
    return value in ("1", "true")  # XlsxWriter writes 1, LibreOffice true


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _boxes(text: str, where: str) -> tuple[Box, ...]:
    """The blocks of a space-separated list of references (``A1:B2 D4``); whole rows and columns included."""
    boxes = []
    for ref in text.replace("$", "").split():
        try:
            left, top, right, bottom = range_boundaries(ref)
        except (ValueError, TypeError):
            raise ContentError(f"{where} refers to {ref[:40]!r}, which is not a block of cells") from None
        boxes.append((top or 1, left or 1, bottom or MAX_ROWS, right or MAX_COLS))
    return tuple(boxes)


# ------------------------------------------------------------------------------------- colours and styles

WHITE, BLACK = "FFFFFF", "000000"  # a sheet's background and its automatic text colour
# The Office theme's colours, for a workbook without a theme part, in the order a style's theme="n" counts
# them: light 1, dark 1, light 2, dark 2, accents 1–6, hyperlink, followed hyperlink.
_OFFICE_THEME = ("FFFFFF", "000000", "E7E6E6", "44546A", "4472C4", "ED7D31", "A5A5A5", "FFC000", "5B9BD5",
                 "70AD47", "0563C1", "954F72")
_HEX = re.compile(r"[0-9A-Fa-f]{6,8}")


@dataclass(frozen=True)
class Colour:
    """A colour as a style states it: an RGB value, or a theme or palette entry, lightened or darkened by tint."""

    rgb: str | None = None
    theme: int | None = None
    indexed: int | None = None
    tint: float = 0.0


def _colour(el: Element | None) -> Colour | None:
    """The colour an element (``<color>``, ``<fgColor>``, …) states; None when automatic or absent."""
    if el is None or _flag(el.get("auto")):
        return None
    rgb = el.get("rgb")
    return Colour(rgb if rgb and _HEX.fullmatch(rgb) else None, _int(el.get("theme")), _int(el.get("indexed")),
                  _float(el.get("tint")) or 0.0)


@dataclass(frozen=True)
class Palette:
    """Turns stated colours into RGB: the theme's colours and the indexed palette (the workbook's own, if any)."""

    theme: tuple[str, ...] = _OFFICE_THEME
    indexed: tuple[str, ...] = tuple(c[-6:] for c in COLOR_INDEX)

    def rgb(self, colour: Colour | None, default: str) -> str:
        """``RRGGBB``; ``default`` for an automatic colour or one that names no entry."""
        if colour is None:
            return default
        base = colour.rgb[-6:].upper() if colour.rgb else None
        if base is None and colour.theme is not None and 0 <= colour.theme < len(self.theme):
            base = self.theme[colour.theme]
        if base is None and colour.indexed is not None and 0 <= colour.indexed < len(self.indexed):
            base = self.indexed[colour.indexed]
        if base is None:
            return default
        return _tinted(base, colour.tint) if colour.tint else base


def _tinted(rgb: str, tint: float) -> str:
    """Excel's tint: the lightness moved towards black (tint < 0) or white (tint > 0)."""
    h, light, s = colorsys.rgb_to_hls(*(int(rgb[i:i + 2], 16) / 255 for i in (0, 2, 4)))
    light = light * (1 + tint) if tint < 0 else light * (1 - tint) + tint
    r, g, b = colorsys.hls_to_rgb(h, min(max(light, 0.0), 1.0), s)
    return "".join(f"{round(x * 255):02X}" for x in (r, g, b))


@dataclass(frozen=True)
class Look:
    """What a cell format shows: its number format (None when it names one the workbook does not define), the
    colour of its text and the colours of its fill (a pattern shows two; no fill shows the white sheet)."""

    num_format: str | None
    font: str
    fills: tuple[str, ...]


DEFAULT_LOOK = Look("General", BLACK, (WHITE,))  # a cell of a workbook without styles


@dataclass(frozen=True)
class Dxf:
    """The style a conditional format applies: each property None when it leaves the cell's own alone."""

    num_format: str | None
    font: str | None
    fill: str | None


@dataclass(frozen=True)
class _RawFill:
    pattern: str | None
    colours: tuple[Colour | None, ...]  # a pattern's foreground and background, or a gradient's stops


@dataclass
class _Styles:
    """styles.xml as read, before its colours are resolved (the palette comes last in the file)."""

    formats: dict[int, str] = field(default_factory=dict)
    fonts: list[Colour | None] = field(default_factory=list)
    fills: list[_RawFill] = field(default_factory=list)
    xfs: list[tuple[int, int, int]] = field(default_factory=list)  # (numFmtId, fontId, fillId)
    dxfs: list[tuple[str | None, Colour | None, Colour | None, bool]] = field(default_factory=list)
    palette: list[str] = field(default_factory=list)


def _read_styles(source: IO[bytes]) -> _Styles:
    styles, section = _Styles(), ""
    for start, el, depth in _xml_events(source, "styles.xml", 3):
        if start:
            section = _local(el.tag) if depth == 2 else section
            continue
        if depth != 3:
            continue
        kind = (section, _local(el.tag))
        if kind == ("numFmts", "numFmt"):
            styles.formats[_int(el.get("numFmtId")) or 0] = el.get("formatCode", "")
        elif kind == ("fonts", "font"):
            styles.fonts.append(_colour(_child(el, "color")))
        elif kind == ("fills", "fill"):
            styles.fills.append(_raw_fill(el))
        elif kind == ("cellXfs", "xf"):
            styles.xfs.append((_int(el.get("numFmtId")) or 0, _int(el.get("fontId")) or 0, _int(el.get("fillId")) or 0))
        elif kind == ("dxfs", "dxf"):
            styles.dxfs.append(_raw_dxf(el))
        elif kind == ("colors", "indexedColors"):
            styles.palette = [(c.get("rgb") or "")[-6:].upper() for c in el if _local(c.tag) == "rgbColor"]
    return styles


def _child(el: Element | None, name: str) -> Element | None:
    return None if el is None else next((c for c in el if _local(c.tag) == name), None)


def _raw_fill(el: Element) -> _RawFill:
    pattern = _child(el, "patternFill")
    if pattern is not None:
        kind = pattern.get("patternType")
        return _RawFill(kind, (_colour(_child(pattern, "fgColor")), _colour(_child(pattern, "bgColor"))))
    gradient = _child(el, "gradientFill")
    stops = [] if gradient is None else [_colour(_child(stop, "color")) for stop in gradient]
    return _RawFill("gradient" if stops else None, tuple(stops))


def _raw_dxf(el: Element) -> tuple[str | None, Colour | None, Colour | None, bool]:
    """(number format, font colour, fill colour, has a fill) of a ``<dxf>``: a dxf's solid fill is its bgColor."""
    num_format = _child(el, "numFmt")
    pattern = _child(_child(el, "fill"), "patternFill")
    fill = None if pattern is None else _colour(_child(pattern, "bgColor")) or _colour(_child(pattern, "fgColor"))
    code = None if num_format is None else num_format.get("formatCode", "")
    return code, _colour(_child(_child(el, "font"), "color")), fill, pattern is not None


def _read_theme(source: IO[bytes]) -> tuple[str, ...]:
    """The theme's twelve colours, in the order ``theme="n"`` counts them (light 1 first, then dark 1, …)."""
    for start, el, _ in _xml_events(source, "the theme", 3):
        if not start and _local(el.tag) == "clrScheme":
            scheme = []
            for entry in el:
                value = next((c.get("val") if _local(c.tag) == "srgbClr" else c.get("lastClr")
                              for c in entry if _local(c.tag) in ("srgbClr", "sysClr")), None)
                scheme.append(value.upper() if value and _HEX.fullmatch(value) else "")
            if len(scheme) >= len(_OFFICE_THEME) and all(scheme):
                return (scheme[1], scheme[0], scheme[3], scheme[2], *scheme[4:len(_OFFICE_THEME)])
    return _OFFICE_THEME


@dataclass(frozen=True, eq=False)
class Looks:
    """Every cell format and conditional-format style of a workbook, as a reader sees them."""

    cells: tuple[Look, ...] = ()
    dxfs: tuple[Dxf, ...] = ()
    palette: Palette = Palette()


def _looks(styles: _Styles, theme: tuple[str, ...]) -> Looks:
    palette = Palette(theme, tuple(styles.palette)) if styles.palette else Palette(theme)
    fills = tuple(_fill_colours(fill, palette) for fill in styles.fills)
    fonts = tuple(palette.rgb(colour, BLACK) for colour in styles.fonts)
    cells = []
    for i, (num_format, font, fill) in enumerate(styles.xfs):
        if not (0 <= font < len(fonts) and 0 <= fill < len(fills)):
            raise ContentError(f"not a valid .xlsx workbook (cell format {i} uses a font or fill that styles.xml "
                               "does not define)")
        cells.append(Look(styles.formats.get(num_format, BUILTIN_FORMATS.get(num_format)), fonts[font], fills[fill]))
    dxfs = tuple(Dxf(num_format, None if font is None else palette.rgb(font, BLACK),
                     None if not has_fill else palette.rgb(fill, WHITE))
                 for num_format, font, fill, has_fill in styles.dxfs)
    return Looks(tuple(cells) or (DEFAULT_LOOK,), dxfs, palette)


def _fill_colours(fill: _RawFill, palette: Palette) -> tuple[str, ...]:
    if fill.pattern in (None, "none"):
        return (WHITE,)
    if fill.pattern == "gradient":
        return tuple(palette.rgb(colour, WHITE) for colour in fill.colours)
    fg = palette.rgb(fill.colours[0], BLACK)
    return (fg,) if fill.pattern == "solid" else (fg, palette.rgb(fill.colours[1], WHITE))


# ------------------------------------------------------------------------------------- reading the sheets


@dataclass(frozen=True)
class Rule:
    """A conditional format, as far as it changes what its cells show."""

    boxes: tuple[Box, ...]
    kind: str  # the rule's type: colorScale, cellIs, expression, dataBar, …
    dxf: Dxf | None  # the style it applies, if any
    colours: tuple[str, ...]  # a colour scale's colours (RRGGBB)
    hides_values: bool  # a data bar or an icon set shown without its value


@dataclass(frozen=True, eq=False)
class SheetDisplay:
    """What hides or restyles a sheet's cells beyond their own formats."""

    hidden_rows: frozenset[int] = frozenset()
    hidden_cols: frozenset[int] = frozenset()
    merges: tuple[Box, ...] = ()
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, eq=False)
class SheetCells:
    """One sheet's non-empty cells by (row, col), which of them hold formulas, the cell format (an index into
    ``View.looks``) of each formula, and what else changes what the sheet shows."""

    cells: dict[Pos, Any]
    formulas: frozenset[Pos]
    styles: dict[Pos, int] = field(default_factory=dict)
    display: SheetDisplay = SheetDisplay()


@dataclass(frozen=True, eq=False)
class View:
    """A workbook as read: formulas (``data_only=False``, with how each formula cell looks) or stored values."""

    sheets: dict[str, SheetCells]
    names: dict[str, Any]  # workbook-level defined names → openpyxl DefinedName
    looks: Looks = Looks()


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _CELL, _VALUE, _FORMULA, _INLINE = (_MAIN + tag for tag in ("row", "c", "v", "f", "is"))
_X14 = "{http://schemas.microsoft.com/office/spreadsheetml/2009/9/main}"
_SQREF = "{http://schemas.microsoft.com/office/excel/2006/main}sqref"
_CELL_NAME = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")
_NUMERAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ARRAY, _DATA_TABLE = " (an array formula)", " (a data table)"


class _SheetReader:
    """One worksheet's XML, streamed: each cell is read, checked and dropped as it ends."""

    def __init__(self, name: str, strings: Sequence[str], data_only: bool, looks: Looks, budget: list[int]) -> None:
        self.name, self.strings, self.data_only, self.looks = name, strings, data_only, looks
        self.budget = budget  # cells still allowed in this view, shared by its sheets
        self.cells: dict[Pos, Any] = {}
        self.formulas: set[Pos] = set()
        self.styles: dict[Pos, int] = {}
        self.shared: dict[str, Translator] = {}
        self.row = self.col = 0
        self.default_height: float | None = None
        self.default_width: float | None = None
        self.hidden_rows: set[int] = set()
        self.col_widths = bytearray(MAX_COLS + 1)  # 0: the default width, 1: shown, 2: hidden
        self.merges: list[Box] = []
        self.rules: list[Rule] = []
        self.cf_boxes: tuple[Box, ...] = ()

    def read(self, source: IO[bytes]) -> SheetCells:
        where = f"the sheet {self.name!r}"
        try:
            for start, el, depth in _xml_events(source, where, 3, drop=_CELL):
                if start:
                    self._start(el, depth)
                else:
                    self._end(el, depth)
        except ParseError as exc:
            raise ContentError(f"not a valid .xlsx workbook ({where} is not well-formed XML: {exc})") from None
        display = SheetDisplay() if self.data_only else self._display()
        return SheetCells(self.cells, frozenset(self.formulas), self.styles, display)

    def _display(self) -> SheetDisplay:
        hidden_by_default = self.default_width == 0
        hidden_cols = frozenset(c for c in range(1, MAX_COLS + 1)
                                if self.col_widths[c] == 2 or (hidden_by_default and self.col_widths[c] == 0))
        return SheetDisplay(frozenset(self.hidden_rows), hidden_cols, tuple(self.merges), tuple(self.rules))

    # How the sheet looks is read only with the formulas (``data_only=False``): the values' views need none.

    def _start(self, el: Element, depth: int) -> None:
        if depth == 3 and el.tag == _ROW:
            self._row(el)
        elif depth != 2 or self.data_only:
            return
        elif _local(el.tag) == "sheetFormatPr":
            self.default_height = _float(el.get("defaultRowHeight"))
            self.default_width = _float(el.get("defaultColWidth"))
        elif _local(el.tag) == "conditionalFormatting":
            self.cf_boxes = _boxes(el.get("sqref", ""), f"a conditional format on {self.name!r}")

    def _end(self, el: Element, depth: int) -> None:
        if el.tag == _CELL:
            self._cell(el)
            return
        if depth != 3 or self.data_only:
            return
        tag = _local(el.tag)
        if tag == "col":
            self._col(el)
        elif tag == "mergeCell":
            self.merges += _boxes(el.get("ref", ""), f"a merged range on {self.name!r}")
        elif tag == "cfRule":
            self.rules.append(self._rule(el, self.cf_boxes))
        elif tag == "ext":
            for cf in el.iter(_X14 + "conditionalFormatting"):
                boxes = _boxes(cf.findtext(_SQREF) or "", f"a conditional format on {self.name!r}")
                self.rules += [self._rule(rule, boxes) for rule in cf.iter(_X14 + "cfRule")]

    # Rows, columns and conditional formats ----------------------------------------------------

    def _row(self, el: Element) -> None:
        number = el.get("r")
        self.row = self._row_number(number) if number is not None else self.row + 1
        self.col = 0
        height = _float(el.get("ht"))
        if _flag(el.get("hidden")) or (height if height is not None else self.default_height) == 0:
            self.hidden_rows.add(self.row)

    def _col(self, el: Element) -> None:
        first = min(max(_int(el.get("min")) or 1, 1), MAX_COLS)
        last = min(max(_int(el.get("max")) or first, first), MAX_COLS)
        hidden = _flag(el.get("hidden")) or _float(el.get("width")) == 0
        self.col_widths[first:last + 1] = (b"\x02" if hidden else b"\x01") * (last - first + 1)

    def _rule(self, el: Element, boxes: tuple[Box, ...]) -> Rule:
        kind = el.get("type", "")
        dxf = None
        if el.get("dxfId") is not None:
            index = _int(el.get("dxfId"))
            if index is None or not 0 <= index < len(self.looks.dxfs):
                raise ContentError(f"not a valid .xlsx workbook (a conditional format on {self.name!r} uses the "
                                   f"style dxfId={el.get('dxfId')!r}, which styles.xml does not define)")
            dxf = self.looks.dxfs[index]
        inline = _child(el, "dxf")  # an Excel 2010 rule carries its own
        if inline is not None:
            num_format, font, fill, has_fill = _raw_dxf(inline)
            palette = self.looks.palette
            dxf = Dxf(num_format, None if font is None else palette.rgb(font, BLACK),
                      palette.rgb(fill, WHITE) if has_fill else None)
        colours = tuple(self.looks.palette.rgb(_colour(c), WHITE) for scale in el if _local(scale.tag) == "colorScale"
                        for c in scale if _local(c.tag) == "color")
        hides = any(_local(c.tag) in ("dataBar", "iconSet") and c.get("showValue") in ("0", "false") for c in el)
        return Rule(boxes, kind, dxf, colours, hides)

    # Cells ------------------------------------------------------------------------------------

    def _row_number(self, text: str) -> int:
        number = _int(text)
        if number is None or not 1 <= number <= MAX_ROWS:
            raise ContentError(f"not a valid .xlsx workbook (the sheet {self.name!r} has a row numbered "
                               f"{text[:20]!r}; a sheet's are 1–{MAX_ROWS:,})")
        return number

    def _position(self, ref: str | None) -> Pos:
        if ref is None:  # a cell may leave out its reference: it follows the one before
            return self.row, self.col + 1
        match = _CELL_NAME.fullmatch(ref)
        if match is None:
            raise ContentError(f"not a valid .xlsx workbook (the sheet {self.name!r} has a cell named "
                               f"{ref[:20]!r}, which is not a cell reference)")
        row, col = int(match.group(2)), column_index_from_string(match.group(1))
        if not (1 <= row <= MAX_ROWS and 1 <= col <= MAX_COLS):
            raise ContentError(f"not a valid .xlsx workbook (the sheet {self.name!r} has a cell {ref!r} outside "
                               f"the {MAX_ROWS:,} rows and {MAX_COLS:,} columns a sheet has)")
        return row, col

    def _cell(self, el: Element) -> None:
        pos = self._position(el.get("r"))
        self.col = pos[1]
        formula = el.find(_FORMULA)
        value = self._value(el, pos, formula is not None)  # a formula's cached value is checked all the same
        if formula is not None and not self.data_only:
            value = self._formula(formula, pos)
            self.formulas.add(pos)
            self.styles[pos] = self._style(el.get("s"), pos)
        if value is None:
            return
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise ContentError(f"refused: it holds more than {MAX_READ_CELLS:,} cells, and xlcnn writes at most "
                               f"{MAX_CELLS:,}")
        self.cells[pos] = value

    def _style(self, text: str | None, pos: Pos) -> int:
        index = _int(text) if text is not None else 0
        if index is None or not 0 <= index < len(self.looks.cells):
            raise ContentError(f"{cell_ref(self.name, *pos)} uses the cell format s={text!r}, which the workbook's "
                               "styles do not define")
        return index

    def _value(self, el: Element, pos: Pos, cached: bool) -> Any:
        kind = el.get("t", "n")
        if kind == "inlineStr":
            inline = el.find(_INLINE)
            return None if inline is None else Text.from_tree(inline).content
        text = el.findtext(_VALUE) or None
        if text is None:
            return None
        if kind == "n":
            return self._number(text.strip(), pos, cached)
        if kind == "s":
            index = _int(text)
            if index is None or not 0 <= index < len(self.strings):
                raise ContentError(f"{self._where(pos, cached)} refers to the shared string {text[:20]!r}, which "
                                   "the workbook does not have")
            return self.strings[index]
        if kind == "b":
            if text not in ("0", "1", "true", "false"):
                raise ContentError(f"{self._where(pos, cached)} holds {_shown(text)} where TRUE or FALSE belongs")
            return text in ("1", "true")
        if kind in ("str", "e", "d"):  # text, an error value (#DIV/0!), a date written as text
            return text
        raise ContentError(f"{self._where(pos, cached)} holds {_shown(text)} as a value of type {kind[:20]!r}, "
                           "which .xlsx files do not have")

    def _where(self, pos: Pos, cached: bool) -> str:
        return f"the cached value of {cell_ref(self.name, *pos)}" if cached else cell_ref(self.name, *pos)

    def _number(self, text: str, pos: Pos, cached: bool) -> int | float:
        """The number a cell stores; a ``ContentError`` for anything a spreadsheet cannot hold (NaN, 12abc, a
        400-digit integer), instead of a value the engine would choke on."""
        if not _NUMERAL.fullmatch(text):
            where = self._where(pos, cached)
            raise ContentError(f"{where} is {_shown(text)}, which is not a number" if cached else
                               f"{where} holds {_shown(text)} where a number belongs")
        number = float(text)
        if not math.isfinite(number):
            digits = text.lstrip("+-")
            what = f"a {len(digits):,}-digit number" if digits.isdigit() else _shown(text)
            raise ContentError(f"{self._where(pos, cached)} {'is' if cached else 'holds'} {what}, beyond the "
                               "largest a spreadsheet can hold (about 1.8E+308)")
        if "." in text or "e" in text or "E" in text or len(text) > 18:
            return number
        return int(text)  # as openpyxl reads it

    def _formula(self, el: Element, pos: Pos) -> str:
        formula = "=" + (el.text or "")
        kind = el.get("t")
        if kind == "array":
            return formula + _ARRAY
        if kind == "dataTable":
            return formula + _DATA_TABLE
        if kind != "shared":
            return formula
        key = el.get("si", "")
        here = f"{col_name(pos[1] - 1)}{pos[0]}"
        if key not in self.shared:  # the first cell of a shared formula states it; the others refer to it
            if formula != "=":
                self.shared[key] = Translator(formula, here)
            return formula
        try:
            return str(self.shared[key].translate_formula(here))
        except (TranslatorError, TokenizerError, ValueError, IndexError) as exc:
            raise ContentError(f"{cell_ref(self.name, *pos)} holds a shared formula that cannot be read "
                               f"({one_line(str(exc))[:80]})") from None


def _shown(text: str) -> str:
    """A stored value in a message: quoted, and shortened when it is long."""
    return repr(text) if len(text) <= 24 else repr(text[:20] + "…") + f" ({len(text):,} characters)"


def load_view(path: Path, data_only: bool) -> View:
    """The workbook's sheets, names and (with formulas) styles; a ``ContentError`` when it cannot be read."""
    try:
        # A file object, so that openpyxl judges the content rather than the file name's extension.
        with path.open("rb") as fh:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=data_only)
            try:
                archive = wb._archive  # openpyxl's: the sheets are streamed from it by _SheetReader, not openpyxl
                looks = Looks() if data_only else _workbook_looks(archive)
                budget = [MAX_READ_CELLS]
                sheets: dict[str, SheetCells] = {}
                parts: dict[str, str] = {}  # part → the sheet read from it
                for ws in wb.worksheets:
                    if ws._worksheet_path in parts:  # or one part of a few megabytes could be read a million times
                        raise ContentError(f"not a valid .xlsx workbook (the sheets {parts[ws._worksheet_path]!r} "
                                           f"and {ws.title!r} are both {ws._worksheet_path})")
                    parts[ws._worksheet_path] = ws.title
                    reader = _SheetReader(ws.title, ws._shared_strings, data_only, looks, budget)
                    with archive.open(ws._worksheet_path) as source:
                        sheets[ws.title] = reader.read(source)
                defined = dict(wb.defined_names.items())
            finally:
                wb.close()
    except ContentError:
        raise
    except LOAD_ERRORS as exc:
        raise ContentError(f"not a valid .xlsx workbook ({_detail(exc)})") from None
    return View(sheets, defined, looks)


def _workbook_looks(archive: zipfile.ZipFile) -> Looks:
    """The cell formats, from the parts openpyxl reads them from (xl/styles.xml, xl/theme/theme1.xml)."""
    parts = set(archive.namelist())
    theme: tuple[str, ...] = _OFFICE_THEME
    if "xl/theme/theme1.xml" in parts:
        with archive.open("xl/theme/theme1.xml") as source:
            theme = _read_theme(source)
    if "xl/styles.xml" not in parts:
        return Looks((DEFAULT_LOOK,), palette=Palette(theme))
    with archive.open("xl/styles.xml") as source:
        return _looks(_read_styles(source), theme)


def _detail(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # KeyError's str() adds quotes
    return one_line(str(text)) or type(exc).__name__


_SIGNATURES = ((b"\x89PNG", "it is a PNG image"), (b"\xff\xd8\xff", "it is a JPEG image"),
               (b"GIF8", "it is a GIF image"), (b"%PDF", "it is a PDF"),
               (b"\xd0\xcf\x11\xe0", "it is an old .xls workbook; save it as .xlsx"))


def open_workbook(path: Path) -> View:
    """The workbook's formulas, names and looks, or a one-line ``WorkbookError`` saying what the file is instead."""
    check_regular_file(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise WorkbookError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not zipfile.is_zipfile(path):
        what = "the file is empty" if not head else next(
            (text for magic, text in _SIGNATURES if head.startswith(magic)), "not a zip archive")
        raise WorkbookError(f"{path}: not an .xlsx workbook ({what})")
    check_archive(path)
    return read_view(path, data_only=False)


def read_view(path: Path, data_only: bool) -> View:
    """``load_view`` of the user's workbook (already checked by ``open_workbook``), its errors naming it."""
    try:
        return load_view(path, data_only)
    except ContentError as exc:
        raise WorkbookError(f"{path}: {exc}") from None


# ------------------------------------------------------------------------------------- reading it back


@dataclass(frozen=True)
class Area:
    """The cells a defined name points at (1-based, inclusive)."""

    name: str
    sheet: str
    top: int
    left: int
    bottom: int
    right: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.bottom - self.top + 1, self.right - self.left + 1

    @property
    def ref(self) -> str:
        first = cell_ref(self.sheet, self.top, self.left)
        return first if self.shape == (1, 1) else f"{first}:{col_name(self.right - 1)}{self.bottom}"

    def at(self, r: int, c: int) -> str:
        """``'Sheet'!A1`` of cell (r, c), 0-based within the area."""
        return cell_ref(self.sheet, self.top + r, self.left + c)


def _shape_text(shape: tuple[int, int]) -> str:
    return f"{shape[0]}×{shape[1]}"


class Reader:
    """Reads grids through defined names, with errors that name the file, the cell and the name."""

    def __init__(self, path: Path, view: View) -> None:
        self.path, self.view = path, view

    def fail(self, problem: str) -> WorkbookError:
        return WorkbookError(f"{self.path}: {problem}")

    def has(self, name: str) -> bool:
        return name in self.view.names

    def area(self, name: str, shape: tuple[int, int] | None = None, why: str = "") -> Area:
        defn = self.view.names.get(name)
        if defn is None:
            raise self.fail(f"not an xlcnn workbook (missing the defined name {name})")
        try:
            destinations = list(defn.destinations)
        except (ValueError, TypeError, AttributeError, TokenizerError):
            destinations = []
        if len(destinations) != 1:
            raise self.fail(f"the defined name {name} does not point at one block of cells ({defn.attr_text})")
        sheet, ref = destinations[0]
        try:
            left, top, right, bottom = range_boundaries(ref.replace("$", ""))
        except (ValueError, TypeError):
            left = None
        if left is None or top is None or right is None or bottom is None:
            raise self.fail(f"the defined name {name} does not point at a block of cells ({defn.attr_text})")
        if sheet not in self.view.sheets:
            raise self.fail(f"the defined name {name} points at the sheet {sheet!r}, which the workbook does not have")
        area = Area(name, sheet, top, left, bottom, right)
        if shape is not None and area.shape != shape:
            raise self.fail(f"{name} is {area.ref} ({_shape_text(area.shape)}), but it must be "
                            f"{_shape_text(shape)}{f' ({why})' if why else ''}")
        return area

    def value(self, area: Area, r: int, c: int) -> Any:
        sheet = self.view.sheets[area.sheet]
        pos = (area.top + r, area.left + c)
        if pos in sheet.formulas:
            raise self.fail(f"{area.at(r, c)} ({area.name}) holds a formula; xlcnn reads pixels, weights, "
                            "labels and settings as plain values, so type the value itself")
        return sheet.cells.get(pos)

    def number(self, area: Area, r: int = 0, c: int = 0) -> float:
        value = self.value(area, r, c)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        where = f"{area.at(r, c)} ({area.name})"
        if value is None:
            raise self.fail(f"{where} is blank where a number belongs")
        if isinstance(value, bool):
            raise self.fail(f"{where} holds {str(value).upper()} where a number belongs")
        raise self.fail(f"{where} holds the text {value!r} where a number belongs")

    def grid(self, name: str, shape: tuple[int, int] | None = None, why: str = "") -> np.ndarray:
        area = self.area(name, shape, why)
        rows, cols = area.shape
        return np.array([[self.number(area, r, c) for c in range(cols)] for r in range(rows)])

    def integer(self, name: str, low: int) -> int:
        area = self.area(name, (1, 1), "one cell")
        value = self.number(area)
        if not value.is_integer() or value < low:
            raise self.fail(f"{area.at(0, 0)} ({name}) is {value:g}, but it must be a whole number ≥ {low}")
        return int(value)

    def text(self, area: Area, r: int = 0, c: int = 0) -> str:
        value = self.value(area, r, c)
        if isinstance(value, str):
            return value
        what = "blank" if value is None else f"the number {value!r}"
        raise self.fail(f"{area.at(r, c)} ({area.name}) is {what} where a class name belongs")


@dataclass(frozen=True, eq=False)
class ReadBack:
    """What the workbook says: a model, its input pixels, the true label and the settings of its sheets."""

    model: Model
    image: np.ndarray  # (H, W, 3) raw values
    true_label: str
    layout: Layout
    worked: tuple[int, int, int] | None  # the worked example's (map, row, column)
    language: str


def read_back(path: Path, view: View) -> ReadBack:
    """Read the model and its input through the defined names; check the grids sit where xlcnn puts them."""
    r = Reader(path, view)
    image = _read_input(r)
    classes = _read_classes(r)
    arch = Architecture(_input_spec(r, image), _read_convs(r, image.shape[0], image.shape[1]), classes)
    arrays = _read_weights(r, arch)
    try:
        weights = weights_from_arrays(arrays, arch, str(path))
    except ModelError as exc:  # shapes were checked above; this catches non-finite values
        raise WorkbookError(str(exc)) from None
    true_label = _read_true_label(r, classes)
    layout = plan_layout(arch, teaching=r.has("worked_map"))
    _check_layout(r, layout)
    model = Model("workbook", path.name, "", arch, weights, Provenance("unknown", f"read back from {path.name}"))
    worked = _read_worked(r, arch) if r.has("worked_map") else None
    return ReadBack(model, image, true_label, layout, worked, _language(view))


def _read_input(r: Reader) -> np.ndarray:
    red = r.area(names.INPUT[0])
    why = f"the same size as input_r, {red.ref}"
    channels = [r.grid(name, red.shape, why) for name in names.INPUT]
    return np.stack(channels, axis=-1)


def _input_spec(r: Reader, image: np.ndarray) -> InputSpec:
    h, w = image.shape[:2]
    if not r.has(names.INPUT_SCALE):
        return InputSpec(h, w)
    scale = r.number(r.area(names.INPUT_SCALE, (1, 1), "one cell"))
    return InputSpec(h, w, scale=scale, scale_text=f"{scale:g}")


def _read_classes(r: Reader) -> tuple[str, ...]:
    area = r.area(names.LABELS)
    rows, cols = area.shape
    if rows != 1 or cols < 2:
        raise r.fail(f"labels is {area.ref} ({_shape_text(area.shape)}), but it must be one row of 2 or more classes")
    labels = []
    for c in range(cols):
        try:
            labels.append(check_label(r.text(area, 0, c), f"{area.at(0, c)} (labels)"))
        except ValueError as exc:
            raise r.fail(str(exc)) from None
    try:
        return check_labels(labels, f"labels ({area.ref})")
    except ValueError as exc:
        raise r.fail(str(exc)) from None


def _read_true_label(r: Reader, classes: tuple[str, ...]) -> str:
    area = r.area(names.TRUE_LABEL, (1, 1), "one cell")
    label = r.text(area)
    if label not in classes:
        raise r.fail(f"{area.at(0, 0)} (true_label) is {label!r}, which is not exactly one of the classes "
                     f"({', '.join(classes)}); pick it from the cell's dropdown")
    return label


def _read_convs(r: Reader, height: int, width: int) -> tuple[tuple[ConvSpec, PoolSpec], ...]:
    """Each block's filters, kernel and settings, checked against the sizes of the maps in the workbook.

    Stride, padding and pool cells are read by the Shapes sheet, but the maps were laid out for the values
    they had at build time: an edit that changes a map's size cannot be verified, so it is named here.
    """
    convs: list[tuple[ConvSpec, PoolSpec]] = []
    size = (height, width)
    counts = _block_counts(r.view.names)
    for k in range(1, max(counts, default=1) + 1):
        filters = counts.get(k, 1)  # every filter's names are then required: a missing one is named
        kernel_area = r.area(names.conv_w(k, 1, 1))
        kernel = kernel_area.shape[0]
        if kernel_area.shape != (kernel, kernel):
            raise r.fail(f"conv{k}_w1_1 is {kernel_area.ref} ({_shape_text(kernel_area.shape)}), "
                         "but a kernel is square")
        conv = ConvSpec(filters, kernel, r.integer(names.conv_stride(k), 1), r.integer(names.conv_pad(k), 0))
        pool = PoolSpec(r.integer(names.pool_size(k), 1), r.integer(names.pool_stride(k), 1))
        conv_size = (conv.out_size(size[0]), conv.out_size(size[1]))
        _check_map_size(r, names.conv_out(k, 1), conv_size, names.conv_stride(k), names.conv_pad(k))
        size = (pool.out_size(conv_size[0]), pool.out_size(conv_size[1]))
        _check_map_size(r, names.pool_out(k, 1), size, names.pool_size(k), names.pool_stride(k))
        convs.append((conv, pool))
    return tuple(convs)


def _block_counts(defined: Mapping[str, object]) -> dict[int, int]:
    """Block k → its number of filters: the highest f of any conv{k}_w{f}_…, conv{k}_b{f} or …{k}_out{f}.

    Counting over all of a block's names, rather than one kind, means that a deleted or renamed name is
    reported as missing instead of silently shrinking the network.
    """
    counts: dict[int, int] = {}
    for name in defined:
        parsed = names.parse(name)
        if parsed is not None and parsed.filter is not None:
            counts[parsed.block] = max(counts.get(parsed.block, 0), parsed.filter)
    return counts


def _check_map_size(r: Reader, name: str, size: tuple[int, int], *settings: str) -> None:
    area = r.area(name)
    if area.shape != size:
        cells = " and ".join(f"{r.area(s).at(0, 0)} ({s}) = {r.integer(s, 0)}" for s in settings)
        raise r.fail(f"{cells} make {name} {_shape_text(size)}, but the workbook's {name} is "
                     f"{_shape_text(area.shape)}: a stride, padding or pool setting was edited, and the maps "
                     "cannot follow it; rebuild the workbook with xlcnn build to change it")


def _read_weights(r: Reader, arch: Architecture) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for block in arch.blocks:
        k, conv = block.index, block.conv
        square = (conv.kernel, conv.kernel)
        kernels = [[r.grid(names.conv_w(k, f, c), square, f"conv {k}'s kernel size, like conv{k}_w1_1")
                    for c in range(1, block.in_shape[0] + 1)] for f in range(1, conv.filters + 1)]
        arrays[f"conv{k}_w"] = np.array(kernels)
        arrays[f"conv{k}_b"] = np.array([r.grid(names.conv_b(k, f), (1, 1), "one cell")[0, 0]
                                         for f in range(1, conv.filters + 1)])
    classes = len(arch.classes)
    arrays["dense_w"] = r.grid(names.DENSE_W, (arch.flatten_size, classes),
                               f"{arch.flatten_size} flattened values × {classes} classes")
    arrays["dense_b"] = r.grid(names.DENSE_B, (1, classes), f"one row of {classes} classes")[0]
    return arrays


def _check_layout(r: Reader, layout: Layout) -> None:
    """Every named grid must be where the layout puts it, so that each expected cell is the right cell."""
    for grid in layout.grids.values():
        if not grid.named:
            continue
        area = r.area(grid.key)
        where = (grid.sheet, grid.top + 1, grid.left + 1, grid.top + grid.rows, grid.left + grid.cols)
        if (area.sheet, area.top, area.left, area.bottom, area.right) != where:
            expected = Area(grid.key, *where)
            raise r.fail(f"{grid.key} is {area.ref}, but xlcnn puts it at {expected.ref} for this network: rows, "
                         "columns or cells were moved, so verify cannot tell which cell is which")


def _read_worked(r: Reader, arch: Architecture) -> tuple[int, int, int]:
    """The worked example's chosen conv-1 cell, which the user may change within the maps' bounds."""
    filters, rows, cols = arch.blocks[0].conv_shape
    choice = []
    for name, top, what in (("worked_map", filters, "maps"), ("worked_row", rows, "rows"),
                            ("worked_col", cols, "columns")):
        value = r.integer(name, 1)
        if value > top:
            cell = r.area(name).at(0, 0)
            raise r.fail(f"{cell} ({name}) is {value}, but conv 1 has {what} 1–{top}")
        choice.append(value)
    return choice[0], choice[1], choice[2]


def _language(view: View) -> str:
    """The language the workbook was written in, recognised by the Guide's title (it shows in a few formulas)."""
    guide = view.sheets.get(GUIDE)
    title = guide.cells.get((TITLE[0] + 1, TITLE[1] + 1)) if guide else None  # 1-based, as openpyxl counts
    for code in available_languages():
        if Texts(code)("guide.title") == title:
            return code
    return DEFAULT_LANGUAGE
