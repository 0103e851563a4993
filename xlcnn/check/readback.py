"""Reading an xlcnn workbook back: the model, image and choices in it.

Everything is read through the workbook's defined names (docs/architecture.md), so a student's edits count. The
architecture is inferred from the names and their shapes, and every named grid must sit where xlcnn's
``Layout`` puts it; anything else is a one-line ``WorkbookError`` naming the cell or the name at fault. The
file itself is checked (``xlcnn.check.archive``) and read (``xlcnn.check.sheets``) before this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from openpyxl.formula.tokenizer import TokenizerError
from openpyxl.utils.cell import range_boundaries

from xlcnn.book.layout import GUIDE, TITLE, Layout, col_name
from xlcnn.book.stages import plan_layout
from xlcnn.book.stages.exercises import ANSWERS, TASKS
from xlcnn.book.texts import DEFAULT_LANGUAGE, Texts, available_languages
from xlcnn.check.cells import cell_ref
from xlcnn.check.sheets import View
from xlcnn.errors import ModelError, WorkbookError
from xlcnn.model import names
from xlcnn.model.labels import check_label, check_labels
from xlcnn.model.spec import Architecture, ConvSpec, InputSpec, Model, PoolSpec, Provenance
from xlcnn.model.templates import weights_from_arrays
from xlcnn.nn.exercises import KINDS, Exercise, Kind, Task
from xlcnn.nn.learning import MAX_LEARNING_RATE

# ------------------------------------------------------------------------------------- reading it back


@dataclass(frozen=True)
class Area:
    """The cells a defined name points at (1-based, inclusive)."""

    name: str
    sheet: str
    top: int
    left: int
    bottom: int
    right: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.bottom - self.top + 1, self.right - self.left + 1

    @property
    def ref(self) -> str:
        first = cell_ref(self.sheet, self.top, self.left)
        return first if self.shape == (1, 1) else f"{first}:{col_name(self.right - 1)}{self.bottom}"

    def at(self, r: int, c: int) -> str:
        """``'Sheet'!A1`` of cell (r, c), 0-based within the area."""
        return cell_ref(self.sheet, self.top + r, self.left + c)


def _shape_text(shape: tuple[int, int]) -> str:
    return f"{shape[0]}×{shape[1]}"


class Reader:
    """Reads grids through defined names, with errors that name the file, the cell and the name."""

    def __init__(self, path: Path, view: View) -> None:
        self.path, self.view = path, view

    def fail(self, problem: str) -> WorkbookError:
        return WorkbookError(f"{self.path}: {problem}")

    def has(self, name: str) -> bool:
        return name in self.view.names

    def area(self, name: str, shape: tuple[int, int] | None = None, why: str = "") -> Area:
        defn = self.view.names.get(name)
        if defn is None:
            raise self.fail(f"not an xlcnn workbook (missing the defined name {name})")
        try:
            destinations = list(defn.destinations)
        except (ValueError, TypeError, AttributeError, TokenizerError):
            destinations = []
        if len(destinations) != 1:
            raise self.fail(f"the defined name {name} does not point at one block of cells ({defn.attr_text})")
        sheet, ref = destinations[0]
        try:
            left, top, right, bottom = range_boundaries(ref.replace("$", ""))
        except (ValueError, TypeError):
            left = None
        if left is None or top is None or right is None or bottom is None:
            raise self.fail(f"the defined name {name} does not point at a block of cells ({defn.attr_text})")
        if sheet not in self.view.sheets:
            raise self.fail(f"the defined name {name} points at the sheet {sheet!r}, which the workbook does not have")
        area = Area(name, sheet, top, left, bottom, right)
        if shape is not None and area.shape != shape:
            raise self.fail(f"{name} is {area.ref} ({_shape_text(area.shape)}), but it must be "
                            f"{_shape_text(shape)}{f' ({why})' if why else ''}")
        return area

    def value(self, area: Area, r: int, c: int) -> Any:
        sheet = self.view.sheets[area.sheet]
        pos = (area.top + r, area.left + c)
        if pos in sheet.formulas:
            raise self.fail(f"{area.at(r, c)} ({area.name}) holds a formula; xlcnn reads pixels, weights, "
                            "labels and settings as plain values, so type the value itself")
        return sheet.cells.get(pos)

    def number(self, area: Area, r: int = 0, c: int = 0) -> float:
        value = self.value(area, r, c)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        where = f"{area.at(r, c)} ({area.name})"
        if value is None:
            raise self.fail(f"{where} is blank where a number belongs")
        if isinstance(value, bool):
            raise self.fail(f"{where} holds {str(value).upper()} where a number belongs")
        raise self.fail(f"{where} holds the text {value!r} where a number belongs")

    def grid(self, name: str, shape: tuple[int, int] | None = None, why: str = "") -> np.ndarray:
        area = self.area(name, shape, why)
        rows, cols = area.shape
        return np.array([[self.number(area, r, c) for c in range(cols)] for r in range(rows)])

    def integer(self, name: str, low: int) -> int:
        area = self.area(name, (1, 1), "one cell")
        value = self.number(area)
        if not value.is_integer() or value < low:
            raise self.fail(f"{area.at(0, 0)} ({name}) is {value:g}, but it must be a whole number ≥ {low}")
        return int(value)

    def text(self, area: Area, r: int = 0, c: int = 0) -> str:
        value = self.value(area, r, c)
        if isinstance(value, str):
            return value
        what = "blank" if value is None else f"the number {value!r}"
        raise self.fail(f"{area.at(r, c)} ({area.name}) is {what} where a class name belongs")


@dataclass(frozen=True, eq=False)
class ReadBack:
    """What the workbook says: a model, its input pixels, the true label and the settings of its sheets."""

    model: Model
    image: np.ndarray  # (H, W, 3) raw values
    true_label: str
    layout: Layout
    worked: tuple[int, int, int] | None  # the worked example's (map, row, column)
    language: str
    learning_rate: float | None = None  # None: the workbook has no learning layer
    cam_class: str | None = None  # the class its Grad-CAM explains
    exercise: Exercise | None = None  # the Exercises sheet's tasks (None: the workbook has none)
    exercise_answers: tuple[float | str | None, ...] | None = None  # what the student typed


def read_back(path: Path, view: View) -> ReadBack:
    """Read the model and its input through the defined names; check the grids sit where xlcnn puts them."""
    r = Reader(path, view)
    image = _read_input(r)
    classes = _read_classes(r)
    arch = Architecture(_input_spec(r, image), _read_convs(r, image.shape[0], image.shape[1]), classes)
    arrays = _read_weights(r, arch)
    try:
        weights = weights_from_arrays(arrays, arch, str(path))
    except ModelError as exc:  # shapes were checked above; this catches non-finite values
        raise WorkbookError(str(exc)) from None
    true_label = _read_true_label(r, classes)
    learning = r.has(names.LEARNING_RATE)
    language = _language(view)
    layout = plan_layout(arch, teaching=r.has("worked_map"), learning=learning, exercise=r.has(ANSWERS),
                         sheet_names=Texts(language).sheet_names())
    _check_layout(r, layout)
    model = Model("workbook", path.name, "", arch, weights, Provenance("unknown", f"read back from {path.name}"))
    worked = _read_worked(r, arch) if r.has("worked_map") else None
    rate, cam = (_read_learning_rate(r), _read_class(r, names.CAM_CLASS, classes)) if learning else (None, None)
    exercise, answers = _read_exercise(r, arch) if r.has(ANSWERS) else (None, None)
    return ReadBack(model, image, true_label, layout, worked, language, rate, cam, exercise, answers)


def _read_exercise(r: Reader, arch: Architecture) -> tuple[Exercise, tuple[float | str | None, ...]]:
    """The Exercises sheet's tasks (three whole numbers each, within the network's bounds) and the answers typed."""
    n = len(KINDS)
    tasks_area = r.area(TASKS, (n, 3), f"{n} tasks of three numbers")
    first, last = arch.blocks[0], arch.blocks[-1]
    classes, flat = len(arch.classes), arch.flatten_size
    bounds = {Kind.CONV: first.conv_shape, Kind.RELU: first.conv_shape, Kind.POOL: first.pool_shape,
              Kind.FLATTEN: last.pool_shape, Kind.LOGIT: (classes, 0, 0), Kind.SOFTMAX: (classes, 0, 0),
              Kind.LOSS: (0, 0, 0), Kind.GRADIENT: (flat, classes, 0)}
    tasks = []
    for i, kind in enumerate(KINDS):
        numbers = []
        for j, top in enumerate(bounds[kind]):
            value = r.number(tasks_area, i, j)
            if not value.is_integer() or not (1 if top else 0) <= value <= top:
                raise r.fail(f"{tasks_area.at(i, j)} ({TASKS}) is {value:g}, but the task it belongs to was drawn "
                             "with a whole number from " + (f"1 to {top}" if top else "0 (it is not used)")
                             + "; the Exercises sheet's tasks were edited")
            numbers.append(int(value))
        tasks.append(Task(kind, *numbers))
    answers_area = r.area(ANSWERS, (n, 1), f"{n} answers")
    typed = tuple(r.value(answers_area, i, 0) for i in range(n))
    return Exercise(tuple(tasks)), typed


def _read_input(r: Reader) -> np.ndarray:
    red = r.area(names.INPUT[0])
    why = f"the same size as input_r, {red.ref}"
    channels = [r.grid(name, red.shape, why) for name in names.INPUT]
    return np.stack(channels, axis=-1)


def _input_spec(r: Reader, image: np.ndarray) -> InputSpec:
    h, w = image.shape[:2]
    if not r.has(names.INPUT_SCALE):
        return InputSpec(h, w)
    scale = r.number(r.area(names.INPUT_SCALE, (1, 1), "one cell"))
    return InputSpec(h, w, scale=scale, scale_text=f"{scale:g}")


def _read_classes(r: Reader) -> tuple[str, ...]:
    area = r.area(names.LABELS)
    rows, cols = area.shape
    if rows != 1 or cols < 2:
        raise r.fail(f"labels is {area.ref} ({_shape_text(area.shape)}), but it must be one row of 2 or more classes")
    labels = []
    for c in range(cols):
        try:
            labels.append(check_label(r.text(area, 0, c), f"{area.at(0, c)} (labels)"))
        except ValueError as exc:
            raise r.fail(str(exc)) from None
    try:
        return check_labels(labels, f"labels ({area.ref})")
    except ValueError as exc:
        raise r.fail(str(exc)) from None


def _read_true_label(r: Reader, classes: tuple[str, ...]) -> str:
    return _read_class(r, names.TRUE_LABEL, classes)


def _read_class(r: Reader, name: str, classes: tuple[str, ...]) -> str:
    """A cell holding one of the classes, picked from its dropdown: the true label, Grad-CAM's class."""
    area = r.area(name, (1, 1), "one cell")
    label = r.text(area)
    if label not in classes:
        raise r.fail(f"{area.at(0, 0)} ({name}) is {label!r}, which is not exactly one of the classes "
                     f"({', '.join(classes)}); pick it from the cell's dropdown")
    return label


