"""The Grad-CAM sheet: where in the last block's maps the evidence for one class lies.

For the class in ``cam_class`` (a dropdown; the prediction when built): each map's weight α_f is the mean over
the map of ∂logit/∂ its ReLU cells — max pooling hands each pooled cell's weight to one ReLU cell, so that is
the class's dense weights on the map summed (the Why this class sheet) over the map's cell count. The
Grad-CAM map is ``MAX(0, Σ_f α_f·map f)``, and beside it the same map brought to the picture's size (each
picture cell takes the map cell it falls in) under the picture, half transparent.
"""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import GAP, GRADCAM, HEADER_ROWS, LEFT, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import BuildContext, SheetContent, setup_grid_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.stages.saliency import HIDDEN, lay_picture_over
from xlcnn.book.stages.why import CAM_SUMS
from xlcnn.book.styles import GRADIENT_FORMAT, activation_limit, diverging_scale, sequential_scale, symmetric_limit
from xlcnn.model import names
from xlcnn.nn import learning

KIND = SheetKind("gradcam")
ALPHA = "cam_alpha"
CAM_LABEL_SPAN = 5  # the class name's cell spans this many square columns


def gradcam_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name, learned = ctx.texts, ctx.styles, ctx.layout, plan.name, ctx.learned
    arch = ctx.model.arch
    last = arch.blocks[-1]
    k, (maps, h, w) = last.index, last.conv_shape
    spec = arch.input
    cam, alpha, cam_in = lay.grid(names.GRADCAM), lay.grid(ALPHA), lay.grid(names.GRADCAM_INPUT)
    choice = lay.grid(names.CAM_CLASS)
    limit = activation_limit(learned.gradcam)
    content = SheetContent()
    stage_header(content, ctx, t("gradcam.title"), [
        t("gradcam.what", k=k), t("gradcam.formula", k=k), t("gradcam.alpha", n=h * w),
        t("legend.gradcam", limit=f"{limit:.3g}"),
    ])
    content.text(choice.top, LEFT, t("gradcam.class"), st.label)
    cam_fmt = st.param_format("@")
    label = arch.classes[learned.cam_class]
    right = choice.left + CAM_LABEL_SPAN - 1
    content.add(choice.top, choice.top, lambda ws, r: ws.merge_range(r, choice.left, r, right, label, cam_fmt))
    labels = lay.ref(names.LABELS, 0, 0, 0, len(arch.classes) - 1, from_sheet=name, absolute=True)
    sums = lay.grid(CAM_SUMS)
    sums_prefix = lay.prefix(CAM_SUMS, name)
    content.grid_title(alpha, t("gradcam.alpha_title", n=maps), st.grid_title)
    chosen = choice.cell(0, 0, absolute=True)
    content.grid_formulas(alpha, lambda i, f: learning.alpha_formula(
        sums_prefix + sums.row_range(f, absolute=True), chosen, labels, h * w), learned.cam_alpha[None], st.grid(
        GRADIENT_FORMAT))
    relu = [lay.cells(names.relu_out(k, f), name) for f in range(1, maps + 1)]
    alphas = [alpha.cell(0, f, absolute=True) for f in range(maps)]
    content.grid_title(cam, t("gradcam.map", h=h, w=w), st.grid_title)
    content.grid_formulas(cam, lambda i, j: learning.gradcam_formula(alphas, [r.ref(i, j) for r in relu]),
                          learned.gradcam, st.grid(GRADIENT_FORMAT))
    rows = [(y * h) // spec.height for y in range(spec.height)]
    cols = [(x * w) // spec.width for x in range(spec.width)]
    content.grid_title(cam_in, t("gradcam.over", h=spec.height, w=spec.width), st.grid_title)
    content.grid_formulas(cam_in, lambda y, x: f"={cam.cell(rows[y], cols[x])}", learned.gradcam_input,
                          st.grid(HIDDEN))

    def setup(ws: Worksheet) -> None:
        setup_grid_sheet(ws, ctx, plan)
        diverging_scale(ws, [alpha], symmetric_limit(learned.cam_alpha))
        sequential_scale(ws, [cam, cam_in], limit)
        ws.data_validation(choice.top, choice.left, choice.top, choice.left,
                           {"validate": "list", "source": "=" + labels})
        lay_picture_over(ws, ctx, cam_in, t("gradcam.over", h=spec.height, w=spec.width))

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    arch = layout.arch
    maps, h, w = arch.blocks[-1].conv_shape
    spec = arch.input
    sheet = layout.add_sheet(GRADCAM, KIND)
    layout.add_grid(sheet, Grid(names.CAM_CLASS, sheet.name, 5, LEFT + 4, 1, 1, holds=Holds.SETTING))
    layout.add_grid(sheet, Grid(ALPHA, sheet.name, HEADER_ROWS + 1, LEFT, 1, maps, named=False, holds=Holds.FORMULAS))
    top = HEADER_ROWS + 4
    layout.add_grid(sheet, Grid(names.GRADCAM, sheet.name, top, LEFT, h, w, holds=Holds.FORMULAS))
    layout.add_grid(sheet, Grid(names.GRADCAM_INPUT, sheet.name, top, LEFT + w + GAP, spec.height, spec.width,
                                holds=Holds.FORMULAS))


STAGE = Stage(KIND, plan, gradcam_sheet, learning=True)
