"""Hostile workbooks given to ``xlcnn verify``: each gets one line naming the user's file, in bounded time and
memory — or, when every value is right but the workbook *shows* another result, a mismatch at the cell.

The files are made here by code: special files, zip bombs (huge declared sizes, lying headers, too many parts,
whitespace that compresses 1,000:1, entity bombs), cells whose stored value no spreadsheet holds, and number
formats, hidden rows, colours and conditional formats that make a right workbook display a wrong result.
"""

from __future__ import annotations

import os
import re
import resource
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from workbooks import name_cell, qualified, sheet_part

from xlcnn import build_workbook, load_model, verify_workbook
from xlcnn.check import sheets
from xlcnn.check.libreoffice import recalculate
from xlcnn.check.verify import BadCell, VerifyReport
from xlcnn.cli import cli

CIRCLE_IMAGE = Path(__file__).resolve().parent.parent / "samples" / "circle.png"

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SQUARE = '"square";"square";"square";"square"'  # shows "square" whatever the cell holds, number or text


# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh workbook of the tiny template (6×6 input, 2 filters, 3 classes); tests copy it to change it."""
    folder = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)).save(folder / "picture.png")
    out = folder / "tiny.xlsx"
    build_workbook(folder / "picture.png", out, model=load_model("tiny"))
    return out


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def assert_error(result: Result, message: str) -> None:
    """Exit code 1 and exactly one line, ``Error: <message>``: no traceback, no Python repr."""
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {message}\n"
    assert "Traceback" not in result.output and " object at 0x" not in result.output








def rewrite(src: Path, dst: Path, changes: dict[str, Callable[[str], str]]) -> Path:
    """Copy the archive ``src`` to ``dst``, passing the text of each part named in ``changes`` through it."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename in changes:
                data = changes[item.filename](data.decode()).encode()
            zout.writestr(item, data)
    return dst


def edit_cell(path: Path, sheet: str, ref: str, change: Callable[[str], str]) -> dict[str, Callable[[str], str]]:
    """A change (for ``rewrite``) of one cell's XML, ``<c r="B9" …>…</c>``, in its sheet's part."""
    def apply(text: str) -> str:
        match = re.search(rf'<c r="{ref}"[^>]*?(/>|>.*?</c>)', text)
        assert match, f"{sheet}!{ref} not found"
        return text[: match.start()] + change(match.group(0)) + text[match.end():]
    return {sheet_part(path, sheet): apply}


def patch_directory(path: Path, name: str, *, size: int | None = None, flags: int | None = None) -> Path:
    """Overwrite what the zip's central directory says of the part ``name``: its unpacked size, its flags."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len, extra_len, comment_len = struct.unpack_from("<3H", data, at + 28)
        if data[at + 46: at + 46 + name_len] == name.encode():
            if flags is not None:
                struct.pack_into("<H", data, at + 8, flags)
            if size is not None:
                struct.pack_into("<L", data, at + 24, size)
            path.write_bytes(bytes(data))
            return path
        at = data.find(b"PK\x01\x02", at + 46 + name_len + extra_len + comment_len)
    raise AssertionError(f"{name} not in {path}")


@contextmanager
def bounded(seconds: float, megabytes: float) -> Iterator[None]:
    """The block must finish within ``seconds`` and allocate at most ``megabytes`` at its peak (tracemalloc)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        yield
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    assert peak < megabytes, f"peaked at {peak:.0f} MB"


@pytest.fixture
def own_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """verify's temporary files go here, so that a test can tell it left none behind."""
    folder = tmp_path / "tempdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# ------------------------------------------------------------------------------------ not a regular file


