"""A class set: one workbook per picture — a folder of them, or several files — built in parallel on the
machine's cores, and a summary of what the network said of each (``summary.csv`` and a one-page
``summary.xlsx``).

A picture that cannot be built (not an image, too large, …) is reported and skipped; the others still build.
Each workbook is written whole or not at all (``xlcnn.files``), and the summaries are written last, so that
whatever stops the run leaves only whole files behind.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from xlsxwriter.workbook import Workbook

from xlcnn.book.build import FIXED_TIMESTAMP, build_workbook, in_language
from xlcnn.book.sheet import TEXT_AS_TEXT, protect
from xlcnn.book.texts import DEFAULT_LANGUAGE, Texts, load_texts
from xlcnn.errors import OutputError, XlcnnError, one_line
from xlcnn.files import reason, write_atomically
from xlcnn.model.spec import Model
from xlcnn.model.templates import load_model
from xlcnn.nn.engine import true_index_of
from xlcnn.nn.exercises import seed_for

SUMMARY_CSV = "summary.csv"
SUMMARY_BOOK = "summary.xlsx"
COMBINED_PDF = "handouts.pdf"  # with --pdf: the summary and every handout, in one file to print
COMBINED_KEYS = "answer-keys.pdf"  # with --pdf --exercise: every answer key, in one file
RESERVED = ("summary", "handouts", "answer-keys")  # stems of the class set's own files: no workbook takes one
ERROR_CHARS_PER_LINE = 70  # of a failed picture's reason, over the table's last three columns


@dataclass(frozen=True)
class Built:
    image: Path
    workbook: Path
    predicted: str
    probability: float
    formulas: int
    key: Path | None = None  # the answer key of its Exercises sheet


@dataclass(frozen=True)
class Failed:
    image: Path
    error: str  # the one-line reason, as ``Error: …`` would print it


@dataclass(frozen=True)
class ClassSet:
    folder: Path
    results: tuple[Built | Failed, ...]  # in the order of the pictures
    summary_csv: Path
    summary_book: Path

    @property
    def built(self) -> list[Built]:
        return [r for r in self.results if isinstance(r, Built)]

    @property
    def failed(self) -> list[Failed]:
        return [r for r in self.results if isinstance(r, Failed)]


def pictures_in(sources: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The pictures to build: each file given, and the files of each folder given whose names end like an image
    (Pillow's extensions; hidden files left out), sorted; → (pictures, files in the folders that were left out)."""
    extensions = {ext.lower() for ext in Image.registered_extensions()}
    pictures: list[Path] = []
    left_out: list[Path] = []
    for source in sources:
        if not source.is_dir():
            pictures.append(source)
            continue
        for path in sorted(p for p in source.iterdir() if not p.name.startswith(".")):
            if path.is_file() and path.suffix.lower() in extensions:
                pictures.append(path)
            elif path.is_file():
                left_out.append(path)
    return pictures, left_out


def workbook_names(pictures: Sequence[Path]) -> list[str]:
    """Each picture's workbook name: ``cat.xlsx`` for ``cat.jpg``, or ``cat-jpg.xlsx`` when another picture has
    the same stem (``cat.png``), numbered if that is taken too; likewise when the stem is one of the class set's
    own files (``summary``, ``handouts``) or an answer key's (``cat-key`` beside ``cat``)."""
    stems = [p.stem for p in pictures]
    blocked = set(RESERVED) | {f"{stem}-key".lower() for stem in stems}
    used: set[str] = set()
    names: list[str] = []
    for picture, stem in zip(pictures, stems, strict=True):
        alone = stems.count(stem) == 1 and stem.lower() not in blocked
        name = stem if alone else f"{stem}-{picture.suffix.lstrip('.').lower()}"
        candidate, n = name, 2
        while candidate.lower() in used | blocked:
            candidate, n = f"{name}-{n}", n + 1
        used.add(candidate.lower())
        names.append(candidate)
    return [f"{name}.xlsx" for name in names]


def _build_one(picture: Path, out: Path, model: Model, options: dict[str, Any]) -> Built | Failed:
    """One workbook (in a worker process): what it predicted, or why it could not be built. With an exercise
    seed, each picture draws its own cells (the seed mixed with the picture's name)."""
    options = dict(options)
    seed = options.pop("exercise_seed", None)
    try:
        drawn = None if seed is None else seed_for(picture.name, seed)
        result = build_workbook(picture, out, model=model, exercise=drawn, **options)
    except XlcnnError as exc:
        return Failed(picture, one_line(exc.message))
    except OSError as exc:  # a file the library did not foresee refusing
        return Failed(picture, f"{picture}: {reason(exc)}")
    return Built(picture, out, result.trace.predicted_label, float(result.trace.probs.max()), result.formulas,
                 result.key)


