"""The ``xlcnn`` command: parses options, calls the library, and turns ``XlcnnError`` into ``Error: …``.

Nothing here computes anything; each command is a thin wrapper over a public function of ``xlcnn``.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from xlcnn import write_handout
from xlcnn.book.build import build_workbook, learning_sheets, modify_model
from xlcnn.book.texts import DEFAULT_LANGUAGE
from xlcnn.check.fonts import check_language_fonts
from xlcnn.check.libreoffice import DEFAULT_TIMEOUT, find_soffice
from xlcnn.check.programs import MAX_TIMEOUT, check_timeout
from xlcnn.check.recalc import DEFAULT_ENGINE, ENGINES
from xlcnn.errors import OptionError, XlcnnError, spell
from xlcnn.model.modify import Size
from xlcnn.model.spec import FIT_MODES, FitMode, Model
from xlcnn.model.templates import MODEL_FILE, PATCHES_FILE, WEIGHTS_FILE, list_templates, load_model
from xlcnn.nn.exercises import seed_for
from xlcnn.nn.learning import DEFAULT_LEARNING_RATE, MAX_LEARNING_RATE
from xlcnn.version import __version__

if TYPE_CHECKING:  # verify (and openpyxl) load only when a command needs them: the CLI starts faster
    from xlcnn.check.verify import VerifyReport


_FLAGS: dict[tuple[str, str | None], str] = {("check_cache", "False"): "--no-cache-check",  # not the parameter
                                             ("flip", "False"): "--no-flip", ("learn", "False"): "--no-learn"}


def as_flag(name: str, value: str | None) -> str:
    """How the command line spells a parameter that a library message names: ``--skip-bad``."""
    return _FLAGS.get((name, value), "--" + name.replace("_", "-"))


# Everything str.splitlines breaks a line at, written as its escape: a file name may hold any of them.
_LINE_BREAKS = {ord(ch): ch.encode("unicode_escape").decode() for ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def _one_line(message: str) -> str:
    return message.translate(_LINE_BREAKS)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP arrived. A BaseException, like KeyboardInterrupt, so that every ``finally`` and
    ``except BaseException`` on the way out runs: temporary files removed, spreadsheet engines stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_termination(signum: int, frame: object) -> None:
    for sig in TERMINATION_SIGNALS:  # a second signal must not cut the clean-up short
        signal.signal(sig, signal.SIG_IGN)
    raise _Terminated(signum)


TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class _Group(click.Group):
    """Reports library errors as one ``Error: …`` line with exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _Terminated as exc:
            name = signal.Signals(exc.signum).name
            click.echo(f"Error: stopped by {name}; no file was left half-written", err=True)
            raise click.exceptions.Exit(128 + exc.signum) from None
        except XlcnnError as exc:
            raise click.ClickException(_one_line(spell(exc.message, as_flag))) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted; no file was left half-written") from None
        except OSError as exc:  # a file-system refusal the library did not foresee (a name too long, …)
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xlcnn")
def cli() -> None:
    """Turn any image into an Excel workbook that is a convolutional neural network.

    \b
    Examples:
      xlcnn build photo.jpg -o photo.xlsx          # the default, trained model
      xlcnn build photo.jpg --model tiny --pdf      # a one-page-per-stage handout
      xlcnn verify photo.xlsx                       # recalculate in LibreOffice and check every cell
      xlcnn templates                               # the built-in models
    """


@cli.command("build")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE... | FOLDER",
                type=click.Path(path_type=Path, readable=False))  # xlcnn checks them, with its own words
@click.option("-o", "--output", type=click.Path(path_type=Path, readable=False),
              help="The workbook to write (.xlsx). Default: the image's name with .xlsx, in this folder. For a "
                   "class set (several images, or a folder), the folder to write a workbook per image into.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, metavar="N",
              help="For a class set: how many workbooks to build at once. Default: one per core.")
@click.option("-m", "--model", "model_name", default="default", show_default=True, metavar="NAME|DIR",
              help="A built-in template (see 'xlcnn templates') or a template folder (./NAME for a folder named "
                   "like a built-in).")
@click.option("-l", "--label", metavar="CLASS", help="The true class for the loss. Default: the predicted class.")
@click.option("--fit", type=click.Choice(FIT_MODES), default=None,
              help="How to bring the image to the model's size: centre-crop (default), pad with white, or stretch.")