def verify_in_subprocess(path: Path) -> subprocess.CompletedProcess[str]:
    """``xlcnn verify`` in a child with 2 GB of address space and a minute: a regression that reads /dev/zero or
    waits on a pipe fails the test instead of taking the machine down or hanging it."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    return subprocess.run([sys.executable, "-m", "xlcnn", "verify", str(path)], capture_output=True, text=True,
                          timeout=60, preexec_fn=limit)


def test_a_device_or_a_pipe_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.xlsx"
    os.mkfifo(pipe)
    device = tmp_path / "zero.xlsx"
    device.symlink_to("/dev/zero")
    for path, kind in ((Path("/dev/zero"), "a character device"), (device, "a character device"),
                       (pipe, "a named pipe")):
        started = time.monotonic()
        done = verify_in_subprocess(path)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", f"Error: {path}: not a regular file ({kind})\n")
        assert time.monotonic() - started < 30


def test_missing_files_and_directories(tmp_path: Path) -> None:
    dangling = tmp_path / "dangling.xlsx"
    dangling.symlink_to(tmp_path / "gone.xlsx")
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    for path, message in ((tmp_path / "missing.xlsx", "no such file"), (dangling, "no such file"),
                          (tmp_path / "missing.xlsx" / "inside.xlsx", "no such file"),
                          (tmp_path, "is a directory, not a workbook"),
                          (empty, "not an .xlsx workbook (the file is empty)")):
        assert_error(run("verify", str(path)), f"{path}: {message}")


# ------------------------------------------------------------------------------------------- zip bombs


def whitespace_sheet(src: Path, dst: Path, part: str, megabytes: int) -> Path:
    """``src`` with ``megabytes`` of spaces after ``<sheetData>`` in ``part``: valid XML, compressed 1,000:1."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename != part:
                zout.writestr(item, data)
                continue
            head, tail = data.split(b"<sheetData>")
            info = zipfile.ZipInfo(part)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zout.open(info, "w") as out:
                out.write(head + b"<sheetData>")
                for _ in range(megabytes):
                    out.write(b" " * 1_000_000)
                out.write(tail)
    return dst


def with_parts(src: Path, dst: Path, parts: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    """A copy of ``src`` with extra parts (or parts replaced), written with compression ``method``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename not in parts:
                zout.writestr(item, zin.read(item.filename))
        for name, data in parts.items():
            zout.writestr(name, data, compress_type=method)
    return dst


def ratio(path: Path, part: str | None = None) -> str:
    """A part's (or the whole archive's) compression ratio, as verify's messages write it."""
    infos = [i for i in zipfile.ZipFile(path).infolist() if part is None or i.filename == part]
    return f"{sum(i.file_size for i in infos) / sum(i.compress_size for i in infos):,.0f}:1"


def test_zip_bombs_are_refused_before_they_are_unpacked(tiny: Path, tmp_path: Path, own_tempdir: Path) -> None:
    guide = sheet_part(tiny, "Guide")
    padded = whitespace_sheet(tiny, tmp_path / "padded.xlsx", guide, 200)
    assert padded.stat().st_size < 1_000_000 and zipfile.ZipFile(padded).getinfo(guide).file_size > 200_000_000

    junk = with_parts(tiny, tmp_path / "junk.xlsx", {f"junk/{i}.xml": b"" for i in range(1_200)})
    parts = len(zipfile.ZipFile(junk).infolist())
    spread = with_parts(tiny, tmp_path / "spread.xlsx", {f"xl/pad{i}.bin": b" " * 900_000 for i in range(40)})

    declared_styles = patch_directory(with_parts(tiny, tmp_path / "styles.xlsx", {}), "xl/styles.xml",
                                      size=100_000_000)
    declared_sheet = patch_directory(with_parts(tiny, tmp_path / "sheet.xlsx", {}), guide, size=0xFFFFFFFF)
    claims_3gb = patch_directory(with_parts(tiny, tmp_path / "claims.xlsx", {}), guide, size=3_000_000_000)
    claimed = zipfile.ZipFile(claims_3gb).getinfo(guide)
    lying = patch_directory(with_parts(tiny, tmp_path / "lying.xlsx", {}), guide, size=100)

    bomb = "refused as a possible zip bomb"
    cases = [
        (padded, f"{bomb} ({guide} is compressed {ratio(padded, guide)}; xlcnn's workbooks compress at most 100:1)"),
        (junk, f"{bomb} (it holds {parts:,} parts; an xlcnn workbook has fewer than 1,000)"),
        (spread, f"{bomb} (the archive is compressed {ratio(spread)}; xlcnn's workbooks compress at most 100:1)"),
        (declared_styles, f"{bomb} (xl/styles.xml unpacks to 100 MB; a part other than a worksheet of an xlcnn "
                          "workbook is at most 64 MB)"),
        (declared_sheet, f"{bomb} ({guide} unpacks to 4.29 GB; a worksheet of an xlcnn workbook is at most 4 GB)"),
        (claims_3gb, f"{bomb} ({guide} is compressed {3e9 / claimed.compress_size:,.0f}:1; xlcnn's workbooks "
                     "compress at most 100:1)"),
        # zipfile stops at the size a header states, and then finds the checksum wrong
        (lying, f"not a valid .xlsx workbook (Bad CRC-32 for file '{guide}')"),
    ]
    for path, message in cases:
        with bounded(seconds=5, megabytes=20):
            result = run("verify", str(path))
        assert_error(result, f"{path}: {message}")
    assert not any(own_tempdir.iterdir())


