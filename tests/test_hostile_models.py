"""Hostile model files: each is refused by ``xlcnn build`` with one ``Error:`` line, quickly, and nothing written.

Every model.toml here is generated from templates/tiny's, edited as text (hostile TOML is easiest to write by
hand) or, for class labels, as data (tomllib → dict → tomli_w, which escapes what needs escaping). Each case
must fail with its exact message naming model.toml first, exit code 1, no traceback, no file written or changed,
a message of one short line whatever the file holds, and within 2 seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import tomllib
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner, Result
from PIL import Image

from xlcnn.cli import cli
from xlcnn.model.templates import MAX_KEY_PARTS, MAX_TOML_BYTES, load_model
from xlcnn.resources import templates_root

TINY = templates_root() / "tiny"
CIRCLE = Path(__file__).resolve().parent.parent / "samples" / "circle.png"
ORIGINAL = (TINY / "model.toml").read_text(encoding="utf-8")
SECONDS = 2.0  # the most any refusal may take, start-up of the command included
LONGEST_PROBLEM = 400  # characters after the file's name, however much the file holds

TOP_KEYS = "format, name, title, description, classes, labels, input, layers, provenance"
PROVENANCE_KEYS = ("method, summary, dataset, seed, epochs, train_size, accuracy, accuracy_note, command, licence, "
                   "median_confidence, calibration_error, temperature, activity")
LAYERS_RULE = "layers must be (conv, relu, maxpool) repeated, then flatten, dense, softmax, cross_entropy"
FORMS = 'must be a number or a fraction like "1/255"'
NESTED = "nested too deeply (arrays or inline tables inside one another, hundreds of levels deep)"
DIGITS = "holds a whole number of more than 4,300 digits, too long to read"
LOOK_ALIKE = "(the same after Unicode NFKC normalisation, ignoring case and invisible characters)"
NAMES = "give classes names"
OTHER_NAMES = "give classes other names"
INVISIBLE = "give classes visible names"

Text = Callable[[], str]


# ------------------------------------------------------------------------------------------ making model.toml


def replaced(old: str, new: str) -> Text:
    """tiny's model.toml with ``old`` (found exactly once) replaced by ``new``."""

    def make() -> str:
        assert ORIGINAL.count(old) == 1, old
        return ORIGINAL.replace(old, new)

    return make


def setting(key: str, value: str) -> Text:
    """tiny's model.toml with the line ``key = …`` (there is one) saying ``key = value``."""

    def make() -> str:
        lines = ORIGINAL.splitlines(keepends=True)
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"{key} = ")]
        lines[index] = f"{key} = {value}\n"
        return "".join(lines)

    return make


def top(line: str) -> Text:
    """A line added at the top level, as line 3 of the file (after the comment and ``format = 1``)."""
    return replaced("format = 1\n", f"format = 1\n{line}\n")


def in_table(table: str, line: str) -> Text:
    """A line added at the start of ``[input]`` or ``[provenance]``."""
    return replaced(f"[{table}]\n", f"[{table}]\n{line}\n")


def with_classes(*labels: object) -> Text:
    def make() -> str:
        doc = tomllib.loads(ORIGINAL)
        doc["classes"] = list(labels)
        return tomli_w.dumps(doc)

    return make


def cut(text: str, limit: int = 60) -> str:
    """What a message shows of a long value: its first ``limit`` - 1 characters and an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nested(depth: int, open_: str, close: str, inner: str = "1") -> str:
    return open_ * depth + inner + close * depth


def layer_types(*types: str) -> str:
    return "layers = [" + ", ".join(f'{{ type = "{kind}" }}' for kind in types) + "]"


def without_layers(text: str) -> str:
    """tiny's model.toml without its layers array (so that a test can write its own)."""
    start = text.index("layers = [")
    end = text.index("]\n", text.index("cross_entropy", start)) + 2
    return text[:start] + text[end:]


