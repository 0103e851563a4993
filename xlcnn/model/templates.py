"""Model templates: a folder holding ``model.toml`` (architecture, classes, provenance) and ``weights.npz``,
and optionally ``patches.npz`` (the training patches that excite each conv-1 filter most).

Loading checks everything a workbook will rely on and raises ``ModelError`` with the file and the field
at fault: the layer sequence, positive sizes, shapes that agree layer to layer, finite weights of the
right shapes (never unpickled), and class labels that are unique, non-empty and safe to MATCH on.

A model.toml may be hostile: every check runs in bounded time and memory (the file's size, the depth of its
keys and the length of a scale's text are bounded before anything expensive runs), every parser failure becomes
one line, and a value echoed in a message is cut to ``MAX_SHOWN`` characters.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
import tomllib
import zipfile
import zlib
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from xlcnn.errors import ModelError, one_line
from xlcnn.files import not_a_regular_file
from xlcnn.model.labels import MAX_CLASSES, check_labels
from xlcnn.model.shown import MAX_SHOWN, clip, shown
from xlcnn.model.spec import (
    FIT_MODES,
    Architecture,
    ConvSpec,
    InputSpec,
    Model,
    PoolSpec,
    Provenance,
    Weights,
)
from xlcnn.resources import templates_root

MODEL_FILE = "model.toml"
WEIGHTS_FILE = "weights.npz"
PATCHES_FILE = "patches.npz"  # optional: what each conv-1 filter looks for (Model.patches)
PATCHES_ARRAY = "conv1_patches"  # its one array, (filters, P, k, k, 3) uint8
FORMAT_VERSION = 1

# Limits that keep a template sensible; the workbook's own size limits are checked at build time.
MAX_INPUT_SIDE = 512
MAX_FILTERS = 64
MAX_KERNEL = 15
MAX_STRIDE = 8
MAX_PADDING = 8
MAX_BLOCKS = 6
MAX_PATCHES = 16  # patches per filter in patches.npz: the Filters sheet shows a few of them

# Limits on model.toml itself, checked before anything expensive runs: a hostile file costs little time and memory.
MAX_TOML_BYTES = 256 * 1024  # a real model.toml is a few kilobytes; tomllib parses 256 KiB of anything in < 0.5 s
MAX_KEY_PARTS = 32  # a.b.c = 1 or [a.b.c]: model.toml needs 2, and tomllib's cost grows with the square of them
MAX_SCALE_CHARS = 40  # "1/255", "0.00392156862745098", the longest repr of a float (23): all far shorter
MAX_SCALE_EXPONENT = 400  # no text of 40 characters with an exponent beyond ±400 is a positive finite float64
MAX_WEIGHTS = 5_000_000  # the most cells xlcnn writes in a workbook (xlcnn.book.limits.MAX_CELLS): no more weights

TOP_LEVEL_KEYS = ("format", "name", "title", "description", "classes", "labels", "input", "layers", "provenance")
INPUT_KEYS = ("height", "width", "channels", "scale", "fit")
PROVENANCE_KEYS = tuple(field.name for field in dataclasses.fields(Provenance))


def list_templates() -> list[str]:
    """Names of the built-in templates, sorted."""
    root = templates_root()
    return sorted(p.name for p in root.iterdir() if (p / MODEL_FILE).is_file())


def resolve_template(name_or_dir: str | os.PathLike[str]) -> Path:
    """A built-in template's name, or a path to a template folder → the folder.

    A bare name (text without a slash, not starting with ".") means a built-in when there is one of that name,
    else a folder of that name here; ``./tiny`` (or a ``Path`` object) is always a folder.
    """
    text = str(name_or_dir)
    path = Path(text)
    looks_like_path = (not isinstance(name_or_dir, str) or path.is_absolute() or "/" in text or "\\" in text
                       or text.startswith("."))
    known = [] if looks_like_path else list_templates()
    if text in known:
        # A bare built-in name always means the built-in, even beside a folder of that name: ./tiny is the folder.
        return templates_root() / text
    if path.is_dir() and (looks_like_path or (path / MODEL_FILE).exists()):
        return path
    if looks_like_path:
        if path.exists():
            raise ModelError(f"{path}: not a template folder (it is a file; give the folder holding {MODEL_FILE})")
        raise ModelError(f"{path}: no such template folder")
    raise ModelError(f"unknown template {text!r} (built-in templates: {', '.join(known)}; or give a folder path)")


def load_model(name_or_dir: str | os.PathLike[str] = "default") -> Model:
    """Load and validate a template by built-in name or folder path."""
    folder = resolve_template(name_or_dir)
    toml_path = folder / MODEL_FILE
    config = _read_toml(toml_path)
    r = _Reader(config, toml_path)
    r.only(TOP_LEVEL_KEYS, "a template")
    arch = _parse_architecture(config, toml_path)
    name, title = r.text("name", default=folder.name), r.text("title", default=folder.name)
    description = r.text("description", default="")
    provenance = _parse_provenance(r.table_of("provenance") or {}, toml_path)
    _check_activity(provenance, arch, toml_path)
    labels = _parse_labels(r.table_of("labels") or {}, arch, toml_path)
    # Last: the weights are read only for a model.toml that is right in every field.
    weights = _read_weights(folder / WEIGHTS_FILE, arch)
    patches = _read_patches(folder / PATCHES_FILE, arch)
    return Model(name=name, title=title, description=description, arch=arch, weights=weights,
                 provenance=provenance, source=folder, patches=patches, labels=labels)


def _parse_labels(table: Mapping[str, Any], arch: Architecture, path: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``[labels]``: for each language code, the classes' names in that language, one per class, in order."""
    out = []
    for code, names_ in table.items():
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?", code):
            raise ModelError(f"{path}: labels.{_key_name(code)}: not a language code (such as zh)")
        try:
            translated = check_labels(names_, f"labels.{code}")
        except ValueError as exc:
            raise ModelError(f"{path}: {exc}") from None
        if len(translated) != len(arch.classes):
            raise ModelError(f"{path}: labels.{code} names {len(translated)} classes, but classes lists "
                             f"{len(arch.classes)}")
        out.append((code, translated))
    return tuple(out)


