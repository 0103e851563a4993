"""Convolution: cross-correlation (as PyTorch ``Conv2d``) with zero padding and a stride.

Output size per axis is ``floor((n + 2p − k) / s) + 1``. The first layer multiplies the raw 0–255 pixel
sums by the input scale before adding the bias, exactly as its spreadsheet formula does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from xlcnn.book.layout import Layout, SheetPlan
from xlcnn.book.layout import conv_sheet as conv_sheet_name
from xlcnn.book.sheet import (
    BuildContext,
    SheetContent,
    grid_sheet_with_scale,
    map_grids,
    param_cell,
    stage_header,
)
from xlcnn.book.styles import activation_limit, diverging_scale, number_format, symmetric_limit
from xlcnn.model.spec import Architecture


def pad(x: np.ndarray, padding: int) -> np.ndarray:
    """Zero-pad the last two axes of ``x`` by ``padding`` on every side."""
    if padding == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)]
    return np.pad(x, widths)


def windows(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """(N, C, H, W) → (N, C, Ho, Wo, k, k): the receptive field of every output cell (a view, no copy)."""
    view = sliding_window_view(pad(x, padding), (kernel, kernel), axis=(2, 3))
    return view[:, :, ::stride, ::stride]


def forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int, scale: float = 1.0
) -> np.ndarray:
    """(N, C, H, W) × (F, C, k, k) → (N, F, Ho, Wo): ``(Σ window·kernel) · scale + bias``."""
    patches = windows(x, w.shape[2], stride, padding)
    out = np.tensordot(patches, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, F)
    if scale != 1.0:
        out = out * scale
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)) + b[None, :, None, None]


def backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, padding: int, scale: float = 1.0,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of ``forward`` given dL/d(out) (N, F, Ho, Wo) → (dL/dx or None, dL/dw, dL/db).

    One kernel offset (i, j) at a time — k² steps, never a loop over pixels: the input pixels that offset
    reads form a strided slice of the padded input, so ``dw[:, :, i, j]`` correlates that slice with dout
    and dx gets dout sent back through ``w[:, :, i, j]`` into the same slice (col2im). (One ``tensordot``
    over all windows at once is far slower here: it copies the overlapping windows k² times over.)
    The first layer needs no dx.
    """
    k = w.shape[2]
    ho, wo = dout.shape[2], dout.shape[3]
    xp = pad(x, padding)

    def at(a: np.ndarray, i: int, j: int) -> np.ndarray:  # the cells kernel offset (i, j) reads
        return a[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride]

    dw = np.empty(w.shape)
    for i in range(k):
        for j in range(k):
            dw[:, :, i, j] = np.einsum("nfhw,nchw->fc", dout, at(xp, i, j))
    dw *= scale
    db = dout.sum(axis=(0, 2, 3))
    if not input_grad:
        return None, dw, db
    dxp = np.zeros(xp.shape)
    d = dout.transpose(0, 2, 3, 1) * scale  # (N, Ho, Wo, F)
    for i in range(k):
        for j in range(k):
            at(dxp, i, j)[...] += (d @ w[:, :, i, j]).transpose(0, 3, 1, 2)
    return dxp[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]], dw, db


def input_keys(arch: Architecture, k: int) -> list[str]:
    """The grids conv ``k`` reads: the R, G, B pixel grids for the first layer, else pool k−1's maps."""
    if k == 1:
        return ["input_r", "input_g", "input_b"]
    channels = arch.blocks[k - 1].in_shape[0]
    return [f"pool{k - 1}_out{c}" for c in range(1, channels + 1)]


