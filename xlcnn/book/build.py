"""``build_workbook``: an image and a model in, a complete live workbook out — or nothing at all.

The order matters for the promise "nothing half-written": everything that can fail on bad input (the
model, the image, the label, the output path, the spreadsheet limits) is checked before the first byte
is written; the workbook is then written to a temporary file beside the output and renamed into place.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from xlcnn.book import limits
from xlcnn.book.layout import Layout
from xlcnn.book.package import Book
from xlcnn.book.sheet import TEXT_AS_TEXT, BuildContext, FormulaSheet, ImageInfo, protect
from xlcnn.book.stages import BY_KIND, EMITTERS, guide, plan_layout
from xlcnn.book.stages.exercises import key_path, write_answer_key
from xlcnn.book.stages.filters import SHOWN_PATCHES
from xlcnn.book.stages.image import image_colours
from xlcnn.book.stages.saliency import overlay_png
from xlcnn.book.stages.worked import default_choice
from xlcnn.book.styles import Styles
from xlcnn.book.texts import DEFAULT_LANGUAGE, Texts, load_texts
from xlcnn.errors import ModelError, OptionError, OutputError, one_line, option
from xlcnn.files import reason, write_atomically
from xlcnn.image import fit_image, read_image
from xlcnn.model import modify
from xlcnn.model.spec import Architecture, FitMode, Model
from xlcnn.model.templates import load_model, validate_model
from xlcnn.nn.engine import Trace, first_overflow, forward
from xlcnn.nn.exercises import Exercise, draw
from xlcnn.nn.learning import DEFAULT_LEARNING_RATE, Learning, learning_overflow
from xlcnn.nn.learning import learn as learn_from
from xlcnn.version import __version__

# A fixed creation time keeps two builds of the same input byte-for-byte alike.
FIXED_TIMESTAMP = datetime(2024, 1, 1)


@dataclass(frozen=True, eq=False)
class BuildResult:
    path: Path
    model: Model
    trace: Trace
    estimate: limits.Estimate
    formulas: int  # formula cells written
    worked: tuple[int, int, int]  # the conv-1 cell the worked example expands (map, row, column)
    warnings: list[str] = field(default_factory=list)
    learning: Learning | None = None  # the learning layer's numbers (None: built without it)
    key: Path | None = None  # the answer key of the Exercises sheet (None: built without one)


def check_workbook_output(output: Path, image: Path) -> None:
    """Refuse an output path that cannot or must not be written, before any work is done."""
    if output.is_dir():
        raise OutputError(f"{output}: is a directory; give a file name ending in .xlsx")
    if output.suffix.lower() != ".xlsx":
        raise OutputError(f"{output}: the output must be an .xlsx file")
    parent = output.parent
    if not parent.is_dir():
        if parent.exists():
            raise OutputError(f"{output}: {parent} is not a folder")
        raise OutputError(f"{output}: the folder {parent} does not exist")
    if output.exists() and image.exists() and os.path.samefile(output, image):
        raise OutputError(f"{output}: is the input image; choose another output file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{output}: permission denied (cannot write in {parent})")
    if output.exists() and not os.access(output, os.W_OK):
        raise OutputError(f"{output}: permission denied (the file is read-only)")


def thumbnail(pixels_: np.ndarray) -> bytes:
    """The fitted image enlarged with square pixels, as PNG bytes for the Guide."""
    h, w = pixels_.shape[:2]
    factor = max(1, guide.THUMBNAIL_PX // max(h, w))
    img = Image.fromarray(pixels_, "RGB").resize((w * factor, h * factor), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def build_workbook(
    image: str | os.PathLike[str],
    output: str | os.PathLike[str],
    model: str | os.PathLike[str] | Model = "default",
    label: str | None = None,
    fit: FitMode | None = None,
    lang: str = DEFAULT_LANGUAGE,
    worked: tuple[int, int, int] | None = None,
    learn: bool = True,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    exercise: int | None = None,
) -> BuildResult:
    """Write the workbook of ``model`` run on ``image`` to ``output`` (an .xlsx path).

    ``label`` is the true class for the loss (default: the predicted class, which the Guide and Loss sheets
    then say is assumed); ``fit`` how the image is brought to the model's size (default: the model's own,
    usually ``crop``); ``lang`` the language of the explanations; ``worked`` the conv-1 cell (map, row,
    column, from 1) that the worked example expands (default: the strongest cell over all maps, which
    survives ReLU whenever any cell does); ``learn`` whether the workbook has the learning layer (the backward
    pass, one step of gradient descent with ``learning_rate``, saliency, Grad-CAM and the contributions);
    ``exercise`` a seed: the workbook then has an Exercises sheet of cells drawn with it, and its answer key is
    written beside it (``NAME-key.xlsx``).
    """
    image_path, out = _path("image", image), _path("output", output)
    _check_types(model, label, fit, lang, worked)
    if not isinstance(learn, bool):
        raise TypeError(f"learn must be True or False, not {type(learn).__name__}")
    net = model if isinstance(model, Model) else load_model(model)
    if isinstance(model, Model):
        validate_model(model)  # a template was checked as it loaded; a model made in code is checked here
    texts = load_texts(lang)
    net, label = in_language(net, lang, label)
    check_workbook_output(out, image_path)
    if exercise is not None:
        if not isinstance(exercise, int) or isinstance(exercise, bool) or exercise < 0:
            raise TypeError(f"exercise must be a seed (a whole number, 0 or more), not {exercise!r}")
        check_workbook_output(key_path(out), image_path)
    layout = plan_for(net, learn, exercise is not None, lang)
    limits.check_architecture(layout)  # before the image is read or the engine runs: a model too big is refused now
    source = read_image(image_path)
    spec = net.arch.input
    mode: FitMode = fit or spec.fit
    fitted = fit_image(source.rgb, spec.height, spec.width, mode)
    colours, _ = image_colours(fitted)
    est = limits.estimate(layout, len(np.unique(colours.reshape(-1, 3), axis=0)))
    warnings = limits.check(est)
    # The pictures before the engine runs: the Saliency overlay of a large image is a big picture while it is
    # drawn (60 MB at 128×128), and drawn now it does not add to the memory the engine's arrays hold later.
    info = ImageInfo(image_path.name, source.size, mode, thumbnail(fitted), overlay_png(fitted) if learn else b"")
    trace = forward(fitted, net, label)
    overflow = first_overflow(trace)
    if overflow is not None:
        raise ModelError(f"model {net.name!r} overflows on {image_path}: {overflow} holds values too large for a "
                         "spreadsheet (infinite or not a number); its weights or input scale are too large")
    learned = _learning(net, fitted, trace, learning_rate, image_path) if learn else None
    choice = check_worked(worked, net) if worked is not None else default_choice(trace, net)
    drawn = draw(net, trace, exercise) if exercise is not None else None
    counted: list[int] = []
    write_atomically(out, _unwrapped(lambda path: counted.append(
        write_book(path, layout, net, trace, texts, info, choice, label_given=label is not None, learning=learned,
                   exercise=drawn))))
    key = None
    if drawn is not None:
        key = key_path(out)
        try:
            write_atomically(key, lambda path: write_answer_key(path, net, trace, drawn, texts, out.name))
        except BaseException:
            out.unlink(missing_ok=True)  # a student's workbook without its key is half of what was asked for
            raise
    return BuildResult(out, net, trace, est, counted[0], choice, warnings, learned, key)


def in_language(model: Model, lang: str, label: str | None) -> tuple[Model, str | None]:
    """``model`` with its classes named in ``lang`` where its template translates them (``labels.zh``), and the
    true label, given in any of the template's languages, as the workbook will name it. The workbook's defined
    names and verify work on whatever names its ``labels`` cells hold."""
    shown = model.labels_in(lang) or model.classes
    for names_ in (model.classes, *(translated for _, translated in model.labels)):
        if label in names_:  # a label in any of the template's languages names the same class
            label = shown[names_.index(label)]
            break
    if shown == model.classes:
        return model, label
    return dataclasses.replace(model, arch=dataclasses.replace(model.arch, classes=shown)), label


def _path(name: str, value: object) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} must be a path (str or os.PathLike), not {type(value).__name__}")
    return Path(value)


def _check_types(model: object, label: object, fit: object, lang: object, worked: object) -> None:
    """The library's arguments, each of the type it must be: a TypeError naming the one that is not."""
    if not isinstance(model, str | os.PathLike | Model):
        raise TypeError(f"model must be a template name, a folder or a Model, not {type(model).__name__}")
    for name, value in (("label", label), ("fit", fit)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string or None, not {type(value).__name__}")
    if not isinstance(lang, str):
        raise TypeError(f"lang must be a language code (a string), not {type(lang).__name__}")
    if worked is not None and not (isinstance(worked, tuple | list) and len(worked) == 3 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in worked)):
        raise TypeError(f"worked must be three whole numbers (map, row, column), not {worked!r:.40}")


