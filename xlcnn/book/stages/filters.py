"""The Filters k sheet: each filter's kernels (one small grid per input channel) and its bias — all constants.

On Filters 1, beside each filter, what it looks for: the filter drawn as a small colour picture, and (when the
model carries them, ``Model.patches``) the training patches that excite it most. Both are static fills
(``Holds.OTHER``): they hold no number and no formula, so nothing a student edits, and nothing verify checks,
changes. They are drawn from the weights as built.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import GAP, HEADER_ROWS, LEFT, Grid, Holds, Layout, SheetKind, SheetPlan, filters_sheet
from xlcnn.book.sheet import BuildContext, SheetContent, grid_sheet_with_scale, stage_header
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.stages.image import image_colours
from xlcnn.book.styles import diverging_scale, number_format, symmetric_limit
from xlcnn.model import names
from xlcnn.model.spec import Block

KIND = SheetKind("filters")

MAX_PICTURE_KERNEL = 7  # larger kernels get no pictures: a 15×15 picture per filter and patch is a wall of cells
SHOWN_PATCHES = 4  # slots for patches beside each filter; a model may store more (the strongest come first)


def picture_key(f: int) -> str:
    """The layout's key of conv-1 filter ``f``'s picture (internal: not a defined name)."""
    return f"filter_picture{f}"


def patch_key(f: int, p: int) -> str:
    """The layout's key of the ``p``-th strongest training patch of conv-1 filter ``f`` (from 1)."""
    return f"filter_patch{f}_{p}"


def has_pictures(block: Block) -> bool:
    """Whether the Filters sheet of ``block`` shows pictures: conv 1 (its channels are R, G, B), small kernels."""
    return block.index == 1 and block.in_shape[0] == 3 and block.conv.kernel <= MAX_PICTURE_KERNEL