def _read_learning_rate(r: Reader) -> float:
    area = r.area(names.LEARNING_RATE, (1, 1), "one cell")
    rate = r.number(area)
    if not 0 <= rate < MAX_LEARNING_RATE:
        raise r.fail(f"{area.at(0, 0)} ({names.LEARNING_RATE}) is {rate:g}, but it must be 0 or more and below "
                     f"{MAX_LEARNING_RATE:,.0f}")
    return rate


def _read_convs(r: Reader, height: int, width: int) -> tuple[tuple[ConvSpec, PoolSpec], ...]:
    """Each block's filters, kernel and settings, checked against the sizes of the maps in the workbook.

    Stride, padding and pool cells are read by the Shapes sheet, but the maps were laid out for the values
    they had at build time: an edit that changes a map's size cannot be verified, so it is named here.
    """
    convs: list[tuple[ConvSpec, PoolSpec]] = []
    size = (height, width)
    counts = _block_counts(r.view.names)
    for k in range(1, max(counts, default=1) + 1):
        filters = counts.get(k, 1)  # every filter's names are then required: a missing one is named
        kernel_area = r.area(names.conv_w(k, 1, 1))
        kernel = kernel_area.shape[0]
        if kernel_area.shape != (kernel, kernel):
            raise r.fail(f"conv{k}_w1_1 is {kernel_area.ref} ({_shape_text(kernel_area.shape)}), "
                         "but a kernel is square")
        conv = ConvSpec(filters, kernel, r.integer(names.conv_stride(k), 1), r.integer(names.conv_pad(k), 0))
        pool = PoolSpec(r.integer(names.pool_size(k), 1), r.integer(names.pool_stride(k), 1))
        conv_size = (conv.out_size(size[0]), conv.out_size(size[1]))
        _check_map_size(r, names.conv_out(k, 1), conv_size, names.conv_stride(k), names.conv_pad(k))
        size = (pool.out_size(conv_size[0]), pool.out_size(conv_size[1]))
        _check_map_size(r, names.pool_out(k, 1), size, names.pool_size(k), names.pool_stride(k))
        convs.append((conv, pool))
    return tuple(convs)