def modify_model(
    model: Model,
    size: modify.Size | None = None,
    filters: modify.PerBlock | None = None,
    kernel: modify.PerBlock | None = None,
    stride: modify.PerBlock | None = None,
    padding: modify.PerBlock | None = None,
    pool: modify.PerBlock | None = None,
    seed: int = 0,
    learn: bool = True,
) -> Model:
    """``model`` reshaped for a workbook (see ``xlcnn.model.modify.modify_model``), refusing with a
    ``LimitError``, before any weights are made, an architecture whose workbook — with the learning layer, if
    ``learn`` — would not fit a spreadsheet."""
    return modify.modify_model(model, size=size, filters=filters, kernel=kernel, stride=stride, padding=padding,
                               pool=pool, seed=seed, check=partial(check_architecture, learn=learn))


def plan_for(model: Model, learn: bool = True, exercise: bool = False, lang: str = DEFAULT_LANGUAGE) -> Layout:
    """The layout of ``model``'s workbook: every sheet, named in ``lang``, with room on Filters 1 for the patches
    it has, the learning layer's sheets if ``learn``, and the Exercises sheet if ``exercise``."""
    return plan_layout(model.arch, teaching=True, patches=0 if model.patches is None else int(model.patches.shape[1]),
                       learning=learn, exercise=exercise, sheet_names=load_texts(lang).sheet_names())