class ConvFormulas:
    """The formula of every cell of conv ``k``'s maps: ``=(Σ SUMPRODUCT(window, kernel))*scale+bias`` on the
    first layer (when the model scales its input), ``=Σ SUMPRODUCT(window, kernel)+bias`` after it.

    The window references are worked out once per layer; ``formula(f, i, j)`` only joins strings.
    """

    def __init__(self, layout: Layout, k: int) -> None:
        arch = layout.arch
        block = arch.blocks[k - 1]
        conv, (_, oh, ow) = block.conv, block.conv_shape
        self.k, self.layout, self.sheet, self.last = k, layout, conv_sheet_name(k), conv.kernel - 1
        self.windows = [layout.windows(key, oh, ow, conv.kernel, conv.stride, conv.padding, self.sheet)
                        for key in input_keys(arch, k)]
        self.opening, self.closing = "", ""
        if k == 1 and "input_scale" in layout.grids:
            self.opening = "("
            self.closing = ")*" + layout.ref("input_scale", 0, 0, from_sheet=self.sheet, absolute=True)

    def for_filter(self, f: int) -> Callable[[int, int], str]:
        ref = self.layout.ref
        kernels = [ref(f"conv{self.k}_w{f}_{c}", 0, 0, self.last, self.last, from_sheet=self.sheet, absolute=True)
                   for c in range(1, len(self.windows) + 1)]
        pairs = list(zip(self.windows, kernels, strict=True))
        head = "=" + self.opening
        tail = self.closing + "+" + ref(f"conv{self.k}_b{f}", 0, 0, from_sheet=self.sheet, absolute=True)

        def formula(i: int, j: int) -> str:
            return head + "+".join(f"SUMPRODUCT({win.ref(i, j)},{kern})" for win, kern in pairs) + tail

        return formula


def filters_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    """Filters k: each filter's kernels (one small grid per input channel) and its bias — all constants."""
    k, t, st, lay = plan.block, ctx.texts, ctx.styles, ctx.layout
    block = ctx.model.arch.blocks[k - 1]
    w, b = ctx.model.weights.conv_w[k - 1], ctx.model.weights.conv_b[k - 1]
    limit = symmetric_limit(w, b)
    fmt = st.grid(number_format(np.concatenate([w.ravel(), b])))
    content = SheetContent()
    stage_header(content, ctx, t("filters.title", k=k), [
        t("filters.what", channels=block.in_shape[0], kernel=block.conv.kernel, k=k),
        t("filters.formula"),
        "",
        t("legend.diverging", limit=f"{limit:.3g}"),
    ])
    channel_names = t.lines("input.channel_letters") if k == 1 else [
        t("filters.channel", c=c) for c in range(1, block.in_shape[0] + 1)]
    for f in range(1, block.conv.filters + 1):
        first = lay.grid(f"conv{k}_w{f}_1")
        content.text(first.title_row - 1, first.left, t("filters.band", f=f, k=k), st.subtitle)
        for c in range(1, block.in_shape[0] + 1):
            grid = lay.grid(f"conv{k}_w{f}_{c}")
            content.grid_title(grid, f"{channel_names[c - 1]} · {block.conv.kernel}×{block.conv.kernel}", st.grid_title)
            content.grid_numbers(grid, w[f - 1, c - 1], fmt)
        bias = lay.grid(f"conv{k}_b{f}")
        content.grid_title(bias, t("filters.bias"), st.grid_title)
        content.number(bias.top, bias.left, float(b[f - 1]), fmt)

    grid_sheet_with_scale(content, ctx, plan, diverging_scale, plan.grids, limit)
    return content


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
    param_cell(content, ctx, f"conv{k}_stride", t("conv.stride"), conv.stride)
    param_cell(content, ctx, f"conv{k}_pad", t("conv.padding"), conv.padding)

    formulas = ConvFormulas(lay, k)
    fmt = st.grid(number_format(maps))
    for f in range(1, filters + 1):
        grid = lay.grid(f"conv{k}_out{f}")
        content.grid_title(grid, t("conv.map", k=k, f=f, h=oh, w=ow), st.grid_title)
        content.grid_formulas(grid, formulas.for_filter(f), maps[f - 1], fmt)

    grid_sheet_with_scale(content, ctx, plan, diverging_scale, map_grids(plan), limit)
    return content