@click.option("--lang", default=DEFAULT_LANGUAGE, show_default=True, metavar="CODE",
              help="Language of the explanations (a file in templates/lang/).")
@click.option("--worked", callback=lambda ctx, param, value: _cell(value), metavar="MAP,ROW,COL",
              help="The Conv 1 cell the Worked example sheet expands. Default: the strongest cell over all maps "
                   "(one that survives ReLU).")
@click.option("--learning-rate", type=click.FloatRange(0, MAX_LEARNING_RATE, max_open=True), default=None,
              metavar="η", help=f"The step size of the Step sheet's gradient-descent step (editable in the workbook). "
                                f"Default: {DEFAULT_LEARNING_RATE}.")
@click.option("--no-learn", "no_learn", is_flag=True,
              help="Leave out the learning layer (the backward pass, the step, saliency, Grad-CAM): a forward-only "
                   "workbook, a third the size.")
@click.option("--pdf", is_flag=True,
              help="Also print the workbook to a PDF handout beside it (needs LibreOffice): the Guide, the Overview "
                   "and every forward stage, a readable page each (a sheet too big for one shows what fits, and "
                   "says so). The learning layer's sheets are left out; see --pdf-all.")
@click.option("--pdf-all", is_flag=True,
              help="As --pdf, but print the learning layer's sheets too (about twice the pages).")
@click.option("--exercise", is_flag=True,
              help="Add an Exercises sheet: eight cells to compute by hand, each checked live, drawn at random from "
                   "--seed and the image's name (so each picture of a class set gets its own), and write the "
                   "teacher's answer key beside the workbook (NAME-key.xlsx; with --pdf, its PDF too).")
@click.option("--verify", "verify", is_flag=True,
              help="Then recalculate the workbook in LibreOffice and check every formula (as 'xlcnn verify').")
@click.option("--size", callback=lambda ctx, param, value: _size(value), metavar="N|HxW",
              help="Change the model's input size: N×N, or height × width.")
@click.option("--filters", callback=lambda ctx, param, value: _ints(value), metavar="N[,N…]",
              help="Change the filters of every conv block (one number) or of each (one per block).")
@click.option("--kernel", callback=lambda ctx, param, value: _ints(value), metavar="N[,N…]",
              help="Change the conv kernel size (N×N), for every block or per block.")
@click.option("--stride", callback=lambda ctx, param, value: _ints(value), metavar="N[,N…]",
              help="Change the conv stride, for every block or per block.")
@click.option("--padding", callback=lambda ctx, param, value: _ints(value), metavar="N[,N…]",
              help="Change the conv zero padding, for every block or per block.")