def learning_sheets(model: Model, lang: str = DEFAULT_LANGUAGE) -> tuple[str, ...]:
    """The names of the learning layer's sheets in ``model``'s workbook in ``lang``. A handout leaves them out
    unless asked (they would more than double its pages); its Overview shows the learning step in brief."""
    return tuple(plan.name for plan in plan_for(model, lang=lang).sheets if BY_KIND[plan.kind].learning)


def _learning(model: Model, fitted: np.ndarray, trace: Trace, rate: float, image: Path) -> Learning:
    """The learning layer's numbers, refused (like an overflowing forward pass) when one is not finite."""
    learned = learn_from(model, fitted, trace.true_label, rate)
    overflow = learning_overflow(learned)
    if overflow is not None:
        raise ModelError(f"model {model.name!r} overflows on {image}: {overflow} holds values too large for a "
                         "spreadsheet (infinite or not a number); its weights or input scale are too large")
    return learned


def check_architecture(arch: Architecture, learn: bool = True) -> None:
    """Refuse (``LimitError``) an architecture whose workbook would exceed a spreadsheet limit."""
    limits.check_architecture(plan_layout(arch, teaching=True, patches=SHOWN_PATCHES, learning=learn))  # the most


def check_worked(choice: tuple[int, int, int], model: Model) -> tuple[int, int, int]:
    """A worked-example choice must name an existing cell of conv 1."""
    filters, rows, cols = model.arch.blocks[0].conv_shape
    for value, top, what in zip(choice, (filters, rows, cols), ("map", "row", "column"), strict=True):
        if not 1 <= value <= top:
            raise OptionError(f"{option('worked')} {','.join(map(str, choice))}: the {what} must be from 1 to {top}, "
                              f"not {value}")
    return choice