def test_parts_no_xlsx_has_are_refused(tiny: Path, tmp_path: Path) -> None:
    laughs = ('<!DOCTYPE workbook [<!ENTITY a "aaaaaaaaaa">'
              + "".join(f'<!ENTITY {b} "{f"&{a};" * 10}">' for a, b in zip("abcdefgh", "bcdefghi", strict=True))
              + "]>")
    entities = rewrite(tiny, tmp_path / "entities.xlsx",
                       {"xl/workbook.xml": lambda text: text.replace("?>", "?>" + laughs, 1)})
    encrypted = patch_directory(with_parts(tiny, tmp_path / "encrypted.xlsx", {}), "xl/styles.xml", flags=0x1)
    bzip2 = with_parts(tiny, tmp_path / "bzip2.xlsx", {"xl/styles.xml": zipfile.ZipFile(tiny).read("xl/styles.xml")},
                       method=zipfile.ZIP_BZIP2)
    twice = rewrite(tiny, tmp_path / "twice.xlsx", {"xl/workbook.xml": lambda text: text.replace(
        "</sheets>", '<sheet name="Again" sheetId="99" r:id="rId1"/></sheets>')})
    invalid = "not a valid .xlsx workbook"
    cases = [
        (twice, f"{invalid} (the sheets 'Guide' and 'Again' are both xl/worksheets/sheet1.xml)"),
        (entities, f"{invalid} (xl/workbook.xml declares a document type, which .xlsx parts never do: its entities "
                   "could expand without bound)"),
        (encrypted, f"{invalid} (xl/styles.xml is encrypted, which .xlsx parts never are)"),
        (bzip2, f"{invalid} (xl/styles.xml is compressed with method 12; .xlsx parts are stored or deflated)"),
    ]
    for path, message in cases:
        with bounded(seconds=5, megabytes=20):
            result = run("verify", str(path))
        assert_error(result, f"{path}: {message}")


