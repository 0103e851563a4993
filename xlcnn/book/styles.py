"""How the workbook looks: cell formats, square grids and colour scales.

Colours mean the same thing on every sheet: red is positive (or strong), blue is negative, white is zero.
Input channels are shaded white → their own colour. Scales are conditional formats, so they follow a
student's edits, and they cost no cell formats (spreadsheets allow about 64,000).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import Grid

# Square cells: 30 px wide (column width 3.57 → 25 px of text + 5 px padding) and 30 px (22.5 pt) high.
GRID_COLUMN_WIDTH = 3.57
GRID_ROW_HEIGHT = 22.5
GRID_CELL_PX = 30

ZERO = "#FFFFFF"
POSITIVE = "#B2182B"  # red, for text (the prediction, a ✗)
# The fills of colour scales end in colours light enough for black 8-pt numbers (a contrast of 4.5:1 or more,
# WCAG's AA): a cell at the scale's end stays readable on screen and on paper. Text keeps the darker red.
SCALE_NEGATIVE = "#4393C3"  # blue, relative luminance 0.26 (contrast 6.2 with black)
SCALE_POSITIVE = "#D6604D"  # red, 0.23 (5.6)
CHANNEL_COLOURS = ("#EF5350", "#2CA02C", "#4A7FE0")  # R, G, B: luminance 0.25, 0.26, 0.22
PADDING_FILL = "#D9D9D9"
GRID_LINE = "#C8C8C8"
INPUT_FILL = "#FFF8DC"  # choices a student may make (the true label, the learning rate, …)
EDITABLE_BORDER = "#BF9000"  # a gold box: a pixel, weight or bias a student may edit (sheets are protected)
FIXED_FILL = "#EDEDED"  # a hyper-parameter that shapes the sheets: read-only, changed by rebuilding
TEXT_GREY = "#595959"
RIGHT = "#2E7D32"  # a ✓: green


def number_format(values: np.ndarray) -> str:
    """Enough decimals to read a grid's values in a 30-px cell: 2 below 10, 1 below 100, else none."""
    top = float(np.max(np.abs(values))) if values.size else 0.0
    if top >= 99.5:
        return "0"
    if top >= 9.95:
        return "0.0"
    return "0.00"


def activation_limit(values: np.ndarray) -> float:
    """The scale's end for feature maps: the 98th percentile of |value|, not the maximum, so that a few
    extreme cells (often at a zero-padded border) do not wash every other cell out to white. Larger
    values simply get the full colour."""
    magnitudes = np.abs(values[np.isfinite(values)])
    top = float(np.percentile(magnitudes, 98)) if magnitudes.size else 0.0
    return float(f"{top:.3g}") if top > 0 else symmetric_limit(values)


def symmetric_limit(*arrays: np.ndarray) -> float:
    """The largest magnitude across arrays, so that a diverging scale is centred on 0 (never 0 itself)."""
    top = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    return top if top > 0 else 1.0


# Gradients span many orders of magnitude (0.3 beside 2E-07): the General format shows each as precisely as its
# cell's width allows, in every spreadsheet.
GRADIENT_FORMAT = "General"
GRADIENT_TABLE_FORMAT = "0.000000"  # in a table's wide columns, General would show 15 digits of every gradient

# Probabilities and EXP(z − max): four decimals, but a value under 0.0001 in scientific notation, so that a
# probability of 3.2E-08 does not read as zero beside its −ln of 17.3.
SMALL_AS_SCIENTIFIC = "[<0.0001]0.0E+00;0.0000"


