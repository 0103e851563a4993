"""``build_workbook``: every built-in template on the sample images, recalculated by LibreOffice, equals
the NumPy engine in every formula cell; cached values equal the engine; names follow the contract."""

from __future__ import annotations

import html
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from factories import make_arch, make_model
from helpers import assert_stage_matches
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from workbooks import Book, assert_recalculated_equals_cached, recalculated

from xlcnn import build_workbook, forward, list_templates, load_image, load_model, modify_model
from xlcnn.errors import ModelError
from xlcnn.model.spec import Model
from xlcnn.model.templates import check_shapes

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.png"))


def picture(path: Path, seed: int = 0, size: tuple[int, int] = (64, 48)) -> Path:
    """A colourful test picture: a gradient with a red disc and a blue bar, plus noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / w, y * 255 / h, np.full((h, w), 128.0)], axis=-1)
    img[(x - w / 3) ** 2 + (y - h / 2) ** 2 < (h / 4) ** 2] = (220, 30, 30)
    img[h // 5 : h // 5 + 3, w // 2 :] = (30, 30, 220)
    img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path)
    return path


def engine_stages(model: Model, image: Path, label: str | None = None) -> dict[str, np.ndarray]:
    spec = model.arch.input
    trace = forward(load_image(image, (spec.height, spec.width), spec.fit), model, label)
    stages = trace.stages()
    stages.update(softmax_max=np.array(trace.max_logit), softmax_exp=trace.exp, softmax_sum=np.array(trace.exp_sum),
                  one_hot=trace.one_hot, loss_nll=np.array(trace.nll), loss_kl=np.array(trace.kl))
    return stages


def assert_cached_equal_engine(book: Book, stages: dict[str, np.ndarray]) -> None:
    for name, expected in stages.items():
        got = book.values(name).astype(float)
        assert_stage_matches(name, got.reshape(np.shape(expected)), expected, rtol=0, atol=0)


@pytest.mark.libreoffice
def test_builtin_templates_on_samples_match_the_engine_after_recalculation(
    soffice: str, tmp_path: Path
) -> None:
    images = SAMPLES or [picture(tmp_path / "picture.png")]
    jobs = []
    for name in list_templates():
        model = load_model(name)
        for i, image in enumerate(images):
            out = tmp_path / f"{name}-{image.stem}.xlsx"
            build_workbook(image, out, model=model, learn=i == 0)  # the learning layer once per template is enough
            jobs.append((model, image, out))
    recalcs = recalculated([out for _, _, out in jobs], tmp_path / "recalculated")
    checked = 0
    for (model, image, out), recalc in zip(jobs, recalcs, strict=True):
        book = Book.open(out)
        assert_cached_equal_engine(book, engine_stages(model, image))
        checked += assert_recalculated_equals_cached(book, recalc)
    assert checked > 10_000 * len(images)  # the default model alone has about 14,000 formulas per image


@st.composite
def small_models(draw: st.DrawFn) -> Model:
    while True:
        convs = [(draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(0, 2)),
                  draw(st.integers(1, 3)), draw(st.integers(1, 3))) for _ in range(draw(st.integers(1, 2)))]
        height, width = draw(st.integers(4, 12)), draw(st.integers(4, 12))
        try:
            check_shapes(make_arch(height, width, convs), "test")
        except ModelError:
            continue
        return make_model(height, width, convs, classes=draw(st.integers(2, 5)), seed=draw(st.integers(0, 999)))


@pytest.mark.libreoffice
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(small_models(), min_size=8, max_size=8))
def test_random_architectures_match_after_recalculation(soffice: str, tmp_path: Path, models: list[Model]) -> None:
    """Eight random architectures per example, recalculated in one LibreOffice run."""
    folder = tmp_path / f"random-{np.random.default_rng().integers(1 << 30)}"
    folder.mkdir()
    image = picture(folder / "picture.png", size=(20, 16))
    outs = []
    for i, model in enumerate(models):
        out = folder / f"model{i}.xlsx"
        build_workbook(image, out, model=model, label=model.classes[-1])
        outs.append(out)
    for model, out, recalc in zip(models, outs, recalculated(outs, folder / "recalculated"), strict=True):
        book = Book.open(out)
        assert_cached_equal_engine(book, engine_stages(model, image, model.classes[-1]))
        assert_recalculated_equals_cached(book, recalc)


@pytest.mark.libreoffice
def test_editing_a_weight_and_the_true_label_recomputes_probabilities_and_loss(soffice: str, tmp_path: Path) -> None:
    model = load_model("tiny")
    image = picture(tmp_path / "picture.png")
    out = tmp_path / "tiny.xlsx"
    build_workbook(image, out, model=model)
    before = Book.open(out)

    # The student's edits: filter 1's top-left red weight, and the true label.
    sheet, (col, row, _, _) = before.names["conv1_w1_1"]
    new_label = model.classes[2]
    edited = openpyxl.load_workbook(out)
    edited[sheet].cell(row, col).value = 2.5
    true_sheet, (tcol, trow, _, _) = before.names["true_label"]
    edited[true_sheet].cell(trow, tcol).value = new_label
    edited_path = tmp_path / "edited.xlsx"
    edited.save(edited_path)
    (recalc,) = recalculated([edited_path], tmp_path / "recalculated")

    w = [a.copy() for a in model.weights.conv_w]
    w[0][0, 0, 0, 0] = 2.5
    edited_model = Model(model.name, model.title, model.description, model.arch,
                         type(model.weights)(tuple(w), model.weights.conv_b, model.weights.dense_w,
                                             model.weights.dense_b), model.provenance)
    expected = engine_stages(edited_model, image, new_label)
    old = engine_stages(model, image)
    assert not np.allclose(expected["probs"], old["probs"])  # the edit matters
    for name in ("conv1_out1", "probs", "loss", "loss_nll", "loss_kl", "one_hot"):
        got = before.values(name, view=recalc).astype(float).reshape(np.shape(expected[name]))
        assert_stage_matches(name, got, expected[name])


def test_building_twice_gives_identical_files(tmp_path: Path) -> None:
    image = picture(tmp_path / "picture.png")
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    build_workbook(image, a)
    build_workbook(image, b)
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        assert za.namelist() == zb.namelist()
        for name in za.namelist():
            assert za.read(name) == zb.read(name), name
    assert a.read_bytes() == b.read_bytes()


def test_defined_names_follow_the_contract(tmp_path: Path) -> None:
    model = load_model("default")
    out = tmp_path / "default.xlsx"
    build_workbook(picture(tmp_path / "picture.png"), out, model=model)
    book = Book.open(out)
    shapes = {name: (r1 - r0 + 1, c1 - c0 + 1) for name, (_, (c0, r0, c1, r1)) in book.names.items()}
    # 28×28 → conv 1 without padding 26×26 → pool 13×13 → conv 2 with padding 13×13 → pool 6×6; 12·6·6 = 432.
    expected = {"input_r": (28, 28), "input_g": (28, 28), "input_b": (28, 28), "input_scale": (1, 1),
                "flatten": (432, 1), "dense_w": (432, 3), "dense_b": (1, 3), "labels": (1, 3),
                "logits": (1, 3), "probs": (1, 3), "true_label": (1, 1), "loss": (1, 1)}
    for k, (filters, channels, size, pooled) in enumerate([(6, 3, 26, 13), (12, 6, 13, 6)], start=1):
        expected.update({f"conv{k}_stride": (1, 1), f"conv{k}_pad": (1, 1), f"pool{k}_size": (1, 1),
                         f"pool{k}_stride": (1, 1)})
        for f in range(1, filters + 1):
            expected[f"conv{k}_b{f}"] = (1, 1)
            expected.update({f"{kind}{k}_out{f}": (size, size) for kind in ("conv", "relu")})
            expected[f"pool{k}_out{f}"] = (pooled, pooled)
            expected.update({f"conv{k}_w{f}_{c}": (3, 3) for c in range(1, channels + 1)})
    for name, shape in expected.items():
        assert shapes.get(name) == shape, name
    assert book.values("input_scale")[0, 0] == pytest.approx(1 / 255, rel=1e-15)
    assert book.values("conv1_stride")[0, 0] == 1 and book.values("conv2_pad")[0, 0] == 1
    assert book.values("conv1_pad")[0, 0] == 0  # conv 1 does not pad: no black frame around the picture
    assert list(book.values("labels")[0]) == ["circle", "square", "triangle"]


def test_conv_formula_points_at_27_pixels_and_27_weights(tmp_path: Path) -> None:
    out = tmp_path / "default.xlsx"
    build_workbook(picture(tmp_path / "picture.png"), out)
    book = Book.open(out)
    sheet, (col, row, _, _) = book.names["conv1_out1"]
    formula = book.formulas[sheet].cell(row, col).value
    # Conv 1 of the default does not pad: its top-left cell reads the top-left 3×3 pixels of each channel's
    # 28×28 grid (R from column B, G from AE, B from BH: 28 columns and a gap apart).
    assert formula == ("=(SUMPRODUCT(Input!B9:D11,'Filters 1'!$B$10:$D$12)+SUMPRODUCT(Input!AE9:AG11,"
                       "'Filters 1'!$F$10:$H$12)+SUMPRODUCT(Input!BH9:BJ11,'Filters 1'!$J$10:$L$12))"
                       "*Input!$F$6+'Filters 1'!$N$10")
    assert book.names["input_r"][1][:2] == (2, 9) and book.names["input_g"][1][:2] == (31, 9)
    assert book.names["input_b"][1][:2] == (60, 9)
    relu_sheet, (rc, rr, _, _) = book.names["relu1_out1"]
    assert book.formulas[relu_sheet].cell(rr, rc).value == "=MAX(0,'Conv 1'!B9)"


def test_padding_border_is_visible_zeros(tmp_path: Path) -> None:
    """On a model whose conv 1 pads (tiny), the zero border around each channel is visible, grey zeros."""
    model = load_model("tiny")
    assert model.arch.convs[0][0].padding == 1
    out = tmp_path / "tiny.xlsx"
    build_workbook(picture(tmp_path / "picture.png"), out, model=model)
    book = Book.open(out)
    for channel in ("input_r", "input_g", "input_b"):
        sheet, (c0, r0, c1, r1) = book.names[channel]
        ws = book.formulas[sheet]
        top = [ws.cell(r0 - 1, c).value for c in range(c0 - 1, c1 + 2)]
        bottom = [ws.cell(r1 + 1, c).value for c in range(c0 - 1, c1 + 2)]
        left = [ws.cell(r, c0 - 1).value for r in range(r0, r1 + 1)]
        right = [ws.cell(r, c1 + 1).value for r in range(r0, r1 + 1)]
        border = top + bottom + left + right
        assert border == [0] * len(border), channel
        assert ws.cell(r0 - 1, c0).fill.fgColor.rgb.endswith("D9D9D9")
        assert ws.cell(r1 + 1, c1 + 1).fill.fgColor.rgb.endswith("D9D9D9")


def test_without_padding_there_is_no_border(tmp_path: Path) -> None:
    """The default's conv 1 does not pad: nothing is drawn around the pixels (no zeros, no grey)."""
    model = load_model("default")
    assert model.arch.convs[0][0].padding == 0
    out = tmp_path / "default.xlsx"
    build_workbook(picture(tmp_path / "picture.png"), out, model=model)
    book = Book.open(out)
    sheet, (c0, r0, c1, r1) = book.names["input_r"]
    ws = book.formulas[sheet]
    above = [(r0 - 1, c) for c in range(c0 - 1, c1 + 2)]  # the grid's title row
    around = ([(r1 + 1, c) for c in range(c0 - 1, c1 + 2)]
              + [(r, c) for r in range(r0, r1 + 1) for c in (c0 - 1, c1 + 1)])
    assert [ws.cell(r, c).value for r, c in around] == [None] * len(around)
    assert 0 not in [ws.cell(r, c).value for r, c in above]
    assert not any(str(ws.cell(r, c).fill.fgColor.rgb).endswith("D9D9D9") for r, c in above + around)


