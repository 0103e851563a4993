"""Class labels a workbook can use: a label is picked from a dropdown and matched with MATCH, so one that a
spreadsheet would read as a number, a date, a time, a boolean or an error code, one with characters that
draw nothing, and two labels that look alike are refused, with the reason."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from xlcnn.model.shown import clip, shown

MAX_CLASSES = 50
MAX_LABEL_LENGTH = 60


# ------------------------------------------------------------------------------------------ class labels
#
# A label is written as text, and the true label is picked from a dropdown of them, which a spreadsheet takes
# as typed input: a label it would read as a number, date, time, boolean or error value would no longer MATCH
# the text labels. The patterns below err on the side of refusing, in the conventions of common locales; they
# are matched against the label's NFKC form, case-folded (so full-width "１２" is a number too).

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?%?")  # a plain number: 42 · -3.5 · 1e5 · 50%
_DIGITS = r"(?:\d{1,3}(?:[.,' ]\d{3})+|\d+)(?:[.,]\d*)?|[.,]\d+"  # 1,000.5 · 1.000,5 · 1 000 · 1,5 · .5
_NUMERIC = re.compile(rf"""
    [+-]?\(?[+-]?\$?[+-]?[ ]?        # a sign, an accounting bracket, a currency sign: -$5 · ($5) · $-5
    (?:{_DIGITS})(?:e[+-]?\d+)?      # the number, with an exponent perhaps
    [ ]?\$?%?\)?-?                   # a currency sign after it, a percent, the bracket, a trailing minus
    |[+-]?\d+[ ]\d+/\d+              # a mixed fraction: 1 1/2
