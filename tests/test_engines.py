"""Two real spreadsheet engines, written independently of each other and of xlcnn — LibreOffice Calc and
Gnumeric — recalculate every built-in template on the sample images, and perturbed copies, and must equal
the NumPy engine in every formula cell with no error cell; neither may hand back a cached value.

The formulas also keep to what every engine reads alike: ``INDEX`` always gets both indices, since Gnumeric
reads a lone index into a one-row range as a row number (``#REF!`` for any column past the first).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from workbooks import POISON, Book, error_cells, load_values, poisoned

from xlcnn import build_workbook, list_templates, load_model, verify_workbook
from xlcnn.book.stages.worked import default_choice
from xlcnn.check.recalc import engine
from xlcnn.check.verify import VerifyReport
from xlcnn.model.spec import Model, Weights

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.png"))
ENGINE_FIXTURES = {"libreoffice": "soffice", "gnumeric": "ssconvert"}
BOTH_ENGINES = pytest.mark.parametrize("engine_key", [pytest.param("libreoffice", marks=pytest.mark.libreoffice),
                                                      pytest.param("gnumeric", marks=pytest.mark.gnumeric)])


def noise_image(path: Path, seed: int) -> Path:
    """Random pixels: every value of every channel is as likely as any other."""
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 40, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def perturbed(model: Model, seed: int) -> Model:
    """``model`` with every weight and bias moved by noise of a tenth of its layer's spread."""
    rng = np.random.default_rng(seed)

    def jitter(a: np.ndarray) -> np.ndarray:
        return a + rng.normal(0, 0.1 * (float(a.std()) or 0.1), a.shape)

    w = model.weights
    weights = Weights(tuple(jitter(a) for a in w.conv_w), tuple(jitter(b) for b in w.conv_b), jitter(w.dense_w),
                      jitter(w.dense_b))
    return Model(model.name, model.title, model.description, model.arch, weights, model.provenance)


def far_worked_cell(model: Model) -> tuple[int, int, int]:
    """The last map's bottom-right Conv 1 cell: another cell than the worked example's default."""
    _, rows, cols = model.arch.blocks[0].conv_shape
    return model.arch.blocks[0].conv.filters, rows, cols


def workbooks(folder: Path) -> list[Path]:
    """Every template on every sample image; then per template a perturbed copy on random pixels with the
    last class as the true label and another worked-example cell. The learning layer (three times the forward
    pass's formulas) is in the first sample's workbook and the perturbed copy of each template; the other samples
    check the forward pass on more pictures."""
    out = []
    for name in list_templates():
        model = load_model(name)
        for i, image in enumerate(SAMPLES):
            path = folder / f"{name}-{image.stem}.xlsx"
            build_workbook(image, path, model=model, learn=i == 0)
            out.append(path)
        changed = perturbed(model, seed=len(out))
        path = folder / f"{name}-perturbed.xlsx"
        result = build_workbook(noise_image(folder / f"{name}-noise.png", len(out)), path, model=changed,
                                label=changed.classes[-1], worked=far_worked_cell(changed))
        assert far_worked_cell(changed) != default_choice(result.trace, changed)
        out.append(path)
    return out


def worst(reports: list[VerifyReport]) -> tuple[float, float]:
    return (max(s.max_abs_diff for r in reports for s in r.stages),
            max(s.max_rel_diff for r in reports for s in r.stages))


