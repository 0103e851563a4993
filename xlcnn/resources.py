"""Where the files that ship with xlcnn are: the built-in templates and the language files."""

from __future__ import annotations

from pathlib import Path

from xlcnn.errors import ModelError

_HERE = Path(__file__).resolve().parent


def templates_root() -> Path:
    """The folder of built-in templates: inside an installed wheel, or the checkout's ``templates/``."""
    for candidate in (_HERE / "_templates", _HERE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise ModelError(f"the built-in templates folder is missing (looked in {_HERE / '_templates'})")


def languages_root() -> Path:
    """The folder of the workbook's explanations, one ``<code>.toml`` per language."""
    return templates_root() / "lang"
