"""The teaching sheets after LibreOffice recalculation: the worked example for several chosen cells (set
at build time and edited afterwards), the Shapes sheet against the engine's shapes, and the three
cross-entropies against each other and the engine."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from factories import make_model
from helpers import assert_stage_matches
from workbooks import Book, recalculated

from xlcnn import build_workbook, forward, load_image, load_model
from xlcnn.model.spec import Model
from xlcnn.nn.layers.conv import pad

ROOT = Path(__file__).resolve().parent.parent
TRIANGLE = ROOT / "samples" / "triangle.png"  # the default model is 76% sure: every loss term is non-trivial


def cell(book: Book, name: str, view: object) -> object:
    return book.values(name, view=view)[0, 0]


def expected_worked(model: Model, image: Path, choice: tuple[int, int, int]) -> dict[str, np.ndarray | float]:
    """The worked example computed here, independently of xlcnn.book.stages.worked, from the engine's trace."""
    spec = model.arch.input
    trace = forward(load_image(image, (spec.height, spec.width)), model)
    f, i, j = choice
    conv = model.arch.blocks[0].conv
    r0, c0 = (i - 1) * conv.stride, (j - 1) * conv.stride
    window = pad(trace.input, conv.padding)[:, r0 : r0 + conv.kernel, c0 : c0 + conv.kernel]
    products = window * model.weights.conv_w[0][f - 1]
    return {"window": window, "products": products, "output": float(trace.blocks[0].conv[f - 1, i - 1, j - 1])}


@pytest.mark.libreoffice
def test_worked_example_for_chosen_and_edited_cells(soffice: str, tmp_path: Path) -> None:
    default = load_model("default")
    strided = make_model(11, 9, [(3, 3, 2, 1, 2, 1)], classes=2, seed=4)  # stride 2, padding 1, 3 maps
    built = [(default, (1, 1, 1)), (default, (6, 26, 26)), (default, (2, 14, 9)), (strided, (3, 6, 5))]
    paths = []
    for n, (model, choice) in enumerate(built):
        out = tmp_path / f"built{n}.xlsx"
        build_workbook(TRIANGLE, out, model=model, worked=choice)
        paths.append(out)
    # A student types another choice into the cream cells; INDEX must follow it.
    edited_choice = (3, 5, 20)
    book = openpyxl.load_workbook(paths[0])
    names = Book.open(paths[0]).names
    for name, value in zip(("worked_map", "worked_row", "worked_col"), edited_choice, strict=True):
        sheet, (col, row, _, _) = names[name]
        book[sheet].cell(row, col).value = value
    edited = tmp_path / "edited.xlsx"
    book.save(edited)

    cases = [*built, (default, edited_choice)]
    for (model, choice), path, recalc in zip(cases, [*paths, edited], recalculated([*paths, edited], tmp_path / "r"),
                                             strict=True):
        want = expected_worked(model, TRIANGLE, choice)
        wb = Book.open(path)
        channels = model.arch.blocks[0].in_shape[0]
        for c in range(1, channels + 1):
            got = wb.values(f"worked_window_{c}", view=recalc).astype(float)
            assert_stage_matches(f"window {c} of {choice}", got, want["window"][c - 1], rtol=0, atol=0)
            got = wb.values(f"worked_products_{c}", view=recalc).astype(float)
            assert_stage_matches(f"products {c} of {choice}", got, want["products"][c - 1])
        for name in ("worked_output", "worked_conv"):
            assert_stage_matches(f"{name} of {choice}", float(cell(wb, name, recalc)), want["output"])
        assert abs(float(cell(wb, "worked_diff", recalc))) < 1e-12
        assert str(cell(wb, "worked_check", recalc)).startswith("✓")


@pytest.mark.libreoffice
def test_shapes_sheet_and_three_losses_match_the_engine(soffice: str, tmp_path: Path) -> None:
    models = [load_model("default"), make_model(13, 10, [(2, 5, 2, 0, 2, 1), (3, 1, 1, 2, 3, 3)], classes=4, seed=1)]
    labels = ["square", "class C"]
    paths = []
    for n, (model, label) in enumerate(zip(models, labels, strict=True)):
        out = tmp_path / f"m{n}.xlsx"
        build_workbook(TRIANGLE, out, model=model, label=label)
        paths.append(out)
    for model, label, path, recalc in zip(models, labels, paths, recalculated(paths, tmp_path / "r"), strict=True):
        spec = model.arch.input
        trace = forward(load_image(TRIANGLE, (spec.height, spec.width)), model, label)
        book = Book.open(path)
        # Shapes: input, then (conv, relu, pool) per block, then flatten, dense, softmax.
        shapes = [trace.input.shape]
        for block in trace.blocks:
            shapes += [block.conv.shape, block.relu.shape, block.pool.shape]
        d, k = trace.flatten.size, trace.probs.size
        shapes += [(1, d, 1), (1, k, 1), (1, k, 1)]
        got = np.stack([book.values(name, view=recalc).astype(float).ravel() for name in ("shape_c", "shape_h",
                                                                                          "shape_w")], axis=1)
        assert got.tolist() == [list(map(float, s)) for s in shapes]
        values = book.values("shape_values", view=recalc).astype(float).ravel()
        assert values.tolist() == [float(math.prod(s)) for s in shapes]
        # Cross-entropy three ways: distance, negative log-likelihood, KL divergence.
        three = [float(cell(book, name, recalc)) for name in ("loss", "loss_nll", "loss_kl")]
        assert trace.loss > 0.01  # the true label is not the prediction: a real loss
        for value in three:
            assert_stage_matches("loss", value, trace.loss)
        assert max(three) - min(three) <= 1e-12 * trace.loss
