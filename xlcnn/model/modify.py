"""Change a template's architecture: its input size and, per conv block, filters, kernel, stride, padding, pool.

``modify_model`` checks every value against the same ranges as ``model.toml`` (``templates.py``), checks that
every window still fits and that the workbook would fit in a spreadsheet — all before a single weight is
made — then keeps each layer's weights whose shape is unchanged and starts the others afresh from
``zoo.initial_weights``. The provenance says which layers were kept and which are random, so the Guide's model
card never claims an accuracy the changed network does not have.

Messages name the parameter (``filters 0: must be between 1 and 64``; the CLI says ``--filters 0``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from xlcnn.errors import ModelError, OptionError
from xlcnn.errors import option as param
from xlcnn.model.spec import Architecture, ConvSpec, Model, PoolSpec, Provenance, Weights
from xlcnn.model.templates import (
    MAX_FILTERS,
    MAX_INPUT_SIDE,
    MAX_KERNEL,
    MAX_PADDING,
    MAX_STRIDE,
    shape_problem,
)
from xlcnn.model.zoo import initial_weights
from xlcnn.resources import templates_root

MAX_POOL = min(MAX_KERNEL, MAX_STRIDE)  # --pool sets a pool's size and its stride alike

Size = int | tuple[int, int]
PerBlock = int | Sequence[int]

# option → (lowest, highest) for the per-block options.
RANGES = {
    "filters": (1, MAX_FILTERS),
    "kernel": (1, MAX_KERNEL),
    "stride": (1, MAX_STRIDE),
    "padding": (0, MAX_PADDING),
    "pool": (1, MAX_POOL),
}
# Which options shape the input a layer gets, for naming them when its window does not fit.
_SHAPES_KERNEL = ("size", "kernel", "padding")
_SHAPES_EARLIER = ("size", "kernel", "stride", "padding", "pool")


def _show(value: object, size: bool = False) -> str:
    """A value as it was typed: 28, 24x32 (a size), 4,8."""
    if size and isinstance(value, tuple) and len(value) == 2:
        return f"{value[0]}x{value[1]}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ",".join(str(v) for v in value)
    return str(value)


def _whole(value: object, option: str, shown: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"{param(option)} {shown}: must be whole numbers")
    return value


def _size(size: Size) -> tuple[int, int]:
    shown = _show(size, size=True)
    if isinstance(size, tuple):
        if len(size) != 2:
            raise OptionError(f"{param('size')} {shown}: give one side (N) or height and width (HxW)")
        h, w = (_whole(v, "size", shown) for v in size)
        if not (1 <= h <= MAX_INPUT_SIDE and 1 <= w <= MAX_INPUT_SIDE):
            raise OptionError(f"{param('size')} {shown}: the height and width must be between 1 and {MAX_INPUT_SIDE}")
        return h, w
    side = _whole(size, "size", shown)
    if not 1 <= side <= MAX_INPUT_SIDE:
        raise OptionError(f"{param('size')} {shown}: must be between 1 and {MAX_INPUT_SIDE}")
    return side, side


def _per_block(option: str, value: PerBlock, blocks: int, model: Model) -> list[int]:
    """One value for every conv block, or one per block; each within the option's range."""
    low, high = RANGES[option]
    shown = _show(value)
    values = list(value) if isinstance(value, list | tuple) else [value]  # 8.0 is one (wrong) value, not a list
    if not values:
        raise OptionError(f"{param(option)}: give a whole number, or one per conv block")
    numbers = [_whole(v, option, shown) for v in values]
    bad = [v for v in numbers if not low <= v <= high]
    if bad:
        which = "must be" if len(numbers) == 1 else "each value must be"
        raise OptionError(f"{param(option)} {shown}: {which} between {low} and {high}")
    if len(numbers) == 1:
        return numbers * blocks
    if len(numbers) != blocks:
        plural = "block" if blocks == 1 else "blocks"
        raise OptionError(f"{param(option)} {shown}: {len(numbers)} values, but model {model.name!r} has {blocks} conv "
                          f"{plural}; give one value for all, or one per block")
    return numbers