@click.option("--pool", callback=lambda ctx, param, value: _ints(value), metavar="N[,N…]",
              help="Change the max pool size (and stride), for every block or per block.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Seeds the random weights of layers that the options above reshape (they are not trained), and "
                   "the cells of --exercise.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def build_command(images: tuple[Path, ...], output: Path | None, jobs: int | None, model_name: str,
                  label: str | None, fit: FitMode | None,
                  lang: str, worked: tuple[int, int, int] | None, learning_rate: float | None, no_learn: bool,
                  pdf: bool, pdf_all: bool, exercise: bool, verify: bool, size: Size | None,
                  filters: tuple[int, ...] | None, kernel: tuple[int, ...] | None, stride: tuple[int, ...] | None,
                  padding: tuple[int, ...] | None, pool: tuple[int, ...] | None, seed: int, quiet: bool) -> None:
    """Build the workbook of a CNN running on IMAGE.

    Several images, or a folder of them, make a class set: a workbook per image in the folder given with -o,
    built in parallel, and a summary (summary.csv, summary.xlsx) of what the network said of each. An image that
    cannot be built is reported and skipped; the others still build.

    The architecture options reshape the chosen model; layers whose weights no longer fit get random weights
    (see --seed), and the workbook's model card says which.

    \b
    Examples:
      xlcnn build samples/circle.png -o circle.xlsx
      xlcnn build photo.jpg --model tiny --label vertical
      xlcnn build cat.png --model ./my-model --fit pad
      xlcnn build photo.jpg --model tiny --pdf --lang zh
      xlcnn build photo.jpg --pdf-all                  # the handout with the backward pass and the step
      xlcnn build photo.jpg --size 128 --filters 16    # a bigger, untrained network
      xlcnn build photo.jpg --learning-rate 0.03       # a bolder step on the Step sheet
      xlcnn build photo.jpg --no-learn                 # the forward pass only
      xlcnn build photos/ -o handouts/ --pdf           # a class set: a workbook and a PDF per photo
    """
    if no_learn and learning_rate is not None:
        raise click.UsageError("--learning-rate sets the step of the learning layer, which --no-learn leaves out; "
                               "give one or the other")
    class_set = len(images) > 1 or images[0].is_dir()
    if class_set and verify:
        raise click.UsageError("--verify checks one workbook; for a class set, run 'xlcnn verify' on the workbooks "
                               "you want checked")
    if class_set and output is None:
        raise click.UsageError("several images, or a folder, build a class set into a folder: give it with -o DIR")
    if not class_set and jobs is not None:
        raise click.UsageError("--jobs is for a class set (several images, or a folder); one image builds one "
                               "workbook")
    if pdf_all and no_learn:
        raise click.UsageError("--pdf-all prints the learning layer too, which --no-learn leaves out; give --pdf")
    pdf = pdf or pdf_all
    if pdf or verify:
        find_soffice()  # say LibreOffice is missing before building, not after
    if pdf:
        check_language_fonts(lang)  # and that the language's characters would print as boxes
    net = modify_model(load_model(model_name), size=size, filters=filters, kernel=kernel, stride=stride,
                       padding=padding, pool=pool, seed=seed, learn=not no_learn)
    rate = DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate
    if class_set:
        assert output is not None
        _build_class_set(images, output, net, jobs, pdf, pdf_all, quiet, label=label, fit=fit, lang=lang, worked=worked,
                         learn=not no_learn, learning_rate=rate, exercise_seed=seed if exercise else None)
        return
    image = images[0]
    out = output if output is not None else Path(image.stem + ".xlsx")
    result = build_workbook(image, out, model=net, label=label, fit=fit, lang=lang, worked=worked, learn=not no_learn,
                            learning_rate=rate, exercise=seed_for(image.name, seed) if exercise else None)
    for warning in result.warnings:
        click.echo(f"Warning: {spell(warning, as_flag)}", err=True)
    if not quiet:
        tr = result.trace
        click.echo(
            f"Wrote {result.path}: {result.formulas:,} live formulas. "
            f"Prediction: {tr.predicted_label} ({tr.probs.max():.1%}); "
            f"loss {_loss(tr.loss)} for true label {tr.true_label!r}."
        )
        if result.learning is not None:
            learned = result.learning
            click.echo(f"One step of gradient descent (learning rate {learned.learning_rate:g}): "
                       f"loss {_loss(tr.loss)} → {_loss(learned.step_loss)}.")
    if result.key is not None and not quiet:
        click.echo(f"Wrote {result.key}: the answer key of its Exercises sheet.")
    if pdf:
        handout = write_handout(result.path, leave_out=() if pdf_all else learning_sheets(result.model, lang))
        if not quiet:
            click.echo(f"Wrote {handout}: the printed handout.")
        if result.key is not None:
            key = write_handout(result.key)
            if not quiet:
                click.echo(f"Wrote {key}: the printed answer key.")
    if verify:
        from xlcnn.check.verify import verify_workbook

        _show_verification(verify_workbook(result.path), as_json=False, quiet=quiet)


