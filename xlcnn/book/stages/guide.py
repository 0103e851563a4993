"""The Guide sheet: the live prediction and loss, a thumbnail, links to every sheet, and the model card."""

from __future__ import annotations

import io

from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import GUIDE, LEFT, TITLE, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.paper import READABLE_SCALE, page_px
from xlcnn.book.sheet import BuildContext, SheetContent, cached, column_px, page_setup
from xlcnn.book.stage import Stage
from xlcnn.model import names
from xlcnn.version import __version__

THUMBNAIL_PX = 168
COLUMN_WIDTHS = (1.5, 26, 100, 4)  # a margin, the labels, the text, a gap before the picture
TEXT_CHARS = 95  # characters per line of the wide text column (width 100)

KIND = SheetKind("guide")


def architecture_text(ctx: BuildContext) -> str:
    t, arch = ctx.texts, ctx.model.arch
    parts = [t("card.input_shape", h=arch.input.height, w=arch.input.width)]
    for block in arch.blocks:
        conv, pool = block.conv, block.pool
        parts.append(t("card.conv", k=conv.kernel, filters=conv.filters, stride=conv.stride, pad=conv.padding))
        parts.append(t("card.relu"))
        parts.append(t("card.pool", size=pool.size, stride=pool.stride))
    parts += [t("card.flatten", n=arch.flatten_size), t("card.dense", n=len(arch.classes)), t("card.softmax"),
              t("card.loss")]
    return " → ".join(parts)


def model_card(ctx: BuildContext) -> list[tuple[str, str]]:
    """The model card's rows (label, value); a measurement or licence the provenance lacks has no row."""
    t, model, prov = ctx.texts, ctx.model, ctx.model.provenance
    spec = model.arch.input
    (template, title, classes, input_, architecture, method, data, accuracy, command, resizing,
     made_by) = t.lines("guide.card")
    return [
        (template, model.name),
        (title, model.title),
        (classes, t("meta.list_separator").join(model.classes)),
        (input_, t("card.input", h=spec.height, w=spec.width, scale=spec.scale_text)),
        (architecture, architecture_text(ctx)),
        (method, prov.summary or prov.method),  # the summary says how ("Trained by xlcnn …")
        (data, _data(ctx)),
        *([(t("card.licence_label"), prov.licence)] if prov.licence else []),
        (accuracy, _accuracy(ctx)),
        *held_out_rows(ctx),
        (command, prov.command or "—"),
        (resizing, "—" if ctx.image is None else f"{ctx.image.name}: {t(f'card.fit_{ctx.image.fit}')}"),
        (made_by, f"xlcnn {__version__}"),
    ]


def _data(ctx: BuildContext) -> str:
    t, prov = ctx.texts, ctx.model.provenance
    data = [prov.dataset or "—"]
    if prov.train_size:
        data.append(t("card.images", n=f"{prov.train_size:,}"))
    if prov.epochs:
        data.append(t("card.epochs", n=prov.epochs))
    if prov.seed is not None:
        data.append(t("card.seed", n=prov.seed))
    return ", ".join(data)


def _accuracy(ctx: BuildContext) -> str:
    prov = ctx.model.provenance
    if prov.accuracy is None:
        return ctx.texts("card.not_measured")
    return f"{prov.accuracy:.1%}" + (f" ({prov.accuracy_note})" if prov.accuracy_note else "")


def held_out_rows(ctx: BuildContext) -> list[tuple[str, str]]:
    """What training measured on held-out images besides accuracy — how sure the model is, whether it is
    right that often, and how often each filter switches on — one row for each measurement it has."""
    t, prov = ctx.texts, ctx.model.provenance
    rows = []
    if prov.median_confidence is not None:
        rows.append((t("card.confidence_label"), t("card.confidence", value=f"{prov.median_confidence:.0%}")))
    if prov.calibration_error is not None:
        rows.append((t("card.calibration_label"), t("card.calibration", value=f"{prov.calibration_error:.3f}")))
    if prov.temperature is not None:
        value = f"{prov.temperature:.2f}".rstrip("0").rstrip(".")  # 1.6, not 1.60; never 1.6e+00
        sharper = prov.temperature < 1  # dividing the logits by less than 1 moves them apart: more confident
        rows.append((t("card.temperature_label"), t("card.temperature_sharper" if sharper else "card.temperature",
                                                     value=value)))
    if prov.activity:
        layers = "; ".join(t("card.activity_layer", k=k, shares=", ".join(f"{a:.0%}" for a in layer))
                           for k, layer in enumerate(prov.activity, start=1))
        rows.append((t("card.activity_label"), t("card.activity", layers=layers)))
    return rows


def honest_notes(ctx: BuildContext) -> list[str]:
    """Under the live prediction: where the true label came from when the workbook was built (the cells are
    live, so this speaks of the build, not of now), and that the model can only answer with its classes."""
    t, label = ctx.texts, ctx.trace.true_label
    source = t("guide.label_given" if ctx.label_given else "guide.label_assumed", label=label)
    return [source, t("guide.only_classes", classes=t("meta.list_separator").join(ctx.model.classes))]