def save_model(model: Model, folder: str | Path) -> Path:
    """Write ``model`` as a template folder (created if needed); returns the folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / MODEL_FILE).write_text(model_toml(model), encoding="utf-8")
    write_weights(model, out / WEIGHTS_FILE)
    if model.patches is not None:
        write_patches(model, out / PATCHES_FILE)
    else:  # patches of the weights being replaced would show what those filters looked for
        (out / PATCHES_FILE).unlink(missing_ok=True)
    return out


def write_weights(model: Model, path: Path) -> None:
    """``weights.npz``: every array of ``model`` under the names ``model.toml``'s layers imply."""
    with path.open("wb") as fh:
        np.savez(fh, **model.weights.as_npz_dict())  # type: ignore[arg-type]  # numpy's stub types **kwds badly


def write_patches(model: Model, path: Path) -> None:
    """``patches.npz``: ``model.patches`` as its one array ``PATCHES_ARRAY``, checked as loading checks it."""
    if model.patches is None:
        raise ValueError(f"model {model.name!r} has no patches to write")
    check_patches(model.patches, model.arch, f"model {model.name!r}")
    with path.open("wb") as fh:
        np.savez(fh, **{PATCHES_ARRAY: model.patches})  # type: ignore[arg-type]  # as in write_weights


def model_toml(model: Model) -> str:
    """The text of ``model.toml`` for ``model``."""
    arch = model.arch
    layers: list[dict[str, Any]] = []
    for conv, pool in arch.convs:
        layers.append(
            {"type": "conv", "filters": conv.filters, "kernel": conv.kernel, "stride": conv.stride,
             "padding": conv.padding}
        )
        layers.append({"type": "relu"})
        layers.append({"type": "maxpool", "size": pool.size, "stride": pool.stride})
    layers += [{"type": "flatten"}, {"type": "dense"}, {"type": "softmax"}, {"type": "cross_entropy"}]
    prov = {k: [list(layer) for layer in v] if k == "activity" else v
            for k, v in vars(model.provenance).items() if v not in (None, "", ())}
    doc: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "name": model.name,
        "title": model.title,
        "description": model.description,
        "classes": list(arch.classes),
        **({"labels": {code: list(names_) for code, names_ in model.labels}} if model.labels else {}),
        "input": {
            "height": arch.input.height,
            "width": arch.input.width,
            "channels": arch.input.channels,
            "scale": scale_value(arch.input.scale, arch.input.scale_text),
            "fit": arch.input.fit,
        },
        "layers": layers,
        "provenance": prov,
    }
    return "# xlcnn model template: the architecture and where the weights came from.\n" + tomli_w.dumps(doc)


