"""What a sheet puts on paper when the whole of it would print too small to read (issue 15).

A printed page is readable when its text prints at 8 pt or more and its numbers at 6 pt or more. The workbook's
text is 10 pt and a grid's numbers 8 pt, so a page is readable at a print scale of ``READABLE_SCALE`` % or more.
A sheet that fits one page at that scale prints whole. A bigger one (the default's six 26 × 26 maps, the
432-row Flatten list) prints one readable page instead: its header and the grids that fit whole, in the
orientation that shows the most, with a footer that says what was left to the workbook. Printing every map
at a readable size would take about 25 pages for the default's forward pass alone; the Overview shows every
map on one page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xlcnn.book.layout import HEADER_ROWS, Grid, SheetPlan

READABLE_SCALE = 80  # per cent: 10-pt text prints at 8 pt, 8-pt grid numbers at 6.4 pt
# Scales to fall back on, in turn, for a sheet of which no grid fits a page at READABLE_SCALE: one grid a page,
# printed as large as it fits, rather than the whole sheet shrunk to one page's width.
FALLBACK_SCALES = (75, 70, 65, 60)
# An A4 page at 96 dpi inside page_setup's margins, portrait and landscape, as LibreOffice prints it (measured:
# the header and the footer sit inside the margins).
PRINTABLE_PX = {False: (745, 1007), True: (1074, 678)}
LIBREOFFICE_COLUMN = 31.75 / 30  # LibreOffice draws a 30-px grid column 31.75 px wide (measured)
# LibreOffice's rounding of row heights and column widths: leave a little room.
WIDTH_MARGIN, HEIGHT_MARGIN = 0.98, 0.97
LIST_ASPECT = 4  # a grid at least this many times taller than wide is a list, which a page may cut by rows
HEADER_LINE_PX = 17  # a 10-pt line of a header's note wrapped to the page's width (sheet.header_line)
HEADER_NOTES = 4  # rows 1–4 of a stage sheet: its notes, each wrapped to (say) two lines on paper


def header_allowance(row_px: int) -> int:
    """How much taller than ``row_px`` rows a sheet's header prints, its notes wrapped to two lines each."""
    return HEADER_NOTES * max(0, 2 * HEADER_LINE_PX + 4 - row_px)


@dataclass(frozen=True)
class PaperPage:
    """The part of a sheet one readable page holds: rows 0..``last_row``, columns 0..``last_col``."""

    last_row: int
    last_col: int
    landscape: bool
    scale: int  # per cent
    grids_shown: int  # grids on the page whole
    list_rows: tuple[int, int] | None = None  # for a list longer than a page: (rows shown, rows in all)
    first_row: int = 0  # where the page's grids start, when it leaves out helper grids above them (results_top)

    def shows(self, grid: Grid) -> bool:
        """Whether the page holds ``grid`` whole."""
        return (grid.title_row >= self.first_row and grid.outer_bottom <= self.last_row
                and grid.outer_right <= self.last_col)


def page_px(landscape: bool, scale: float) -> tuple[float, float]:
    """How many pixels of sheet (wide, tall) one page holds at ``scale`` per cent."""
    width, height = PRINTABLE_PX[landscape]
    return WIDTH_MARGIN * width * 100 / scale / LIBREOFFICE_COLUMN, HEIGHT_MARGIN * height * 100 / scale


def readable_page(plan: SheetPlan, columns_px: Sequence[int], row_px: int) -> PaperPage | None:
    """The readable page that shows most of ``plan``'s grids (``columns_px``: each column's width as Excel draws
    it; rows are ``row_px`` tall); failing that, the page at the largest of ``FALLBACK_SCALES`` that shows one
    grid; None when not even that."""
    top = results_top(plan)
    for scale in (READABLE_SCALE, *FALLBACK_SCALES):
        pages = [page for landscape in (False, True)
                 if (page := _page(plan, columns_px, row_px, landscape, scale, top)) is not None]
        if pages:
            # The most grids whole; then, for a list, the most rows; portrait before landscape.
            return max(pages, key=lambda p: (p.grids_shown, p.list_rows[0] if p.list_rows else 0, not p.landscape))
    return None


def results_top(plan: SheetPlan) -> int:
    """Where a sheet's own results start when helper grids come first (the turned filters of Back pool, the
    pool winners of Back ReLU: grids without a defined name): the band of its first named grid, so that its
    page shows what its title promises; 0 for a sheet whose grids are not so arranged."""
    big = [g for g in plan.grids if g.rows > 1 or g.cols > 1]
    named, helpers = [g for g in big if g.named], [g for g in big if not g.named]
    if not named or not helpers:
        return 0
    first = min(g.title_row for g in named) - plan.break_above
    return first if all(g.outer_bottom < first for g in helpers) else 0


def _page(plan: SheetPlan, columns_px: Sequence[int], row_px: int, landscape: bool,
          scale: int, top: int = 0) -> PaperPage | None:
    """The page from row ``top`` (below the header, which is printed above it) or from the sheet's top."""
    max_w, max_h = page_px(landscape, scale)
    last_col = page_columns(columns_px, max_w)
    rows_per_page = int((max_h - header_allowance(row_px)) // row_px)
    last_row = rows_per_page - 1 if not top else top + rows_per_page - HEADER_ROWS - 1
    grids = [g for g in plan.grids if g.title_row >= top]  # one-cell grids too: a page never cuts a total away
    last_col = _left_of_cut(grids, last_col)
    last_row = _above_cut(grids, last_row, rows_per_page, plan.break_above)
    shown = [g for g in grids if g.outer_bottom <= last_row and g.outer_right <= last_col]
    long = [g for g in grids if g.outer_top <= last_row < g.outer_bottom and g.outer_right <= last_col]
    if not shown and not long:
        return None
    list_rows = (last_row - long[0].top + 1, long[0].rows) if long else None
    return PaperPage(last_row, last_col, landscape, scale, len(shown), list_rows, top)


def page_columns(widths: Sequence[int], page_width: float, at_least: int = -1) -> int:
    """The last column a page ``page_width`` px wide holds whole (at least ``at_least``)."""
    total, last = 0, at_least
    for col, px in enumerate(widths):
        total += px
        if total > page_width:
            break
        last = max(last, col)
    return last


def _left_of_cut(grids: list[Grid], last_col: int) -> int:
    """Move the page's right edge left of every grid it would cut through (one such move can cut another)."""
    while cut := [g for g in grids if g.outer_left <= last_col < g.outer_right]:
        last_col = min(g.outer_left for g in cut) - 1
    return last_col


def _above_cut(grids: list[Grid], last_row: int, rows_per_page: int, above: int) -> int:
    """Move the page's bottom edge above every grid it would cut, with its title and the ``above`` rows of its
    band's heading; a list taller than a page is cut instead, since no page holds it whole."""
    while cut := [g for g in grids if g.title_row <= last_row < g.outer_bottom
                  and not (g.rows >= LIST_ASPECT * g.cols and g.outer_bottom - g.title_row >= rows_per_page)]:
        last_row = min(g.title_row - above for g in cut) - 1  # above the band's heading too
    return last_row