class Styles:
    """Formats for one workbook, made once and shared (XlsxWriter dedupes identical ones on save)."""

    def __init__(self, add_format: Callable[[dict[str, Any]], Format], italic_notes: bool = True,
                 font: str = "Calibri") -> None:
        """``add_format`` makes a format from its properties (a workbook's ``add_format``); ``font`` is the
        language's (one with its glyphs)."""
        self.add_format = add_format
        self.font = font
        self._cache: dict[tuple[tuple[str, Any], ...], Format] = {}
        base = {"font_name": font, "font_size": 10, "valign": "vcenter"}
        self.base = base
        self.title = self.get(bold=True, font_size=16, font_color="#1F3864")
        self.subtitle = self.get(bold=True, font_size=12, font_color="#1F3864")
        self.text = self.get()
        # Italic is slanted artificially for Chinese and other scripts without italics: languages turn it off.
        self.note = self.get(italic=italic_notes, font_color=TEXT_GREY)
        self.note_wrapped = self.get(italic=italic_notes, font_color=TEXT_GREY, text_wrap=True, valign="top")
        self.wrap = self.get(text_wrap=True, valign="top")
        self.label = self.get(bold=True)
        self.label_top = self.get(bold=True, valign="top")
        self.label_text = self.get(bold=True, num_format="@")  # class names: text even when retyped
        self.grid_title = self.get(bold=True, font_size=10, font_color="#1F3864")  # 8 pt on a page at 80 %
        self.link = self.get(font_color="#0563C1", underline=1)
        self.link_bold = self.get(font_color="#0563C1", underline=1, bold=True, font_size=11)
        self.param = self.param_format("0")
        self.big_value = self.get(bold=True, font_size=14, align="left", font_color=POSITIVE)
        self.big_number = self.get(bold=True, font_size=14, align="left", num_format="0.0000")
        # A check's verdict: green, turned red by a conditional format when it reads ✗ (verdict_colours).
        self.verdict = self.get(bold=True, font_size=14, align="left", font_color=RIGHT)
        self.percent = self.get(bold=True, font_size=14, align="left", num_format="0.0%")
        self.padding = self.grid("0", bg_color=PADDING_FILL, font_color="#808080")

    def get(self, **props: Any) -> Format:
        """A format with the base font plus ``props``, shared by everyone who asks for the same."""
        key = tuple(sorted(props.items()))
        fmt = self._cache.get(key)
        if fmt is None:
            fmt = self.add_format({**self.base, **props})
            self._cache[key] = fmt
        return fmt

    def param_format(self, num_format: str) -> Format:
        """A choice a student may change (the true label, the learning rate, a chooser): cream, boxed, bold,
        and unlocked, because every sheet is protected."""
        return self.get(bold=True, align="center", bg_color=INPUT_FILL, border=1, border_color="#BFBFBF",
                        num_format=num_format, locked=False)

    def fixed_format(self, num_format: str) -> Format:
        """A hyper-parameter (stride, padding, pool size, input scale): grey and locked, because editing it
        would change the Shapes sheet but not the size of any map; a rebuild changes it."""
        return self.get(bold=True, align="center", bg_color=FIXED_FILL, border=1, border_color="#BFBFBF",
                        num_format=num_format)

    def grid(self, num_format: str, **props: Any) -> Format:
        """A cell of a square grid: small centred numbers in a hairline box (gridlines are hidden)."""
        return self.get(**{"font_size": 8, "align": "center", "num_format": num_format, "border": 1,
                           "border_color": GRID_LINE, **props})

    def editable_grid(self, num_format: str) -> Format:
        """A grid cell a student may edit (a pixel, a weight, a bias): unlocked, in a gold box."""
        return self.grid(num_format, border_color=EDITABLE_BORDER, locked=False)

    def value(self, num_format: str = "0.0000", **props: Any) -> Format:
        return self.get(num_format=num_format, align="center", **props)

    def editable_value(self, num_format: str) -> Format:
        """A number in a table a student may edit (a dense weight or bias): unlocked, in a gold box."""
        return self.value(num_format, border=1, border_color=EDITABLE_BORDER, locked=False)

    def fill(self, rgb: tuple[int, int, int]) -> Format:
        """A solid fill of one pixel colour (the Image sheet)."""
        r, g, b = rgb
        return self.get(bg_color=f"#{r:02X}{g:02X}{b:02X}", pattern=1)

    def pixel(self, rgb: tuple[int, int, int]) -> Format:
        """A solid fill in a hairline box (the Filters sheet's small pictures): a white pixel still shows
        where it is, and the picture reads cell for cell like the weight grids beside it."""
        r, g, b = rgb
        return self.get(bg_color=f"#{r:02X}{g:02X}{b:02X}", pattern=1, border=1, border_color=GRID_LINE)


def _scale(ws: Worksheet, grids: Sequence[Grid], options: dict[str, Any]) -> None:
    """One conditional format over every grid in ``grids`` (a multi-range), so they share one scale."""
    if not grids:
        return
    first = grids[0]
    if len(grids) > 1:
        options = {**options, "multi_range": " ".join(g.whole(absolute=False) for g in grids)}
    ws.conditional_format(first.top, first.left, first.top + first.rows - 1, first.left + first.cols - 1, options)


def channel_scale(ws: Worksheet, grids: Sequence[Grid], channel: int) -> None:
    """0 → white, 255 → the channel's own colour."""
    _scale(ws, grids, {
        "type": "2_color_scale", "min_type": "num", "min_value": 0, "min_color": ZERO,
        "max_type": "num", "max_value": 255, "max_color": CHANNEL_COLOURS[channel],
    })


def diverging_scale(ws: Worksheet, grids: Sequence[Grid], limit: float) -> None:
    """−limit → blue, 0 → white, +limit → red."""
    _scale(ws, grids, {
        "type": "3_color_scale",
        "min_type": "num", "min_value": -limit, "min_color": SCALE_NEGATIVE,
        "mid_type": "num", "mid_value": 0, "mid_color": ZERO,
        "max_type": "num", "max_value": limit, "max_color": SCALE_POSITIVE,
    })


def sequential_scale(ws: Worksheet, grids: Sequence[Grid], limit: float) -> None:
    """0 → white, limit → red (for values that cannot be negative)."""
    _scale(ws, grids, {
        "type": "2_color_scale", "min_type": "num", "min_value": 0, "min_color": ZERO,
        "max_type": "num", "max_value": limit, "max_color": SCALE_POSITIVE,
    })


def verdict_colours(ws: Worksheet, cell: Grid, styles: Styles) -> None:
    """A check cell that reads ✗ turns red (it is green for ✓), live, as its formula's answer changes."""
    ws.conditional_format(cell.top, cell.left, cell.top, cell.left, {
        "type": "text", "criteria": "begins with", "value": "✗",
        "format": styles.add_format({"font_color": POSITIVE}),
    })