# ----------------------------------------------------------------------------------------------- parsing


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key_name(key: str) -> str:
    """A key as a message names it: bare as in ``stide = 2``, quoted when TOML needs quotes (``"a b" = 1``, which
    may hold anything, a line break included); cut to ``MAX_SHOWN`` characters."""
    return clip(key if _BARE_KEY.fullmatch(key) else repr(key))


class _Reader:
    """Typed access to one TOML table, with errors that name the file and the field."""

    def __init__(self, table: Mapping[str, Any], path: Path, prefix: str = "") -> None:
        self.table, self.path, self.prefix = table, path, prefix

    def fail(self, key: str, problem: str) -> ModelError:
        return ModelError(f"{self.path}: {self.prefix}{_key_name(key)} {problem}")

    def integer(self, key: str, low: int, high: int, default: int | None = None) -> int:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, not {shown(value)}")
        if low == high and value != low:
            raise self.fail(key, f"must be {low}, not {shown(value)}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low} and {high}, not {shown(value)}")
        return value

    def only(self, known: tuple[str, ...], what: str) -> None:
        """Refuse keys this table does not take: a misspelt ``stide = 2`` must not silently mean stride 1."""
        for key in self.table:
            if key not in known:
                raise self.fail(key, f"is not a setting of {what} (it takes {', '.join(known)})")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if not isinstance(value, str):
            raise self.fail(key, f"must be text, not {shown(value)}")
        return value

    def table_of(self, key: str) -> Mapping[str, Any] | None:
        """The table under ``key`` (None when absent); anything else there is refused."""
        value = self.table.get(key)
        if value is not None and not isinstance(value, dict):
            raise ModelError(f"{self.path}: [{self.prefix}{_key_name(key)}] must be a table")
        return value


def _read_toml(path: Path) -> dict[str, Any]:
    """model.toml's tables, read in bounded time and memory; every failure is one ``ModelError`` line."""
    _check_regular(path)
    text = _read_text(path)
    _check_key_depth(text, path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path}: not valid TOML ({_parser_words(exc)})") from None
    except RecursionError:  # tomllib recurses once per level of arrays and inline tables inside one another
        raise ModelError(f"{path}: nested too deeply (arrays or inline tables inside one another, hundreds "
                         "of levels deep)") from None
    except ValueError:  # not a TOMLDecodeError: int() refusing an integer of more than 4,300 digits
        raise ModelError(f"{path}: holds a whole number of more than {sys.get_int_max_str_digits():,} digits, "
                         "too long to read") from None
    except Exception as exc:  # whatever else the parser may fail with (MemoryError, a bug): still one line
        raise ModelError(f"{path}: cannot be parsed ({type(exc).__name__})") from None


def _check_regular(path: Path) -> None:
    problem = not_a_regular_file(path)
    if problem is not None:
        hint = f" (a template folder needs {MODEL_FILE} and {WEIGHTS_FILE})" if problem == "missing" else ""
        raise ModelError(f"{path}: {problem}{hint}")


def _read_text(path: Path) -> str:
    """The file's text, reading no more than ``MAX_TOML_BYTES`` (and one byte to know there is more)."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_TOML_BYTES + 1)
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({one_line(exc.strerror or str(exc))})") from None
    if len(data) > MAX_TOML_BYTES:
        raise ModelError(f"{path}: larger than {MAX_TOML_BYTES // 1024} KiB, the most a {MODEL_FILE} may be (a "
                         "real one is a few kilobytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: not valid TOML ({one_line(str(exc))})") from None


# One part of a dotted key: bare, "basic" (with escapes) or 'literal'. Possessive, a bare part starting only
# where a run of key characters starts and a "basic" one never at an escaped quote, so that the search stays
# linear in the text (without the second rule, a string of 16,000 \" takes it seconds).
_KEY_PART = r"""(?:(?<![A-Za-z0-9_-])[A-Za-z0-9_-]++|(?<!\\)"(?:[^"\\\n]|\\.)*+"|'[^'\n]*+')"""
_DEEP_KEY = re.compile(rf"(?:{_KEY_PART}[ \t]*+\.[ \t]*+){{{MAX_KEY_PARTS}}}{_KEY_PART}")


