"""The explanatory texts (``templates/lang/*.toml``): every translation has every English key, with the same
shape and placeholders; unknown languages fail with a list; missing keys fall back to English; and a Chinese
build changes the words, never the formulas. Fast: no LibreOffice."""

from __future__ import annotations

import re
import shutil
import string
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from helpers import zh_sheet
from PIL import Image
from xlsxwriter.utility import quote_sheetname

import xlcnn.book.texts
from xlcnn import build_workbook, load_model
from xlcnn.book.layout import HEADER_ROWS, LEFT
from xlcnn.book.texts import DEFAULT_LANGUAGE, available_languages, lang_dir, load_texts
from xlcnn.errors import OptionError

LANG_DIR = lang_dir()
TRANSLATIONS = [code for code in available_languages() if code != DEFAULT_LANGUAGE]
CJK = re.compile(r"[\u4e00-\u9fff]")


def read(code: str) -> dict[str, Any]:
    return tomllib.loads((LANG_DIR / f"{code}.toml").read_text(encoding="utf-8"))


def kind(value: object) -> str:
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every table, list and string; list items are ``path[i]``."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def placeholders(text: str) -> set[str]:
    """The ``{names}`` in ``text``; a lone brace shows as ``{!unbalanced}``."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"{!unbalanced}"}


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    xlcnn.book.texts._read.cache_clear()
    yield
    xlcnn.book.texts._read.cache_clear()


# ------------------------------------------------------------------------------------ the language files


def test_there_is_english_and_chinese() -> None:
    assert {"en", "zh"} <= set(available_languages())


@pytest.mark.parametrize("code", available_languages())
def test_every_language_file_parses_and_loads(code: str) -> None:
    assert isinstance(read(code), dict)
    assert load_texts(code).code == code


@pytest.mark.parametrize("code", TRANSLATIONS)
def test_translation_has_every_english_key_with_the_same_shape(code: str) -> None:
    english, translated = dict(walk(read(DEFAULT_LANGUAGE))), dict(walk(read(code)))
    problems = [f"{path}: {kind(value)} in en, {kind(translated[path])} in {code}"
                for path, value in english.items() if path in translated and kind(translated[path]) != kind(value)]
    problems += [f"{path}: {len(value)} items in en, {len(translated[path])} in {code}"
                 for path, value in english.items()
                 if isinstance(value, list) and isinstance(translated.get(path), list)
                 and len(translated[path]) != len(value)]
    problems += [f"{path}: missing (it would show in English)" for path in english if path not in translated
                 and not re.search(r"\[\d+\]$", path)]  # a short list is reported above
    assert not problems, f"{code}.toml:\n" + "\n".join(problems)


@pytest.mark.parametrize("code", TRANSLATIONS)
def test_translation_has_no_key_english_lacks(code: str) -> None:
    """A misspelt key would be ignored silently and its English text shown instead."""
    english = dict(walk(read(DEFAULT_LANGUAGE)))
    extra = sorted(path for path, _ in walk(read(code)) if path not in english)
    assert not extra, f"{code}.toml has keys en.toml does not: {extra}"


@pytest.mark.parametrize("code", TRANSLATIONS)
def test_translation_keeps_every_placeholder(code: str) -> None:
    english = dict(walk(read(DEFAULT_LANGUAGE)))
    wrong = [f"{path}: {sorted(placeholders(english[path]))} in en, {sorted(placeholders(value))} in {code}"
             for path, value in walk(read(code))
             if isinstance(value, str) and isinstance(english.get(path), str)
             and placeholders(value) != placeholders(english[path])]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("code", available_languages())
def test_every_string_formats_with_dummy_values(code: str) -> None:
    for path, value in walk(read(code)):
        if isinstance(value, str):
            try:
                value.format(**{name: "7" for name in placeholders(value)})
            except (ValueError, IndexError, KeyError) as exc:  # e.g. a lone "{" or "}" or a positional "{}"
                pytest.fail(f"{code}.toml {path}: {value!r} does not format: {exc}")


@pytest.mark.parametrize("code", TRANSLATIONS)
def test_sheet_names_stay_english(code: str) -> None:
    """Links go to sheets by name, and sheet names are not translated."""
    english, translated = read(DEFAULT_LANGUAGE), read(code)
    steps = [step.get("stage") for step in translated["steps"]["list"]]
    assert steps == [step["stage"] for step in english["steps"]["list"]], f"{code}.toml steps.list stages: {steps}"
    described = set(translated["guide"]["sheet_descriptions"])
    assert described == set(english["guide"]["sheet_descriptions"]), f"{code}.toml sheet_descriptions: {described}"


@pytest.mark.parametrize("code", available_languages())
def test_verdicts_fit_in_a_formula_string(code: str) -> None:
    """worked.same and worked.different are written inside "…" of the Worked example's check formula."""
    texts = load_texts(code)
    for key in ("worked.same", "worked.different"):
        assert '"' not in texts(key), f"{code}.toml {key} holds a double quote"