def _steps(content: SheetContent, ctx: BuildContext, row: int) -> int:
    """The steps through the network: a linked title, what happens, an analogy and something to try, each."""
    t, st = ctx.texts, ctx.styles
    content.text(row, LEFT, t("steps.title"), st.subtitle)
    content.wrapped(row + 1, LEFT + 1, t("steps.intro"), st.wrap, TEXT_CHARS)
    labels = t.raw("steps.labels")
    row += 1
    kinds = {plan.kind.name for plan in ctx.layout.sheets}
    for step in t.raw("steps.list"):
        if str(step["stage"]) not in kinds:  # the learning layer's steps, in a workbook built without it
            continue
        row += 2
        sheet = ctx.layout.first_sheet(str(step["stage"]))  # block 1's, for the per-block stages
        content.link(row, LEFT, f"'{sheet.name}'!A1", step["title"], st.link_bold)
        for key in ("what", "like", "try"):
            row += 1
            content.text(row, LEFT, str(labels[key]), st.label_top)
            content.wrapped(row, LEFT + 1, str(step[key]), st.wrap, TEXT_CHARS)
    return row + 1


def guide_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name = ctx.texts, ctx.styles, ctx.layout, plan.name
    tr = ctx.trace
    content = SheetContent()
    content.text(*TITLE, t("guide.title"), st.title)
    image_name = "—" if ctx.image is None else ctx.image.name
    content.text(1, LEFT, t("guide.subtitle", model_title=ctx.model.title, image_name=image_name), st.note)

    live = [
        ("guide_predicted", lay.ref("predicted", 0, 0, from_sheet=name), tr.predicted_label, st.big_value),
        ("guide_probability", lay.ref("predicted_prob", 0, 0, from_sheet=name), float(tr.probs.max()), st.percent),
        ("guide_true_label", lay.ref(names.TRUE_LABEL, 0, 0, from_sheet=name), tr.true_label, st.big_value),
        ("guide_loss", lay.ref(names.LOSS, 0, 0, from_sheet=name), cached(tr.loss, "#NUM!"), st.big_number),
    ]
    for (key, ref, value, fmt), label in zip(live, t.lines("guide.summary"), strict=True):
        grid = lay.grid(key)
        content.text(grid.top, LEFT, label, st.label)
        content.formula(grid.top, grid.left, f"={ref}", value, fmt)

    live_loss = lay.grid("guide_loss")
    row = live_loss.top
    for note in honest_notes(ctx):  # in the values' column, right under the live loss
        row += 1
        content.wrapped(row, live_loss.left, note, st.wrap, TEXT_CHARS)

    row += 2
    content.text(row, LEFT, t("guide.contents"), st.subtitle)
    descriptions = t.raw("guide.sheet_descriptions")
    for sheet in lay.sheets[1:]:
        row += 1
        content.link(row, LEFT, f"'{sheet.name}'!A1", sheet.name, st.link)
        content.text(row, LEFT + 1, str(descriptions.get(sheet.kind.name, "")), st.text)

    row += 2
    content.text(row, LEFT, t("guide.how_title"), st.subtitle)
    for line in t.lines("guide.how"):  # wrapped in the text column, so that the page need not be wider
        row += 1
        content.wrapped(row, LEFT + 1, "• " + line, st.wrap, TEXT_CHARS)
    row += 1

    row = _steps(content, ctx, row + 1)

    row += 1
    content.text(row, LEFT, t("guide.card_title"), st.subtitle)
    for label, value in model_card(ctx):
        row += 1
        content.text(row, LEFT, label, st.label_top)
        content.wrapped(row, LEFT + 1, value, st.wrap, TEXT_CHARS)

    last_row = row

    def setup(ws: Worksheet) -> None:
        for col, width in enumerate(COLUMN_WIDTHS):
            ws.set_column(col, col, width)
        ws.set_zoom(100)
        ws.hide_gridlines(2)
        if ctx.image is not None:
            ws.insert_image(2, LEFT + 3, "thumbnail.png", {
                "image_data": io.BytesIO(ctx.image.thumbnail_png), "object_position": 3,
                "description": t("guide.thumbnail", name=ctx.image.name),
            })
        page_setup(ws, ctx, plan.name)
        # The columns and the picture at a readable scale: portrait if they fit so, else landscape at the
        # readable scale itself (the fewest pages).
        width = sum(column_px(w) for w in COLUMN_WIDTHS) + THUMBNAIL_PX
        portrait = int(page_px(False, 100)[0] / width * 100)
        if portrait < READABLE_SCALE:
            ws.set_landscape()
        ws.print_area(0, 0, last_row, LEFT + 5)
        ws.set_print_scale(min(100, portrait) if portrait >= READABLE_SCALE else READABLE_SCALE)

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(GUIDE, KIND, square=False)
    # Live summary cells: prediction, its probability, true label, loss (column C of rows 4–7).
    for i, key in enumerate(("guide_predicted", "guide_probability", "guide_true_label", "guide_loss")):
        layout.add_grid(sheet, Grid(key, sheet.name, 3 + i, 2, 1, 1, named=False, holds=Holds.FORMULAS))


STAGE = Stage(KIND, plan, guide_sheet, checked_last=True)