def _build_class_set(images: tuple[Path, ...], folder: Path, net: Model, jobs: int | None, pdf: bool,
                     pdf_all: bool, quiet: bool, **options: Any) -> None:
    """A workbook per picture into ``folder``, with a progress bar; failures on a line each; exit code 1 if any."""
    from xlcnn.book.classset import COMBINED_KEYS, COMBINED_PDF, build_class_set, check_class_set, pictures_in
    from xlcnn.check.handout import combine_pdfs, write_handouts

    check_class_set(list(images), folder, net, options["lang"], options["label"])  # before the progress bar
    pictures, left_out = pictures_in(list(images))
    if left_out and not quiet:
        names = ", ".join(p.name for p in left_out[:5]) + (", …" if len(left_out) > 5 else "")
        click.echo(f"Note: left out {len(left_out)} file(s) whose names do not end like an image: {names}", err=True)
    with click.progressbar(length=len(pictures), label="Building", file=sys.stderr, show_pos=True,
                           hidden=quiet) as bar:
        made = build_class_set(list(images), folder, net, jobs=jobs, progress=lambda result: bar.update(1),
                               **options)
    for failed in made.failed:
        click.echo(f"Error: {_one_line(spell(failed.error, as_flag))} (skipped)", err=True)
    if pdf and made.built:
        keys = [r.key for r in made.built if r.key is not None]
        books = [r.workbook for r in made.built]
        unprinted = () if pdf_all else learning_sheets(net, options["lang"])
        handouts = write_handouts(books + keys + [made.summary_book], leave_out=unprinted)
        summary, pupils, answers = handouts[-1], handouts[: len(books)], handouts[len(books) : -1]
        combined = combine_pdfs([summary, *pupils], folder / COMBINED_PDF)
        if answers:
            combine_pdfs(answers, folder / COMBINED_KEYS)
        if not quiet:
            keys_too = f"; {COMBINED_KEYS}: every answer key" if answers else ""
            click.echo(f"Wrote {len(handouts)} PDF handouts beside the workbooks, and {combined.name}: the summary and "
                       f"every handout in one file, to print at once{keys_too}.")
    if not quiet:
        click.echo(f"Wrote {len(made.built)} of {len(made.results)} workbooks to {folder}; the summary: "
                   f"{made.summary_csv}, {made.summary_book}.")
    if made.failed:
        raise click.exceptions.Exit(1)