def _block_counts(defined: Mapping[str, object]) -> dict[int, int]:
    """Block k → its number of filters: the highest f of any conv{k}_w{f}_…, conv{k}_b{f} or …{k}_out{f}.

    Counting over all of a block's names, rather than one kind, means that a deleted or renamed name is
    reported as missing instead of silently shrinking the network.
    """
    counts: dict[int, int] = {}
    for name in defined:
        parsed = names.parse(name)
        if parsed is not None and parsed.filter is not None:
            counts[parsed.block] = max(counts.get(parsed.block, 0), parsed.filter)
    return counts


def _check_map_size(r: Reader, name: str, size: tuple[int, int], *settings: str) -> None:
    area = r.area(name)
    if area.shape != size:
        cells = " and ".join(f"{r.area(s).at(0, 0)} ({s}) = {r.integer(s, 0)}" for s in settings)
        raise r.fail(f"{cells} make {name} {_shape_text(size)}, but the workbook's {name} is "
                     f"{_shape_text(area.shape)}: a stride, padding or pool setting was edited, and the maps "
                     "cannot follow it; rebuild the workbook with xlcnn build to change it")


def _read_weights(r: Reader, arch: Architecture) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for block in arch.blocks:
        k, conv = block.index, block.conv
        square = (conv.kernel, conv.kernel)
        kernels = [[r.grid(names.conv_w(k, f, c), square, f"conv {k}'s kernel size, like conv{k}_w1_1")
                    for c in range(1, block.in_shape[0] + 1)] for f in range(1, conv.filters + 1)]
        arrays[f"conv{k}_w"] = np.array(kernels)
        arrays[f"conv{k}_b"] = np.array([r.grid(names.conv_b(k, f), (1, 1), "one cell")[0, 0]
                                         for f in range(1, conv.filters + 1)])
    classes = len(arch.classes)
    arrays["dense_w"] = r.grid(names.DENSE_W, (arch.flatten_size, classes),
                               f"{arch.flatten_size} flattened values × {classes} classes")
    arrays["dense_b"] = r.grid(names.DENSE_B, (1, classes), f"one row of {classes} classes")[0]
    return arrays


