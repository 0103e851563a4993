"""Spreadsheet limits, checked before anything is written: a clear error up front, never a corrupt file.

``estimate`` sizes a workbook from its layout alone (no weights, no image, no engine): the formula count is
exact (tests compare it with the formulas actually written), the longest convolution formula is measured on
the formula whose references are longest, and the cell formats are the image's colours plus the workbook's
own few dozen styles. ``check`` turns any limit that would be exceeded into a ``LimitError`` naming the
numbers and the limit, and returns warnings for workbooks that spreadsheet apps would be slow with.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlcnn.book.layout import MAX_COLS, MAX_ROWS, Holds, Layout, filters_sheet
from xlcnn.book.stages import formula_count
from xlcnn.book.stages.back_conv import InputGrads, spread_zeros
from xlcnn.book.stages.conv import ConvFormulas
from xlcnn.book.stages.image import MAX_IMAGE_COLOURS
from xlcnn.errors import LimitError, option
from xlcnn.model import names
from xlcnn.nn.learning import gradcam_formula

MAX_FORMULA_CHARS = 8192
MAX_CELL_FORMATS = 64_000
# xlcnn's own ceiling, not a spreadsheet's: beyond it the file is hundreds of megabytes, takes xlcnn minutes
# to write, and Excel and LibreOffice need minutes and gigabytes of memory to open it.
MAX_CELLS = 5_000_000
SLOW_FORMULAS = 500_000  # beyond this Excel and LibreOffice take many seconds to open and recalculate
OWN_FORMATS = 64  # the workbook's own styles (titles, grids, links, …): about 30, with room to grow
OTHER_FORMULA_CHARS = 300  # every formula outside the convolutions (INDEX/MATCH lookups, sums) is shorter
ADVICE = f"use a smaller {option('size')}, fewer {option('filters')}, a larger {option('stride')} or {option('pool')}"


@dataclass(frozen=True)
class Estimate:
    """The size of a workbook, computed from its layout alone."""

    formulas: int  # exact
    constants: int  # numbers and text (the text of headers and notes approximately), plus the Image sheet's pixels
    max_row: int  # 0-based index of the last row of any grid (the Guide's ~100 lines of text are not counted)
    max_col: int  # 0-based index of the last column of any grid
    longest_formula: int  # characters, without the leading "="
    formats: int
    row_sheet: str = ""  # the sheet reaching max_row
    col_sheet: str = ""  # the sheet reaching max_col
    longest_backward: int = 0  # characters of the learning layer's longest formula (0: it has none)

    @property
    def cells(self) -> int:
        return self.formulas + self.constants


def count_formulas(layout: Layout) -> int:
    """How many formula cells the workbook of ``layout`` holds: what its stages' grids say."""
    return formula_count(layout)


def count_constants(layout: Layout, image_pixels: int) -> int:
    """Numbers, text and the Image sheet's coloured cells; exact for every grid, approximate for the notes."""
    total = image_pixels + picture_cells(layout)
    for g in layout.grids.values():
        if g.holds in (Holds.NUMBERS, Holds.TEXT):
            total += g.cells
        total += g.border_cells  # a visible zero padding: constant zeros
    total += spread_zeros(layout)
    # Text: a title per grid; the header lines, settings (Holds.SETTING) and their labels of each sheet; the
    # Guide's pages of help; the worked example's labels of its map origins.
    total += len(layout.grids) + 12 * len(layout.sheets) + 100 + layout.arch.blocks[0].conv.filters
    return total


def picture_cells(layout: Layout) -> int:
    """The coloured cells of Filters 1's pictures of the filters and their patches (grids holding no value)."""
    sheet = layout.sheet(filters_sheet(1)).name
    return sum(g.cells for g in layout.grids.values() if g.holds is Holds.OTHER and g.sheet == sheet)


def longest_conv_formula(layout: Layout) -> int:
    """The length of the longest convolution formula: the last filter's bottom-right cell, whose references
    (last rows, last columns, last kernels) are the longest on each sheet."""
    longest = 0
    for block in layout.arch.blocks:
        _, oh, ow = block.conv_shape
        formula = ConvFormulas(layout, block.index).for_filter(block.conv.filters)
        longest = max(longest, len(formula(oh - 1, ow - 1)) - 1)  # without the leading "="
    return longest


