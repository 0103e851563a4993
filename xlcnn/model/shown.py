"""A value from a file as a message shows it: cut short, structures by their kind, never a Python repr."""

from __future__ import annotations

import datetime
import math

MAX_SHOWN = 60  # a value echoed in a message is cut to this many characters


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis: a message quotes a file, it never copies it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Python spells an int of more than sys.get_int_max_str_digits() (4,300) digits in decimal only with an error.
_DECIMAL_BITS = 12_000  # ≈ 3,600 digits: safely below that limit


def shown(value: object) -> str:
    """A value from model.toml as a message shows it: text quoted, a number as written, a table or an array by
    its kind (never a Python repr of a structure), and nothing longer than ``MAX_SHOWN`` characters."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime.date | datetime.time):
        return clip(value.isoformat())
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _DECIMAL_BITS:
        return f"a whole number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"
    return clip(repr(value))
