"""The errors xlcnn raises on purpose.

Every one of them carries a single line meant for a person: the CLI prints it as ``Error: <message>``
and exits 1, with no traceback. Messages name the file (or option) first, then the problem.

A message names a parameter through ``option("size")``: the library spells it as the parameter
(``size 500: must be between 1 and 512``), the command line as its option (``--size 500: …``) — so that
only the CLI knows option names.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_OPTION = re.compile("\x1f([a-z_]+)(?:=([^\x1f]*))?\x1f")
Spelling = Callable[[str, str | None], str]  # (parameter, value or None) → how a message shows it


def option(name: str, value: str | None = None) -> str:
    """The parameter ``name`` (with the ``value`` that a flag stands for, e.g. ``option("force", "True")``)
    inside a message, to be spelt by whoever shows the message."""
    return f"\x1f{name}\x1f" if value is None else f"\x1f{name}={value}\x1f"


def as_parameter(name: str, value: str | None) -> str:
    """The library's spelling: ``size``, ``force=True``."""
    return name if value is None else f"{name}={value}"


def spell(message: str, spelling: Spelling = as_parameter) -> str:
    """``message`` with every parameter marked by ``option`` spelt by ``spelling``."""
    return _OPTION.sub(lambda m: spelling(m.group(1), m.group(2)), message)


class XlcnnError(Exception):
    """Base class: an expected failure with a one-line, user-facing message."""

    exit_code = 1

    @property
    def message(self) -> str:
        """The message with its parameters still marked (see ``option``), for a caller to spell."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return spell(self.message)


class ImageError(XlcnnError):
    """An image file is missing, unreadable, or not something xlcnn can use."""


class ModelError(XlcnnError):
    """A model template (model.toml + weights.npz, perhaps patches.npz) is missing, malformed or inconsistent."""


class OptionError(XlcnnError):
    """An option value is out of range or unknown (e.g. a true label that is not a class)."""


class OutputError(XlcnnError):
    """The output path cannot be written (missing folder, a directory, the input itself, no permission)."""


class LimitError(XlcnnError):
    """The workbook would exceed a spreadsheet limit (rows, columns, formula length, cell formats)."""


class WorkbookError(XlcnnError):
    """A workbook given to ``verify`` is not an xlcnn workbook, or holds text where numbers belong."""


class SpreadsheetEngineError(XlcnnError):
    """A spreadsheet engine that recalculates workbooks is missing, failed, or did not finish in time."""


class LibreOfficeError(SpreadsheetEngineError):
    """LibreOffice is missing, failed, or did not finish in time."""


class GnumericError(SpreadsheetEngineError):
    """Gnumeric's ssconvert is missing, failed, or did not finish in time."""


class DatasetError(XlcnnError):
    """A training data set (built-in name or photo folder) cannot be used."""


def one_line(text: str) -> str:
    """Collapse a message (e.g. from a library exception) onto one line."""
    return " ".join(str(text).split())
