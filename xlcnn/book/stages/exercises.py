"""The Exercises sheet (``--exercise``): eight cells of the network to compute by hand, each with a cream answer
cell and a live check, and the answer key, a workbook of its own for the teacher.

The check compares the typed answer with the live cell on its own sheet (so it follows a student's edits),
within the task's tolerance (``xlcnn.nn.exercises``); its formula is hidden while the sheet is protected and
holds no number, so the answer cannot be read off this sheet. Blank answers show no verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from xlcnn.book.layout import HEADER_ROWS, LEFT, Grid, Holds, Layout, SheetKind, SheetPlan
from xlcnn.book.sheet import TEXT_AS_TEXT, BuildContext, SheetContent, protect, setup_table_sheet, stage_header
from xlcnn.book.stage import Stage
from xlcnn.book.styles import Styles, verdict_colours
from xlcnn.book.texts import Texts
from xlcnn.model import names
from xlcnn.model.spec import Model
from xlcnn.nn.engine import Trace
from xlcnn.nn.exercises import KINDS, TOLERANCE, Exercise, Kind, Task, answer, is_right

KIND = SheetKind("exercises")
EXERCISES = "Exercises"
TASKS, ANSWERS, CHECKS = "exercise_tasks", "exercise_answers", "exercise_checks"
KEY = "exercise_key"  # in the answer key's workbook
TEXT_WIDTH = 70  # characters of the task column
RIGHT, WRONG = "✓", "✗"


def key_path(workbook: Path) -> Path:
    """Where the answer key of ``workbook`` goes: beside it, ``NAME-key.xlsx``."""
    return workbook.with_name(f"{workbook.stem}-key{workbook.suffix}")


def task_text(task: Task, model: Model, texts: Texts) -> str:
    """What the student is asked, in words: which cell, and where its inputs are."""
    arch = model.arch
    first, last = arch.blocks[0], arch.blocks[-1]
    f, r, c = task.numbers
    conv, pool = first.conv, first.pool
    values: dict[Kind, Callable[[], dict[str, object]]] = {  # each kind reads the numbers its own way
        Kind.CONV: lambda: dict(f=f, r=r, c=c, k=conv.kernel, n=first.in_shape[0] * conv.kernel**2,
                                r0=(r - 1) * conv.stride - conv.padding + 1,
                                c0=(c - 1) * conv.stride - conv.padding + 1, scale=arch.input.scale_text),
        Kind.RELU: lambda: dict(f=f, r=r, c=c),
        Kind.POOL: lambda: dict(f=f, r=r, c=c, s=pool.size, r0=(r - 1) * pool.stride + 1,
                                c0=(c - 1) * pool.stride + 1),
        Kind.FLATTEN: lambda: dict(f=f, r=r, c=c, k=last.index, n=arch.flatten_size),
        Kind.LOGIT: lambda: dict(label=arch.classes[f - 1], n=arch.flatten_size),
        Kind.SOFTMAX: lambda: dict(label=arch.classes[f - 1]),
        Kind.LOSS: dict,
        Kind.GRADIENT: lambda: dict(i=f, label=arch.classes[r - 1]),
    }
    return texts(f"exercises.task_{task.kind.value}", **values[task.kind]())


def tolerance_text(task: Task, texts: Texts) -> str:
    absolute, relative = TOLERANCE[task.kind]
    if absolute == 0:
        return texts("exercises.exact")
    return texts("exercises.within", absolute=f"{absolute:g}", relative=f"{relative:.0%}")


def _live(task: Task, ctx: BuildContext, name: str) -> str:
    """The live cell (or expression) the answer is checked against, seen from the Exercises sheet."""
    lay = ctx.layout
    f, r, c = task.numbers
    last = ctx.model.arch.blocks[-1].index
    if task.kind in (Kind.CONV, Kind.RELU, Kind.POOL):
        key = {Kind.CONV: names.conv_out, Kind.RELU: names.relu_out, Kind.POOL: names.pool_out}[task.kind](1, f)
        return lay.ref(key, r - 1, c - 1, from_sheet=name)
    if task.kind is Kind.FLATTEN:  # the position of the pool cell's value in the flatten column (it is unique)
        flat = lay.grid(names.FLATTEN)
        column = lay.ref(names.FLATTEN, 0, 0, flat.rows - 1, 0, from_sheet=name, absolute=True)
        return f"MATCH({lay.ref(names.pool_out(last, f), r - 1, c - 1, from_sheet=name)},{column},0)"
    if task.kind in (Kind.LOGIT, Kind.SOFTMAX):
        return lay.ref(names.LOGITS if task.kind is Kind.LOGIT else names.PROBS, 0, f - 1, from_sheet=name)
    if task.kind is Kind.LOSS:
        return lay.ref(names.LOSS, 0, 0, from_sheet=name)
    x = lay.ref(names.FLATTEN, f - 1, 0, from_sheet=name)
    return f"{x}*({lay.ref(names.PROBS, 0, r - 1, from_sheet=name)}-{lay.ref('one_hot', 0, r - 1, from_sheet=name)})"


def check_formula(task: Task, typed: str, live: str) -> str:
    """✓ or ✗ for the typed answer, blank while it is blank; text typed there is wrong."""
    if task.kind is Kind.FLATTEN:
        test = f"{typed}={live}"
    else:
        absolute, relative = TOLERANCE[task.kind]
        test = f"ABS({typed}-({live}))<=MAX({absolute!r},{relative!r}*ABS({live}))"
    return f'=IF({typed}="","",IF(ISNUMBER({typed}),IF({test},"{RIGHT}","{WRONG}"),"{WRONG}"))'


def verdict(task: Task, typed: float | str | None, trace: Trace) -> str:
    """What the check shows for ``typed`` (a number, text, or None for blank), as the formula computes it."""
    if typed is None or typed == "":
        return ""
    if isinstance(typed, str | bool):
        return WRONG
    value = answer(task, trace)
    if task.kind is Kind.FLATTEN:
        return RIGHT if typed == value else WRONG
    return RIGHT if is_right(task, float(typed), value) else WRONG


def exercises_sheet(ctx: BuildContext, plan: SheetPlan) -> SheetContent:
    t, st, lay, name = ctx.texts, ctx.styles, ctx.layout, plan.name
    exercise = ctx.exercise
    if exercise is None:
        raise RuntimeError("an Exercises sheet was planned, but no exercise was drawn")
    typed = ctx.exercise_answers or (None,) * len(exercise.tasks)
    tasks, answers, checks = lay.grid(TASKS), lay.grid(ANSWERS), lay.grid(CHECKS)
    content = SheetContent()
    stage_header(content, ctx, t("exercises.title"), [t("exercises.what"), t("exercises.how"),
                                                      t("exercises.where"), ""])
    header = tasks.top - 1
    for col, text in zip((LEFT, LEFT + 1, tasks.left, answers.left, checks.left, checks.left + 1),
                         t.lines("exercises.headers"), strict=True):
        content.text(header, col, text, st.label)
    wrap = st.get(text_wrap=True, valign="top")
    note = st.get(italic=t.flag("style.italic_notes"), font_color="#595959", valign="top")
    small = st.get(align="center", valign="top", font_color="#808080")
    check_fmt = st.get(bold=True, font_size=12, align="center", valign="top", font_color="#2E7D32", hidden=True)
    answer_fmt = st.get(bold=True, align="center", valign="top", bg_color="#FFF8DC", border=1,
                        border_color="#BFBFBF", locked=False, num_format="General")
    for i, (task, value) in enumerate(zip(exercise.tasks, typed, strict=True)):
        row = tasks.top + i
        text = task_text(task, ctx.model, t)
        content.wrapped(row, LEFT + 1, text, wrap, TEXT_WIDTH)
        content.number(row, LEFT, i + 1, st.get(bold=True, valign="top"))
        for j, number in enumerate(task.numbers):
            content.number(row, tasks.left + j, number, small)
        cell = answers.cell(i, 0)
        if value is None:
            content.add(row, row, lambda ws, r: ws.write_blank(r, answers.left, None, answer_fmt))
        elif isinstance(value, str):
            content.text(row, answers.left, value, answer_fmt)
        else:
            content.number(row, answers.left, float(value), answer_fmt)
        content.formula(row, checks.left, check_formula(task, cell, _live(task, ctx, name)),
                        verdict(task, value, ctx.trace), check_fmt)
        content.text(row, checks.left + 1, tolerance_text(task, t), note)

    def setup(ws: Worksheet) -> None:
        setup_table_sheet(ws, ctx, plan, [(LEFT, LEFT, 4), (LEFT + 1, LEFT + 1, TEXT_WIDTH),
                                          (tasks.left, tasks.left + 2, 6), (answers.left, checks.left, 12),
                                          (checks.left + 1, checks.left + 1, 22)])
        for i in range(len(exercise.tasks)):
            verdict_colours(ws, Grid(CHECKS, name, checks.top + i, checks.left, 1, 1), st)

    content.on_setup(setup)
    return content


def plan(layout: Layout, k: int) -> None:
    sheet = layout.add_sheet(EXERCISES, KIND, square=False)
    top, n = HEADER_ROWS + 1, len(KINDS)
    layout.add_grid(sheet, Grid(TASKS, sheet.name, top, LEFT + 2, n, 3, holds=Holds.OTHER))
    layout.add_grid(sheet, Grid(ANSWERS, sheet.name, top, LEFT + 5, n, 1, holds=Holds.OTHER))
    layout.add_grid(sheet, Grid(CHECKS, sheet.name, top, LEFT + 6, n, 1, holds=Holds.FORMULAS))


def write_answer_key(path: Path, model: Model, trace: Trace, exercise: Exercise, texts: Texts,
                     workbook_name: str) -> None:
    """The teacher's key: every task with its right answer (``exercise_key``, in the tasks' order), one page."""
    wb = Workbook(str(path), TEXT_AS_TEXT)
    st = Styles(wb.add_format, texts.flag("style.italic_notes"), texts("style.font"))
    ws = wb.add_worksheet(texts("exercises.key_sheet"))
    ws.write_string(0, LEFT, texts("exercises.key_title", name=workbook_name), st.title)
    ws.write_string(1, LEFT, texts("exercises.key_what"), st.note)
    headers = texts.lines("exercises.key_headers")
    for col, text in enumerate(headers):
        ws.write_string(3, LEFT + col, text, st.label)
    wrap = st.get(text_wrap=True, valign="top")
    number = st.get(bold=True, valign="top", align="center", num_format="0.000000")
    top = 4
    for i, task in enumerate(exercise.tasks):
        text = task_text(task, model, texts)
        ws.set_row(top + i, 15 * max(1, -(-len(text) // TEXT_WIDTH)))
        ws.write_number(top + i, LEFT, i + 1, st.get(bold=True, valign="top"))
        ws.write_string(top + i, LEFT + 1, text, wrap)
        value = answer(task, trace)
        ws.write_number(top + i, LEFT + 2, value, st.get(bold=True, valign="top", align="center", num_format="0")
                        if task.kind is Kind.FLATTEN else number)
        ws.write_string(top + i, LEFT + 3, tolerance_text(task, texts), st.note)
    wb.define_name(KEY, f"='{ws.name}'!$D${top + 1}:$D${top + len(exercise.tasks)}")
    ws.set_column(0, 0, 1.5)
    ws.set_column(LEFT, LEFT, 4)
    ws.set_column(LEFT + 1, LEFT + 1, TEXT_WIDTH)
    ws.set_column(LEFT + 2, LEFT + 2, 14)
    ws.set_column(LEFT + 3, LEFT + 3, 22)
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(1, 1)
    ws.hide_gridlines(2)
    protect(ws)
    wb.close()


STAGE = Stage(KIND, plan, exercises_sheet, exercise=True)
