"""Every explanatory text of the workbook, read from ``templates/lang/<code>.toml``.

A teacher adds a language by copying ``en.toml`` to a new code and translating the values; keys missing
from a translation fall back to English. Values may hold ``{placeholders}`` filled in by the code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from xlcnn.book.layout import FORBIDDEN_IN_SHEET_NAMES, MAX_SHEET_NAME, SheetNames
from xlcnn.errors import OptionError, one_line, option
from xlcnn.resources import languages_root

DEFAULT_LANGUAGE = "en"


def lang_dir() -> Path:
    return languages_root()


def available_languages() -> list[str]:
    return sorted(p.stem for p in lang_dir().glob("*.toml"))


@cache
def _read(code: str) -> Mapping[str, Any]:
    path = lang_dir() / f"{code}.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OptionError(
            f"{option('lang')} {code!r}: no texts for it (available: {', '.join(available_languages())})"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OptionError(f"{path}: not valid TOML ({one_line(str(exc))})") from None


def _lookup(table: Mapping[str, Any], key: str) -> Any:
    node: Any = table
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


@dataclass(frozen=True)
class Texts:
    code: str

    def raw(self, key: str) -> Any:
        value = _lookup(_read(self.code), key)
        if value is None and self.code != DEFAULT_LANGUAGE:
            value = _lookup(_read(DEFAULT_LANGUAGE), key)
        if value is None:
            raise KeyError(f"no text {key!r} in {self.code}.toml or {DEFAULT_LANGUAGE}.toml")
        return value

    def __call__(self, key: str, **values: Any) -> str:
        """The text at dotted ``key``, with ``{placeholders}`` filled from ``values``."""
        text = self.raw(key)
        if not isinstance(text, str):
            raise KeyError(f"text {key!r} is not a string")
        return text.format(**values) if values else text

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise KeyError(f"text {key!r} is not true or false")
        return value

    def sheet_names(self) -> SheetNames:
        """The sheets' names in this language (its ``[sheets]`` table), refused when a spreadsheet would refuse
        one: too long, with a character sheets forbid, or the same as another's."""
        own = _lookup(_read(self.code), "sheets")
        table = {**_lookup(_read(DEFAULT_LANGUAGE), "sheets"), **(own if isinstance(own, Mapping) else {})}
        where = f"{lang_dir() / self.code}.toml, [sheets]"
        seen: dict[str, str] = {}
        for key, name in table.items():
            bad = sorted(set(str(name)) & FORBIDDEN_IN_SHEET_NAMES)
            if not isinstance(name, str) or not name.strip() or name != name.strip() or name.startswith("'"):
                raise OptionError(f"{where}: {key!r} must be a name, not {name!r}")
            if bad or len(name) > MAX_SHEET_NAME - 3:  # room for a block number
                raise OptionError(f"{where}: {key!r} = {name!r} cannot name a sheet ("
                                  + (f"it holds {' '.join(bad)}" if bad else f"over {MAX_SHEET_NAME - 3} characters")
                                  + ")")
            if name.casefold() in seen:  # spreadsheets compare sheet names regardless of case
                raise OptionError(f"{where}: {key!r} and {seen[name.casefold()]!r} are both named {name!r}")
            seen[name.casefold()] = key
        return SheetNames(tuple(table.items()))

    def lines(self, key: str, **values: Any) -> list[str]:
        """A list of texts (e.g. bullet points), each formatted."""
        items = self.raw(key)
        if isinstance(items, str):
            items = [items]
        return [str(item).format(**values) if values else str(item) for item in items]


def load_texts(code: str = DEFAULT_LANGUAGE) -> Texts:
    if code not in available_languages():  # a code, never a path to some other file
        raise OptionError(f"{option('lang')} {code!r}: no texts for it (available: {', '.join(available_languages())})")
    _read(code)  # fail early, naming the file, if it does not parse
    return Texts(code)