def test_guide_titles_tell_the_languages_apart() -> None:
    """xlcnn verify recognises a workbook's language by its Guide title."""
    titles = {code: load_texts(code)("guide.title") for code in available_languages()}
    assert len(set(titles.values())) == len(titles), titles


def test_chinese_is_chinese() -> None:
    texts = load_texts("zh")
    for key in ("guide.title", "conv.what", "loss.what", "steps.title", "shapes.what"):
        assert CJK.search(texts(key)), key


# ------------------------------------------------------------------------------ loading and falling back


def test_an_unknown_language_names_the_available_ones() -> None:
    with pytest.raises(OptionError) as caught:
        load_texts("xx")
    assert str(caught.value) == f"lang 'xx': no texts for it (available: {', '.join(available_languages())})"
    assert "en" in str(caught.value) and "zh" in str(caught.value)


def test_a_missing_key_falls_back_to_english(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             fresh_cache: None) -> None:
    shutil.copy(LANG_DIR / "en.toml", tmp_path / "en.toml")
    (tmp_path / "xx.toml").write_text(
        '[guide]\ntitle = "xx title"\n[conv]\ntitle = "Conv {k} · xx"\n[steps]\ntitle = "xx steps"\n',
        encoding="utf-8")
    monkeypatch.setattr(xlcnn.book.texts, "lang_dir", lambda: tmp_path)
    english = read(DEFAULT_LANGUAGE)

    texts = load_texts("xx")
    assert texts("guide.title") == "xx title"
    assert texts("conv.title", k=2) == "Conv 2 · xx"
    assert texts("steps.title") == "xx steps"
    # Missing from xx: a whole table, a key of a table xx has, a list, and a list of tables.
    assert texts("relu.what") == english["relu"]["what"]
    assert texts("conv.map", k=1, f=2, h=3, w=4) == english["conv"]["map"].format(k=1, f=2, h=3, w=4)
    assert texts.lines("softmax.rows") == english["softmax"]["rows"]
    assert texts.raw("steps.list") == english["steps"]["list"]
    assert texts.raw("guide.sheet_descriptions") == english["guide"]["sheet_descriptions"]
    with pytest.raises(KeyError, match=r"no text 'guide\.nothing'"):
        texts("guide.nothing")
    assert available_languages() == ["en", "xx"]


# ------------------------------------------------------------------------------------ a Chinese workbook


def string_cells(book: Any) -> dict[tuple[str, str], str]:
    return {(ws.title, cell.coordinate): cell.value for ws in book.worksheets for row in ws.iter_rows()
            for cell in row if isinstance(cell.value, str) and cell.data_type != "f"}


def formula_cells(book: Any) -> dict[tuple[str, str], str]:
    return {(ws.title, cell.coordinate): cell.value for ws in book.worksheets for row in ws.iter_rows()
            for cell in row if cell.data_type == "f"}


