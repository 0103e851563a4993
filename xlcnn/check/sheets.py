"""A workbook as a spreadsheet shows it: every sheet streamed cell by cell (each stored value checked as it is
read), the defined names, and how each cell looks (its number format, colours, whether it is hidden)."""

from __future__ import annotations

import colorsys
import csv
import functools
import math
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder, XMLParser, iterparse

import openpyxl
from openpyxl.cell.text import Text
from openpyxl.formula.tokenizer import TokenizerError
from openpyxl.formula.translate import Translator, TranslatorError
from openpyxl.styles.colors import COLOR_INDEX
from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.utils.cell import column_index_from_string, range_boundaries

from xlcnn.book.layout import MAX_COLS, MAX_ROWS, col_name
from xlcnn.book.limits import MAX_CELLS
from xlcnn.check.archive import LOAD_ERRORS, MAX_READ_CELLS, check_archive, check_regular_file, error_detail
from xlcnn.check.cells import Box, ContentError, Pos, cell_ref
from xlcnn.errors import WorkbookError, one_line

# ------------------------------------------------------------------------------------- streaming XML

# XML elements held at once while a part streams: each element is dropped once read (a row holds one cell at a
# time), so only a hand-made file nests more than a few dozen.
MAX_HELD_ELEMENTS = 100_000


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xml_events(source: IO[bytes], where: str, keep_below: int) -> Iterator[tuple[bool, Element, int]]:
    """(is it a start, element, depth) for the start and the end of each element of an XML part (the styles, the
    theme) at depth ``keep_below`` or less (the root is at depth 1).

    After its end is seen, such an element is removed from its parent, and with it everything under it: deeper
    elements stay for their ancestor to read, and are not yielded. At most ``MAX_HELD_ELEMENTS`` are held at once.
    """
    parents: list[Element] = []
    sizes: list[int] = []  # elements held under each open element, itself included
    held = depth = 0
    for event, el in iterparse(source, events=("start", "end")):
        if event == "start":
            held += 1
            depth += 1
            parents.append(el)
            sizes.append(1)
            if held > MAX_HELD_ELEMENTS:
                raise ContentError(f"{where} nests more than {MAX_HELD_ELEMENTS:,} XML elements in one place")
            if depth <= keep_below:
                yield True, el, depth
            continue
        parents.pop()
        size = sizes.pop()
        if depth <= keep_below:
            yield False, el, depth
            if parents:
                parents[-1].remove(el)  # its only child by now: every earlier one was removed the same way
                held -= size
        elif sizes:
            sizes[-1] += size
        depth -= 1


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
    cached: dict[Pos, Any] = field(default_factory=dict)  # with the formulas: the value stored with each one


@dataclass(frozen=True, eq=False)
class View:
    """A workbook as read: formulas (``data_only=False``, with how each formula cell looks) or stored values."""

    sheets: Mapping[str, SheetCells]  # a dict, or ``LazySheets``
    names: dict[str, Any]  # workbook-level defined names → openpyxl DefinedName
    looks: Looks = Looks()


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _CELL, _VALUE, _FORMULA, _INLINE = (_MAIN + tag for tag in ("row", "c", "v", "f", "is"))
_X14 = "{http://schemas.microsoft.com/office/spreadsheetml/2009/9/main}"
_SQREF = "{http://schemas.microsoft.com/office/excel/2006/main}sqref"
_CELL_NAME = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")
_NUMERAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ARRAY, _DATA_TABLE = " (an array formula)", " (a data table)"
_CHUNK = 1 << 16  # bytes of a sheet's part fed to the parser at a time