@cli.command("verify")
@click.argument("workbook", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a table.")
@click.option("--timeout", callback=lambda ctx, param, value: _seconds(value), default=str(DEFAULT_TIMEOUT),
              show_default=True, metavar="SECONDS", help="Stop the spreadsheet engine if it takes longer than this.")
@click.option("--no-cache-check", is_flag=True,
              help="Do not check the values cached in the file (e.g. one saved by openpyxl, which stores none).")
@click.option("--engine", "engine", type=click.Choice(sorted(ENGINES)), default=DEFAULT_ENGINE, show_default=True,
              help="The spreadsheet engine that recalculates WORKBOOK: LibreOffice Calc or Gnumeric (ssconvert).")
def verify_command(workbook: Path, as_json: bool, timeout: float, no_cache_check: bool, engine: str) -> None:
    """Check that WORKBOOK computes what the CNN computes.

    Reads the pixels, weights, settings and labels back from WORKBOOK (so your edits count), runs the NumPy
    engine on them, recalculates WORKBOOK in LibreOffice (or Gnumeric) and compares every formula cell,
    stage by stage, and the values cached in the file. Exit code 0 when everything matches, 1 otherwise.

    \b
    Examples:
      xlcnn verify photo.xlsx
      xlcnn verify photo.xlsx --json > report.json
      xlcnn verify edited.xlsx --no-cache-check     # saved by openpyxl, which stores no values
      xlcnn verify photo.xlsx --engine gnumeric     # a second, independent spreadsheet engine
    """
    from xlcnn.check.verify import verify_workbook

    report = verify_workbook(workbook, timeout=timeout, check_cache=not no_cache_check, engine=engine)
    _show_verification(report, as_json=as_json, quiet=False)


def _shown(value: str) -> str:
    """A value as a message quotes it: repr (so that control characters show), cut short if long."""
    return repr(value) if len(value) <= 40 else repr(value[:40]) + f"… ({len(value):,} characters)"


def _cell(value: str | None) -> tuple[int, int, int] | None:
    """``MAP,ROW,COL`` → three whole numbers (a usage error otherwise)."""
    if value is None:
        return None
    parts = value.replace(" ", "").split(",")
    # ASCII digits only: str.isdigit also takes "²", which int() refuses; six digits are more than any map has.
    if len(parts) != 3 or not all(re.fullmatch(r"[0-9]{1,6}", p) for p in parts):
        raise click.BadParameter(f"{_shown(value)} is not MAP,ROW,COL (three whole numbers, e.g. 1,14,14)")
    return int(parts[0]), int(parts[1]), int(parts[2])


def _seconds(value: str) -> float:
    """A time limit: a number of seconds above 0 and at most a day (a usage error otherwise)."""
    try:
        seconds = float(value)
    except ValueError:
        raise click.BadParameter(f"{_shown(value)} is not a number of seconds") from None
    try:
        return check_timeout(seconds)  # the library's own range: above 0, at most a day; nan and inf refused
    except OptionError:
        raise click.BadParameter(f"{_shown(value)}: give a number of seconds above 0 and at most "
                                 f"{MAX_TIMEOUT:,.0f}") from None


_WHOLE = re.compile(r"^\s*[+-]?[0-9]+\s*$")


def _whole(text: str) -> int | None:
    """A whole number, or None; one with hundreds of digits is a usage error of its own."""
    if not _WHOLE.match(text):
        return None
    if len(text.strip()) > 100:
        raise click.BadParameter(f"{text.strip()[:20]}… has {len(text.strip()):,} characters: far too large a number")
    return int(text)


def _ints(value: str | None) -> tuple[int, ...] | None:
    """``N`` or ``N,N,…`` → whole numbers (a usage error otherwise); their ranges are the library's to check."""
    if value is None:
        return None
    numbers = [_whole(part) for part in value.split(",")]
    if not all(n is not None for n in numbers):
        raise click.BadParameter(f"{_shown(value)} is not a whole number or a list of them (e.g. 8 or 4,8)")
    return tuple(n for n in numbers if n is not None)


def _size(value: str | None) -> Size | None:
    """``N`` or ``HxW`` → a side or (height, width) (a usage error otherwise)."""
    if value is None:
        return None
    parts = [_whole(part) for part in re.split(r"[x×X]", value)]
    if len(parts) == 1 and parts[0] is not None:
        return parts[0]
    if len(parts) == 2 and parts[0] is not None and parts[1] is not None:
        return parts[0], parts[1]
    raise click.BadParameter(f"{_shown(value)} is not N or HxW (whole numbers, e.g. 64 or 48x64)")


def _show_verification(report: VerifyReport, as_json: bool, quiet: bool) -> None:
    """The report on stdout; a failure also as one ``Error:`` line on stderr, with exit code 1."""
    from xlcnn.check.verify import format_report

    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    elif not quiet:
        click.echo(format_report(report, as_flag))
    if not report.ok:
        raise click.ClickException(report.summary())


@cli.command("templates")
def templates_command() -> None:
    """List the built-in model templates.

    \b
    Example:
      xlcnn templates
    """
    for name in list_templates():
        model = load_model(name)
        arch = model.arch
        accuracy = model.provenance.accuracy
        quality = f"{accuracy:.1%} accurate" if accuracy is not None else model.provenance.method
        click.echo(
            f"{name:<10} {arch.input.height}×{arch.input.width}×{arch.input.channels}, "
            f"{len(arch.blocks)} conv block(s), classes: {', '.join(arch.classes)} ({quality})"
        )
        click.echo(f"{'':<10} {model.title}")


@cli.command("train")
@click.argument("photos", required=False, type=click.Path(path_type=Path))
@click.option("--dataset", metavar="NAME",
              help="Train on a built-in data set instead: shapes or stripes (generated), digits or faces "
                   "(real data; needs pip install \"xlcnn[data]\").")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), metavar="DIR",
              help="The template folder to write (model.toml, weights.npz, patches.npz).")
@click.option("-t", "--template", metavar="NAME|DIR",
              help="The architecture to train: a built-in template or a template folder. "
                   "Default: default (for --dataset, the template it is made for: stripes → tiny).")
