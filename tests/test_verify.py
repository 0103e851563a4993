"""``xlcnn verify``: a fresh workbook verifies; an edited but consistent one verifies with its new prediction;
tampered formulas and faked cached values are caught at exactly their cell; bad input gets one line.

LibreOffice runs are the slow part (a few seconds each), so tampered copies are recalculated together in
one run and checked with ``verify_workbook(..., recalculated=...)``.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner, Result
from factories import make_model
from PIL import Image
from workbooks import name_cell, qualified, sheet_part

from xlcnn import build_workbook, forward, load_image, load_model, verify_workbook
from xlcnn.check.gnumeric import INSTALL_HINT as GNUMERIC_HINT
from xlcnn.check.libreoffice import INSTALL_HINT, recalculate
from xlcnn.check.verify import format_report
from xlcnn.cli import cli
from xlcnn.model.spec import Model, Weights


def picture(path: Path, seed: int = 0) -> Path:
    """A noisy picture with a bright diagonal, so that the tiny model's maps hold both signs."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)
    for i in range(24):
        img[i, i] = (250, 240, 230)
    Image.fromarray(img).save(path)
    return path


def tiny_model() -> Model:
    """The tiny template with non-zero biases, so that a formula that drops its bias computes a wrong value."""
    model = load_model("tiny")
    rng = np.random.default_rng(7)
    w = model.weights
    weights = Weights(w.conv_w, tuple(rng.normal(0, 0.5, b.shape) for b in w.conv_b), w.dense_w,
                      rng.normal(0, 0.5, w.dense_b.shape))
    return Model(model.name, model.title, model.description, model.arch, weights, model.provenance)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh workbook of the tiny model (6×6 input, 2 filters); tests copy it before changing it."""
    folder = tmp_path_factory.mktemp("tiny")
    out = folder / "tiny.xlsx"
    build_workbook(picture(folder / "picture.png"), out, model=tiny_model())
    return out


def copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


# ---------------------------------------------------------------------------------------------- helpers




def name_ref(path: Path, name: str) -> str:
    """``'Sheet'!A1:B2``: where defined name ``name`` points, as verify's messages write it."""
    wb = openpyxl.load_workbook(path, read_only=True)
    ((sheet, ref),) = list(wb.defined_names[name].destinations)
    wb.close()
    return qualified(sheet, ref.replace("$", ""))


def grid_values(path: Path, name: str) -> np.ndarray:
    wb = openpyxl.load_workbook(path)
    ((sheet, ref),) = list(wb.defined_names[name].destinations)
    return np.array([[cell.value for cell in row] for row in wb[sheet][ref.replace("$", "")]], dtype=float)






def cell_xml(path: Path, sheet: str, ref: str) -> re.Match[str]:
    """The XML of one cell; group 2 is its inner XML (``<f>…</f><v>…</v>``)."""
    with zipfile.ZipFile(path) as z:
        text = z.read(sheet_part(path, sheet)).decode()
    match = re.search(rf'(<c r="{ref}"[^>]*>)(.*?)(</c>)', text)
    assert match, f"{sheet}!{ref} not found"
    return match


def edit_xml(src: Path, dst: Path, sheet: str, ref: str, change: Callable[[str], str]) -> str:
    """Copy ``src`` to ``dst``, rewriting the inner XML of one cell inside the zip; → the inner XML before.

    Editing the XML, rather than saving with openpyxl, keeps every other cell's cached value, just as a
    spreadsheet app would.
    """
    part, match = sheet_part(src, sheet), cell_xml(src, sheet, ref)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == part:
                text = data.decode()
                data = (text[: match.start(2)] + change(match.group(2)) + text[match.end(2):]).encode()
            zout.writestr(item, data)
    return match.group(2)


def formula_of(inner: str) -> str:
    return re.search(r"<f>(.*?)</f>", inner).group(1)  # type: ignore[union-attr]