@pytest.mark.parametrize("label", ['=1+1', '+SUM(A1)', '-2+3', '@cmd', '=HYPERLINK("http://x","y")'])
def test_class_labels_are_inert_text(tmp_path: Path, label: str) -> None:
    base = load_model("tiny")
    arch = base.arch
    classes = (label, *arch.classes[1:])
    model = Model("odd", "odd", "", type(arch)(arch.input, arch.convs, classes), base.weights, base.provenance)
    out = tmp_path / "odd.xlsx"
    build_workbook(picture(tmp_path / "picture.png"), out, model=model, label=label)
    book = Book.open(out)
    assert book.values("labels", view=book.formulas)[0, 0] == label  # a string, not a formula
    assert book.values("true_label", view=book.formulas)[0, 0] == label
    with zipfile.ZipFile(out) as z:
        sheets = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
    assert not any("<f>1+1</f>" in s or "<f>HYPERLINK" in s or "<f>SUM(A1)" in s for s in sheets)


def test_library_and_cli_agree(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from xlcnn.cli import cli

    image = picture(tmp_path / "picture.png")
    result = CliRunner().invoke(cli, ["build", str(image), "-o", str(tmp_path / "cli.xlsx"), "--model", "tiny"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {tmp_path / 'cli.xlsx'}: ")
    build_workbook(image, tmp_path / "lib.xlsx", model="tiny")
    assert (tmp_path / "cli.xlsx").read_bytes() == (tmp_path / "lib.xlsx").read_bytes()


def test_fast_formula_sheet_writes_exactly_what_xlsxwriter_writes(tmp_path: Path) -> None:
    """FormulaSheet skips XlsxWriter's future-function rewriting and writes formula cells itself, and Book zips
    the parts itself, on worker threads as XlsxWriter finishes each; the files must not differ at all from stock
    XlsxWriter's (the learning layer included: its formulas compare with >, which XML escapes)."""
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

    from xlcnn.book.build import plan_for, thumbnail, write_book
    from xlcnn.book.stages.saliency import overlay_png

    class StockSheet(Worksheet):  # type: ignore[misc]
        def write_formula_row(self, row: int, col: int, formulas: list[str], fmt: Any, values: list[float]) -> None:
            for i, (formula, value) in enumerate(zip(formulas, values, strict=True)):
                self.write_formula(row, col + i, formula, fmt, value)  # XlsxWriter's own, cell by cell

    from xlcnn.book.sheet import ImageInfo
    from xlcnn.book.texts import load_texts

    image = picture(tmp_path / "picture.png")
    fast = tmp_path / "fast.xlsx"
    result = build_workbook(image, fast)
    stock = tmp_path / "stock.xlsx"
    model, trace = result.model, result.trace
    layout = plan_for(model)
    fitted = trace.input.transpose(1, 2, 0).astype(np.uint8)
    info = ImageInfo(image.name, (64, 48), "crop", thumbnail(fitted), overlay_png(fitted))
    write_book(stock, layout, model, trace, load_texts("en"), info, result.worked, worksheet_class=StockSheet,
               learning=result.learning, workbook_class=Workbook)
    assert fast.read_bytes() == stock.read_bytes()
    assert result.formulas == len(Book.open(fast).formula_cells())


def test_book_deflates_a_part_again_when_it_grew_after_its_deflating_began(tmp_path: Path) -> None:
    """A part handed to the workers before XlsxWriter finished it would be stored cut short; the deflater sees
    the size changed and deflates it again, so what is stored is always the whole part."""
    import zlib

    from xlcnn.book.package import DEFLATED_SUFFIX, _Deflater

    part = tmp_path / "part.xml"
    part.write_bytes(b"<a>" + b"0.123456789 " * 50_000)
    deflater = _Deflater()
    try:
        deflater.start(str(part))
        deflater.jobs[str(part)].result()
        with part.open("ab") as fh:
            fh.write(b"</a>")
        stored = Path(deflater.deflated(str(part))).read_bytes()
    finally:
        deflater.close()
    assert zlib.decompress(stored, -15) == part.read_bytes()
    assert not list(tmp_path.glob(f"*{DEFLATED_SUFFIX}"))


def test_book_leaves_nothing_behind_when_storing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while the parts are stored (a full disk) is XlsxWriter's FileCreateError, and the workers'
    deflated parts are removed with the workers stopped."""
    from xlsxwriter.exceptions import FileCreateError

    import xlcnn.book.package as package

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    stored: list[str] = []

    def full_disk(book: Any, source: str, name: str, deflated: str) -> None:
        stored.append(name)
        if len(stored) == 3:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(package, "_store", full_disk)
    book = package.Book(str(tmp_path / "x.xlsx"), {"tmpdir": str(scratch)})
    for i in range(3):
        book.add_worksheet().write_formula(0, 0, f"=1+{i}", None, 1 + i)
    with pytest.raises(FileCreateError, match="No space left on device"):
        book.close()
    assert len(stored) == 3
    assert not list(scratch.glob(f"*{package.DEFLATED_SUFFIX}"))


def test_worked_example_choice_is_checked(tmp_path: Path) -> None:
    from xlcnn.errors import OptionError

    with pytest.raises(OptionError, match=r"^worked 7,1,1: the map must be from 1 to 6, not 7$"):
        build_workbook(picture(tmp_path / "picture.png"), tmp_path / "x.xlsx", worked=(7, 1, 1))
    assert not (tmp_path / "x.xlsx").exists()


@pytest.mark.libreoffice
def test_a_probability_that_underflows_gives_an_error_loss_everywhere(soffice: str, tmp_path: Path) -> None:
    """−ln 0: the engine says inf, the cells cache an error value, and LibreOffice agrees it is an error."""
    from xlcnn import verify_workbook
    from xlcnn.model.spec import Weights

    base = load_model("tiny")
    w = base.weights
    bias = w.dense_b.copy()
    bias[0] = 2000.0  # class 0's logit dwarfs the others: p of every other class is exactly 0.0
    model = Model(base.name, base.title, "", base.arch, Weights(w.conv_w, w.conv_b, w.dense_w, bias),
                  base.provenance)
    out = tmp_path / "underflow.xlsx"
    result = build_workbook(picture(tmp_path / "picture.png"), out, model=model, label=model.classes[1])
    assert result.trace.loss == float("inf")
    book = Book.open(out)
    assert book.values("loss")[0, 0] == "#NUM!"
    report = verify_workbook(out)
    assert report.ok, report.summary()


ALLOWED_FUNCTIONS = {"SUMPRODUCT", "SUM", "MAX", "MIN", "ABS", "EXP", "LN", "INDEX", "MATCH", "IF", "AND", "OR", "INT"}


# Architectures that take every path of the emitters: strides, paddings wider than the kernel, overlapping and
# gapped pools, one and two blocks, one filter (single-cell lookups).
ODD_ARCHITECTURES = [
    ("tiny", {"size": 13, "filters": 1, "kernel": 4, "stride": 3, "padding": 3, "pool": 1}),
    ("default", {"size": (20, 30), "filters": (3, 5), "kernel": (5, 2), "stride": (2, 1), "padding": (2, 0)}),
    ("default", {"size": 17, "pool": (3, 1), "kernel": 1, "padding": 0}),
]


def assert_only_our_functions(out: Path) -> None:
    """The function subset of docs/architecture.md (``xlcnn.book.sheet.OUR_FUNCTIONS``, which FormulaSheet trusts
    the emitters to keep to), no array formulas, MATCH always exact, and the spreadsheets' length limit."""
    import re

    with zipfile.ZipFile(out) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
    formulas = [html.unescape(f) for f in re.findall(r"<f>(.*?)</f>", xml)]
    assert formulas and "t=\"array\"" not in xml
    assert max(map(len, formulas)) <= 8192
    text = [re.sub(r'"[^"]*"', '""', f) for f in formulas]  # string literals are not calls
    used = {m for f in text for m in re.findall(r"([A-Za-z_][A-Za-z0-9_.]*)\(", f)}
    assert used <= ALLOWED_FUNCTIONS, used - ALLOWED_FUNCTIONS
    assert all(f.count("MATCH(") == f.count(",0)") for f in text if "MATCH(" in f)


@pytest.mark.parametrize(("model", "options"), ODD_ARCHITECTURES)
def test_odd_architectures_use_only_functions_every_spreadsheet_has(tmp_path: Path, model: str,
                                                                     options: dict[str, Any]) -> None:
    out = tmp_path / "odd.xlsx"
    build_workbook(picture(tmp_path / "picture.png"), out, model=modify_model(load_model(model), **options))
    assert_only_our_functions(out)


def test_formulas_use_only_functions_every_spreadsheet_has(tmp_path: Path) -> None:
    for name in list_templates():
        out = tmp_path / f"{name}.xlsx"
        build_workbook(picture(tmp_path / "picture.png"), out, model=name)
        assert_only_our_functions(out)


def test_a_model_made_in_code_is_checked_like_a_template(tmp_path: Path) -> None:
    """Labels MATCH would misread and shapes that cannot fit are refused before anything is written."""
    base = load_model("tiny")
    arch = base.arch
    for classes, message in [(("ab", "a*", "c"), "wildcards"), (("Cat", "cat", "dog"), "duplicate class")]:
        model = Model("odd", "odd", "", type(arch)(arch.input, arch.convs, classes), base.weights, base.provenance)
        with pytest.raises(ModelError, match=message):
            build_workbook(picture(tmp_path / "picture.png"), tmp_path / "odd.xlsx", model=model)
    small = make_model(4, 4, [(1, 3, 1, 1, 2, 2)])
    wide = type(small.arch)(small.arch.input, ((type(small.arch.convs[0][0])(1, 7, 1, 0), small.arch.convs[0][1]),),
                            small.arch.classes)
    with pytest.raises(ModelError, match="kernel does not fit"):
        build_workbook(picture(tmp_path / "picture.png"), tmp_path / "odd.xlsx",
                       model=Model("w", "w", "", wide, small.weights, small.provenance))
    assert not (tmp_path / "odd.xlsx").exists()


def test_a_file_name_too_long_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from xlcnn.cli import cli

    out = tmp_path / ("a" * 300 + ".xlsx")
    result = CliRunner().invoke(cli, ["build", str(picture(tmp_path / "p.png")), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == f"Error: {out}: File name too long"


@pytest.mark.libreoffice
@pytest.mark.parametrize(("option", "lang"), [("--pdf", "en"), ("--pdf-all", "en"), ("--pdf", "zh")])
def test_pdf_handout_prints_every_stage_of_tiny_on_its_own_page(soffice: str, tmp_path: Path, option: str,
                                                                lang: str) -> None:
    """Every sheet of the handout (the learning layer's too with --pdf-all) on a page of its own, found by the
    sheet name each page's header shows; in Chinese, the learning layer's Chinese-named sheets are left out."""
    import subprocess
    from collections import Counter

    from click.testing import CliRunner

    from xlcnn.book.build import learning_sheets
    from xlcnn.cli import cli

    out = tmp_path / "tiny.xlsx"
    result = CliRunner().invoke(cli, ["build", str(picture(tmp_path / "p.png")), "-o", str(out), "--model", "tiny",
                                      option, "--lang", lang])
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "tiny.pdf"
    assert result.output.splitlines()[-1] == f"Wrote {pdf}: the printed handout."
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = Counter(page.strip().split("  ")[0] for page in text.split("\f") if page.strip())
    sheets = Book.open(out).formulas.sheetnames
    left_out = set(learning_sheets(load_model("tiny"), lang)) if option == "--pdf" else set()
    assert set(pages) == set(sheets) - left_out and left_out < set(sheets)
    assert ("反向 输入" in sheets) is (lang == "zh")
    # One page per sheet, but the Guide (pages of text): each stage fits on one page.
    assert {name for name, n in pages.items() if n > 1} == {sheets[0]}  # the Guide