def longest_backward_formula(layout: Layout) -> int:
    """The length of the longest formula of the learning layer, if the layout has it: the gradient a conv
    sends back to its input holds one SUMPRODUCT per filter (the forward one, one per input channel), and a
    Grad-CAM cell one product per map of the last block."""
    if names.GRAD_INPUT[0] not in layout.grids:
        return 0
    longest = 0
    for block in layout.arch.blocks:
        _, h, w = block.in_shape
        sheet = layout.grids[names.grad_block_input(block.index, 1)].sheet
        formula = InputGrads(layout, block.index, sheet).for_channel(block.in_shape[0])
        longest = max(longest, len(formula(h - 1, w - 1)) - 1)
    last = layout.arch.blocks[-1]
    maps, h, w = last.conv_shape
    cam = layout.grids[names.GRADCAM]
    relu = layout.cells(names.relu_out(last.index, maps), cam.sheet).ref(h - 1, w - 1)
    alpha = cam.cell(0, 0, absolute=True)
    return max(longest, len(gradcam_formula([alpha] * maps, [relu] * maps)) - 1)


def estimate(layout: Layout, image_colours: int) -> Estimate:
    """The size of the workbook of ``layout`` whose Image sheet paints ``image_colours`` distinct colours."""
    arch = layout.arch
    rows = max(layout.sheets, key=lambda plan: plan.last_row)
    cols = max(layout.sheets, key=lambda plan: plan.last_col)
    return Estimate(
        formulas=count_formulas(layout),
        constants=count_constants(layout, arch.input.height * arch.input.width),
        max_row=rows.last_row,
        max_col=cols.last_col,
        longest_formula=max(longest_conv_formula(layout), OTHER_FORMULA_CHARS),
        longest_backward=longest_backward_formula(layout),
        # Each picture cell may have a colour of its own, up to the MAX_IMAGE_COLOURS that the pictures are
        # rounded to when they have more (as the Image sheet is: xlcnn.book.stages.filters).
        formats=image_colours + min(picture_cells(layout), MAX_IMAGE_COLOURS) + OWN_FORMATS,
        row_sheet=rows.name,
        col_sheet=cols.name,
    )


def check(est: Estimate) -> list[str]:
    """Raise ``LimitError`` if the workbook cannot be held by a spreadsheet; return warnings."""
    if est.max_row + 1 > MAX_ROWS:
        raise LimitError(f"the workbook's {est.row_sheet} sheet would need {est.max_row + 1:,} rows; spreadsheets "
                         f"hold {MAX_ROWS:,} ({ADVICE})")
    if est.max_col + 1 > MAX_COLS:
        raise LimitError(f"the workbook's {est.col_sheet} sheet would need {est.max_col + 1:,} columns; "
                         f"spreadsheets hold {MAX_COLS:,} ({ADVICE})")
    if est.longest_formula > MAX_FORMULA_CHARS:
        raise LimitError(f"a convolution formula would be {est.longest_formula:,} characters long; spreadsheets "
                         f"allow {MAX_FORMULA_CHARS:,} (use fewer filters in the layer before)")
    if est.longest_backward > MAX_FORMULA_CHARS:
        raise LimitError(f"a formula of the learning layer (a gradient sent back through a convolution, or Grad-CAM) "
                         f"would be {est.longest_backward:,} characters long; spreadsheets allow "
                         f"{MAX_FORMULA_CHARS:,} (use fewer {option('filters')}, or {option('learn', 'False')})")
    if est.formats > MAX_CELL_FORMATS:
        raise LimitError(f"the workbook would need {est.formats:,} cell formats; spreadsheets allow about "
                         f"{MAX_CELL_FORMATS:,}")
    if est.cells > MAX_CELLS:
        raise LimitError(f"the workbook would have {est.cells:,} cells ({est.formulas:,} of them formulas); xlcnn "
                         f"writes at most {MAX_CELLS:,}, beyond which Excel and LibreOffice take minutes and "
                         f"gigabytes to open a file ({ADVICE})")
    warnings = []
    if est.formulas > SLOW_FORMULAS:
        warnings.append(f"the workbook has {est.formulas:,} formulas (more than {SLOW_FORMULAS:,}); Excel and "
                        f"LibreOffice will be slow to open and recalculate it")
    return warnings


def check_architecture(layout: Layout) -> list[str]:
    """``check`` before the image is known, assuming the most colours the Image sheet may paint."""
    return check(estimate(layout, MAX_IMAGE_COLOURS))  # more are quantised to this many