def cached_of(inner: str) -> float:
    return float(re.search(r"<v>(.*?)</v>", inner).group(1))  # type: ignore[union-attr]


def edited_model(model: Model, w1: float) -> Model:
    """``model`` with conv 1's first weight (filter 1, red, top-left) set to ``w1``."""
    conv_w = [w.copy() for w in model.weights.conv_w]
    conv_w[0][0, 0, 0, 0] = w1
    weights = Weights(tuple(conv_w), model.weights.conv_b, model.weights.dense_w, model.weights.dense_b)
    return Model(model.name, model.title, model.description, model.arch, weights, model.provenance)


# ------------------------------------------------------------------------------------- workbooks that pass


@pytest.mark.libreoffice
def test_build_with_verify_checks_a_fresh_workbook(soffice: str, tmp_path: Path) -> None:
    out = tmp_path / "fresh.xlsx"
    result = run("build", str(picture(tmp_path / "picture.png")), "-o", str(out), "--model", "tiny", "--verify")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"Wrote {out}: ")
    assert re.fullmatch(r"One step of gradient descent \(learning rate 0\.003\): loss [\d.]+ → [\d.]+\.", lines[1])
    assert lines[2].startswith(f"Checked {out} against the NumPy engine (recalculated by LibreOffice in ")
    assert re.match(r"stage +cells +max abs diff +max rel diff +verdict$", lines[4])
    table = {line.split("  ")[0]: line.split()[-1] for line in lines[5:] if line and "  " in line}
    for stage in ("Conv 1", "ReLU 1", "Pool 1", "Flatten", "Dense", "Softmax", "Loss", "Back dense", "Back pool 1",
                  "Back ReLU 1", "Back conv 1", "Back filters 1", "Back input", "Step", "Step conv 1", "Step pool 1",
                  "Step dense", "Why this class", "Saliency", "Grad-CAM", "Guide", "all stages"):
        assert table[stage] == "ok", stage
    assert "Cached values (what Protected View and previews show): all " in result.output
    assert re.search(r"^All [\d,]+ formula cells match the NumPy engine\.$", result.output, re.M)