def test_memory_stays_flat_however_the_xml_is_shaped(tiny: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A cell with 150,000 children: held in memory until the cell ends, so refused past 100,000.
    pixel = name_cell(tiny, "input_r")
    nested = rewrite(tiny, tmp_path / "nested.xlsx",
                     edit_cell(tiny, *pixel, lambda xml: xml.replace("</c>", "<x/>" * 150_000 + "</c>")))
    with bounded(seconds=5, megabytes=50):
        result = run("verify", str(nested))
    assert_error(result, f"{nested}: the sheet 'Input' nests more than 100,000 XML elements in one place")

    # More cells than xlcnn writes (the limit lowered here, so that the test need not write ten million).
    monkeypatch.setattr(sheets, "MAX_READ_CELLS", 500)
    assert_error(run("verify", str(tiny)),
                 f"{tiny}: refused: it holds more than 500 cells, and xlcnn writes at most 5,000,000")


# ------------------------------------------------------------------------------------- values no sheet holds


def test_stored_values_no_spreadsheet_holds_are_named_at_their_cell(tiny: Path, tmp_path: Path) -> None:
    pixel, conv = name_cell(tiny, "input_r"), name_cell(tiny, "conv1_out1")

    def value(text: str, kind: str | None = None) -> Callable[[str], str]:
        def change(xml: str) -> str:
            xml = re.sub(r"<v>.*?</v>", f"<v>{text}</v>", xml)
            return xml if kind is None else re.sub(r'^<c r="(\w+)"', rf'<c r="\1" t="{kind}"', xml)
        return change

    at, cached = qualified(*pixel), f"the cached value of {qualified(*conv)}"
    cases = [
        (pixel, value("9" * 400), f"{at} holds a 400-digit number, beyond the largest a spreadsheet can hold "
                                  "(about 1.8E+308)"),
        (pixel, value("1e999"), f"{at} holds '1e999', beyond the largest a spreadsheet can hold (about 1.8E+308)"),
        (pixel, value("12abc"), f"{at} holds '12abc' where a number belongs"),
        (pixel, value("x" * 5000), f"{at} holds {'x' * 20 + '…'!r} (5,000 characters) where a number belongs"),
        (pixel, value("7", "s"), f"{at} refers to the shared string '7', which the workbook does not have"),
        (pixel, value("2", "b"), f"{at} holds '2' where TRUE or FALSE belongs"),
        (pixel, value("1", "zz"), f"{at} holds '1' as a value of type 'zz', which .xlsx files do not have"),
        # a date is read as the text it is stored as, never as a Python datetime
        (pixel, value("2024-01-31T00:00:00", "d"),
         f"{at} (input_r) holds the text '2024-01-31T00:00:00' where a number belongs"),
        (conv, value("NaN"), f"{cached} is 'NaN', which is not a number"),
        (conv, value("12abc"), f"{cached} is '12abc', which is not a number"),
        (conv, value("-" + "1" * 320), f"{cached} is a 320-digit number, beyond the largest a spreadsheet can hold "
                                       "(about 1.8E+308)"),
        (conv, lambda xml: re.sub(r' s="\d+"', ' s="9999"', xml),
         f"{qualified(*conv)} uses the cell format s='9999', which the workbook's styles do not define"),
        (conv, lambda xml: xml.replace(f'r="{conv[1]}"', 'r="XFE1"'),
         "not a valid .xlsx workbook (the sheet 'Conv 1' has a cell 'XFE1' outside the 1,048,576 rows and 16,384 "
         "columns a sheet has)"),
    ]
    for i, (cell, change, message) in enumerate(cases):
        path = rewrite(tiny, tmp_path / f"value{i}.xlsx", edit_cell(tiny, *cell, change))
        result = run("verify", str(path))
        assert_error(result, f"{path}: {message}")
        assert result.output.count(str(path)) == 1  # named once, first


# ------------------------------------------------------------------------------------- the engine's copy


def fake_program(tmp_path: Path, body: str) -> str:
    script = tmp_path / "program"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_engine_failures_name_the_users_file_once(tiny: Path, tmp_path: Path, own_tempdir: Path) -> None:
    silent = fake_program(tmp_path, "exit 0")  # "succeeds" without writing a copy
    assert_error(run("verify", str(tiny), env={"XLCNN_SOFFICE": silent}),
                 f"{tiny}: LibreOffice could not convert it to csv")  # verify reads its values as CSV
    assert_error(run("verify", str(tiny), "--engine", "gnumeric", env={"XLCNN_SSCONVERT": silent}),
                 f"{tiny}: Gnumeric could not convert it to xlsx")
    garbage = fake_program(tmp_path, 'while [ $# -gt 1 ]; do [ "$1" = --outdir ] && out="$2"; shift; done\n'
                                     'printf "\\377\\376" > "$out/$(basename "$1" .xlsx)-Guide.csv"')
    assert_error(run("verify", str(tiny), env={"XLCNN_SOFFICE": garbage}),
                 f"{tiny}: LibreOffice wrote values that cannot be read (the values of 'Guide' are not CSV text "
                 "('utf-8' codec can't decode byte 0xff in position 0: invalid start byte))")
    copy = fake_program(tmp_path, 'for last; do :; done\necho garbage > "$last"')  # ssconvert … SOURCE TARGET
    assert_error(run("verify", str(tiny), "--engine", "gnumeric", env={"XLCNN_SSCONVERT": copy}),
                 f"{tiny}: Gnumeric wrote a recalculated copy that cannot be read (not a valid .xlsx workbook "
                 "(File is not a zip file))")
    assert not any(own_tempdir.iterdir())


# ------------------------------------------------------------------------------------- a faked result


def styles_with(xml: str, base: int, num_format: str | None = None, font_rgb: str | None = None,
                dxf: str | None = None) -> tuple[str, int]:
    """styles.xml with a new cell format copied from cell format ``base``, with another number format or font
    colour (and, if given, a conditional format style ``<dxf>`` after those there, as ``next_dxf`` counts them);
    → (the XML, the new format's index)."""
    xfs = re.search(r"<cellXfs count=\"\d+\">(.*?)</cellXfs>", xml, re.S)
    assert xfs
    cell_formats = re.findall(r"<xf [^>]*?(?:/>|>.*?</xf>)", xfs.group(1), re.S)
    xf = cell_formats[base]
    if num_format is not None:
        code = num_format.replace('"', "&quot;")
        xml = xml.replace("</numFmts>", f'<numFmt numFmtId="300" formatCode="{code}"/></numFmts>')
        xf = re.sub(r'numFmtId="\d+"', 'numFmtId="300"', xf)
    if font_rgb is not None:
        fonts_table = re.search(r"<fonts [^>]*>(.*?)</fonts>", xml, re.S)
        assert fonts_table
        fonts = len(re.findall(r"<font>", fonts_table.group(1)))  # not the conditional formats' fonts
        xml = xml.replace("</fonts>", f'<font><sz val="14"/><color rgb="FF{font_rgb}"/><name val="Calibri"/></font>'
                                      "</fonts>")
        xf = re.sub(r'fontId="\d+"', f'fontId="{fonts}"', xf)
    if dxf is not None:
        n = next_dxf(xml)
        xml = re.sub(r'<dxfs count="\d+"\s*/>', "<dxfs></dxfs>", xml)
        xml = re.sub(r'<dxfs count="\d+">(.*?)</dxfs>|<dxfs></dxfs>',
                     lambda m: f'<dxfs count="{n + 1}">{m.group(1) or ""}{dxf}</dxfs>', xml, flags=re.S)
    xml = xml.replace("</cellXfs>", xf + "</cellXfs>")
    return xml, len(cell_formats)


def next_dxf(xml: str) -> int:
    """The index a conditional format style added to styles.xml ``xml`` gets: after the workbook's own (the
    worked example's red ✗)."""
    match = re.search(r'<dxfs count="(\d+)"', xml)
    return int(match.group(1)) if match else 0


def style_of(path: Path, sheet: str, ref: str) -> int:
    with zipfile.ZipFile(path) as z:
        text = z.read(sheet_part(path, sheet)).decode()
    match = re.search(rf'<c r="{ref}" s="(\d+)"', text)
    assert match
    return int(match.group(1))


def restyled(src: Path, dst: Path, cells: list[tuple[str, str]], **change: str) -> Path:
    """A copy of ``src`` whose ``cells`` have a new cell format: theirs, with ``change`` (see ``styles_with``)."""
    styles = zipfile.ZipFile(src).read("xl/styles.xml").decode()
    xml, index = styles_with(styles, style_of(src, *cells[0]), **change)
    refs = "|".join(ref for _, ref in cells)

    def restyle(text: str) -> str:
        return re.sub(rf'(<c r="(?:{refs})" s=")\d+"', rf'\g<1>{index}"', text)

    parts = {sheet_part(src, sheet) for sheet, _ in cells}
    return rewrite(src, dst, {"xl/styles.xml": lambda _: xml, **{part: restyle for part in parts}})


def in_sheet(src: Path, dst: Path, sheet: str, change: Callable[[str], str],
             styles: Callable[[str], str] | None = None) -> Path:
    edits = {sheet_part(src, sheet): change}
    if styles is not None:
        edits["xl/styles.xml"] = styles
    return rewrite(src, dst, edits)


def after_sheet_data(xml: str) -> Callable[[str], str]:
    """A change inserting ``xml`` right after ``</sheetData>`` (where merges and conditional formats go)."""
    return lambda text: text.replace("</sheetData>", "</sheetData>" + xml, 1)


def first(report: VerifyReport) -> BadCell:
    assert not report.ok and report.cache.ok, report.summary()
    return report.first_bad[0]


@pytest.mark.libreoffice
def test_a_workbook_that_displays_a_faked_result_does_not_verify(soffice: str, tiny: Path, tmp_path: Path,
                                                                 own_tempdir: Path) -> None:
    guide = [("Guide", f"C{row}") for row in (4, 5, 6, 7)]  # prediction, probability, true label, loss
    conv = name_cell(tiny, "conv1_out1", 1, 1)
    probs = [name_cell(tiny, "probs", 0, c) for c in range(3)]
    dxf_id = next_dxf(zipfile.ZipFile(tiny).read("xl/styles.xml").decode())
    square_cf = (f'<conditionalFormatting sqref="C4:C7"><cfRule type="expression" dxfId="{dxf_id}" priority="1">'
                 "<formula>TRUE</formula></cfRule></conditionalFormatting>")
    square_dxf = f'<dxf><numFmt numFmtId="301" formatCode="{SQUARE.replace(chr(34), "&quot;")}"/></dxf>'
    bars = (f'<conditionalFormatting sqref="{probs[0][1]}:{probs[-1][1]}"><cfRule type="dataBar" priority="1">'
            '<dataBar showValue="0"><cfvo type="min"/><cfvo type="max"/><color rgb="FF638EC6"/></dataBar>'
            "</cfRule></conditionalFormatting>")
    books = {
        "format": restyled(tiny, tmp_path / "format.xlsx", guide[:2], num_format=SQUARE),
        "sign": restyled(tiny, tmp_path / "sign.xlsx", [conv], num_format="0.00;0.00"),  # drops the minus sign
        "row": in_sheet(tiny, tmp_path / "row.xlsx", "Guide",
                        lambda t: t.replace('<row r="4">', '<row r="4" hidden="1">')),
        "height": in_sheet(tiny, tmp_path / "height.xlsx", "Guide",
                           lambda t: t.replace('<row r="5">', '<row r="5" ht="0" customHeight="1">')),
        "column": in_sheet(tiny, tmp_path / "column.xlsx", "Guide",
                           lambda t: re.sub(r'<col min="3" max="3" ', '<col min="3" max="3" hidden="1" ', t)),
        "white": restyled(tiny, tmp_path / "white.xlsx", guide[:1], font_rgb="FFFFFF"),
        "conditional": in_sheet(tiny, tmp_path / "conditional.xlsx", "Guide", after_sheet_data(square_cf),
                                styles=lambda t: styles_with(t, 0, dxf=square_dxf)[0]),
        "merged": in_sheet(tiny, tmp_path / "merged.xlsx", "Guide",
                           after_sheet_data('<mergeCells count="1"><mergeCell ref="B4:C4"/></mergeCells>')),
        "bars": in_sheet(tiny, tmp_path / "bars.xlsx", probs[0][0], after_sheet_data(bars)),
        # Not faked, but hostile all the same: an array formula, and dimensions that claim every cell of a sheet.
        "array": rewrite(tiny, tmp_path / "array.xlsx",
                         edit_cell(tiny, *conv, lambda xml: xml.replace("<f>", f'<f t="array" ref="{conv[1]}">'))),
        "dimension": rewrite(tiny, tmp_path / "dimension.xlsx",
                             {sheet_part(tiny, sheet): lambda t: re.sub(r'<dimension ref="[^"]*"/>',
                                                                        '<dimension ref="A1:XFD1048576"/>', t)
                              for sheet in ("Guide", "Conv 1", "Input")}),
    }
    paths = [*books.values(), tiny]
    recalculated = dict(zip(paths, recalculate(paths, tmp_path / "recalculated"), strict=True))
    reports = {key: verify_workbook(path, recalculated=recalculated[path]) for key, path in books.items()}

    changed = "display changed"
    assert reports["format"].first_bad == (BadCell("Guide!C4", changed, "General", f"the number format {SQUARE}"),
                                           BadCell("Guide!C5", changed, "0.0%", f"the number format {SQUARE}"))
    assert {s.stage: s.verdict for s in reports["format"].stages}["Guide"] == "MISMATCH"
    assert reports["format"].bad == 2
    sign = first(reports["sign"])
    assert (sign.cell, sign.problem, sign.got) == (qualified(*conv), changed, "the number format 0.00;0.00")
    assert sign.expected in ("0", "0.0", "0.00") and reports["sign"].bad == 1
    assert reports["row"].first_bad == (BadCell("Guide!C4", changed, None, "row 4 is hidden"),)
    assert reports["height"].first_bad == (BadCell("Guide!C5", changed, None, "row 5 is hidden"),)
    assert reports["column"].first_bad == tuple(BadCell(f"Guide!{ref}", changed, None, "column C is hidden")
                                                for _, ref in guide)
    assert reports["white"].first_bad == (BadCell("Guide!C4", changed, None,
                                                  "text coloured #FFFFFF on a fill of #FFFFFF"),)
    assert reports["conditional"].first_bad == tuple(
        BadCell(f"Guide!{ref}", changed, None, f"a conditional format (expression) gives it the number format {SQUARE}")
        for _, ref in guide)
    assert reports["merged"].first_bad == (BadCell("Guide!C4", changed, None,
                                                   "it is under the merged cells B4:C4, which show only B4"),)
    assert reports["bars"].first_bad == tuple(BadCell(qualified(*cell), changed, None,
                                                      "a conditional format (dataBar) hides its value")
                                              for cell in probs)
    array = first(reports["array"])
    assert (array.cell, array.problem) == (qualified(*conv), "formula changed")
    assert str(array.got).endswith(" (an array formula)") and reports["array"].bad == 1
    assert reports["dimension"].ok, reports["dimension"].summary()
    # LibreOffice's own save of the workbook (its styles, palette and formats rewritten) shows what xlcnn shows.
    assert verify_workbook(recalculated[tiny], recalculated=recalculated[tiny]).ok

    # Through the command line: a mismatch, exit code 1, the faked cell named.
    result = run("verify", str(books["format"]))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search(r"^Guide +\d+ .* MISMATCH$", result.output, re.M)
    assert result.output.splitlines()[-1] == (
        f"Error: {books['format']}: 2 of {reports['format'].cells:,} formula cells do not match the NumPy engine "
        f"(first: Guide!C4: display changed: the number format {SQUARE} where xlcnn writes General)")
    assert not any(own_tempdir.iterdir())


def test_a_workbook_whose_weights_overflow_is_refused_naming_the_stage(tmp_path: Path) -> None:
    book = tmp_path / "tiny.xlsx"
    build_workbook(CIRCLE_IMAGE, book, model="tiny")
    wb = openpyxl.load_workbook(book)
    ((sheet, ref),) = list(wb.defined_names["conv1_w1_1"].destinations)
    for row in wb[sheet][ref.replace("$", "")]:
        for cell in row:
            cell.value = 1e308
    edited = tmp_path / "huge.xlsx"
    wb.save(edited)
    result = CliRunner().invoke(cli, ["verify", str(edited), "--no-cache-check"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == (f"Error: {edited}: its pixels and weights overflow: conv1_out1 would hold values too "
                             "large for a spreadsheet (infinite or not a number); a weight, bias or scale is far "
                             "too large\n")
