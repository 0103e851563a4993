"""Spreadsheet limits, checked before anything is written: a clear error up front, never a corrupt file."""

from __future__ import annotations

from dataclasses import dataclass

from xlcnn.errors import LimitError
from xlcnn.layout import MAX_COLS, MAX_ROWS, Layout

MAX_FORMULA_CHARS = 8192
MAX_CELL_FORMATS = 64_000
SLOW_FORMULAS = 500_000  # beyond this Excel and LibreOffice take many seconds to open and recalculate

# Longest reference a SUMPRODUCT term can hold: 'Pool 6'!$XFD$1048576:$XFD$1048576 and a kernel range.
_TERM_CHARS = len("SUMPRODUCT('Pool 6'!XFD1048576:XFD1048576,'Filters 6'!$XFD$1048576:$XFD$1048576)+")


@dataclass(frozen=True)
class Estimate:
    """The size of a workbook, computed from its layout alone."""

    formulas: int
    constants: int
    max_row: int
    max_col: int
    longest_formula: int
    formats: int

    @property
    def cells(self) -> int:
        return self.formulas + self.constants


def estimate(layout: Layout, image_colours: int) -> Estimate:
    arch = layout.arch
    formulas = constants = 0
    longest = 0
    for block in arch.blocks:
        c_in = block.in_shape[0]
        f, h, w = block.conv_shape
        _, ph, pw = block.pool_shape
        formulas += 2 * f * h * w + f * ph * pw
        constants += f * c_in * block.conv.kernel**2 + f
        longest = max(longest, c_in * _TERM_CHARS + 60)
    n, k = arch.flatten_size, len(arch.classes)
    formulas += n + 6 * k + 10
    constants += 3 * arch.input.height * arch.input.width + n * k + k
    return Estimate(
        formulas=formulas,
        constants=constants,
        max_row=max(plan.last_row for plan in layout.sheets),
        max_col=max(plan.last_col for plan in layout.sheets),
        longest_formula=longest,
        formats=image_colours + 64,  # each pixel colour, plus the workbook's own few dozen styles
    )


def check(est: Estimate) -> list[str]:
    """Raise ``LimitError`` if the workbook cannot be held by a spreadsheet; return warnings."""
    if est.max_row + 1 > MAX_ROWS:
        raise LimitError(f"the workbook would need {est.max_row + 1:,} rows; spreadsheets hold {MAX_ROWS:,}")
    if est.max_col + 1 > MAX_COLS:
        raise LimitError(f"the workbook would need {est.max_col + 1:,} columns; spreadsheets hold {MAX_COLS:,}")
    if est.longest_formula > MAX_FORMULA_CHARS:
        raise LimitError(
            f"a convolution formula would be about {est.longest_formula:,} characters; "
            f"spreadsheets allow {MAX_FORMULA_CHARS:,} (use fewer filters in the layer before)"
        )
    if est.formats > MAX_CELL_FORMATS:
        raise LimitError(f"the workbook would need {est.formats:,} cell formats; spreadsheets allow about "
                         f"{MAX_CELL_FORMATS:,}")
    warnings = []
    if est.formulas > SLOW_FORMULAS:
        warnings.append(f"the workbook has {est.formulas:,} formulas; Excel and LibreOffice will be slow to open "
                        f"and recalculate it")
    return warnings