def filter_colours(w: np.ndarray) -> np.ndarray:
    """(filters, 3, k, k) conv-1 kernels → (filters, k, k, 3) uint8 colours: per channel, a weight of 0 is 128
    and the filter's largest absolute weight (over its three channels) 255 if positive, 0 if negative."""
    top = np.max(np.abs(w), axis=(1, 2, 3), keepdims=True)
    scaled = np.divide(w, top, out=np.zeros_like(w), where=top > 0)
    return np.clip(np.rint(128 + 128 * scaled), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def channel_names(ctx: BuildContext, k: int) -> list[str]:
    """What conv ``k`` reads, channel by channel: R, G, B for conv 1; "channel c" after it."""
    t = ctx.texts
    if k == 1:
        return t.lines("input.channel_letters")
    return [t("filters.channel", c=c) for c in range(1, ctx.model.arch.blocks[k - 1].in_shape[0] + 1)]


def filters_sheet_content(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Filters k: each filter's kernels (one small grid per input channel) and its bias — all constants."""
    k, t, st, lay = plan.block, ctx.texts, ctx.styles, ctx.layout
    block = ctx.model.arch.blocks[k - 1]
    w, b = ctx.model.weights.conv_w[k - 1], ctx.model.weights.conv_b[k - 1]
    limit = symmetric_limit(w, b)
    fmt = st.editable_grid(number_format(np.concatenate([w.ravel(), b])))
    content = SheetContent()
    pictures = _Pictures.of(ctx, block) if has_pictures(block) else None
    stage_header(content, ctx, t("filters.title", k=k), [
        t("filters.what", kernels=t.lines("filters.kernels", channels=block.in_shape[0])[block.in_shape[0] > 1],
          kernel=block.conv.kernel, k=k),
        t("filters.formula"),
        "" if pictures is None else pictures.key(ctx),
        t("legend.diverging", limit=f"{limit:.3g}"),
    ])
    letters = channel_names(ctx, k)
    for f in range(1, block.conv.filters + 1):
        first = lay.grid(names.conv_w(k, f, 1))
        content.text(first.title_row - 1, first.left, t("filters.band", f=f, k=k), st.subtitle)
        for c in range(1, block.in_shape[0] + 1):
            grid = lay.grid(names.conv_w(k, f, c))
            content.grid_title(grid, f"{letters[c - 1]} · {block.conv.kernel}×{block.conv.kernel}", st.grid_title)
            content.grid_numbers(grid, w[f - 1, c - 1], fmt)
        bias = lay.grid(names.conv_b(k, f))
        content.grid_title(bias, t("filters.bias"), st.grid_title)
        content.number(bias.top, bias.left, float(b[f - 1]), fmt)
        if pictures is not None:
            pictures.emit(content, ctx, f)

    weights = [g for g in plan.grids if g.holds is Holds.NUMBERS]  # the scale colours numbers, not pictures
    grid_sheet_with_scale(content, ctx, plan, diverging_scale, weights, limit)
    return content


class _Pictures:
    """The colours of Filters 1's pictures: each filter's own, and its patches' (quantised together, as the
    Image sheet quantises, when there are too many colours for a spreadsheet's cell formats)."""

    def __init__(self, filters: np.ndarray, patches: np.ndarray | None, quantised: bool) -> None:
        self.filters, self.patches, self.quantised = filters, patches, quantised

    @classmethod
    def of(cls, ctx: BuildContext, block: Block) -> _Pictures:
        drawn = filter_colours(ctx.model.weights.conv_w[0])
        stored = ctx.model.patches
        slots = min(SHOWN_PATCHES, ctx.layout.patches)
        shown = None if stored is None or slots == 0 else np.asarray(stored[:, :slots], dtype=np.uint8)
        both = drawn if shown is None else np.concatenate([drawn.reshape(-1, 3), shown.reshape(-1, 3)])
        colours, quantised = image_colours(both)
        if shown is None:
            return cls(colours.reshape(drawn.shape), None, quantised)
        cut = drawn.size // 3
        return cls(colours[:cut].reshape(drawn.shape), colours[cut:].reshape(shown.shape), quantised)

    def key(self, ctx: BuildContext) -> str:
        t = ctx.texts
        return t("filters.picture_key") + (" " + t("image.quantised") if self.quantised else "")

    def emit(self, content: SheetContent, ctx: BuildContext, f: int) -> None:
        lay, t, st = ctx.layout, ctx.texts, ctx.styles
        picture = lay.grid(picture_key(f))
        content.grid_title(picture, t("filters.picture"), st.grid_title)
        _fill(content, ctx, picture, self.filters[f - 1])
        if self.patches is None:
            return
        for p in range(1, self.patches.shape[1] + 1):
            _fill(content, ctx, lay.grid(patch_key(f, p)), self.patches[f - 1, p - 1])
        content.grid_title(lay.grid(patch_key(f, 1)), t("filters.patches"), st.grid_title)


def _fill(content: SheetContent, ctx: BuildContext, grid: Grid, colours: np.ndarray) -> None:
    """Each cell of ``grid`` filled with its (rows, cols, 3) colour, holding nothing."""
    styles = ctx.styles

    def emit(ws: Worksheet, row: int) -> None:
        for c, rgb in enumerate(colours[row - grid.top]):
            ws.write_blank(row, grid.left + c, None, styles.pixel((int(rgb[0]), int(rgb[1]), int(rgb[2]))))

    content.add(grid.top, grid.top + grid.rows - 1, emit)


def add_filter_bands(layout: Layout, sheet: SheetPlan, k: int, key: Callable[[str], str] = str,
                     holds: Holds = Holds.NUMBERS, beside: Callable[[int, int, int], None] | None = None) -> int:
    """Conv k's filters as bands: per filter a title row, a row of channel names, then its kernels side by side
    and its bias to the right — under the names ``key`` makes of the weights' (``names.grad``, ``names.step``);
    ``beside(f, row, column)`` adds more right of the bias. → the first row below the bands."""
    block = layout.arch.blocks[k - 1]
    channels, filters, kernel = block.in_shape[0], block.conv.filters, block.conv.kernel
    y = HEADER_ROWS
    for f in range(1, filters + 1):
        x = LEFT
        for c in range(1, channels + 1):
            layout.add_grid(sheet, Grid(key(names.conv_w(k, f, c)), sheet.name, y + 2, x, kernel, kernel, holds=holds))
            x += kernel + GAP
        layout.add_grid(sheet, Grid(key(names.conv_b(k, f)), sheet.name, y + 2, x, 1, 1, holds=holds))
        if beside is not None:
            beside(f, y + 2, x + 1)
        y += 2 + kernel + GAP
    return y


def plan(layout: Layout, k: int) -> None:
    """Each filter is a band (``add_filter_bands``); on Filters 1, right of it, its picture and its strongest
    training patches, if the model has them."""
    block = layout.arch.blocks[k - 1]
    kernel = block.conv.kernel
    sheet = layout.add_sheet(filters_sheet(k), KIND, k, break_above=1)  # above the filter's title

    def pictures(f: int, row: int, x: int) -> None:
        x += 2 * GAP  # a wider gap: the bias's title needs the room, and the pictures are not weights
        slots = min(SHOWN_PATCHES, layout.patches)
        for key in [picture_key(f)] + [patch_key(f, p) for p in range(1, slots + 1)]:
            layout.add_grid(sheet, Grid(key, sheet.name, row, x, kernel, kernel, named=False))
            x += kernel + GAP

    add_filter_bands(layout, sheet, k, beside=pictures if has_pictures(block) else None)


STAGE = Stage(KIND, plan, filters_sheet_content, Repeat.PER_BLOCK)