class _SheetReader:
    """One worksheet's XML, streamed: each cell is read, checked and dropped as it ends."""

    def __init__(self, name: str, strings: Sequence[str], data_only: bool, looks: Looks, budget: list[int]) -> None:
        self.name, self.strings, self.data_only, self.looks = name, strings, data_only, looks
        self.budget = budget  # cells still allowed in this view, shared by its sheets
        self.cells: dict[Pos, Any] = {}
        self.formulas: set[Pos] = set()
        self.styles: dict[Pos, int] = {}
        self.cached: dict[Pos, Any] = {}
        self.shared: dict[str, Translator] = {}
        self.style_index: dict[str | None, int] = {}  # s="…" → a cell format already checked
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
        parser = XMLParser(target=_SheetStream(self, where))
        try:
            while chunk := source.read(_CHUNK):
                parser.feed(chunk)
            parser.close()
        except ParseError as exc:
            raise ContentError(f"not a valid .xlsx workbook ({where} is not well-formed XML: {exc})") from None
        display = SheetDisplay() if self.data_only else self._display()
        return SheetCells(self.cells, frozenset(self.formulas), self.styles, display, self.cached)

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
        row, col = int(match.group(2)), _column_index(match.group(1))
        if not (1 <= row <= MAX_ROWS and 1 <= col <= MAX_COLS):
            raise ContentError(f"not a valid .xlsx workbook (the sheet {self.name!r} has a cell {ref!r} outside "
                               f"the {MAX_ROWS:,} rows and {MAX_COLS:,} columns a sheet has)")
        return row, col

    def _cell(self, cell: _RawCell) -> None:
        pos = self._position(cell.attrs.get("r"))
        self.col = pos[1]
        formula = cell.formula
        value = self._value(cell, pos, formula is not None)  # a formula's cached value is checked all the same
        if formula is not None and not self.data_only:
            if value is not None:
                self.cached[pos] = value  # what previews show: compared without reading the file twice
            value = self._formula(formula, "".join(cell.formula_text), pos)
            self.formulas.add(pos)
            self.styles[pos] = self._style(cell.attrs.get("s"), pos)
        if value is None:
            return
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise ContentError(f"refused: it holds more than {MAX_READ_CELLS:,} cells, and xlcnn writes at most "
                               f"{MAX_CELLS:,}")
        self.cells[pos] = value

    def _style(self, text: str | None, pos: Pos) -> int:
        index = self.style_index.get(text)  # a sheet's cells name a few dozen formats among them
        if index is not None:
            return index
        index = _int(text) if text is not None else 0
        if index is None or not 0 <= index < len(self.looks.cells):
            raise ContentError(f"{cell_ref(self.name, *pos)} uses the cell format s={text!r}, which the workbook's "
                               "styles do not define")
        self.style_index[text] = index
        return index

    def _value(self, cell: _RawCell, pos: Pos, cached: bool) -> Any:
        kind = cell.attrs.get("t", "n")
        if kind == "inlineStr":
            return None if cell.inline is None else Text.from_tree(cell.inline).content
        text = "".join(cell.value) if cell.value is not None else None
        if not text:
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

    def _formula(self, attrs: dict[str, str], text: str, pos: Pos) -> str:
        formula = "=" + text
        kind = attrs.get("t")
        if kind == "array":
            return formula + _ARRAY
        if kind == "dataTable":
            return formula + _DATA_TABLE
        if kind != "shared":
            return formula
        key = attrs.get("si", "")
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


# A sheet names the same few hundred columns a million times over.
_column_index = functools.lru_cache(maxsize=4096)(column_index_from_string)


@dataclass(eq=False)
class _RawCell:
    """A ``<c>`` as a sheet's XML states it: its attributes and those of its first ``<f>``, the text of that
    ``<f>`` and of its first ``<v>``, and its first ``<is>`` — each a direct child, as ``Element.find`` finds it."""

    attrs: dict[str, str]
    depth: int
    held_before: int  # the elements the sheet's reader held before this cell began
    formula: dict[str, str] | None = None
    formula_text: list[str] = field(default_factory=list)
    value: list[str] | None = None
    inline: Element | None = None
    inline_builder: TreeBuilder | None = None  # while its <is> is read
    inline_depth: int = 0

    @classmethod
    def of(cls, el: Element) -> _RawCell:
        """The same, of a cell read as an element (one at the top of a hand-made part)."""
        formula, value = el.find(_FORMULA), el.find(_VALUE)
        return cls(dict(el.attrib), 0, 0, None if formula is None else dict(formula.attrib),
                   [formula.text or ""] if formula is not None else [],
                   None if value is None else [value.text or ""], el.find(_INLINE))


