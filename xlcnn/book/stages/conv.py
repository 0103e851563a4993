"""The Conv k sheet: one grid per feature map, each cell a SUMPRODUCT per input channel plus the bias."""

from __future__ import annotations

from collections.abc import Callable

from xlcnn.book.layout import Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.layout import conv_sheet as conv_sheet_name
from xlcnn.book.sheet import (
    BuildContext,
    SheetContent,
    grid_sheet_with_scale,
    map_grids,
    param_cell,
    stage_header,
)
from xlcnn.book.stage import Repeat, Stage
from xlcnn.book.styles import activation_limit, diverging_scale, number_format
from xlcnn.model import names
from xlcnn.model.spec import Architecture
from xlcnn.nn.layers import conv

KIND = SheetKind("conv")


def input_keys(arch: Architecture, k: int) -> list[str]:
    """The grids conv ``k`` reads: the R, G, B pixel grids for the first layer, else pool k−1's maps."""
    return [names.block_input(k, c) for c in range(1, arch.blocks[k - 1].in_shape[0] + 1)]


class ConvFormulas:
    """The formula of every cell of conv ``k``'s maps: ``=(Σ SUMPRODUCT(window, kernel))*scale+bias`` on the
    first layer (when the model scales its input), ``=Σ SUMPRODUCT(window, kernel)+bias`` after it.

    The window references are worked out once per layer, and a cell's formula only joins strings. A cell's
    windows are joined again for every filter: kept for all filters they held 24 MB at 256×256 and saved no
    measurable time (bench/goals.py).
    """

    def __init__(self, layout: Layout, k: int, sheet: str | None = None, inputs: list[str] | None = None,
                 key: Callable[[str], str] = str, absolute: bool = True) -> None:
        """The formulas of Conv k; the forward pass after the step passes its own ``sheet``, the grids it reads
        (``inputs``, by channel), ``key``, which turns a weight's name into the name of the grid that holds
        the weight to use (``names.step``), and ``absolute=False`` for shorter references to the weights."""
        arch = layout.arch
        block = arch.blocks[k - 1]
        conv, (_, oh, ow) = block.conv, block.conv_shape
        self.k, self.layout, self.last, self.key, self.absolute = k, layout, conv.kernel - 1, key, absolute
        self.sheet = conv_sheet_name(k) if sheet is None else sheet
        self.windows = [layout.windows(grid, oh, ow, conv.kernel, conv.stride, conv.padding, self.sheet)
                        for grid in (input_keys(arch, k) if inputs is None else inputs)]
        self.scale = ""
        if k == 1 and names.INPUT_SCALE in layout.grids:
            self.scale = layout.ref(names.INPUT_SCALE, 0, 0, from_sheet=self.sheet, absolute=absolute)

    def for_filter(self, f: int) -> Callable[[int, int], str]:
        ref, key = self.layout.ref, self.key
        kernels = [ref(key(names.conv_w(self.k, f, c)), 0, 0, self.last, self.last, from_sheet=self.sheet,
                       absolute=self.absolute) for c in range(1, len(self.windows) + 1)]
        bias = ref(key(names.conv_b(self.k, f)), 0, 0, from_sheet=self.sheet, absolute=self.absolute)
        scale, windows_at = self.scale, self._windows_at

        def formula(i: int, j: int) -> str:
            return conv.formula(windows_at(i, j), kernels, bias, scale)

        return formula

    def _windows_at(self, i: int, j: int) -> tuple[str, ...]:
        """The input windows output cell (i, j) reads, one per input channel."""
        return tuple(window.ref(i, j) for window in self.windows)


def conv_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Conv k: one grid per feature map, each cell a SUMPRODUCT per input channel plus the bias."""
    k, t, st, lay = plan.block, ctx.texts, ctx.styles, ctx.layout
    arch = ctx.model.arch
    block = arch.blocks[k - 1]
    conv = block.conv
    c_in, h_in, w_in = block.in_shape
    filters, oh, ow = block.conv_shape
    maps = ctx.trace.blocks[k - 1].conv
    limit = activation_limit(maps)
    scaled = k == 1 and arch.input.scale != 1.0
    content = SheetContent()
    stage_header(content, ctx, t("conv.title", k=k), [
        t("conv.what", kernel=conv.kernel, n=c_in * conv.kernel**2),
        t("conv.formula", channels=c_in, scale_words=t("conv.scale_words") if scaled else ""),
        t("conv.shape", c_in=c_in, h_in=h_in, w_in=w_in, c_out=filters, h_out=oh, w_out=ow, pad=conv.padding,
          kernel=conv.kernel, stride=conv.stride),
        t("legend.diverging", limit=f"{limit:.3g}"),
    ])
    param_cell(content, ctx, names.conv_stride(k), t("conv.stride"), conv.stride)
    param_cell(content, ctx, names.conv_pad(k), t("conv.padding"), conv.padding)
    content.text(lay.grid(names.conv_pad(k)).top, lay.grid(names.conv_pad(k)).left + 2, t("conv.fixed"), st.note)

    formulas = ConvFormulas(lay, k)
    fmt = st.grid(number_format(maps))
    for f in range(1, filters + 1):
        grid = lay.grid(names.conv_out(k, f))
        content.grid_title(grid, t("conv.map", k=k, f=f, h=oh, w=ow), st.grid_title)
        content.grid_formulas(grid, formulas.for_filter(f), maps[f - 1], fmt)

    grid_sheet_with_scale(content, ctx, plan, diverging_scale, map_grids(plan), limit)
    return content


def plan(layout: Layout, k: int) -> None:
    filters, rows, cols = layout.arch.blocks[k - 1].conv_shape
    sheet = layout.add_sheet(conv_sheet_name(k), KIND, k)
    layout.add_grid(sheet, Grid(names.conv_stride(k), sheet.name, 5, 3, 1, 1, holds=Holds.SETTING))
    layout.add_grid(sheet, Grid(names.conv_pad(k), sheet.name, 5, 6, 1, 1, holds=Holds.SETTING))
    layout.add_maps(sheet, [names.conv_out(k, f) for f in range(1, filters + 1)], rows, cols, 0)


STAGE = Stage(KIND, plan, conv_sheet, Repeat.PER_BLOCK)