def modify_model(
    model: Model,
    size: Size | None = None,
    filters: PerBlock | None = None,
    kernel: PerBlock | None = None,
    stride: PerBlock | None = None,
    padding: PerBlock | None = None,
    pool: PerBlock | None = None,
    seed: int = 0,
    check: Callable[[Architecture], object] | None = None,
) -> Model:
    """``model`` with a new input ``size`` (N or (height, width)) and per-block conv settings.

    Each per-block setting is one number for every conv block or a sequence of one per block; ``pool`` sets
    each max pool's size and stride. Layers whose weights keep their shape keep their weights; the others get
    seeded random weights (``seed``), and the provenance says so. Unchanged settings give back ``model``.
    Raises ``OptionError`` for a value out of range or a window that does not fit. ``check`` runs on the new
    architecture before any weights are made (``xlcnn.modify_model`` refuses there, with a ``LimitError``,
    an architecture whose workbook would not fit in a spreadsheet).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OptionError(f"{param('seed')} {seed}: must be a whole number, 0 or more")
    arch = model.arch
    blocks = len(arch.blocks)
    spec = arch.input
    height, width = (spec.height, spec.width) if size is None else _size(size)
    options: dict[str, PerBlock | None] = {"filters": filters, "kernel": kernel, "stride": stride,
                                           "padding": padding, "pool": pool}
    given: dict[str, object] = {"size": size, **options}
    per_block = {key: _per_block(key, value, blocks, model) for key, value in options.items() if value is not None}
    convs = []
    for b, (conv, pooling) in enumerate(arch.convs):
        new_conv = ConvSpec(
            filters=per_block["filters"][b] if "filters" in per_block else conv.filters,
            kernel=per_block["kernel"][b] if "kernel" in per_block else conv.kernel,
            stride=per_block["stride"][b] if "stride" in per_block else conv.stride,
            padding=per_block["padding"][b] if "padding" in per_block else conv.padding,
        )
        new_pool = PoolSpec(per_block["pool"][b], per_block["pool"][b]) if "pool" in per_block else pooling
        convs.append((new_conv, new_pool))
    new_arch = Architecture(replace(spec, height=height, width=width), tuple(convs), arch.classes)
    if new_arch == arch:
        return model
    _check_fit(new_arch, given)
    if check is not None:
        check(new_arch)  # before the weights are made: a huge architecture is refused before it fills memory
    weights, kept, fresh = _weights(model, new_arch, seed)
    return Model(
        name=model.name,
        title=f"{model.title} (modified: {_changes(arch, new_arch)})",
        description=model.description,
        arch=new_arch,
        weights=weights,
        provenance=_provenance(model, given, seed, kept, fresh),
        source=model.source,
    )


def _check_fit(arch: Architecture, given: Mapping[str, object]) -> None:
    """Every window must fit its input; say which of the given options made it not fit."""
    problem = shape_problem(arch)
    if problem is None:
        return
    index, key, text = problem
    block = index // 3 + 1
    relevant = _SHAPES_KERNEL if key == "kernel" and block == 1 else _SHAPES_EARLIER
    named = " ".join(f"{param(option)} {_show(given[option], option == 'size')}" for option in relevant
                     if given[option] is not None)
    raise OptionError(f"{named or 'the model'}: {text}")


def _weights(model: Model, arch: Architecture, seed: int) -> tuple[Weights, list[str], list[str]]:
    """Keep each layer whose weights keep their shape; seeded random weights for the rest."""
    old, new = model.weights, initial_weights(arch, seed)
    conv_w, conv_b = [], []
    kept: list[str] = []
    fresh: list[str] = []
    for k, (w_old, b_old, w_new, b_new) in enumerate(zip(old.conv_w, old.conv_b, new.conv_w, new.conv_b,
                                                         strict=True), start=1):
        same = w_old.shape == w_new.shape
        conv_w.append(w_old if same else w_new)
        conv_b.append(b_old if same else b_new)
        (kept if same else fresh).append(f"conv {k}")
    same = old.dense_w.shape == new.dense_w.shape
    (kept if same else fresh).append("dense")
    dense_w, dense_b = (old.dense_w, old.dense_b) if same else (new.dense_w, new.dense_b)
    return Weights(tuple(conv_w), tuple(conv_b), dense_w, dense_b), kept, fresh


def _changes(old: Architecture, new: Architecture) -> str:
    """What differs, in words: "input 64×64, conv 1 filters 8, conv 2 kernel 5, pool 1 3×3/3"."""
    parts = []
    if (old.input.height, old.input.width) != (new.input.height, new.input.width):
        parts.append(f"input {new.input.height}×{new.input.width}")
    for k, ((c0, p0), (c1, p1)) in enumerate(zip(old.convs, new.convs, strict=True), start=1):
        for what, a, b in (("filters", c0.filters, c1.filters), ("kernel", c0.kernel, c1.kernel),
                           ("stride", c0.stride, c1.stride), ("padding", c0.padding, c1.padding)):
            if a != b:
                parts.append(f"conv {k} {what} {b}")
        if (p0.size, p0.stride) != (p1.size, p1.stride):
            parts.append(f"pool {k} {p1.size}×{p1.size}/{p1.stride}")
    return ", ".join(parts)


def _template_ref(model: Model) -> str:
    """How to name the template on the command line: a built-in's name, or the folder it came from."""
    if model.source is None:
        return model.name
    try:
        builtin = model.source.resolve().parent == templates_root().resolve()
    except ModelError:  # no built-in templates folder: the model's own folder is the reference
        builtin = False
    return model.name if builtin and model.source.name == model.name else f"'{model.source}'"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _provenance(model: Model, given: Mapping[str, object], seed: int, kept: list[str], fresh: list[str]) -> Provenance:
    """An honest record: what came from the template, what is random, and that the accuracy no longer holds."""
    before = model.provenance
    origin = f"template {model.name!r} ({before.method})"
    if fresh:
        summary = (f"Changed from {origin}: {_and(fresh)} {'has' if len(fresh) == 1 else 'have'} random "
                   f"starting weights (He-normal, seed {seed}), not trained")
        summary += f"; {_and(kept)} kept from the template." if kept else "; nothing kept from the template."
        summary += " Its predictions are not meaningful until it is trained."
    else:
        summary = (f"Changed from {origin}: every layer keeps the template's weights, but the network's shape "
                   f"changed, so they were not made for it and its predictions may not be meaningful.")
    options = " ".join(f"--{key} {_show(value, key == 'size')}" for key, value in given.items() if value is not None)
    return Provenance(
        method="modified",
        summary=summary,
        dataset=before.dataset if kept else "",
        seed=seed if fresh else None,
        accuracy=None,  # measured on another network: it does not carry over
        accuracy_note="",
        command=f"xlcnn build IMAGE --model {_template_ref(model)} {options}" + (f" --seed {seed}" if fresh else ""),
    )

