"""The stages of the workbook, one module per sheet, in the order a student reads them.

Each module holds its stage's plan (its sheet and grids), its emitter (every cell, with cached values)
and — through its grids — its formula count. Adding a stage is one module plus one line in ``STAGES``.
"""

from __future__ import annotations

from xlcnn.book.layout import Layout, SheetKind
from xlcnn.book.stage import Repeat, SheetBuilder, Stage
from xlcnn.book.stages import (
    conv,
    dense,
    filters,
    flatten,
    guide,
    image,
    input,
    loss,
    pool,
    relu,
    shapes,
    softmax,
    worked,
)
from xlcnn.model.spec import Architecture

STAGES: tuple[Stage, ...] = (
    guide.STAGE,
    image.STAGE,
    input.STAGE,
    filters.STAGE,  # per conv block: Filters k, Conv k, the worked example (block 1), ReLU k, Pool k
    conv.STAGE,
    worked.STAGE,
    relu.STAGE,
    pool.STAGE,
    flatten.STAGE,
    dense.STAGE,
    softmax.STAGE,
    loss.STAGE,
    shapes.STAGE,
)

# Each sheet kind's emitter, by the kind's name. A dict (not a lookup through STAGES) so that a test can stand
# in for one.
EMITTERS: dict[str, SheetBuilder] = {stage.kind.name: stage.emit for stage in STAGES}
BY_KIND: dict[SheetKind, Stage] = {stage.kind: stage for stage in STAGES}


def plan_layout(arch: Architecture, teaching: bool = False, patches: int = 0) -> Layout:
    """Every sheet and grid of the workbook of ``arch``: each stage in turn, the per-block ones once per
    conv block; ``teaching`` adds the worked example and the Shapes table; ``patches`` is how many training
    patches per conv-1 filter the model has to show."""
    layout = Layout(arch, patches)
    stages = [stage for stage in STAGES if teaching or not stage.teaching]
    i = 0
    while i < len(stages):
        if stages[i].repeat is Repeat.ONCE:
            stages[i].plan(layout, 0)
            i += 1
            continue
        j = i
        while j < len(stages) and stages[j].repeat is not Repeat.ONCE:
            j += 1
        for block in arch.blocks:
            for stage in stages[i:j]:
                if stage.repeat is Repeat.PER_BLOCK or block.index == 1:
                    stage.plan(layout, block.index)
        i = j
    return layout


def formula_count(layout: Layout) -> int:
    """How many formula cells the workbook of ``layout`` holds: what its stages' grids say."""
    return sum(BY_KIND[plan.kind].formulas(layout, plan) for plan in layout.sheets)