@pytest.mark.libreoffice
def test_default_workbook_verifies_as_json(soffice: str, tmp_path: Path) -> None:
    image = picture(tmp_path / "picture.png")
    out = tmp_path / "default.xlsx"
    build_workbook(image, out)
    result = run("verify", str(out), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["formulas_ok"] and report["cache"]["verdict"] == "ok"
    assert report["cells_checked"] > 14_000 and report["cells_bad"] == 0
    stages = {s["stage"]: s for s in report["stages"]}
    assert stages["Conv 1"]["cells"] == 6 * 26 * 26 and stages["Conv 2"]["cells"] == 12 * 13 * 13
    assert all(s["verdict"] == "ok" for s in report["stages"])
    model = load_model("default")
    trace = forward(load_image(image, (28, 28)), model)
    assert report["prediction"]["label"] == trace.predicted_label
    assert report["loss"] == pytest.approx(trace.loss, rel=1e-12)
    print(f"\nxlcnn verify on the default workbook: {report['seconds']:.2f} s "
          f"(LibreOffice {report['recalc_seconds']:.2f} s)")


@pytest.mark.libreoffice
def test_edited_but_consistent_workbook_verifies_with_the_new_prediction(soffice: str, tiny: Path,
                                                                        tmp_path: Path) -> None:
    # A student's edits, saved by openpyxl (which drops every cached value): a weight, a pixel, the label.
    model = tiny_model()
    wb = openpyxl.load_workbook(tiny)
    weight, pixel, label = name_cell(tiny, "conv1_w1_1"), name_cell(tiny, "input_r"), name_cell(tiny, "true_label")
    wb[weight[0]][weight[1]].value = 25.0
    wb[pixel[0]][pixel[1]].value = 0
    wb[label[0]][label[1]].value = model.classes[0]
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    # Saved again by LibreOffice, as a student's spreadsheet app would: the values are cached again.
    (resaved,) = recalculate([edited], tmp_path / "resaved")

    result = run("verify", str(resaved), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    pixels = np.stack([grid_values(tiny, name) for name in ("input_r", "input_g", "input_b")], axis=-1)
    pixels[0, 0, 0] = 0
    before = forward(pixels, model, model.classes[0])
    after = forward(pixels, edited_model(model, 25.0), model.classes[0])
    assert not np.allclose(before.probs, after.probs)  # the edit matters
    assert report["prediction"]["label"] == after.predicted_label
    assert report["prediction"]["probability"] == pytest.approx(float(after.probs.max()), rel=1e-12)
    assert report["true_label"] == model.classes[0]
    assert report["loss"] == pytest.approx(after.loss, rel=1e-12)

    # The openpyxl-saved file itself computes the same, but holds no cached values: named, not passed.
    missing = verify_workbook(edited, recalculated=resaved)
    assert missing.formulas_ok and not missing.ok
    assert missing.cache.verdict == "MISSING" and missing.cache.missing == missing.cache.cells == missing.cells
    assert "no values at all: the file was saved by a program that stores none" in format_report(missing)
    assert verify_workbook(edited, recalculated=resaved, check_cache=False).ok


@pytest.mark.libreoffice
def test_any_architecture_is_read_back_from_the_names(soffice: str, tmp_path: Path) -> None:
    """Strides, paddings, 1×1 and 5×5 kernels, one filter, two blocks, with and without an input scale."""
    shapes = [(9, 7, [(1, 1, 1, 0, 2, 2)], 1.0), (12, 10, [(3, 3, 2, 2, 2, 1), (2, 2, 1, 1, 1, 1)], 1 / 255),
              (8, 11, [(4, 5, 3, 2, 1, 2)], 0.5), (10, 10, [(2, 3, 1, 1, 2, 2), (3, 3, 1, 1, 2, 2)], 1 / 255)]
    image = picture(tmp_path / "picture.png")
    jobs = []
    for i, (height, width, convs, scale) in enumerate(shapes):
        model = make_model(height, width, convs, classes=2 + i, seed=i, scale=scale)
        out = tmp_path / f"model{i}.xlsx"
        result = build_workbook(image, out, model=model, label=model.classes[-1])
        jobs.append((out, result.trace))
    for (out, trace), recalc in zip(jobs, recalculate([out for out, _ in jobs], tmp_path / "recalculated"),
                                    strict=True):
        report = verify_workbook(out, recalculated=recalc)
        assert report.ok, report.summary()
        assert (report.predicted, report.true_label) == (trace.predicted_label, trace.true_label)
        assert report.loss == pytest.approx(trace.loss, rel=1e-12)


# ---------------------------------------------------------------------------------------- tampered workbooks


@pytest.mark.libreoffice
def test_tampered_workbooks_are_caught_at_exactly_the_tampered_cell(soffice: str, tiny: Path, tmp_path: Path) -> None:
    # 1. One conv cell's bias reference removed.
    conv = name_cell(tiny, "conv1_out1", 2, 3)
    no_bias = tmp_path / "no-bias.xlsx"
    conv_xml = edit_xml(tiny, no_bias, *conv, lambda x: re.sub(r"\+'Filters 1'!\$N\$10</f>", "</f>", x))
    assert formula_of(conv_xml).endswith("+'Filters 1'!$N$10") and tiny_model().weights.conv_b[0][0] != 0

    # 2. A ReLU turned into =<conv cell> where the conv value is negative, so that ReLU's 0 goes negative.
    r, c = next((r, c) for r in range(6) for c in range(6)
                if cached_of(cell_xml(tiny, *name_cell(tiny, "conv1_out1", r, c)).group(2)) < 0)
    relu = name_cell(tiny, "relu1_out1", r, c)
    relu_edit = tmp_path / "relu.xlsx"
    relu_xml = edit_xml(tiny, relu_edit, *relu, lambda x: re.sub(r"<f>MAX\(0,(.*?)\)</f>", r"<f>\1</f>", x))
    assert formula_of(relu_xml) == f"MAX(0,'Conv 1'!{name_cell(tiny, 'conv1_out1', r, c)[1]})"

    # 3. A constant pasted over a formula: the pool cell keeps its (right) value, but is no longer live.
    pool = name_cell(tiny, "pool1_out2", 1, 1)
    pasted = tmp_path / "pasted.xlsx"
    pool_xml = edit_xml(tiny, pasted, *pool, lambda x: re.sub(r"<f>.*?</f>", "", x))

    # 4. A faked cached value, and 5. a missing one: the formulas are right, the values stored for
    # Protected View and previews are not.
    prob, loss = name_cell(tiny, "probs", 0, 1), name_cell(tiny, "loss")
    faked, uncached = tmp_path / "faked.xlsx", tmp_path / "uncached.xlsx"
    prob_xml = edit_xml(tiny, faked, *prob, lambda x: re.sub(r"<v>.*?</v>", "<v>0.5</v>", x))
    loss_xml = edit_xml(tiny, uncached, *loss, lambda x: re.sub(r"<v>.*?</v>", "", x))

    # 6. A formula replaced by another that gives the same value (a ReLU cell that is 0 becomes =0).
    same_value = tmp_path / "same-value.xlsx"
    edit_xml(tiny, same_value, *relu, lambda x: re.sub(r"<f>MAX\(0,(.*?)\)</f>", r"<f>0</f>", x))

    paths = [no_bias, relu_edit, pasted, faked, uncached, same_value]
    recalculated = dict(zip(paths, recalculate(paths, tmp_path / "recalculated"), strict=True))

    report = verify_workbook(no_bias, recalculated=recalculated[no_bias])
    assert not report.ok and report.cache.ok  # the cached values are the right ones; the formula is not
    first = report.first_bad[0]
    assert (first.cell, first.problem) == (qualified(*conv), "formula changed")
    without_bias = formula_of(conv_xml)[: -len("+'Filters 1'!$N$10")]
    assert first.expected == "=" + formula_of(conv_xml) and first.got == "=" + without_bias
    assert {s.stage: s.verdict for s in report.stages}["Conv 1"] == "MISMATCH"

    report = verify_workbook(relu_edit, recalculated=recalculated[relu_edit])
    first = report.first_bad[0]
    assert (first.cell, first.problem) == (qualified(*relu), "formula changed")
    assert first.got == f"='Conv 1'!{name_cell(tiny, 'conv1_out1', r, c)[1]}"

    report = verify_workbook(same_value, recalculated=recalculated[same_value])
    assert [(b.cell, b.problem, b.got) for b in report.first_bad] == [(qualified(*relu), "formula changed", "=0")]
    assert report.summary() == (f"{same_value}: 1 of {report.cells:,} formula cells do not match the NumPy engine "
                                f"(first: {qualified(*relu)}: holds =0 where xlcnn writes ={formula_of(relu_xml)})")

    report = verify_workbook(pasted, recalculated=recalculated[pasted])
    assert [(b.cell, b.problem) for b in report.first_bad] == [(qualified(*pool), "not a formula")]
    assert report.bad == 1 and report.first_bad[0].got == pytest.approx(cached_of(pool_xml), rel=1e-15)

    report = verify_workbook(faked, recalculated=recalculated[faked])
    assert report.formulas_ok and not report.ok
    assert (report.cache.verdict, report.cache.stale, report.cache.missing) == ("STALE", 1, 0)
    stale = report.cache.first[0]
    assert (stale.cell, stale.problem, stale.got) == (qualified(*prob), "stale", 0.5)
    assert stale.expected == pytest.approx(cached_of(prob_xml), rel=1e-12)
    assert report.summary() == (f"{faked}: cached values: 1 stale, 0 missing (first: {qualified(*prob)}: "
                                f"expected {stale.expected!r}, cached 0.5)")

    report = verify_workbook(uncached, recalculated=recalculated[uncached])
    assert report.formulas_ok and (report.cache.verdict, report.cache.stale, report.cache.missing) == ("MISSING", 0, 1)
    missing = report.cache.first[0]
    assert (missing.cell, missing.problem, missing.got) == (qualified(*loss), "missing", None)
    assert missing.expected == pytest.approx(cached_of(loss_xml), rel=1e-12)


@pytest.mark.libreoffice
def test_cli_names_the_first_bad_cell_and_exits_1(soffice: str, tiny: Path, tmp_path: Path) -> None:
    relu_sheet, relu_ref = name_cell(tiny, "relu1_out1", 0, 0)
    broken = tmp_path / "broken.xlsx"
    edit_xml(tiny, broken, relu_sheet, relu_ref, lambda x: re.sub(r"<f>.*?</f>", "<f>-1000</f>", x))
    result = run("verify", str(broken))
    assert result.exit_code == 1
    cell = qualified(relu_sheet, relu_ref)
    assert re.search(r"^ReLU 1 +72 +.* MISMATCH$", result.output, re.M)
    assert re.search(rf"^[\d,]+ of [\d,]+ formula cells do not match the NumPy engine\. First:\n  {re.escape(cell)}: "
                     rf"holds =-1000 where xlcnn writes =MAX\(0,", result.output, re.M)
    last = result.output.splitlines()[-1]
    assert last.startswith(f"Error: {broken}: ") and f"(first: {cell}: holds =-1000 where xlcnn writes " in last
    assert "Traceback" not in result.output


@pytest.mark.gnumeric
def test_gnumeric_catches_a_tampered_formula_at_its_cell(ssconvert: str, tiny: Path, tmp_path: Path) -> None:
    conv = name_cell(tiny, "conv1_out1", 2, 3)
    no_bias = tmp_path / "no-bias.xlsx"
    edit_xml(tiny, no_bias, *conv, lambda x: re.sub(r"\+'Filters 1'!\$N\$10</f>", "</f>", x))
    result = run("verify", str(no_bias), "--engine", "gnumeric")
    assert result.exit_code == 1
    assert result.output.startswith(f"Checked {no_bias} against the NumPy engine (recalculated by Gnumeric in ")
    assert re.search(r"^Conv 1 +72 +.* MISMATCH$", result.output, re.M)
    last = result.output.splitlines()[-1]
    assert last.startswith(f"Error: {no_bias}: 1 of ") and f"(first: {qualified(*conv)}: holds =" in last

    fresh = run("verify", str(tiny), "--engine", "gnumeric", "--json")
    assert fresh.exit_code == 0, fresh.output
    report = json.loads(fresh.stdout)
    assert report["ok"] and report["engine"] == "Gnumeric" and report["cells_checked"] > 200


# ---------------------------------------------------------------------------------------------- bad input


def openpyxl_edit(src: Path, dst: Path, change: Callable[[openpyxl.Workbook], None]) -> Path:
    wb = openpyxl.load_workbook(src)
    change(wb)
    wb.save(dst)
    return dst


def set_cell(path: Path, name: str, value: object, r: int = 0, c: int = 0) -> Callable[[openpyxl.Workbook], None]:
    sheet, ref = name_cell(path, name, r, c)

    def change(wb: openpyxl.Workbook) -> None:
        wb[sheet][ref].value = value

    return change


def assert_error(result: Result, message: str) -> None:
    assert result.exit_code == 1
    assert result.output == f"Error: {message}\n"


def test_bad_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a workbook\n")
    png = picture(tmp_path / "photo.png")
    renamed = copy(png, tmp_path / "photo.xlsx")
    plain = tmp_path / "plain.xlsx"
    openpyxl.Workbook().save(plain)
    archive = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(text, "notes.txt")
    cases = [
        (tmp_path / "missing.xlsx", f"{tmp_path / 'missing.xlsx'}: no such file"),
        (tmp_path, f"{tmp_path}: is a directory, not a workbook"),
        (text, f"{text}: not an .xlsx workbook (not a zip archive)"),
        (png, f"{png}: not an .xlsx workbook (it is a PNG image)"),
        (renamed, f"{renamed}: not an .xlsx workbook (it is a PNG image)"),
        (archive, f"{archive}: not a valid .xlsx workbook (There is no item named '[Content_Types].xml' in the "
                  "archive)"),
        (plain, f"{plain}: not an xlcnn workbook (missing the defined name input_r)"),
    ]
    for path, message in cases:
        assert_error(run("verify", str(path)), message)


def test_bad_workbooks_name_the_cell_or_name_at_fault(tiny: Path, tmp_path: Path) -> None:
    def without(name: str) -> Callable[[openpyxl.Workbook], None]:
        def change(wb: openpyxl.Workbook) -> None:
            del wb.defined_names[name]
        return change

    def pointing(name: str, text: str) -> Callable[[openpyxl.Workbook], None]:
        def change(wb: openpyxl.Workbook) -> None:
            wb.defined_names[name].attr_text = text
        return change

    weight, pixel = name_cell(tiny, "conv1_w2_3", 1, 2), name_cell(tiny, "input_g", 4, 5)
    stride, pad = name_cell(tiny, "conv1_stride"), name_cell(tiny, "conv1_pad")
    label = name_cell(tiny, "true_label")
    cases = [
        ("no-bias-name", without("conv1_b2"), "not an xlcnn workbook (missing the defined name conv1_b2)"),
        ("no-probs-name", without("probs"), "not an xlcnn workbook (missing the defined name probs)"),
        ("short-dense", pointing("dense_w", "Dense!$C$13:$D$30"),
         "dense_w is Dense!C13:D30 (18×2), but it must be 18×3 (18 flattened values × 3 classes)"),
        ("short-input", pointing("input_b", "Input!$B$9:$G$13"),
         f"input_b is Input!B9:G13 (5×6), but it must be 6×6 (the same size as input_r, {name_ref(tiny, 'input_r')})"),
        ("moved-map", pointing("conv1_out2", "'Conv 1'!$B$40:$G$45"),
         f"conv1_out2 is 'Conv 1'!B40:G45, but xlcnn puts it at {name_ref(tiny, 'conv1_out2')} for this network: "
         "rows, columns or cells were moved, so verify cannot tell which cell is which"),
        ("text-weight", set_cell(tiny, "conv1_w2_3", "0.5", 1, 2),
         f"{qualified(*weight)} (conv1_w2_3) holds the text '0.5' where a number belongs"),
        ("blank-pixel", set_cell(tiny, "input_g", None, 4, 5),
         f"{qualified(*pixel)} (input_g) is blank where a number belongs"),
        ("formula-pixel", set_cell(tiny, "input_g", "=2*100", 4, 5),
         f"{qualified(*pixel)} (input_g) holds a formula; xlcnn reads pixels, weights, labels and settings as "
         "plain values, so type the value itself"),
        ("stride", set_cell(tiny, "conv1_stride", 2),
         f"{qualified(*stride)} (conv1_stride) = 2 and {qualified(*pad)} (conv1_pad) = 1 make conv1_out1 3×3, but "
         "the workbook's conv1_out1 is 6×6: a stride, padding or pool setting was edited, and the maps cannot "
         "follow it; rebuild the workbook with xlcnn build to change it"),
        ("half-stride", set_cell(tiny, "conv1_stride", 1.5),
         f"{qualified(*stride)} (conv1_stride) is 1.5, but it must be a whole number ≥ 1"),
        ("label", set_cell(tiny, "true_label", "cat"),
         f"{qualified(*label)} (true_label) is 'cat', which is not exactly one of the classes "
         f"({', '.join(tiny_model().classes)}); pick it from the cell's dropdown"),
    ]
    for stem, change, message in cases:
        path = openpyxl_edit(tiny, tmp_path / f"{stem}.xlsx", change)
        assert_error(run("verify", str(path)), f"{path}: {message}")


def test_libreoffice_missing_says_how_to_install_it(tiny: Path, tmp_path: Path) -> None:
    nowhere = tmp_path / "no-soffice"
    assert_error(run("verify", str(tiny), env={"XLCNN_SOFFICE": str(nowhere)}),
                 f"XLCNN_SOFFICE={nowhere}: no such program; {INSTALL_HINT}")
    if not Path("/Applications/LibreOffice.app").exists():  # find_soffice looks there too, PATH or not
        assert_error(run("verify", str(tiny), env={"XLCNN_SOFFICE": None, "PATH": str(tmp_path)}),
                     f"LibreOffice is not installed (no soffice program found); {INSTALL_HINT}")


def fake_soffice(tmp_path: Path, body: str) -> str:
    script = tmp_path / "soffice"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_libreoffice_hanging_is_stopped_at_the_time_limit(tiny: Path, tmp_path: Path) -> None:
    result = run("verify", str(tiny), "--timeout", "2", env={"XLCNN_SOFFICE": fake_soffice(tmp_path, "sleep 60")})
    assert_error(result, f"{tiny}: LibreOffice did not finish within 2 s and was stopped")


def test_gnumeric_missing_hanging_or_failing_is_one_line(tiny: Path, tmp_path: Path) -> None:
    nowhere = tmp_path / "no-ssconvert"
    assert_error(run("verify", str(tiny), "--engine", "gnumeric", env={"XLCNN_SSCONVERT": str(nowhere)}),
                 f"XLCNN_SSCONVERT={nowhere}: no such program; {GNUMERIC_HINT}")
    assert_error(run("verify", str(tiny), "--engine", "gnumeric", env={"XLCNN_SSCONVERT": None,
                                                                        "PATH": str(tmp_path)}),
                 f"Gnumeric is not installed (no ssconvert program found); {GNUMERIC_HINT}")
    hanging = fake_soffice(tmp_path, "sleep 60")
    assert_error(run("verify", str(tiny), "--engine", "gnumeric", "--timeout", "2",
                     env={"XLCNN_SSCONVERT": hanging}),
                 f"{tiny}: Gnumeric did not finish within 2 s and was stopped")
    failing = fake_soffice(tmp_path, "echo 'unsupported file' >&2; exit 2")
    result = run("verify", str(tiny), "--engine", "gnumeric", env={"XLCNN_SSCONVERT": failing})
    assert result.exit_code == 1
    expected = rf"Error: {re.escape(str(tiny))}: Gnumeric failed after \d+\.\d s \(unsupported file\)\n"
    assert re.fullmatch(expected, result.output)
    result = run("verify", str(tiny), "--engine", "excel")
    assert result.exit_code == 2 and "Invalid value for '--engine'" in result.output


def test_libreoffice_failing_is_reported(tiny: Path, tmp_path: Path) -> None:
    soffice = fake_soffice(tmp_path, "echo 'cannot open display' >&2; exit 3")
    result = run("verify", str(tiny), env={"XLCNN_SOFFICE": soffice})
    assert result.exit_code == 1
    expected = rf"Error: {re.escape(str(tiny))}: LibreOffice failed after \d+\.\d s \(cannot open display\)\n"
    assert re.fullmatch(expected, result.output)


def test_libreoffice_csv_values_are_read_as_the_cells_hold_them(tmp_path: Path) -> None:
    """What LibreOffice writes for verify: values as stored (15 significant digits), a percent-formatted cell with
    its sign, its own error names, text as text; empty fields are empty cells."""
    from xlcnn.check.cells import ContentError
    from xlcnn.check.sheets import load_csv_values

    path = tmp_path / "book-Sheet.csv"
    path.write_text(',0.3,-1.4142135623731E+015\n98.0227361677126%,Err:502,#DIV/0!\n"a,b""c",circle,\n',
                    encoding="utf-8")
    cells = load_csv_values({"Sheet": path}).sheets["Sheet"].cells
    assert cells == {(1, 2): 0.3, (1, 3): -1.4142135623731e15, (2, 1): pytest.approx(0.980227361677126, rel=1e-15),
                     (2, 2): "#VALUE!", (2, 3): "#DIV/0!", (3, 1): 'a,b"c', (3, 2): "circle"}
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ContentError, match=r"^the values of 'Sheet' are not CSV text \('utf-8' codec"):
        load_csv_values({"Sheet": path})


def test_libreoffice_runs_while_the_workbook_is_read_and_is_stopped_when_it_is_not_xlcnns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """verify starts LibreOffice first and reads the workbook meanwhile; a workbook that turns out not to be
    xlcnn's is refused at once, and the LibreOffice it started is stopped, not waited for."""
    import time
    from contextlib import contextmanager

    import openpyxl

    import xlcnn.check.verify as verify
    from xlcnn.errors import WorkbookError

    other = tmp_path / "other.xlsx"
    book = openpyxl.Workbook()
    book.active["A1"] = "not a network"
    book.save(other)
    monkeypatch.setenv("XLCNN_SOFFICE", fake_soffice(tmp_path, "exec sleep 60"))
    started: list[Any] = []
    order: list[str] = []
    real_start, real_read = verify.values_started, verify.read_view

    @contextmanager
    def values_started(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with real_start(*args, **kwargs) as values:
            started.append(values)
            order.append("LibreOffice started")
            yield values

    def read_view(*args: Any, **kwargs: Any) -> Any:
        order.append("workbook read" + (" while LibreOffice runs" if started[0].running.proc.poll() is None else ""))
        return real_read(*args, **kwargs)

    monkeypatch.setattr(verify, "values_started", values_started)
    monkeypatch.setattr(verify, "read_view", read_view)
    clock = time.monotonic()
    with pytest.raises(WorkbookError, match=rf"^{re.escape(str(other))}: not an xlcnn workbook"):
        verify_workbook(other)
    assert time.monotonic() - clock < 10  # not the fake's 60 s
    assert order == ["LibreOffice started", "workbook read while LibreOffice runs"]
    assert started[0].running.proc.returncode == -9  # stopped (SIGKILL) and reaped


def test_verify_pauses_the_cycle_collector_while_it_reads_and_restores_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a sheet makes millions of objects that form no cycles; the collector is off while verify runs
    (its passes grew with the square of a sheet) and on again afterwards, whether verify succeeds or fails."""
    import gc

    import openpyxl

    import xlcnn.check.verify as verify
    from xlcnn.errors import WorkbookError

    other = tmp_path / "other.xlsx"
    book = openpyxl.Workbook()
    book.active["A1"] = "not a network"
    book.save(other)
    seen: list[bool] = []
    real_read = verify.read_view

    def read_view(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real_read(*args, **kwargs)

    monkeypatch.setattr(verify, "read_view", read_view)
    assert gc.isenabled()
    with pytest.raises(WorkbookError, match="not an xlcnn workbook"):
        verify_workbook(other, engine="gnumeric")  # refused before any engine runs
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        with pytest.raises(WorkbookError):
            verify_workbook(other, engine="gnumeric")
        assert seen == [False, False] and not gc.isenabled()  # a caller's own choice is left as it was
    finally:
        gc.enable()