@pytest.fixture(scope="module")
def sample_books(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return workbooks(tmp_path_factory.mktemp("samples"))


@BOTH_ENGINES
def test_every_template_and_perturbed_copies_match_the_engine(engine_key: str, sample_books: list[Path],
                                                             request: pytest.FixtureRequest, tmp_path: Path) -> None:
    request.getfixturevalue(ENGINE_FIXTURES[engine_key])
    books = sample_books
    copies = engine(engine_key).recalculate(books, tmp_path / "recalculated", 600.0)
    reports = []
    for book, copy in zip(books, copies, strict=True):
        assert error_cells(load_values(copy)) == [], book.name
        report = verify_workbook(book, recalculated=copy, engine=engine_key)
        assert report.ok, report.summary()
        reports.append(report)
    assert len(reports) == len(list_templates()) * (len(SAMPLES) + 1)
    assert sum(r.cells for r in reports) > 11_000 * len(SAMPLES)  # the default model alone: 11,198 per image
    abs_diff, rel_diff = worst(reports)
    print(f"\n{engine_key}: {len(reports)} workbooks, {sum(r.cells for r in reports):,} formula cells; "
          f"max abs diff {abs_diff:.2g}, max rel diff {rel_diff:.2g}")


@BOTH_ENGINES
def test_the_engines_recalculate_rather_than_trust_cached_values(engine_key: str, request: pytest.FixtureRequest,
                                                                 tmp_path: Path) -> None:
    request.getfixturevalue(ENGINE_FIXTURES[engine_key])
    fresh = tmp_path / "fresh.xlsx"
    build_workbook(SAMPLES[0], fresh, model="tiny", label=load_model("tiny").classes[-1])
    poison = tmp_path / "poisoned.xlsx"
    count = poisoned(fresh, poison)
    assert count == len(Book.open(fresh).formula_cells()) > 100
    # The poison is really in the file: every cached value is now stale.
    before = verify_workbook(poison, recalculated=fresh)
    assert before.formulas_ok and before.cache.stale == before.cache.cells == before.cells

    (copy,) = engine(engine_key).recalculate([poison], tmp_path / "recalculated", 600.0)
    values = load_values(copy)
    survivors = [f"'{ws.title}'!{c.coordinate}" for ws in values.worksheets for row in ws.iter_rows() for c in row
                 if c.value == POISON or c.value == str(POISON)]
    assert survivors == []
    assert verify_workbook(poison, recalculated=copy, engine=engine_key, check_cache=False).ok


@pytest.mark.libreoffice
def test_verify_reads_values_libreoffice_recalculated_not_the_cached_ones(soffice: str, tmp_path: Path) -> None:
    """verify's own LibreOffice run (values written as CSV, not an .xlsx copy) recalculates too: every cached
    value poisoned, the formulas still all match, and every cache is reported stale."""
    fresh = tmp_path / "fresh.xlsx"
    build_workbook(SAMPLES[0], fresh, model="tiny", label=load_model("tiny").classes[-1])
    poison = tmp_path / "poisoned.xlsx"
    count = poisoned(fresh, poison)
    report = verify_workbook(poison)
    assert report.formulas_ok and report.cells == count > 1000  # the learning layer included
    assert report.cache.stale == report.cache.cells == count and report.recalc_seconds is not None


def index_calls(formula: str) -> list[list[str]]:
    """The top-level arguments of every ``INDEX(…)`` call in ``formula``, nested calls included."""
    calls = []
    for match in re.finditer(r"\bINDEX\(", formula):
        depth, args, start = 0, [], match.end()
        for i in range(match.end(), len(formula)):
            ch = formula[i]
            if ch == "(":
                depth += 1
            elif ch == ")" and depth == 0:
                args.append(formula[start:i])
                break
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 0:
                args.append(formula[start:i])
                start = i + 1
        calls.append(args)
    return calls


def test_index_calls_count_their_arguments() -> None:
    assert index_calls("=INDEX(A1:C1,1,MATCH(MAX(A2:C2),A2:C2,0))") == [["A1:C1", "1", "MATCH(MAX(A2:C2),A2:C2,0)"]]
    assert index_calls("=-LN(INDEX(A1:C1,MATCH(D1,A2:C2,0)))") == [["A1:C1", "MATCH(D1,A2:C2,0)"]]
    assert [len(c) for c in index_calls("=INDEX(A:B,INDEX(C1:C4,2,1)+1,INDEX(D1:D4,3,1))")] == [3, 3, 3]


def test_every_index_has_a_row_and_a_column(tmp_path: Path) -> None:
    """Every template's every formula (the worked example's lookups included): INDEX(range, row, column)."""
    seen = 0
    for name in list_templates():
        out = tmp_path / f"{name}.xlsx"
        build_workbook(SAMPLES[0], out, model=name, label=load_model(name).classes[-1])
        book = Book.open(out)
        for sheet, ref in book.formula_cells():
            formula = book.formulas[sheet][ref].value
            for args in index_calls(formula):
                seen += 1
                assert len(args) == 3, f"{name}: {sheet}!{ref}: {formula}"
    assert seen > 3 * 30  # the worked example alone looks up 27 pixels, 27 weights and a bias
