"""The stages of the workbook, one module per sheet, in the order a student reads them.

Each module holds its stage's plan (its sheet and grids), its emitter (every cell, with cached values)
and — through its grids — its formula count. Adding a stage is one module plus one line in ``STAGES``.
"""

from __future__ import annotations

from xlcnn.book.layout import ENGLISH, Layout, SheetKind, SheetNames
from xlcnn.book.stage import Repeat, SheetBuilder, Stage
from xlcnn.book.stages import (
    back_conv,
    back_dense,
    back_filters,
    back_input,
    back_pool,
    back_relu,
    conv,
    dense,
    exercises,
    filters,
    flatten,
    gradcam,
    guide,
    image,
    input,
    loss,
    overview,
    pool,
    relu,
    saliency,
    shapes,
    softmax,
    step,
    step_conv,
    step_dense,
    step_pool,
    why,
    worked,
)
from xlcnn.model.spec import Architecture

STAGES: tuple[Stage, ...] = (
    guide.STAGE,
    overview.STAGE,  # the whole story on one page, before the stages tell it
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
    # The learning layer: the backward pass from the loss down to the pixels (per block, the last block first),
    back_dense.STAGE,
    back_pool.STAGE,
    back_relu.STAGE,
    back_conv.STAGE,
    back_filters.STAGE,
    back_input.STAGE,
    # one step of gradient descent and the forward pass after it,
    step.STAGE,
    step_conv.STAGE,
    step_pool.STAGE,
    step_dense.STAGE,
    # and what the network looked at.
    why.STAGE,
    saliency.STAGE,
    gradcam.STAGE,
    shapes.STAGE,
    exercises.STAGE,  # last: the student works from every sheet before it
)

# Each sheet kind's emitter, by the kind's name. A dict (not a lookup through STAGES) so that a test can stand
# in for one.
EMITTERS: dict[str, SheetBuilder] = {stage.kind.name: stage.emit for stage in STAGES}
BY_KIND: dict[SheetKind, Stage] = {stage.kind: stage for stage in STAGES}


def plan_layout(arch: Architecture, teaching: bool = False, patches: int = 0, learning: bool = False,
                exercise: bool = False, sheet_names: SheetNames = ENGLISH) -> Layout:
    """Every sheet and grid of the workbook of ``arch``: each stage in turn, the per-block ones once per
    conv block (the backward pass's from the last block down); ``teaching`` adds the worked example and the
    Shapes table, ``learning`` the learning layer, ``exercise`` the Exercises sheet; ``patches`` is how many
    training patches per conv-1 filter the model has to show; ``sheet_names`` names the sheets in the workbook's
    language."""
    layout = Layout(arch, patches, sheet_names)
    layout.learning = learning
    stages = [stage for stage in STAGES if (teaching or not stage.teaching) and (learning or not stage.learning)
              and (exercise or not stage.exercise)]
    i = 0
    while i < len(stages):
        if stages[i].repeat is Repeat.ONCE:
            stages[i].plan(layout, 0)
            i += 1
            continue
        j = i
        while j < len(stages) and stages[j].repeat is not Repeat.ONCE:
            j += 1
        backward = stages[i].repeat is Repeat.PER_BLOCK_BACKWARD
        for block in reversed(arch.blocks) if backward else arch.blocks:
            for stage in stages[i:j]:
                if stage.repeat is not Repeat.FIRST_BLOCK or block.index == 1:
                    stage.plan(layout, block.index)
        i = j
    return layout


def formula_count(layout: Layout) -> int:
    """How many formula cells the workbook of ``layout`` holds: what its stages' grids say."""
    return sum(BY_KIND[plan.kind].formulas(layout, plan) for plan in layout.sheets)