@click.option("--epochs", type=click.IntRange(min=1), help="Passes over the training images. Default: per data set.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="Seeds the weights, the data and the batch order: the same seed gives the same weights.")
@click.option("--val-split", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="The share of each photo class held out to measure accuracy.")
@click.option("--train-size", type=click.IntRange(min=1),
              help="How many images to generate for --dataset. Default: 24,000 shapes, 3,000 stripes.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per step of Adam. Default: 64.")
@click.option("--learning-rate", type=click.FloatRange(0, 1, min_open=True),
              help="Adam's first step size (it shrinks to nearly 0 by the end). Default: per data set.")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable images and empty class folders, with a warning.")
@click.option("--no-flip", "no_flip", is_flag=True,
              help="Never show the network mirrored photos (for classes a mirror changes: letters, arrows, b and d).")
@click.option("--force", is_flag=True, help="Write into a non-empty folder that is not a template.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def train_command(photos: Path | None, dataset: str | None, output: Path, template: str | None, epochs: int | None,
                  seed: int, val_split: float, train_size: int | None, batch_size: int | None,
                  learning_rate: float | None, skip_bad: bool, no_flip: bool, force: bool, quiet: bool) -> None:
    """Train a model on your photos, or on a built-in data set, into a template folder.

    PHOTOS is a folder with one sub-folder of images per class (PHOTOS/cat/*.jpg, PHOTOS/dog/*.jpg, …);
    each folder's name is its class. An existing template in the output folder is replaced. Every image
    is seen shifted, mirrored (unless --no-flip), brighter or darker at random, so that the network learns
    the class rather than the photos; aim for 20 or more photos per class.

    \b
    Examples:
      xlcnn train photos/ -o my-model                # three kinds of photos → my-model/
      xlcnn build face.jpg --model my-model          # a workbook of your network
      xlcnn train --dataset shapes -o shapes         # the default model again (minutes)
      xlcnn train --dataset stripes -o stripes       # the tiny model again (seconds)
      xlcnn train --dataset digits -o digits         # handwritten digits (needs xlcnn[data])
    """
    import contextlib
    import time

    from xlcnn.learn.train import Progress, check_template_folder, train_model, write_template

    def warn(message: str) -> None:
        click.echo(f"Warning: {spell(message, as_flag)}", err=True)

    def line(p: Progress) -> str:
        text = f"epoch {p.epoch}/{p.epochs}  loss {p.loss:.3f}  accuracy {p.accuracy:.1%}"
        return text if p.val_accuracy is None else f"{text}  validation {p.val_accuracy:.1%}"

    check_template_folder(output, force)
    started = time.monotonic()
    live = sys.stdout.isatty()  # a terminal gets a bar; a log (CI) a line per epoch
    with contextlib.ExitStack() as stack:
        bars: list[Any] = []

        def show(p: Progress) -> None:
            if quiet:
                return
            if not live:
                if p.epoch_done:
                    click.echo(line(p))
                return
            if not bars:
                bar: Any = click.progressbar(length=p.epochs * p.batches, label="Training",
                                             item_show_func=lambda q: line(q) if q else None)
                bars.append(stack.enter_context(bar))
            if not p.epoch_done:
                bars[0].update(1, p)

        model = train_model(photos, dataset=dataset, template=template, output=output, epochs=epochs, seed=seed,
                            val_split=val_split, train_size=train_size, batch_size=batch_size,
                            learning_rate=learning_rate, skip_bad=skip_bad, flip=not no_flip, on_progress=show,
                            warn=warn)
    folder = write_template(model, output, force)
    if not quiet:
        minutes, seconds = divmod(round(time.monotonic() - started), 60)
        prov = model.provenance
        score = "not measured" if prov.accuracy is None else f"{prov.accuracy:.1%} on {prov.accuracy_note}"
        took = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
        files = ", ".join(name for name in (MODEL_FILE, WEIGHTS_FILE, PATCHES_FILE) if (folder / name).exists())
        click.echo(f"Wrote {folder}/ ({files}) in {took}.")
        click.echo(f"Classes: {', '.join(model.classes)}. Validation accuracy: {score}.")
        if prov.median_confidence is not None and prov.calibration_error is not None:
            click.echo(f"Median confidence {prov.median_confidence:.0%}, calibration error "
                       f"{prov.calibration_error:.3f} (temperature {prov.temperature:g}).")
        # A bare name would mean a built-in template; a path (./name) means this folder.
        shown = folder.as_posix() if "/" in folder.as_posix() else f"./{folder.as_posix()}"
        click.echo(f"Build a workbook with it: xlcnn build IMAGE --model {shown}")


def _quiet_warnings() -> None:
    """Library warnings (numpy's RuntimeWarning, openpyxl's UserWarning about a style) mean nothing to the
    user of the command, whose every problem is an ``Error:`` line; developers see them in the tests."""
    warnings.simplefilter("ignore")


def _loss(loss: float) -> str:
    """A loss as printed: −ln p is never below 0, but p can round to 1 and the loss to −0.0 or −2E-16, which
    would print as "-0.0000"."""
    return f"{max(0.0, loss):.4f}"


def main() -> None:
    """The ``xlcnn`` command: termination signals clean up like Ctrl+C, then exit with 128 + the signal."""
    _quiet_warnings()
    for sig in TERMINATION_SIGNALS:
        signal.signal(sig, _on_termination)
    cli(prog_name="xlcnn")