def _check_layout(r: Reader, layout: Layout) -> None:
    """Every named grid must be where the layout puts it, so that each expected cell is the right cell."""
    for grid in layout.grids.values():
        if not grid.named:
            continue
        area = r.area(grid.key)
        where = (grid.sheet, grid.top + 1, grid.left + 1, grid.top + grid.rows, grid.left + grid.cols)
        if (area.sheet, area.top, area.left, area.bottom, area.right) != where:
            expected = Area(grid.key, *where)
            raise r.fail(f"{grid.key} is {area.ref}, but xlcnn puts it at {expected.ref} for this network: rows, "
                         "columns or cells were moved, so verify cannot tell which cell is which")


def _read_worked(r: Reader, arch: Architecture) -> tuple[int, int, int]:
    """The worked example's chosen conv-1 cell, which the user may change within the maps' bounds."""
    filters, rows, cols = arch.blocks[0].conv_shape
    choice = []
    for name, top, what in (("worked_map", filters, "maps"), ("worked_row", rows, "rows"),
                            ("worked_col", cols, "columns")):
        value = r.integer(name, 1)
        if value > top:
            cell = r.area(name).at(0, 0)
            raise r.fail(f"{cell} ({name}) is {value}, but conv 1 has {what} 1–{top}")
        choice.append(value)
    return choice[0], choice[1], choice[2]


def _language(view: View) -> str:
    """The language the workbook was written in: the one whose Guide sheet it has, and among languages that name
    the Guide alike, the one whose title the Guide shows (the language shows in a few formulas and sheet names)."""
    named = [(code, Texts(code).sheet_names()(GUIDE)) for code in available_languages()]
    found = [(code, view.sheets[guide]) for code, guide in named if guide in view.sheets]
    for code, sheet in found:
        if sheet.cells.get((TITLE[0] + 1, TITLE[1] + 1)) == Texts(code)("guide.title"):  # 1-based, as openpyxl
            return code
    return found[0][0] if found else DEFAULT_LANGUAGE