def own_layers(line: str) -> Text:
    return lambda: without_layers(ORIGINAL).replace("format = 1\n", f"format = 1\n{line}\n")


def without_table(name: str) -> str:
    """tiny's model.toml without its table ``[name]``."""
    start = ORIGINAL.index(f"[{name}]\n")
    end = ORIGINAL.find("\n[", start)
    return ORIGINAL[:start] + (ORIGINAL[end + 1:] if end >= 0 else "")


def parser_location(text: str) -> str:
    """Where tomllib says ``text`` goes wrong: the "(at line …, column …)" ending of its message."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return "(at " + str(exc).rpartition(" (at ")[2]
    raise AssertionError("valid TOML")


# ------------------------------------------------------------------------------------------ the cases

HUGE = "1" * 5000  # beyond Python's 4,300-digit limit for int()
LONG = "1" * 1000  # within it, but far too long to echo
KEYS = [f"junk{i} = {i}" for i in range(MAX_TOML_BYTES // 20)]  # ~200 KiB of keys: the slowest thing to parse
CLASSES = ORIGINAL[ORIGINAL.index("classes = ["):ORIGINAL.index("layers = [")]  # the whole classes array
DUP_KEY = "k" * 5000
DUP_LINE = f'junk = {{ "{DUP_KEY}" = 1, "{DUP_KEY}" = 2 }}'

SCALE_CASES: list[tuple[str, Text, str]] = [
    ("tiny exponent", setting("scale", '"1e-999999999"'),
     "input.scale '1e-999999999' is out of range (exponents go from -400 to 400)"),
    ("huge exponent", setting("scale", '"1e999999999"'),
     "input.scale '1e999999999' is out of range (exponents go from -400 to 400)"),
    ("huge exponent with a sign and a capital E", setting("scale", '"2.5E+4000000"'),
     "input.scale '2.5E+4000000' is out of range (exponents go from -400 to 400)"),
    ("5,000 digits", setting("scale", f'"{HUGE}"'),
     f"input.scale {FORMS} of at most 40 characters, not {cut(repr(HUGE))}"),
    ("5,000 decimals", setting("scale", f'"0.{HUGE}"'),
     f"input.scale {FORMS} of at most 40 characters, not {cut(repr('0.' + HUGE))}"),
    ("a denominator of 5,000 digits", setting("scale", f'"1/{HUGE}"'),
     f"input.scale {FORMS} of at most 40 characters, not {cut(repr('1/' + HUGE))}"),
    ("overflows a float", setting("scale", '"1e400"'), "input.scale '1e400' is out of range (too large for a number)"),
    ("underflows to 0", setting("scale", '"1e-400"'),
     "input.scale '1e-400' is out of range (too close to 0 for a number)"),
    ("non-ASCII digits", setting("scale", '"١/٢٥٥"'), f"input.scale {FORMS}, not '١/٢٥٥'"),
    ("nan as text", setting("scale", '"nan"'), f"input.scale {FORMS}, not 'nan'"),
    ("a number of 401 digits", setting("scale", "1" + "0" * 400),
     f"input.scale {cut('1' + '0' * 400)} is out of range (too large for a number)"),
    ("a float that overflows to inf", setting("scale", "1e400"), "input.scale must be a positive number, not inf"),
    ("an array", setting("scale", '[["1/255"]]'), f"input.scale {FORMS}, not an array"),
]

NUMBER_CASES: list[tuple[str, Text, str]] = [
    ("5,000-digit height", replaced("height = 6", f"height = {HUGE}"), DIGITS),
    ("5,000-digit seed", replaced("seed = 1", f"seed = {HUGE}"), DIGITS),
    ("5,000-digit number under an unknown key", top(f"junk = -{HUGE}"), DIGITS),
    ("1,000-digit height", replaced("height = 6", f"height = {LONG}"),
     f"input.height must be between 1 and 512, not {cut(LONG)}"),
    ("1,000-digit negative filters", replaced("filters = 2", f"filters = -{LONG}"),
     f"layers[0].filters must be between 1 and 64, not {cut('-' + LONG)}"),
    ("20,000-bit hexadecimal width", replaced("width = 6", f"width = 0x{'f' * 5000}"),
     "input.width must be between 1 and 512, not a whole number of about 6,021 digits"),
    ("1,000-digit dense units", replaced('{ type = "dense" }', f'{{ type = "dense", units = {LONG} }}'),
     f"layers[4].units must be between 1 and 50, not {cut(LONG)}"),
    ("1,000-digit epochs", replaced("epochs = 20", f"epochs = {LONG}"),
     f"provenance.epochs must be between 0 and 9223372036854775807, not {cut(LONG)}"),
    ("1,000-digit format", replaced("format = 1", f"format = {LONG}"),
     f"format {cut(LONG)} is not supported (this xlcnn reads format 1)"),
]

NESTING_CASES: list[tuple[str, Text, str]] = [
    ("arrays 5,000 deep", top("junk = " + nested(5000, "[", "]")), NESTED),
    ("inline tables 5,000 deep", top("junk = " + nested(5000, "{ a = ", " }")), NESTED),
    ("arrays 5,000 deep as the classes", replaced('classes = [\n    "horizontal",',
                                                   'classes = [' + nested(5000, "[", "]") + ',\n    "horizontal",'),
     NESTED),
    ("arrays 5,000 deep in a layer", replaced('{ type = "relu" }', '{ type = "relu", size = ' +
                                              nested(5000, "[", "]") + " }"), NESTED),
    ("a dotted key of 100,000 parts", top("a" + ".a" * 99_999 + " = 1"),
     f"nested too deeply (a dotted key of more than {MAX_KEY_PARTS} parts, at line 3)"),
    ("a table name of 1,000 parts", lambda: ORIGINAL + "\n[" + ".".join(["t"] * 1000) + "]\n",
     f"nested too deeply (a dotted key of more than {MAX_KEY_PARTS} parts, at line "
     f"{ORIGINAL.count(chr(10)) + 2})"),
    ("an array-of-tables name of quoted parts", lambda: ORIGINAL + '[[ "t" . "u\\"v" . ' + " . ".join(["'w'"] * 40)
     + " ]]\n", f"nested too deeply (a dotted key of more than {MAX_KEY_PARTS} parts, at line "
     f"{ORIGINAL.count(chr(10)) + 1})"),
    ("a dotted key in an inline table", top("junk = { " + ".".join(["x"] * 50) + " = 1 }"),
     f"nested too deeply (a dotted key of more than {MAX_KEY_PARTS} parts, at line 3)"),
    (f"a dotted key of {MAX_KEY_PARTS} parts is only an unknown key", top(".".join(["a"] * MAX_KEY_PARTS) + " = 1"),
     f"a is not a setting of a template (it takes {TOP_KEYS})"),
    ("arrays 50 deep under an unknown key", top("junk = " + nested(50, "[", "]")),
     f"junk is not a setting of a template (it takes {TOP_KEYS})"),
    ("arrays 50 deep as the title", setting("title", nested(50, "[", "]")), "title must be text, not an array"),
]

SIZE_CASES: list[tuple[str, Text, str]] = [
    ("one byte over the limit", lambda: ORIGINAL + "#" * (MAX_TOML_BYTES - len(ORIGINAL.encode()) + 1),
     f"larger than {MAX_TOML_BYTES // 1024} KiB, the most a model.toml may be (a real one is a few kilobytes)"),
    ("16 MiB of comment", lambda: ORIGINAL + "#" * (1 << 24),
     f"larger than {MAX_TOML_BYTES // 1024} KiB, the most a model.toml may be (a real one is a few kilobytes)"),
    ("200 KiB of unknown keys", top("\n".join(KEYS)), f"junk0 is not a setting of a template (it takes {TOP_KEYS})"),
    ("200 KiB of escaped quotes", top('junk = "' + '\\"' * (MAX_TOML_BYTES // 3) + '"'),
     f"junk is not a setting of a template (it takes {TOP_KEYS})"),
    ("a 5,000-character unknown key", top(f'"{"k" * 5000}" = 1'),
     f"{cut('k' * 5000)} is not a setting of a template (it takes {TOP_KEYS})"),
    ("an unknown key holding a line break", top('"a\\nb" = 1'),
     f"'a\\nb' is not a setting of a template (it takes {TOP_KEYS})"),
    ("a parser error quoting a 5,000-character key", top(DUP_LINE),
     f"not valid TOML ({cut('Duplicate inline table key ' + repr(DUP_KEY))} "
     f"{parser_location(ORIGINAL.replace('format = 1', 'format = 1' + chr(10) + DUP_LINE))})"),
    ("a 5,000-character fit", replaced('fit = "crop"', f'fit = "{"x" * 5000}"'),
     f"input.fit must be one of crop, pad, stretch, not {cut(repr('x' * 5000))}"),
    ("a 5,000-character layer type", replaced('{ type = "relu" }', f'{{ type = "{"x" * 5000}" }}'),
     f"{LAYERS_RULE}; found conv, {cut('x' * 5000)}, maxpool, flatten, dense, softmax, cross_entropy"),
    ("10,000 layers", own_layers(layer_types(*["relu"] * 10_000)),
     f"{LAYERS_RULE}; found {cut(', '.join(['relu'] * 10_000), 240)}"),
]

TYPE_CASES: list[tuple[str, Text, str]] = [
    ("unknown top-level key", top('colour = "red"'), f"colour is not a setting of a template (it takes {TOP_KEYS})"),
    ("unknown table", lambda: ORIGINAL + "\n[inputs]\nheight = 6\n",
     f"inputs is not a setting of a template (it takes {TOP_KEYS})"),
    ("title a number", setting("title", "5"), "title must be text, not 5"),
    ("description a boolean", setting("description", "true"), "description must be text, not True"),
    ("description a table", setting("description", "{ text = 'x' }"), "description must be text, not a table"),
    ("name an array", setting("name", "[1, 2]"), "name must be text, not an array"),
    ("title a date", setting("title", "1979-05-27"), "title must be text, not 1979-05-27"),
    ("title a date and time", setting("title", "1979-05-27T07:32:00Z"),
     "title must be text, not 1979-05-27T07:32:00+00:00"),
    ("classes text", replaced(CLASSES, 'classes = "a"\n'), "classes must be a list of class names"),
    ("classes a table", replaced(CLASSES, "classes = { a = 1 }\n"), "classes must be a list of class names"),
    ("input text", lambda: without_table("input").replace("format = 1\n", 'format = 1\ninput = "6x6"\n'),
     "[input] must be a table"),
    ("input an array of tables", replaced("[input]\n", "[[input]]\n"), "[input] must be a table"),
    ("layers text", own_layers('layers = "conv"'), "layers must be an array of tables, one per layer, not 'conv'"),
    ("layers a table", own_layers('layers = { type = "conv" }'),
     "layers must be an array of tables, one per layer, not a table"),
    ("layers numbers", own_layers("layers = [1, 2]"), 'layers[0] must be a table such as { type = "relu" }, not 1'),
    ("layers arrays", own_layers('layers = [["conv"]]'),
     'layers[0] must be a table such as { type = "relu" }, not an array'),
    ("layer type a number", replaced('{ type = "relu" }', "{ type = 5 }"), "layers[1].type must be text, not 5"),
    ("format true", setting("format", "true"), "format True is not supported (this xlcnn reads format 1)"),
    ("format text", setting("format", '"1"'), "format '1' is not supported (this xlcnn reads format 1)"),
    ("format a float", setting("format", "1.0"), "format 1.0 is not supported (this xlcnn reads format 1)"),
    ("height inf", setting("height", "inf"), "input.height must be a whole number, not inf"),
    ("seed text", setting("seed", '"1"'), "provenance.seed must be a whole number, not '1'"),
    ("accuracy text", setting("accuracy", '"high"'),
     "provenance.accuracy must be a fraction between 0 and 1, not 'high'"),
    ("accuracy nan", setting("accuracy", "nan"), "provenance.accuracy must be a fraction between 0 and 1, not nan"),
    ("command an array", setting("command", '["xlcnn"]'), "provenance.command must be text, not an array"),
    ("method a number", setting("method", "3"), "provenance.method must be text, not 3"),
    ("unknown provenance key", in_table("provenance", 'author = "me"'),
     f"provenance.author is not a setting of [provenance] (it takes {PROVENANCE_KEYS})"),
    ("provenance an array of tables", replaced("[provenance]\n", "[[provenance]]\n"), "[provenance] must be a table"),
]

ERROR_CODES = ["#N/A", "#ref!", "#DIV/0!", "#VALUE!", "#NAME?", "#num!", "#NULL!", "#Getting_Data", "#SPILL!"]
NUMBERS = ["0", "7", "1e3", "50%", "４２", ".5"]  # "a plain number"
BECOME_NUMBERS = ["$5", "(5)", "-$5", "€5", "5 €", "1,000", "1.000,5", "1 1/2", "5-", "(5%)"]
BECOME_DATES = ["1/2", "3-4", "2024-01-05", "1.2.2024", "Jan 5", "5-jan", "May 5, 2024", "mar-24", "2024-01-05T12:30"]
BECOME_TIMES = ["12:30", "12:30:45", "1:30 PM", "1pm", "4:3", "1 a"]
SPACED = [" dog", "dog ", "dog\u00a0", "\u3000dog"]  # a no-break space, an ideographic space
INVISIBLES = [
    ("c\u200bat", "U+200B (ZERO WIDTH SPACE)"),
    ("\u200b", "U+200B (ZERO WIDTH SPACE)"),
    ("\ufeffcat", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
    ("cat\u00ad", "U+00AD (SOFT HYPHEN)"),
    ("\u202etac", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("ca\u2060t", "U+2060 (WORD JOINER)"),
    ("cat\u200d", "U+200D (ZERO WIDTH JOINER)"),
    ("\u200ccat", "U+200C (ZERO WIDTH NON-JOINER)"),
    ("\u3164", "U+3164 (HANGUL FILLER)"),
]
LOOK_ALIKES = [
    ("cat", "ｃａｔ"),  # full-width
    ("fish", "ﬁsh"),  # a ligature
    ("Café", "Cafe\u0301"),  # composed and decomposed
    ("cat dog", "cat\u00a0dog"),  # a no-break space
    ("cat dog", "cat  dog"),  # two spaces
    ("cat", "c\u200dat"),  # a joiner, allowed between letters
    ("IV", "Ⅳ"),  # the Roman numeral
    ("❤", "❤\ufe0f"),  # a variation selector
]


def label_case(label: object, problem: str, name: str = "") -> tuple[str, Text, str]:
    """``classes = ["cat", label, "cow"]``, refused with ``classes[1] problem``."""
    return (name or f"label {label!a}", with_classes("cat", label, "cow"), f"classes[1] {problem}")


def look_alike_case(a: str, b: str) -> tuple[str, Text, str]:
    # Composed and decomposed accents look the same even quoted, so the message spells their code points.
    same = unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)
    both = f"{a!a} and {b!a}" if same else f"{a!r} and {b!r}"
    return (f"look-alike {b!a}", with_classes(a, "other", b), f"classes has look-alike classes {both} {LOOK_ALIKE}")


LABEL_CASES: list[tuple[str, Text, str]] = [
    *[label_case(code, f"{code!r} is a spreadsheet error code ({code.upper()}); {OTHER_NAMES}")
      for code in ERROR_CODES],
    *[label_case(label, f"{label!r} is a plain number; {NAMES}") for label in NUMBERS],
    *[label_case(label, f"{label!r} would become a number in a spreadsheet; {NAMES}") for label in BECOME_NUMBERS],
    *[label_case(label, f"{label!r} would become a date in a spreadsheet; {NAMES}") for label in BECOME_DATES],
    *[label_case(label, f"{label!r} would become a time in a spreadsheet; {NAMES}") for label in BECOME_TIMES],
    *[label_case(label, f"{label!r} would become the spreadsheet boolean {value}; {OTHER_NAMES}")
      for label, value in (("True", "TRUE"), ("FALSE", "FALSE"), ("ＴＲＵＥ", "TRUE"))],
    label_case("'dog", f"\"'dog\" starts with ', which spreadsheets drop (it marks text); {OTHER_NAMES}"),
    *[label_case(label, f"{label!r} has leading or trailing spaces") for label in SPACED],
    *[label_case(label, f"{label!r} contains the invisible character {name}; {INVISIBLE}")
      for label, name in INVISIBLES],
    *[label_case(label, f"{label!r} contains a control character") for label in ("a\u2028b", "a\x85b", "a\x7fb")],
    label_case(" " + "x" * 5000, f"{cut(repr(' ' + 'x' * 5000))} has leading or trailing spaces", "5,000 padded"),
    label_case("x" * 5000, "is longer than 60 characters", "5,000 characters"),
    label_case({"a": 1}, "must be text, not a table", "a label that is a table"),
    ("10,000 classes", with_classes(*[f"c{i}" for i in range(10_000)]),
     "classes must list between 2 and 50 classes, not 10000"),
    *[look_alike_case(a, b) for a, b in LOOK_ALIKES],
]

CASES = SCALE_CASES + NUMBER_CASES + NESTING_CASES + SIZE_CASES + TYPE_CASES + LABEL_CASES


# ------------------------------------------------------------------------------------------ running them


def template(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(TINY, folder)
    (folder / "model.toml").write_text(text, encoding="utf-8")
    return folder


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def picture(tmp_path: Path) -> Path:
    image = tmp_path / "picture.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(image)
    return image


def build(tmp_path: Path, image: Path, folder: Path) -> tuple[Result, float]:
    """``xlcnn build IMAGE -o out.xlsx --model FOLDER`` → (its result, the seconds it took)."""
    args = ["build", str(image), "-o", str(tmp_path / "out.xlsx"), "--model", str(folder)]
    start = time.monotonic()
    result = CliRunner().invoke(cli, args, prog_name="xlcnn")
    return result, time.monotonic() - start


@pytest.fixture(scope="module", autouse=True)
def warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One refusal before the timed ones, so that none of them pays for the first import of anything."""
    tmp_path = tmp_path_factory.mktemp("warm")
    build(tmp_path, picture(tmp_path), template(tmp_path, top('colour = "red"')()))


