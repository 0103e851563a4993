"""The errors xlcnn raises on purpose.

Every one of them carries a single line meant for a person: the CLI prints it as ``Error: <message>``
and exits 1, with no traceback. Messages name the file (or option) first, then the problem.
"""

from __future__ import annotations


class XlcnnError(Exception):
    """Base class: an expected failure with a one-line, user-facing message."""

    exit_code = 1


class ImageError(XlcnnError):
    """An image file is missing, unreadable, or not something xlcnn can use."""


class ModelError(XlcnnError):
    """A model template (model.toml + weights.npz) is missing, malformed or inconsistent."""


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