def _check_key_depth(text: str, path: Path) -> None:
    """Refuse a dotted key (``a.b.c = 1``, ``[a.b.c]``) of more than ``MAX_KEY_PARTS`` parts before tomllib
    reads it: tomllib keeps every prefix of such a key, so a 20 KB file of one key of 10,000 parts takes it
    1.3 s and 400 MB, and 100,000 parts exhaust memory. (Text inside a string that merely looks like such a key
    is refused too: no real model.toml holds 33 names joined by dots.)"""
    deep = _DEEP_KEY.search(text)
    if deep is not None:
        line = text.count("\n", 0, deep.start()) + 1
        raise ModelError(f"{path}: nested too deeply (a dotted key of more than {MAX_KEY_PARTS} parts, at line "
                         f"{line})")


def _parser_words(exc: tomllib.TOMLDecodeError) -> str:
    """tomllib's message, one line, with a key it quotes cut short but its "(at line …, column …)" kept."""
    words = one_line(str(exc))
    problem, at, where = words.rpartition(" (at ")
    return f"{clip(problem)} (at {where}" if at else clip(words)


def scale_value(scale: float, text: str) -> str | float:
    """What model.toml stores: the friendly text ("1/255") when it means exactly ``scale``, else the number."""
    try:
        return text if parse_scale(text)[0] == scale else scale
    except ValueError:
        return scale


_SCALE_FORMS = 'a number or a fraction like "1/255"'
# What the text of a scale may be (ASCII digits only): a fraction of whole numbers, or a decimal number with an
# optional exponent. A subset of what Fraction reads, checked before Fraction sees it.
_SCALE_TEXT = re.compile(r"[+-]?(?:\d+/\d+|(?:\d+\.?\d*|\.\d+)(?:[eE](?P<exponent>[+-]?\d+))?)", re.ASCII)


def parse_scale(value: object) -> tuple[float, str]:
    """A positive scale given as a number or as text like ``"1/255"`` → (value, how to show it).

    Text is bounded before any arithmetic: ``Fraction("1e-999999999")`` would compute a power of ten of a
    billion digits, for minutes."""
    if isinstance(value, str):
        number, text = _scale_from_text(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float64: repr() of it could be thousands of digits
            raise ValueError(f"{shown(value)} is out of range (too large for a number)") from None
        text = repr(value)
    else:
        raise ValueError(f"must be {_SCALE_FORMS}, not {shown(value)}")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"must be a positive number, not {shown(value)}")
    return number, text


def _scale_from_text(value: str) -> tuple[float, str]:
    text = value.replace(" ", "")
    if len(text) > MAX_SCALE_CHARS:
        raise ValueError(f"must be {_SCALE_FORMS} of at most {MAX_SCALE_CHARS} characters, not {shown(value)}")
    match = _SCALE_TEXT.fullmatch(text)
    if match is None:
        raise ValueError(f"must be {_SCALE_FORMS}, not {shown(value)}")
    exponent = match["exponent"]
    if exponent is not None and abs(int(exponent)) > MAX_SCALE_EXPONENT:
        raise ValueError(f"{shown(value)} is out of range (exponents go from -{MAX_SCALE_EXPONENT} to "
                         f"{MAX_SCALE_EXPONENT})")
    try:
        fraction = Fraction(text)
        number = float(fraction)
    except (ValueError, ZeroDivisionError):  # "1/0"
        raise ValueError(f"must be {_SCALE_FORMS}, not {shown(value)}") from None
    except OverflowError:
        raise ValueError(f"{shown(value)} is out of range (too large for a number)") from None
    if number == 0 and fraction > 0:
        raise ValueError(f"{shown(value)} is out of range (too close to 0 for a number)")
    return number, text