def build_class_set(
    sources: Sequence[str | os.PathLike[str]],
    folder: str | os.PathLike[str],
    model: str | os.PathLike[str] | Model = "default",
    *,
    jobs: int | None = None,
    lang: str = DEFAULT_LANGUAGE,
    progress: Callable[[Built | Failed], None] | None = None,
    **options: Any,
) -> ClassSet:
    """Build a workbook of ``model`` for every picture of ``sources`` (files or folders) into ``folder``, on
    ``jobs`` processes (default: one per core), then the summaries. ``options`` are ``build_workbook``'s (label,
    fit, worked, learn, learning_rate) and ``exercise_seed`` (an Exercises sheet and answer key per picture, each
    drawn from the seed and the picture's name); ``progress`` is called as each picture is done."""
    out = Path(folder)
    pictures, net, texts = check_class_set(sources, out, model, lang, options.get("label"))
    _make_folder(out)
    targets = [out / name for name in workbook_names(pictures)]
    options = {**options, "lang": lang}
    results: dict[int, Built | Failed] = {}
    workers = max(1, min(jobs or os.cpu_count() or 1, len(pictures)))
    if workers == 1:
        for i, (picture, target) in enumerate(zip(pictures, targets, strict=True)):
            results[i] = _build_one(picture, target, net, options)
            if progress:
                progress(results[i])
    else:
        # spawn, not fork: a forked child would inherit whatever threads and locks the caller holds.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures: dict[Future[Built | Failed], int] = {
                pool.submit(_build_one, picture, target, net, options): i
                for i, (picture, target) in enumerate(zip(pictures, targets, strict=True))}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    if progress:
                        progress(results[futures[future]])
            except BaseException:
                # Ctrl+C or a signal: the pictures not started are dropped, those being built finish whole (each
                # workbook is renamed into place only when complete), and the summaries are not written.
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    ordered = tuple(results[i] for i in range(len(pictures)))
    summary_csv, summary_book = out / SUMMARY_CSV, out / SUMMARY_BOOK
    write_atomically(summary_csv, lambda tmp: tmp.write_text(summary_text(ordered, out), encoding="utf-8"))
    write_atomically(summary_book, lambda tmp: write_summary_book(tmp, ordered, out, net, texts))
    return ClassSet(out, ordered, summary_csv, summary_book)


def check_class_set(sources: Sequence[str | os.PathLike[str]], folder: Path, model: str | os.PathLike[str] | Model,
                    lang: str, label: str | None) -> tuple[list[Path], Model, Texts]:
    """What is refused once, before any work: no pictures, an output that is a file or has no folder to go in, an
    unknown model, language or label. → the pictures, the model and the texts."""
    pictures, _ = pictures_in([Path(s) for s in sources])
    if not pictures:
        raise OutputError(f"{', '.join(str(s) for s in sources)}: a folder with no pictures in it (no file whose "
                          "name ends like an image)")
    if folder.suffix.lower() in (".xlsx", ".xlsm", ".xls") and not folder.is_dir():
        raise OutputError(f"{folder}: names a workbook, but a class set of {len(pictures)} pictures is written to a "
                          "folder, one workbook per picture: give a folder")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file; a class set is written to a folder (one workbook per picture)")
    if not folder.absolute().parent.is_dir():
        raise OutputError(f"{folder}: the folder {folder.absolute().parent} does not exist")
    net = model if isinstance(model, Model) else load_model(model)
    texts = load_texts(lang)
    if label is not None:  # in English or in the workbook's language (a template's labels.zh)
        shown, named = in_language(net, lang, label)
        true_index_of(shown, named or label)
    return pictures, net, texts


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot be made ({reason(exc)})") from None


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def summary_text(results: Sequence[Built | Failed], folder: Path) -> str:
    """The CSV: one row per picture — file, workbook, prediction, probability (4 decimals), error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "workbook", "prediction", "probability", "error"])
    for r in results:
        if isinstance(r, Built):
            writer.writerow([str(r.image), _relative(r.workbook, folder), r.predicted, f"{r.probability:.4f}", ""])
        else:
            writer.writerow([str(r.image), "", "", "", r.error])
    return buffer.getvalue()


def write_summary_book(path: Path, results: Sequence[Built | Failed], folder: Path, model: Model,
                       texts: Texts) -> None:
    """A one-page table of the class set: file, prediction, probability, and the error for those that failed."""
    wb = Workbook(str(path), TEXT_AS_TEXT)
    wb.set_properties({"title": f"xlcnn · {model.title} · {texts('classset.title')}", "author": "xlcnn",
                       "created": FIXED_TIMESTAMP})
    font = texts("style.font")
    ws = wb.add_worksheet(texts("classset.sheet"))
    title = wb.add_format({"font_name": font, "bold": True, "font_size": 16, "font_color": "#1F3864"})
    head = wb.add_format({"font_name": font, "bold": True, "bottom": 1})
    text = wb.add_format({"font_name": font, "num_format": "@", "valign": "top"})
    percent = wb.add_format({"font_name": font, "num_format": "0.0%", "valign": "top"})
    error = wb.add_format({"font_name": font, "font_color": "#B2182B", "num_format": "@", "text_wrap": True,
                           "valign": "top"})
    book = wb.add_format({"font_name": font, "num_format": "@", "indent": 1, "valign": "top"})
    ws.write_string(0, 0, texts("classset.title"), title)
    ws.write_string(1, 0, texts("classset.what", model=model.title, n=len(results)), text)
    headers = texts.lines("classset.headers")
    for c, header in enumerate(headers):
        ws.write_string(3, c, header, head)
    for i, r in enumerate(results, start=4):
        ws.write_string(i, 0, r.image.name, text)
        if isinstance(r, Built):
            ws.write_string(i, 1, r.predicted, text)
            ws.write_number(i, 2, r.probability, percent)
            ws.write_string(i, 3, _relative(r.workbook, folder), book)
        else:
            # A merged cell does not grow to fit its text in every spreadsheet: the row is made tall enough.
            ws.set_row(i, 15 * max(1, -(-len(r.error) // ERROR_CHARS_PER_LINE)))
            ws.merge_range(i, 1, i, 3, r.error, error)
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 18)
    ws.set_column(2, 2, 12)
    ws.set_column(3, 3, 30)
    ws.repeat_rows(3, 3)
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.set_footer("&CPage &P of &N")
    protect(ws)
    wb.close()