def test_the_cases_are_many_and_distinct() -> None:
    names = [name for name, _, _ in CASES]
    assert len(names) == len(set(names)) >= 30


@pytest.mark.parametrize(("make", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_model_is_refused_in_one_line_quickly(tmp_path: Path, make: Text, problem: str) -> None:
    folder, image = template(tmp_path, make()), picture(tmp_path)
    before = snapshot(tmp_path)
    result, seconds = build(tmp_path, image, folder)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == f"Error: {folder / 'model.toml'}: {problem}\n"
    assert len(problem) <= LONGEST_PROBLEM
    assert snapshot(tmp_path) == before  # no workbook, no temporary file, the template untouched
    assert seconds < SECONDS, f"took {seconds:.2f} s"


# ------------------------------------------------------------------------------------------ what stays accepted


def test_a_model_toml_of_exactly_the_limit_loads(tmp_path: Path) -> None:
    text = ORIGINAL + "#" * (MAX_TOML_BYTES - len(ORIGINAL.encode()))
    assert len(text.encode()) == MAX_TOML_BYTES
    assert load_model(template(tmp_path, text)).classes == ("horizontal", "vertical", "diagonal")


@pytest.mark.parametrize("description", [
    "A sentence. Another one. And 1.2.3.4 as a version.",
    ".".join(["a"] * MAX_KEY_PARTS),  # looks like a dotted key of 32 parts: allowed
    "[" * 1000 + "{" * 1000,  # brackets inside a string are not nesting
    'quotes \\" and \\\\ and a line break \\n and \u200b',  # free text may hold what a label may not
    "x" * 100_000,
], ids=["sentences", "32 names joined by dots", "brackets", "escapes and invisible characters", "100,000 characters"])
def test_free_text_is_not_mistaken_for_hostile_toml(tmp_path: Path, description: str) -> None:
    model = load_model(template(tmp_path, setting("description", f'"{description}"')()))
    assert model.description == tomllib.loads(f'x = "{description}"')["x"]


@pytest.mark.parametrize(("scale", "value"), [
    ('"1/255"', 1 / 255), ('"1 / 255"', 1 / 255), ('"0.00392156862745098"', 0.00392156862745098),
    ('"5e-324"', 5e-324), ('"1e-300"', 1e-300), ('"+3/4"', 0.75), ('"1.7976931348623157e+308"', 1.7976931348623157e308),
    ("0.5", 0.5), ("2", 2.0),
])
def test_ordinary_and_extreme_but_valid_scales_load(tmp_path: Path, scale: str, value: float) -> None:
    assert load_model(template(tmp_path, setting("scale", scale)())).arch.input.scale == value


@pytest.mark.parametrize("label", [
    "-2+3", "=1+1", "@cmd", "x-ray", "mp3", "v1.2", "#1", "2a", "A1", "May", "jan", "top 10", "R2-D2", "1st",
    "100m", "inf", "nan", "½", "猫", "Hund", "chat", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "❤\ufe0f", "ℕ",
], ids=ascii)
def test_labels_that_spreadsheets_keep_as_text_are_accepted(tmp_path: Path, label: str) -> None:
    model = load_model(template(tmp_path, with_classes("cat", label, "cow")()))
    assert model.classes == ("cat", label, "cow")


# ------------------------------------------------------------------------ files that are not files, huge nets


def test_a_fifo_or_a_folder_as_model_toml_is_named_for_what_it_is(tmp_path: Path) -> None:
    for name, make in (("fifo", os.mkfifo), ("folder", os.mkdir)):
        folder = tmp_path / name
        shutil.copytree(TINY, folder)
        (folder / "model.toml").unlink()
        make(folder / "model.toml")
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["build", str(CIRCLE), "-o", str(tmp_path / "o.xlsx"), "--model", str(folder)])
        assert time.monotonic() - started < 5  # a FIFO is never opened, so it cannot block
        what = "not a regular file" if name == "fifo" else "is a directory"
        assert result.exit_code == 1 and result.stderr == f"Error: {folder / 'model.toml'}: {what}\n"


def test_an_architecture_with_more_weights_than_a_workbook_holds_is_refused_before_loading_them(
        tmp_path: Path) -> None:
    folder = tmp_path / "huge"
    shutil.copytree(TINY, folder)
    text = (folder / "model.toml").read_text()
    text = re.sub(r"height = \d+", "height = 512", re.sub(r"width = \d+", "width = 512", text))
    text = re.sub(r"filters = \d+", "filters = 64", text)
    text = re.sub(r"\nactivity = \[[^=]*\]\n", "\n", text)  # measured for 2 filters, not 64
    (folder / "model.toml").write_text(text)
    assert "activity" not in text
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["build", str(CIRCLE), "-o", str(tmp_path / "o.xlsx"), "--model", str(folder)])
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert re.fullmatch(rf"Error: {re.escape(str(folder / 'weights.npz'))}: the network needs [\d,]+ weights, more "
                        r"than the 5,000,000 cells a workbook may hold; use a smaller input, fewer filters or a "
                        r"larger pool\n", result.stderr)