def _parse_input(config: Mapping[str, Any], path: Path) -> InputSpec:
    table = _Reader(config, path).table_of("input")
    if table is None:
        raise ModelError(f"{path}: [input] table is missing")
    r = _Reader(table, path, "input.")
    r.only(INPUT_KEYS, "[input]")
    channels = r.integer("channels", 3, 3, default=3)
    try:
        scale, scale_text = parse_scale(table.get("scale", 1))
    except ValueError as exc:
        raise r.fail("scale", str(exc)) from None
    fit = r.text("fit", default="crop")
    if fit not in FIT_MODES:
        raise r.fail("fit", f"must be one of {', '.join(FIT_MODES)}, not {shown(fit)}")
    return InputSpec(
        height=r.integer("height", 1, MAX_INPUT_SIDE),
        width=r.integer("width", 1, MAX_INPUT_SIDE),
        channels=channels,
        scale=scale,
        scale_text=scale_text,
        fit=fit,  # checked against FIT_MODES just above
    )


# The settings each layer type takes; ``units`` of dense, if given, must equal the number of classes.
LAYER_KEYS: dict[str, tuple[str, ...]] = {
    "conv": ("type", "filters", "kernel", "stride", "padding"),
    "relu": ("type",),
    "maxpool": ("type", "size", "stride"),
    "flatten": ("type",),
    "dense": ("type", "units"),
    "softmax": ("type",),
    "cross_entropy": ("type",),
}