def _unwrapped(write: Callable[[Path], object]) -> Callable[[Path], None]:
    """``write``, raising the OSError that XlsxWriter wraps in its FileCreateError (a full disk, …)."""
    def run(path: Path) -> None:
        try:
            write(path)
        except FileCreateError as exc:
            inner = exc.args[0] if exc.args else exc
            raise inner if isinstance(inner, OSError) else OSError(one_line(str(inner))) from None

    return run


def write_book(path: Path, layout: Layout, model: Model, trace: Trace, texts: Texts, info: ImageInfo,
           worked: tuple[int, int, int], worksheet_class: type[Worksheet] = FormulaSheet, *,
           label_given: bool = False, learning: Learning | None = None, exercise: Exercise | None = None,
           workbook_class: type[Workbook] = Book) -> int:
    """Write the workbook of a planned ``layout`` to ``path`` (no checks, not atomic: ``build_workbook`` does
    both); → how many formulas it holds. ``worksheet_class`` and ``workbook_class`` are XlsxWriter's own for a
    byte-for-byte check of ``FormulaSheet`` and ``Book``; ``label_given`` whether ``trace``'s true label was given
    rather than assumed; ``learning`` the learning layer's numbers, when ``layout`` has its sheets, and
    ``exercise`` the Exercises sheet's tasks."""
    # Constant-memory mode flushes each row as the next begins: memory stays flat however big the image. The
    # rows go to XlsxWriter's temporary files, kept in a folder of our own that is removed whatever happens.
    with _scratch_folder() as scratch:
        return _write_in(path, scratch, layout, model, trace, texts, info, worked, worksheet_class, label_given,
                         learning, exercise, workbook_class)


def _scratch_folder() -> tempfile.TemporaryDirectory[str]:
    """A new folder in the temporary folder; when it cannot be made, the error is about that folder, not the
    output file."""
    try:
        return tempfile.TemporaryDirectory(prefix="xlcnn-", ignore_cleanup_errors=True)
    except OSError as exc:
        raise OutputError(f"the temporary folder {tempfile.gettempdir()}: cannot be written ({reason(exc)}); free "
                          "some space there or set TMPDIR to another folder") from None


def _write_in(path: Path, scratch: str, layout: Layout, model: Model, trace: Trace, texts: Texts, info: ImageInfo,
              worked: tuple[int, int, int], worksheet_class: type[Worksheet], label_given: bool,
              learning: Learning | None, exercise: Exercise | None, workbook_class: type[Workbook]) -> int:
    wb = workbook_class(str(path), {"constant_memory": True, "tmpdir": scratch, **TEXT_AS_TEXT})
    try:
        wb.set_properties({
            "title": f"xlcnn · {model.title} · {info.name}",
            "subject": "A convolutional neural network as live spreadsheet formulas",
            "author": "xlcnn",
            "comments": f"Made by xlcnn {__version__}",
            "created": FIXED_TIMESTAMP,
        })
        styles = Styles(wb.add_format, texts.flag("style.italic_notes"), texts("style.font"))
        ctx = BuildContext(layout, model, trace, styles, texts, info, worked, label_given, learning, exercise)
        sheets = []
        for plan in layout.sheets:
            content = EMITTERS[plan.kind.name](ctx, plan)
            sheets.append(wb.add_worksheet(plan.name, worksheet_class=worksheet_class))
            for book_setup in content.book_setup:
                book_setup(wb, sheets[-1])
            content.write(sheets[-1])
            protect(sheets[-1])
        for name, ref in layout.defined_names():
            wb.define_name(name, ref)
    except BaseException:
        wb.fileclosed = True  # abandon it: the caller deletes the temporary file
        for ws in wb.worksheets():
            if ws.row_data_fh is not None:
                ws.row_data_fh.close()  # so that the scratch folder can be removed (Windows keeps open files)
        raise
    wb.close()
    return sum(getattr(ws, "formulas", 0) for ws in sheets)