def destinations(book: Any, english: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Each defined name's (sheet, range), its sheet named as in English."""
    return {name: [(english[sheet], cells) for sheet, cells in d.destinations]
            for name, d in book.defined_names.items()}


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("lang")
    rng = np.random.default_rng(7)
    image = folder / "picture.png"
    Image.fromarray(rng.integers(0, 256, (20, 24, 3)).astype(np.uint8)).save(image)
    out = {}
    for code in ("en", "zh"):
        build_workbook(image, folder / f"{code}.xlsx", model="tiny", lang=code)
        out[code] = openpyxl.load_workbook(folder / f"{code}.xlsx")
    return out


def test_a_chinese_build_writes_chinese_in_the_guide_and_the_stage_notes(books: dict[str, Any]) -> None:
    zh = load_texts("zh")
    guide = [text for (sheet, _), text in string_cells(books["zh"]).items() if sheet == zh_sheet("Guide")]
    for text in (zh("guide.title"), zh("steps.title"), zh.raw("guide.sheet_descriptions")["conv"],
                 zh.raw("steps.list")[0]["title"], zh.lines("guide.card")[0]):
        assert text in guide, text
    block = load_model("tiny").arch.blocks[0]
    kernel, channels = block.conv.kernel, block.in_shape[0]
    conv = books["zh"][zh_sheet("Conv 1")]
    header = [conv.cell(row, LEFT + 1).value for row in range(1, HEADER_ROWS)]  # openpyxl counts from 1
    assert header[:2] == [zh("conv.title", k=1), zh("conv.what", kernel=kernel, n=channels * kernel**2)]
    assert all(CJK.search(text) for text in header[:5]), header


def test_a_chinese_build_has_no_english_explanation_left(books: dict[str, Any]) -> None:
    """Every fixed English text that Chinese translates differently is gone from the Chinese workbook (sheet
    names, which stay English, aside)."""
    english, translated = dict(walk(read("en"))), dict(walk(read("zh")))
    english_only = {value for path, value in english.items()
                    if isinstance(value, str) and not placeholders(value) and value != translated.get(path)}
    english_only -= set(books["zh"].sheetnames)
    left = {where: text for where, text in string_cells(books["zh"]).items() if text in english_only}
    assert not left, left


def test_a_chinese_build_has_the_english_formulas(books: dict[str, Any]) -> None:
    """The same sheets, named in Chinese; the same defined names on them, the same formula cells and the same
    formula strings, but for the sheet names they quote and the worked example's verdict words, which sit inside
    its check formula."""
    en, zh_ = books["en"], books["zh"]
    assert zh_.sheetnames == [zh_sheet(name) for name in en.sheetnames]
    assert zh_.sheetnames[:6] == ["指南", "总览", "图像", "输入", "滤波器 1", "卷积 1"]
    sheets = dict(zip(zh_.sheetnames, en.sheetnames, strict=True))
    assert destinations(zh_, sheets) == destinations(en, {name: name for name in en.sheetnames})
    en_formulas = formula_cells(en)
    zh_formulas = {(sheets[sheet], cell): formula for (sheet, cell), formula in formula_cells(zh_).items()}
    assert zh_formulas.keys() == en_formulas.keys()
    en_texts, zh_texts = load_texts("en"), load_texts("zh")
    verdicts = {f'"{zh_texts(key)}"': f'"{en_texts(key)}"' for key in ("worked.same", "worked.different")}
    quoted = {f"{quote_sheetname(chinese)}!": f"{quote_sheetname(english)}!" for chinese, english in sheets.items()}

    def in_english(formula: str) -> str:
        for chinese, english_ in (verdicts | quoted).items():
            formula = formula.replace(chinese, english_)
        return formula

    differ = {where: (en_formulas[where], formula) for where, formula in zh_formulas.items()
              if in_english(formula) != en_formulas[where]}
    assert not differ, differ
    assert any(all(v in f for v in verdicts) for f in zh_formulas.values()), "the check formula moved"
