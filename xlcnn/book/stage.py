"""What a stage of the workbook is: a sheet kind that plans its own sheet and grids and emits their cells.

Each module of ``xlcnn.book.stages`` defines one ``Stage``; ``xlcnn.book.stages.STAGES`` lists them in
the order a student reads the sheets. A stage's formula count comes from its grids (``Grid.holds``), so
the size check before writing never needs a hand-kept ledger; a stage whose cells are mixed (the Shapes
table) adds its own count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from xlcnn.book.layout import Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent

SheetBuilder = Callable[[BuildContext, SheetPlan], SheetContent]
Planner = Callable[[Layout, int], None]  # adds the stage's sheet and grids for block k (0: not per block)


class Repeat(Enum):
    ONCE = "once"  # one sheet per workbook
    PER_BLOCK = "per block"  # one sheet per conv block, in the block's turn
    FIRST_BLOCK = "first block"  # one sheet, in the first block's turn
    PER_BLOCK_BACKWARD = "per block, last first"  # the backward pass: one sheet per conv block, the last block first


@dataclass(frozen=True)
class Stage:
    kind: SheetKind
    plan: Planner
    emit: SheetBuilder
    repeat: Repeat = Repeat.ONCE
    teaching: bool = False  # only in teaching workbooks (the worked example, the Shapes table)
    learning: bool = False  # only in workbooks with the learning layer (the backward pass, the step, …)
    exercise: bool = False  # only in exercise workbooks (the Exercises sheet)
    mixed_formulas: Callable[[Layout, SheetPlan], int] | None = None  # formulas in its sheet's grids of mixed content
    checked_last: bool = False  # verify compares it after the rest (the Guide repeats the results)

    def formulas(self, layout: Layout, plan: SheetPlan) -> int:
        """How many formula cells the stage's sheet holds."""
        fixed = sum(g.cells for g in plan.grids if g.holds is Holds.FORMULAS)
        return fixed + (self.mixed_formulas(layout, plan) if self.mixed_formulas is not None else 0)