def _layers(layers: object, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The layers, an array of tables (``layers = [{ type = "conv", … }, …]``), and the type of each."""
    if layers is None or layers == []:
        raise ModelError(f"{path}: layers is missing or empty (conv, relu, maxpool, …, cross_entropy)")
    if not isinstance(layers, list):
        raise ModelError(f"{path}: layers must be an array of tables, one per layer, not {shown(layers)}")
    types = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise ModelError(f"{path}: layers[{i}] must be a table such as {{ type = \"relu\" }}, not {shown(layer)}")
        kind = layer.get("type")
        if kind is None:
            raise ModelError(f"{path}: layers[{i}] needs a type")
        if not isinstance(kind, str):
            raise ModelError(f"{path}: layers[{i}].type must be text, not {shown(kind)}")
        types.append(kind)
    return layers, types


def _parse_layers(
    config: Mapping[str, Any], path: Path, classes: int
) -> tuple[tuple[ConvSpec, PoolSpec], ...]:
    layers, types = _layers(config.get("layers"), path)
    expected_tail = ["flatten", "dense", "softmax", "cross_entropy"]
    body, tail = types[: -len(expected_tail)], types[-len(expected_tail):]
    shape_ok = (
        tail == expected_tail
        and body
        and len(body) % 3 == 0
        and all(body[i: i + 3] == ["conv", "relu", "maxpool"] for i in range(0, len(body), 3))
    )
    if not shape_ok:
        raise ModelError(
            f"{path}: layers must be (conv, relu, maxpool) repeated, then flatten, dense, softmax, "
            f"cross_entropy; found {clip(', '.join(_key_name(t) for t in types), 4 * MAX_SHOWN)}"
        )
    for i, layer in enumerate(layers):
        r = _Reader(layer, path, f"layers[{i}].")
        r.only(LAYER_KEYS[layer["type"]], f"a {layer['type']} layer")
        if layer["type"] == "dense" and "units" in layer and r.integer("units", 1, MAX_CLASSES) != classes:
            raise r.fail("units", f"is {layer['units']}, but classes lists {classes} classes")
    blocks = len(body) // 3
    if blocks > MAX_BLOCKS:
        raise ModelError(f"{path}: at most {MAX_BLOCKS} conv blocks, not {blocks}")
    convs = []
    for b in range(blocks):
        c = _Reader(layers[3 * b], path, f"layers[{3 * b}].")
        p = _Reader(layers[3 * b + 2], path, f"layers[{3 * b + 2}].")
        conv = ConvSpec(
            filters=c.integer("filters", 1, MAX_FILTERS),
            kernel=c.integer("kernel", 1, MAX_KERNEL),
            stride=c.integer("stride", 1, MAX_STRIDE, default=1),
            padding=c.integer("padding", 0, MAX_PADDING, default=0),
        )
        size = p.integer("size", 1, MAX_KERNEL)
        pool = PoolSpec(size=size, stride=p.integer("stride", 1, MAX_STRIDE, default=size))
        convs.append((conv, pool))
    return tuple(convs)


def shape_problem(arch: Architecture) -> tuple[int, str, str] | None:
    """The first layer whose window does not fit its input → (its index in ``layers``, the field at fault, what
    is wrong), or None when every layer fits."""
    for block in arch.blocks:
        _, h, w = block.in_shape
        conv, first = block.conv, 3 * (block.index - 1)  # conv k is layers[3(k-1)], its pool two later
        if conv.kernel > min(h, w) + 2 * conv.padding:
            return first, "kernel", (f"conv {block.index}'s {conv.kernel}×{conv.kernel} kernel does not fit its "
                                     f"{h}×{w} input with padding {conv.padding}")
        _, ch, cw = block.conv_shape
        if block.pool.size > min(ch, cw):
            return first + 2, "size", (f"pool {block.index}'s {block.pool.size}×{block.pool.size} window does not "
                                       f"fit conv {block.index}'s {ch}×{cw} output")
    return None


def validate_model(model: Model) -> None:
    """The checks loading a template makes, for a model made in code: labels, shapes and weights."""
    where = f"model {model.name!r}"
    try:
        check_labels(list(model.classes), "classes")
    except ValueError as exc:
        raise ModelError(f"{where}: {exc}") from None
    check_shapes(model.arch, where)
    weights_from_arrays(model.weights.as_npz_dict(), model.arch, where)
    if model.patches is not None:
        check_patches(model.patches, model.arch, where)


def check_shapes(arch: Architecture, where: str) -> None:
    """Every layer must get an input at least as large as its window."""
    problem = shape_problem(arch)
    if problem is not None:
        index, key, text = problem
        raise ModelError(f"{where}: layers[{index}].{key}: {text}")


def _parse_architecture(config: Mapping[str, Any], path: Path) -> Architecture:
    version = config.get("format", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:  # true == 1
        raise ModelError(f"{path}: format {shown(version)} is not supported (this xlcnn reads format "
                         f"{FORMAT_VERSION})")
    try:
        classes = check_labels(config.get("classes"), "classes")
    except ValueError as exc:
        raise ModelError(f"{path}: {exc}") from None
    arch = Architecture(
        input=_parse_input(config, path), convs=_parse_layers(config, path, len(classes)), classes=classes
    )
    check_shapes(arch, str(path))
    return arch


def _parse_provenance(table: Mapping[str, Any], path: Path) -> Provenance:
    r = _Reader(table, path, "provenance.")
    r.only(PROVENANCE_KEYS, "[provenance]")

    def optional_int(key: str) -> int | None:
        return None if key not in table else r.integer(key, 0, 2**63 - 1)

    def fraction(key: str) -> float | None:
        value = table.get(key)
        if value is not None and not _is_fraction(value):
            raise r.fail(key, f"must be a fraction between 0 and 1, not {shown(value)}")
        return None if value is None else float(value)

    accuracy = fraction("accuracy")
    temperature = table.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)
                                    or not 0 < temperature < 1e6):
        raise r.fail("temperature", f"must be a positive number, not {shown(temperature)}")
    return Provenance(
        method=r.text("method", default="unknown"),
        summary=r.text("summary", default=""),
        dataset=r.text("dataset", default=""),
        seed=optional_int("seed"),
        epochs=optional_int("epochs"),
        train_size=optional_int("train_size"),
        accuracy=accuracy,
        accuracy_note=r.text("accuracy_note", default=""),
        command=r.text("command", default=""),
        licence=r.text("licence", default=""),
        median_confidence=fraction("median_confidence"),
        calibration_error=fraction("calibration_error"),
        temperature=None if temperature is None else float(temperature),
        activity=_parse_activity(table.get("activity", []), r),
    )


def _check_activity(prov: Provenance, arch: Architecture, path: Path) -> None:
    """The activity of every filter, or none: the model card lists them filter by filter."""
    filters = [block.conv.filters for block in arch.blocks]
    if prov.activity and [len(layer) for layer in prov.activity] != filters:
        raise ModelError(f"{path}: provenance.activity must list a fraction for each filter of each conv layer "
                         f"({' and '.join(str(f) for f in filters)} filters), not "
                         f"{' and '.join(str(len(layer)) for layer in prov.activity)}")


def _is_fraction(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 <= value <= 1


def _parse_activity(value: object, r: _Reader) -> tuple[tuple[float, ...], ...]:
    """``activity = [[0.9, 0.4], [0.7, …]]``: per conv layer, per filter, a fraction."""
    if not isinstance(value, list) or not all(
        isinstance(layer, list) and len(layer) <= MAX_FILTERS and all(_is_fraction(v) for v in layer)
        for layer in value
    ) or len(value) > MAX_BLOCKS:
        raise r.fail("activity", "must be a list per conv layer of fractions between 0 and 1, one per filter")
    return tuple(tuple(float(v) for v in layer) for layer in value)


# ----------------------------------------------------------------------------------------------- weights


def expected_weight_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for block in arch.blocks:
        k, conv = block.index, block.conv
        shapes[f"conv{k}_w"] = (conv.filters, block.in_shape[0], conv.kernel, conv.kernel)
        shapes[f"conv{k}_b"] = (conv.filters,)
    shapes["dense_w"] = (arch.flatten_size, len(arch.classes))
    shapes["dense_b"] = (len(arch.classes),)
    return shapes


# What reading a damaged or unusual zip archive may raise (found by truncating and corrupting .npz files):
# NotImplementedError for an unknown compression method or zip version, RuntimeError for an encrypted member.
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)


def _read_weights(path: Path, arch: Architecture) -> Weights:
    """Read ``weights.npz`` without unpickling, checking names, shapes and types before loading the data."""
    _check_regular(path)
    shapes = expected_weight_shapes(arch)
    total = sum(math.prod(shape) for shape in shapes.values())
    if total > MAX_WEIGHTS:  # before np.load allocates them: a few megabytes of zipped zeros could ask for gigabytes
        raise ModelError(f"{path}: the network needs {total:,} weights, more than the {MAX_WEIGHTS:,} cells a "
                         "workbook may hold; use a smaller input, fewer filters or a larger pool")
    where = str(path)
    try:
        _check_npz_container(path)
        with zipfile.ZipFile(path) as archive:
            headers = _array_headers(archive, where)
        _check_array_names(headers, shapes, where)
        for key, (shape, dtype) in headers.items():
            if dtype.hasobject:
                raise ModelError(f"{where}: {key} holds pickled Python objects, which xlcnn never loads")
            _check_array_type(key, shape, dtype, shapes[key], where)
        arrays: dict[str, np.ndarray] = {}
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                try:
                    arrays[key] = npz[key]
                except _NPZ_ERRORS as exc:
                    raise ModelError(f"{where}: {key} cannot be read ({one_line(str(exc))})") from None
    except _NPZ_ERRORS as exc:
        raise ModelError(f"{where}: not a valid .npz file ({one_line(str(exc)) or type(exc).__name__})") from None
    return weights_from_arrays(arrays, arch, where)


def _check_npz_container(path: Path, what: str = "weights") -> None:
    """An .npz is a zip archive; say what the file is instead when it is not one (``what`` it should hold)."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise ModelError(f"{path}: not a valid .npz file (the file is empty)")
    if head.startswith(np.lib.format.MAGIC_PREFIX):
        raise ModelError(f"{path}: is a single .npy array, not an .npz archive of named arrays (use numpy.savez)")
    if zipfile.is_zipfile(path):
        return
    if head.startswith(b"PK"):
        raise ModelError(f"{path}: not a valid .npz file (the zip archive is truncated or damaged)")
    if head.startswith(b"\x80"):
        raise ModelError(f"{path}: is a Python pickle, which xlcnn never loads ({what} must be an .npz archive)")
    raise ModelError(f"{path}: not a valid .npz file (not a zip archive)")


def _array_headers(archive: zipfile.ZipFile, where: str) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Each member's shape and dtype, read from its .npy header alone (the data stays unread)."""
    headers: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        with archive.open(info) as fh:
            try:
                version = np.lib.format.read_magic(fh)
            except ValueError:
                raise ModelError(f"{where}: {key} is not a NumPy array") from None
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                major, minor = version
                raise ModelError(f"{where}: {key} uses .npy format {major}.{minor}, which xlcnn does not read")
        headers[key] = (tuple(shape), dtype)
    return headers


def _check_array_names(arrays: Mapping[str, object], shapes: Mapping[str, tuple[int, ...]], where: str) -> None:
    missing = [key for key in shapes if key not in arrays]
    if missing:
        raise ModelError(f"{where}: missing array {missing[0]} (expected {', '.join(shapes)})")
    extra = sorted(set(arrays) - set(shapes))
    if extra:
        raise ModelError(f"{where}: unexpected array {extra[0]} (expected {', '.join(shapes)})")


def _check_array_type(
    key: str, shape: tuple[int, ...], dtype: np.dtype[Any], expected: tuple[int, ...], where: str
) -> None:
    if dtype.kind not in "iuf":
        raise ModelError(f"{where}: {key} must hold numbers, not {dtype}")
    if shape != expected:
        raise ModelError(f"{where}: {key} has shape {shape}, but the architecture needs {expected}")


def weights_from_arrays(arrays: Mapping[str, np.ndarray], arch: Architecture, where: str) -> Weights:
    """Check names, shapes, dtypes and finiteness of raw arrays and turn them into float64 ``Weights``."""
    shapes = expected_weight_shapes(arch)
    _check_array_names(arrays, shapes, where)
    checked: dict[str, np.ndarray] = {}
    for key, shape in shapes.items():
        array = np.asarray(arrays[key])
        _check_array_type(key, array.shape, array.dtype, shape, where)
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise ModelError(f"{where}: {key} holds NaN or infinite values")
        checked[key] = array
    n = len(arch.blocks)
    return Weights(
        conv_w=tuple(checked[f"conv{k}_w"] for k in range(1, n + 1)),
        conv_b=tuple(checked[f"conv{k}_b"] for k in range(1, n + 1)),
        dense_w=checked["dense_w"],
        dense_b=checked["dense_b"],
    )


# ----------------------------------------------------------------------------------------------- patches


def patches_shape(arch: Architecture) -> str:
    """The shape ``PATCHES_ARRAY`` must have, in words: (filters of conv 1, 1 to 16, k, k, 3)."""
    k = arch.blocks[0].conv.kernel
    return f"({arch.blocks[0].conv.filters}, 1 to {MAX_PATCHES}, {k}, {k}, 3)"


def _patches_problem(shape: tuple[int, ...], dtype: np.dtype[Any], arch: Architecture) -> str | None:
    if dtype != np.uint8:
        return f"must hold uint8 pixels (0 to 255), not {dtype}"
    conv = arch.blocks[0].conv
    k = conv.kernel
    if len(shape) != 5 or shape[0] != conv.filters or not 1 <= shape[1] <= MAX_PATCHES or shape[2:] != (k, k, 3):
        return f"has shape {shape}, but conv 1 needs {patches_shape(arch)}"
    return None


def check_patches(patches: np.ndarray, arch: Architecture, where: str) -> None:
    """``Model.patches`` must fit conv 1: (filters, P, k, k, 3) uint8 with P from 1 to ``MAX_PATCHES``."""
    array = np.asarray(patches)
    problem = _patches_problem(array.shape, array.dtype, arch)
    if problem is not None:
        raise ModelError(f"{where}: {PATCHES_ARRAY} {problem}")


def _read_patches(path: Path, arch: Architecture) -> np.ndarray | None:
    """``patches.npz`` when the folder has one (else None), read as ``weights.npz`` is: never unpickled, the
    name, type and shape checked from the header before any data is loaded."""
    problem = not_a_regular_file(path)
    if problem == "missing":
        return None
    if problem is not None:
        raise ModelError(f"{path}: {problem}")
    where = str(path)
    try:
        _check_npz_container(path, "patches")
        with zipfile.ZipFile(path) as archive:
            headers = _array_headers(archive, where)
        _check_array_names(headers, {PATCHES_ARRAY: ()}, where)
        shape, dtype = headers[PATCHES_ARRAY]
        if dtype.hasobject:
            raise ModelError(f"{where}: {PATCHES_ARRAY} holds pickled Python objects, which xlcnn never loads")
        wrong = _patches_problem(shape, dtype, arch)
        if wrong is not None:
            raise ModelError(f"{where}: {PATCHES_ARRAY} {wrong}")
        with np.load(path, allow_pickle=False) as npz:
            try:
                return np.asarray(npz[PATCHES_ARRAY], dtype=np.uint8)
            except _NPZ_ERRORS as exc:
                raise ModelError(f"{where}: {PATCHES_ARRAY} cannot be read ({one_line(str(exc))})") from None
    except _NPZ_ERRORS as exc:
        raise ModelError(f"{where}: not a valid .npz file ({one_line(str(exc)) or type(exc).__name__})") from None