class _SheetStream:
    """The XML parser's target for one sheet: the reader is shown each element at depth 3 or less, as
    ``_xml_events(source, where, 3)`` shows them, and each cell, without an element made of it.

    A sheet is millions of cells of three elements each (``<c><f/><v/></c>``), so a cell goes straight from the
    parser's callbacks into a ``_RawCell``; the few other elements at depth 3 or less (rows, columns, merges,
    conditional formats) are built as elements, handed to the reader, and removed once read. What is held in
    memory is counted as ``_xml_events`` counts it: at most ``MAX_HELD_ELEMENTS`` at once.
    """

    def __init__(self, reader: _SheetReader, where: str) -> None:
        self.reader, self.where = reader, where
        self.builder = TreeBuilder()  # the elements outside cells
        self.parents: list[Element] = []
        self.sizes: list[int] = []  # elements held under each open element outside cells, itself included
        self.held = self.depth = 0
        self.cells: list[_RawCell] = []  # the open cells, innermost last
        self.text: list[str] | None = None  # where the text of the <f> or <v> just opened goes
        self.after_cell = False  # the text after a cell is its tail, dropped with it

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.held += 1
        if self.held > MAX_HELD_ELEMENTS:
            raise ContentError(f"{self.where} nests more than {MAX_HELD_ELEMENTS:,} XML elements in one place")
        self.depth += 1
        self.text, self.after_cell = None, False
        if tag == _CELL and self.depth > 2:  # below depth 2 none of its elements is one the reader is shown
            self.cells.append(_RawCell(attrs, self.depth, self.held - 1))
        elif self.cells:  # most elements are a cell's <f> or <v>: they need no element and no size of their own
            self._cell_start(self.cells[-1], tag, attrs)
        else:
            self.sizes.append(1)
            el = self.builder.start(tag, attrs)
            self.parents.append(el)
            if self.depth <= 3:
                self.reader._start(el, self.depth)

    def _cell_start(self, cell: _RawCell, tag: str, attrs: dict[str, str]) -> None:
        if cell.inline_builder is not None:
            cell.inline_builder.start(tag, attrs)
        elif self.depth != cell.depth + 1:
            return
        elif tag == _VALUE:
            if cell.value is None:
                cell.value = self.text = []
        elif tag == _FORMULA:
            if cell.formula is None:
                cell.formula, self.text = attrs, cell.formula_text
        elif tag == _INLINE and cell.inline is None:
            cell.inline_builder, cell.inline_depth = TreeBuilder(), self.depth
            cell.inline_builder.start(tag, attrs)

    def data(self, text: str) -> None:
        if self.text is not None:  # an element's text ends where its first child starts
            self.text.append(text)
        elif self.after_cell:
            return
        elif not self.cells:
            self.builder.data(text)
        else:
            inline = self.cells[-1].inline_builder
            if inline is not None:
                inline.data(text)

    def end(self, tag: str) -> None:
        self.text, self.after_cell = None, False
        if self.cells:
            cell = self.cells[-1]
            if tag == _CELL:  # the innermost open cell: never a child of an element built
                self.cells.pop()
                self.reader._cell(cell)
                self.held = cell.held_before  # it and everything under it let go of
                self.after_cell = True
            elif cell.inline_builder is not None:
                el = cell.inline_builder.end(tag)
                if self.depth == cell.inline_depth:
                    cell.inline, cell.inline_builder = el, None
        else:
            self._element_end(tag, self.sizes.pop())
        self.depth -= 1

    def _element_end(self, tag: str, size: int) -> None:
        el = self.builder.end(tag)
        self.parents.pop()
        if tag == _CELL:  # a cell at depth 1 or 2 of a hand-made part, read as an element
            self.reader._cell(_RawCell.of(el))
        elif self.depth <= 3:
            self.reader._end(el, self.depth)
        else:  # held for its ancestor at depth 3 to read
            self.sizes[-1] += size
            return
        if self.parents:
            self.parents[-1].remove(el)  # its only child by now: every earlier one was removed the same way
            self.held -= size

    def close(self) -> None:
        return None


def _shown(text: str) -> str:
    """A stored value in a message: quoted, and shortened when it is long."""
    return repr(text) if len(text) <= 24 else repr(text[:20] + "…") + f" ({len(text):,} characters)"


class LazySheets(Mapping[str, SheetCells]):
    """The sheets of the user's workbook, each read when first asked for and let go of with ``drop``: verify holds
    one sheet at a time, not the whole workbook (at 128×128, a sheet is a tenth of it). A sheet that cannot be read
    is a ``WorkbookError`` naming the file, as when every sheet is read at once."""

    def __init__(self, path: Path, parts: dict[str, str], strings: Sequence[str], looks: Looks) -> None:
        self._path, self._parts, self._strings, self._looks = path, parts, strings, looks
        self._budget = [MAX_READ_CELLS]  # cells still allowed, shared by the sheets
        self._read: dict[str, SheetCells] = {}
        self._unread = dict.fromkeys(parts)  # in workbook order

    def __getitem__(self, name: str) -> SheetCells:
        if name not in self._read:
            if name not in self._parts:
                raise KeyError(name)
            self._read[name] = self._load(name)
            self._unread.pop(name, None)
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __contains__(self, name: object) -> bool:
        return name in self._parts

    def drop(self, name: str) -> None:
        """Let go of a sheet's cells (asked for again, it is read again)."""
        self._read.pop(name, None)

    def read_rest(self) -> None:
        """Read, and let go of, every sheet not yet read: a sheet that cannot be read is refused all the same."""
        for name in list(self._unread):
            self[name]
            self.drop(name)

    def _load(self, name: str) -> SheetCells:
        reader = _SheetReader(name, self._strings, False, self._looks, self._budget)
        try:
            with zipfile.ZipFile(self._path) as archive, archive.open(self._parts[name]) as source:
                return reader.read(source)
        except ContentError as exc:
            raise WorkbookError(f"{self._path}: {exc}") from None
        except LOAD_ERRORS as exc:
            raise WorkbookError(f"{self._path}: not a valid .xlsx workbook ({error_detail(exc)})") from None