""", re.VERBOSE)
_MONTH = ("(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
          "|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE_PART = (rf"\d{{1,4}}[-/.]\d{{1,4}}(?:[-/.]\d{{1,4}})?"  # 3-4 · 1/2 · 2024-01-05 · 1.2.2024
              rf"|{_MONTH}\.?[-/., ]*\d{{1,4}}(?:[-/., ]+\d{{1,4}})?"  # jan 5 · mar-24 · may 5, 2024
              rf"|\d{{1,2}}[-/., ]*{_MONTH}\.?(?:[-/., ]+\d{{1,4}})?")  # 5 jan · 1-jan-2024
_TIME_PART = (r"\d+:\d{1,2}(?::\d{1,2})?(?:[.,]\d+)?(?:[ ]?[ap]\.?m?\.?)?"  # 12:30 · 1:30 pm · 30:15.5
              r"|\d{1,2}[ ]?[ap]\.?m\.?|\d{1,2}[ ][ap]")  # 1pm · 1 p.m. · 1 a
_DATE = re.compile(rf"(?:{_DATE_PART})(?:[ t](?:{_TIME_PART}))?")  # a date and maybe a time: 2024-01-05t12:30
_TIME = re.compile(_TIME_PART)
_BOOLEANS = ("true", "false")
# Typed in a cell, these are error values (Excel's, which LibreOffice and Gnumeric share), not text.
_ERROR_CODES = frozenset(code.casefold() for code in (
    "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
    "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#PYTHON!", "#EXTERNAL!",
))

# Characters that draw nothing. Formatting characters (Unicode category Cf: zero-width space, soft hyphen, byte
# order mark, direction marks and overrides, …) are refused in a label, except the zero-width non-joiner and
# joiner between other characters (Persian words and emoji sequences need them); blank letters and variation
# selectors are allowed but ignored when labels are compared.
_JOINERS = frozenset("\u200c\u200d")
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")  # Hangul fillers, the blank braille pattern


def _draws_nothing(ch: str) -> bool:
    """A formatting character, a blank letter or a variation selector (which only picks how ❤ is drawn)."""
    code = ord(ch)
    return (unicodedata.category(ch) == "Cf" or ch in _BLANK_LETTERS or 0xFE00 <= code <= 0xFE0F
            or 0xE0100 <= code <= 0xE01EF)


def _code_point(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def _hidden_character(label: str) -> str | None:
    """The first character of ``label`` that draws nothing where it has no business, named; or None."""
    for i, ch in enumerate(label):
        inside = 0 < i < len(label) - 1
        if unicodedata.category(ch) == "Cf" and not (ch in _JOINERS and inside):
            return _code_point(ch)
        if ch in _BLANK_LETTERS and not inside:
            return _code_point(ch)
    return None


def _lookalike_key(label: str) -> str:
    """What two labels that look the same share: NFKC form (full-width, ligatures, composed accents), no
    invisible characters, one space for any run of spaces, case-folded (MATCH ignores case)."""
    visible = "".join(ch for ch in label if not _draws_nothing(ch))
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())
    return " ".join(folded.split())


def _folded(label: str) -> str:
    return unicodedata.normalize("NFKC", label).casefold()


def _spreadsheet_value(label: str) -> str | None:
    """Why a spreadsheet would read ``label``, typed or picked, as a value rather than text; or None."""
    text = _folded(label)
    money = "".join("$" if unicodedata.category(ch) == "Sc" else ch for ch in text)  # €5 and ¥5 are $5
    if text in _BOOLEANS:
        return f"would become the spreadsheet boolean {text.upper()}; give classes other names"
    if _NUMBER.fullmatch(text):
        return "is a plain number; give classes names"
    if _NUMERIC.fullmatch(money):
        return "would become a number in a spreadsheet; give classes names"
    if _DATE.fullmatch(text):
        return "would become a date in a spreadsheet; give classes names"
    if _TIME.fullmatch(text):
        return "would become a time in a spreadsheet; give classes names"
    return None


def check_label(label: object, where: str) -> str:
    """A class label must be short, visible text that MATCH finds exactly in every spreadsheet app."""
    if not isinstance(label, str):
        raise ValueError(f"{where} must be text, not {shown(label)}")
    if not label.strip():
        raise ValueError(f"{where} is empty")
    if label != label.strip():
        raise ValueError(f"{where} {shown(label)} has leading or trailing spaces")
    if len(label) > MAX_LABEL_LENGTH:
        raise ValueError(f"{where} is longer than {MAX_LABEL_LENGTH} characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in label):  # tab, DEL, C1 controls, U+2028…
        raise ValueError(f"{where} {shown(label)} contains a control character")
    hidden = _hidden_character(label)
    if hidden is not None:
        # It would make two labels that look the same differ, or a label differ from what anyone types.
        raise ValueError(f"{where} {shown(label)} contains the invisible character {hidden}; give classes "
                         f"visible names")
    folded = _folded(label)
    if folded in _ERROR_CODES:  # checked before the wildcards, for #NAME? holds a ?
        raise ValueError(f"{where} {shown(label)} is a spreadsheet error code ({folded.upper()}); give classes "
                         "other names")
    if any(ch in label for ch in "*?~"):
        # MATCH(…, 0) treats these as wildcards in Excel and LibreOffice, so the loss could pick the
        # wrong class.
        raise ValueError(f"{where} {shown(label)} contains *, ? or ~ (spreadsheet wildcards)")
    if label.startswith("'"):
        # Typed (or picked), a leading apostrophe only marks the rest as text and is dropped.
        raise ValueError(f"{where} {shown(label)} starts with ', which spreadsheets drop (it marks text); give "
                         f"classes other names")
    value = _spreadsheet_value(label)
    if value is not None:
        raise ValueError(f"{where} {shown(label)} {value}")
    return label


def as_text(name: str) -> str:
    """A folder name as a class label: itself, or ``class <name>`` when a spreadsheet would read the name as a
    value (``7``, ``2024``, ``TRUE``, ``1/2``): ``class 7`` stays text in every spreadsheet, in the dropdown
    and in MATCH, where ``7`` would turn into a number and match no label."""
    if _spreadsheet_value(name) is None and _folded(name) not in _ERROR_CODES:
        return name
    return f"class {name}"


def check_labels(labels: object, where: str) -> tuple[str, ...]:
    if labels is None:
        raise ValueError(f"{where} is missing (a list of class names)")
    if not isinstance(labels, list | tuple):
        raise ValueError(f"{where} must be a list of class names")
    if not 2 <= len(labels) <= MAX_CLASSES:
        raise ValueError(f"{where} must list between 2 and {MAX_CLASSES} classes, not {len(labels)}")
    checked = tuple(check_label(label, f"{where}[{i}]") for i, label in enumerate(labels))
    _check_distinct(checked, where)
    return checked


def _check_distinct(labels: Iterable[str], where: str) -> None:
    """No two labels may be the same, the same but for case (MATCH ignores case), or look the same."""
    seen: dict[str, str] = {}
    for label in labels:
        key = _lookalike_key(label)
        if key not in seen:
            seen[key] = label
            continue
        first = seen[key]
        if first == label:
            raise ValueError(f"{where} has duplicate class {shown(label)}")
        if first.casefold() == label.casefold() and all(unicodedata.is_normalized("NFKC", x) for x in (first, label)):
            raise ValueError(f"{where} has duplicate class {shown(label)} (same as {shown(first)} ignoring case)")
        a, b = shown(first), shown(label)
        if unicodedata.normalize("NFC", first) == unicodedata.normalize("NFC", label):
            a, b = clip(ascii(first)), clip(ascii(label))  # é and e + ◌́ look the same even quoted: show the codes
        raise ValueError(f"{where} has look-alike classes {a} and {b} (the same after Unicode NFKC normalisation, "
                         f"ignoring case and invisible characters)")