def load_view(path: Path, data_only: bool, lazy: bool = False) -> View:
    """The workbook's sheets, names and (with formulas) styles; a ``ContentError`` when it cannot be read.
    ``lazy`` (with formulas): its sheets are ``LazySheets``, read as they are asked for."""
    try:
        # A file object, so that openpyxl judges the content rather than the file name's extension.
        with path.open("rb") as fh:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=data_only)
            try:
                archive = wb._archive  # openpyxl's: the sheets are streamed from it by _SheetReader, not openpyxl
                looks = Looks() if data_only else _workbook_looks(archive)
                budget = [MAX_READ_CELLS]
                sheets: Mapping[str, SheetCells] = {}
                parts: dict[str, str] = {}  # part → the sheet read from it
                for ws in wb.worksheets:
                    if ws._worksheet_path in parts:  # or one part of a few megabytes could be read a million times
                        raise ContentError(f"not a valid .xlsx workbook (the sheets {parts[ws._worksheet_path]!r} "
                                           f"and {ws.title!r} are both {ws._worksheet_path})")
                    parts[ws._worksheet_path] = ws.title
                if lazy and not data_only:
                    strings = wb.worksheets[0]._shared_strings if wb.worksheets else []
                    sheets = LazySheets(path, {title: part for part, title in parts.items()}, strings, looks)
                else:
                    sheets = {}
                    for ws in wb.worksheets:
                        reader = _SheetReader(ws.title, ws._shared_strings, data_only, looks, budget)
                        with archive.open(ws._worksheet_path) as source:
                            sheets[ws.title] = reader.read(source)
                defined = dict(wb.defined_names.items())
            finally:
                wb.close()
    except ContentError:
        raise
    except LOAD_ERRORS as exc:
        raise ContentError(f"not a valid .xlsx workbook ({error_detail(exc)})") from None
    return View(sheets, defined, looks)


# LibreOffice writes an error it names itself (Err:502, "invalid argument", for LN(0)) as such in a CSV file.
_LIBREOFFICE_ERROR = re.compile(r"Err:[0-9]{3}")


def load_csv_values(files: Mapping[str, Path]) -> View:
    """Sheets' values from CSV files (one per sheet, as ``libreoffice.recalculated_values`` writes them): a number
    where a field is one, an error value (``#VALUE!`` for LibreOffice's own Err:nnn), else the text. A
    ``ContentError`` when a file is not UTF-8 text or holds more cells than any workbook xlcnn reads."""
    budget = MAX_READ_CELLS
    sheets: dict[str, SheetCells] = {}
    for sheet, path in files.items():
        cells: dict[Pos, Any] = {}
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                for row, fields in enumerate(csv.reader(fh), start=1):
                    for col, text in enumerate(fields, start=1):
                        if not text:
                            continue
                        budget -= 1
                        if budget < 0:
                            raise ContentError(f"the values of {sheet!r} hold more than {MAX_READ_CELLS:,} cells")
                        cells[(row, col)] = _csv_value(text)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ContentError(f"the values of {sheet!r} are not CSV text ({one_line(str(exc))[:80]})") from None
        sheets[sheet] = SheetCells(cells, frozenset())
    return View(sheets, {})


def _csv_value(text: str) -> Any:
    """A CSV field as the cell's value. LibreOffice writes values as stored, except that a cell in a percent
    format keeps its percent sign (98.0227361677126% for 0.980227361677126)."""
    percent = text.endswith("%") and _NUMERAL.fullmatch(text[:-1]) is not None
    if percent or _NUMERAL.fullmatch(text):
        number = float(text[:-1]) / 100 if percent else float(text)
        return number if math.isfinite(number) else text
    return "#VALUE!" if _LIBREOFFICE_ERROR.fullmatch(text) else text


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


_SIGNATURES = ((b"\x89PNG", "it is a PNG image"), (b"\xff\xd8\xff", "it is a JPEG image"),
               (b"GIF8", "it is a GIF image"), (b"%PDF", "it is a PDF"),
               (b"\xd0\xcf\x11\xe0", "it is an old .xls workbook; save it as .xlsx"))


def open_workbook(path: Path) -> View:
    """The workbook's formulas, names and looks, or a one-line ``WorkbookError`` saying what the file is instead."""
    check_workbook_file(path)
    return read_view(path, data_only=False)


def check_workbook_file(path: Path) -> None:
    """A one-line ``WorkbookError`` unless ``path`` is a regular file and a zip archive safe to unpack (what an
    .xlsx workbook is on the outside), before anything reads it."""
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


def read_view(path: Path, data_only: bool, lazy: bool = False) -> View:
    """``load_view`` of the user's workbook (already checked by ``open_workbook``), its errors naming it."""
    try:
        return load_view(path, data_only, lazy)
    except ContentError as exc:
        raise WorkbookError(f"{path}: {exc}") from None


