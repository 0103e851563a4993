"""The learning layer of the workbook (issue 14), recalculated by LibreOffice and by Gnumeric: random architectures
match the engine in every formula cell; tied pooling windows send the gradient to their first maximum; a
student's edits (a pixel, a weight, the true label, the learning rate, Grad-CAM's class) move every number after
them; a raised learning rate lowers, then raises, the loss; ``learn=False`` leaves the layer out; the learning
names of the contract exist with their shapes and cached values.

Spreadsheet runs are the slow part, so the workbooks of most tests are built once (``books``) and recalculated
together, one LibreOffice run (and one ssconvert run per workbook) for all of them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from factories import make_arch, make_model, random_image
from helpers import assert_stage_matches
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from openpyxl.utils.cell import get_column_letter, range_boundaries
from PIL import Image
from test_engines import BOTH_ENGINES, ENGINE_FIXTURES
from test_verify import picture, tiny_model
from workbooks import Book, error_cells, load_values, name_cell

from xlcnn import build_workbook, forward, list_templates, load_image, load_model, verify_workbook
from xlcnn.book.build import plan_for
from xlcnn.book.stages import formula_count
from xlcnn.check.readback import read_back
from xlcnn.check.recalc import engine
from xlcnn.check.sheets import open_workbook
from xlcnn.check.verify import VerifyReport
from xlcnn.errors import ModelError
from xlcnn.model.spec import Model, Weights
from xlcnn.model.templates import check_shapes
from xlcnn.nn.learning import DEFAULT_LEARNING_RATE, MAX_LEARNING_RATE, Learning, learn

ROOT = Path(__file__).resolve().parent.parent
CIRCLE = ROOT / "samples" / "circle.png"
SQUARE = ROOT / "samples" / "square.png"
SAMPLES = ROOT / "samples"
TIMEOUT = 600.0

# ------------------------------------------------------------------------------------------------ helpers


def learning_sheets(blocks: int) -> list[str]:
    """The learning layer's sheets of a model with ``blocks`` conv blocks, in workbook order: the backward pass
    from the last block down, the step block by block, then what the network looked at."""
    back = [f"Back {stage} {k}" for k in range(blocks, 0, -1) for stage in ("pool", "ReLU", "conv", "filters")]
    step = [f"Step {stage} {k}" for k in range(1, blocks + 1) for stage in ("conv", "pool")]
    return ["Back dense", *back, "Back input", "Step", *step, "Step dense", "Why this class", "Saliency", "Grad-CAM"]


LEARNING_SINGLES = {"learning_rate", "grad_logits", "grad_dense_w", "grad_dense_b", "grad_flatten", "grad_input_r",
                    "grad_input_g", "grad_input_b", "saliency", "step_dense_w", "step_dense_b", "step_logits",
                    "step_probs", "step_loss", "cam_class", "gradcam", "gradcam_input", "contrib"}


def is_learning_name(name: str) -> bool:
    """A defined name of the learning layer (the contract's, or one of its sheets' own, such as step_flatten)."""
    return name in LEARNING_SINGLES or name.startswith(("grad_", "step_", "saliency", "gradcam", "cam_"))


def named(book: Path, values_from: Path, *wanted: str) -> dict[str, np.ndarray]:
    """The cells of each defined name of ``book`` (where xlcnn put them), read from ``values_from``: the book
    itself (its cached values) or a copy a spreadsheet engine recalculated. Read-only, for speed."""
    wb = openpyxl.load_workbook(book, read_only=True)
    places = {}
    for name in wanted:
        ((sheet, ref),) = list(wb.defined_names[name].destinations)
        places[name] = (sheet, range_boundaries(ref.replace("$", "")))
    wb.close()
    with warnings.catch_warnings():
        # Gnumeric's copies carry no default cell style, which openpyxl mentions; values are unaffected.
        warnings.filterwarnings("ignore", "Workbook contains no default style", UserWarning)
        values = openpyxl.load_workbook(values_from, read_only=True, data_only=True)
    out = {}
    for name, (sheet, (c0, r0, c1, r1)) in places.items():
        rows = values[sheet].iter_rows(min_row=r0, max_row=r1, min_col=c0, max_col=c1, values_only=True)
        out[name] = np.array([list(row) for row in rows], dtype=object)
    values.close()
    return out


def numbers(book: Path, values_from: Path, *wanted: str) -> dict[str, np.ndarray]:
    """``named``, as float arrays."""
    return {name: value.astype(float) for name, value in named(book, values_from, *wanted).items()}


def with_weights(model: Model, weights: Weights) -> Model:
    return replace(model, weights=weights)


def save_png(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)
    return path


def pixels_of(book: Path) -> np.ndarray:
    """The (H, W, 3) raw pixels of a workbook, read through input_r, input_g, input_b."""
    grids = numbers(book, book, "input_r", "input_g", "input_b")
    return np.stack([grids[name] for name in ("input_r", "input_g", "input_b")], axis=-1)


def assert_learning_stages(report: VerifyReport, blocks: int) -> None:
    """Every learning sheet is among the checked stages, in order, each with formula cells, each matching."""
    stages = {s.stage: s for s in report.stages}
    want = learning_sheets(blocks)
    assert [s.stage for s in report.stages if s.stage in set(want)] == want, [s.stage for s in report.stages]
    for sheet in want:
        assert stages[sheet].cells > 0 and stages[sheet].bad == 0, (sheet, stages[sheet])


def verified(book: Path, copy: Path, engine_key: str, check_cache: bool = True) -> VerifyReport:
    report = verify_workbook(book, recalculated=copy, engine=engine_key, check_cache=check_cache)
    assert report.ok, report.summary()
    return report


# ----------------------------------------------------------------------- workbooks built once, recalculated once


@dataclass
class Books:
    """Workbooks built once for the module, each recalculated (lazily, all at once per engine) by the engines
    listed for it."""

    folder: Path
    paths: dict[str, Path] = field(default_factory=dict)
    engines: dict[str, tuple[str, ...]] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    formulas: dict[str, int] = field(default_factory=dict)
    copies: dict[str, dict[str, Path]] = field(default_factory=dict)

    def add(self, key: str, path: Path, model: Model, formulas: int,
            engines: tuple[str, ...] = ("libreoffice", "gnumeric")) -> None:
        self.paths[key], self.models[key], self.formulas[key], self.engines[key] = path, model, formulas, engines

    def recalculated(self, engine_key: str, key: str) -> Path:
        if engine_key not in self.copies:
            keys = [k for k in self.paths if engine_key in self.engines[k]]
            copies = engine(engine_key).recalculate([self.paths[k] for k in keys], self.folder / engine_key, TIMEOUT)
            self.copies[engine_key] = dict(zip(keys, copies, strict=True))
        return self.copies[engine_key][key]


def flat_model() -> Model:
    """One block, no padding, a 3×3 pool 2 apart (overlapping windows): on a flat picture every conv map is one
    value repeated, so every pooling window is a tie of all its cells."""
    return make_model(9, 9, [(3, 3, 1, 0, 3, 2)], classes=3, seed=11)


def flat_two_block_model() -> Model:
    """Two blocks without padding, filter 1 of block 1 with a bias so negative that its ReLU map is all zeros
    (ties at 0); block 2 pools 2×2 one apart (overlapping)."""
    model = make_model(10, 10, [(2, 2, 1, 0, 2, 2), (2, 3, 1, 0, 2, 1)], classes=3, seed=12)
    biases = [b.copy() for b in model.weights.conv_b]
    biases[0][0] = -100.0
    w = model.weights
    return with_weights(model, Weights(w.conv_w, tuple(biases), w.dense_w, w.dense_b))


def zeros_model() -> Model:
    """Noise in, biases pulled down so that many ReLU cells are 0 and many 3×3 windows (one apart) tie at 0."""
    model = make_model(8, 8, [(3, 3, 1, 1, 3, 1)], classes=3, seed=13)
    w = model.weights
    return with_weights(model, Weights(w.conv_w, tuple(b - 0.6 for b in w.conv_b), w.dense_w, w.dense_b))


def one_filter_model() -> Model:
    """Conv 1 with a single filter (the worked example then looks up a single-cell bias range)."""
    return make_model(7, 6, [(1, 3, 1, 1, 2, 2)], classes=3, seed=14)


EDITS = ("pixel", "weight", "label", "rate", "cam")
EDITED_PIXEL = ("input_r", 2, 3)
EDITED_WEIGHT = ("conv1_w1_1", 1, 1)
EDITED_RATE = 0.03


def moved_weight(model: Model) -> float:
    """conv1_w1_1's edited weight: moved by 1.5 and rounded to six places, as a student types it (openpyxl keeps
    only 16 significant digits, so an unrounded sum would not read back exactly)."""
    _, r, c = EDITED_WEIGHT  # of conv1_w1_1: filter 1, channel 1
    return round(float(model.weights.conv_w[0][0, 0, r, c]) + 1.5, 6)


def edit_choices(model: Model, pixels: np.ndarray, label: str) -> dict[str, object]:
    """The value each edit writes: the pixel inverted, the weight moved by 1.5, another true label, ten times the
    learning rate, and a class Grad-CAM explains differently from the prediction."""
    trace = forward(pixels, model, label)
    base = learn(model, pixels, label)
    _, y, x = EDITED_PIXEL  # of input_r: channel 0
    cams = [cls for cls in model.classes if cls != trace.predicted_label
            and not np.allclose(learn(model, pixels, label, cam_class=cls).gradcam, base.gradcam)]
    return {"pixel": float(255 - pixels[y, x, 0]), "weight": moved_weight(model),
            "label": next(cls for cls in model.classes if cls != label),
            "rate": EDITED_RATE, "cam": cams[0]}


def edited_with_openpyxl(src: Path, dst: Path, cells: dict[str, tuple[tuple[str, int, int], object]]) -> Path:
    """Copy ``src`` to ``dst`` with openpyxl (which stores no cached values), each (name, r, c) cell set."""
    wb = openpyxl.load_workbook(src)
    for (name, r, c), value in cells.values():
        sheet, ref = name_cell(src, name, r, c)
        wb[sheet][ref].value = value
    wb.save(dst)
    return dst


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Books:
    folder = tmp_path_factory.mktemp("learning-books")
    out = Books(folder)

    # Ties: a flat colour, and noise with many ReLU zeros.
    flat = save_png(np.full((10, 10, 3), (200, 60, 30)), folder / "flat.png")
    for key, model, image in (("ties-flat", flat_model(), flat), ("ties-flat-two", flat_two_block_model(), flat),
                              ("ties-zeros", zeros_model(), None)):
        if image is None:
            image = save_png(random_image(model, 3), folder / f"{key}.png")
        result = build_workbook(image, folder / f"{key}.xlsx", model=model, label=model.classes[1])
        out.add(key, result.path, model, result.formulas)

    # A student's edits of the tiny model's workbook, each saved by openpyxl.
    tiny = tiny_model()
    base = build_workbook(picture(folder / "tiny.png"), folder / "tiny.xlsx", model=tiny, label=tiny.classes[0])
    out.add("tiny", base.path, tiny, base.formulas, engines=())
    choices = edit_choices(tiny, pixels_of(base.path), tiny.classes[0])
    places = {"pixel": (EDITED_PIXEL, choices["pixel"]), "weight": (EDITED_WEIGHT, choices["weight"]),
              "label": (("true_label", 0, 0), choices["label"]), "rate": (("learning_rate", 0, 0), choices["rate"]),
              "cam": (("cam_class", 0, 0), choices["cam"])}
    for edit in EDITS:
        path = edited_with_openpyxl(base.path, folder / f"edit-{edit}.xlsx", {edit: places[edit]})
        out.add(f"edit-{edit}", path, tiny, base.formulas)

    # Built without the learning layer.
    bare = build_workbook(picture(folder / "bare.png"), folder / "bare.xlsx", model=tiny, learn=False)
    out.add("no-learning", bare.path, tiny, bare.formulas)

    one = one_filter_model()
    result = build_workbook(save_png(random_image(one, 4), folder / "one.png"), folder / "one-filter.xlsx",
                            model=one, label=one.classes[-1])
    out.add("one-filter", result.path, one, result.formulas)

    # The default model with a wrong true label: a step that lowers the loss, and one that overshoots.
    default = load_model("default")
    for key, image, label, rate in (("rate-lowers", CIRCLE, "square", DEFAULT_LEARNING_RATE),
                                    ("rate-overshoots", SQUARE, "circle", 0.03)):
        result = build_workbook(image, folder / f"{key}.xlsx", model=default, label=label, learning_rate=rate)
        out.add(key, result.path, default, result.formulas, engines=("libreoffice",))
    return out


def need(engine_key: str, request: pytest.FixtureRequest) -> None:
    """The engine's program, or (locally) a skip; in CI a missing one fails (tests/conftest.py)."""
    request.getfixturevalue(ENGINE_FIXTURES[engine_key])


# ------------------------------------------------------------------------------- 1. random architectures


ConvTuple = tuple[int, int, int, int, int, int]
# (height, width, [(filters, kernel, stride, padding, pool size, pool stride), …]) chosen to cover what random
# draws may miss: strides 2 and 3 (Back conv's spread grids), padding beyond kernel − 1, kernels 1 to 5,
# overlapping pools (stride < size), pools with gaps (stride > size), 1×1 maps, one and two blocks.
FIXED: list[tuple[int, int, list[ConvTuple]]] = [
    (7, 8, [(2, 2, 2, 2, 2, 1)]),  # stride 2, padding 2 > kernel − 1 = 1, overlapping pool
    (6, 5, [(3, 1, 3, 2, 1, 1)]),  # 1×1 kernel, stride 3, padding 2
    (9, 9, [(2, 5, 1, 2, 3, 2), (2, 3, 2, 1, 2, 2)]),  # 5×5 kernel, 3×3 pool 2 apart; block 2 strided to a 1×1 pool
    (8, 7, [(3, 3, 1, 0, 2, 3), (1, 2, 1, 2, 2, 2)]),  # a pool with gaps; block 2: one filter, padding 2 > 1
    (5, 6, [(4, 4, 3, 1, 1, 2), (2, 1, 1, 0, 1, 1)]),  # 4×4 kernel, stride 3, down to 1×1 maps
]


def fixed_models() -> list[Model]:
    return [make_model(h, w, convs, classes=2 + i % 3, seed=100 + i) for i, (h, w, convs) in enumerate(FIXED)]


def test_the_fixed_architectures_cover_the_hard_cases() -> None:
    blocks = [block for model in fixed_models() for block in model.arch.blocks]
    assert {b.conv.stride for b in blocks} == {1, 2, 3}
    assert {b.conv.padding for b in blocks} == {0, 1, 2}
    assert {b.conv.kernel for b in blocks} == {1, 2, 3, 4, 5}
    assert any(b.conv.padding > b.conv.kernel - 1 and b.conv.stride >= 2 for b in blocks)
    assert any(b.pool.stride < b.pool.size for b in blocks)  # overlapping windows
    assert any(b.pool.stride == b.pool.size > 1 for b in blocks)  # windows side by side
    assert any(b.pool.stride > b.pool.size for b in blocks)  # cells in no window
    assert {len(model.arch.blocks) for model in fixed_models()} == {1, 2}


@st.composite
def learning_models(draw: st.DrawFn) -> Model:
    """A small random model: one or two blocks, kernels 1–5, strides 1–3, paddings 0–2, pools 1–3 with strides
    1–3. Conv 1 has two filters or more: one filter is test_a_one_filter_first_conv_recalculates_in_both_engines's."""
    while True:
        convs = [(draw(st.integers(2 if k == 0 else 1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 3)),
                  draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
                 for k in range(draw(st.integers(1, 2)))]
        height, width = draw(st.integers(3, 10)), draw(st.integers(3, 10))
        try:
            check_shapes(make_arch(height, width, convs), "test")
        except ModelError:
            continue
        return make_model(height, width, convs, classes=draw(st.integers(2, 4)), seed=draw(st.integers(0, 999)))


_runs = iter(range(1 << 30))


@BOTH_ENGINES
@settings(max_examples=1, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(models=st.lists(learning_models(), min_size=5, max_size=5))
@example(models=fixed_models())
def test_random_architectures_match_the_engine_in_every_learning_cell(
        engine_key: str, request: pytest.FixtureRequest, tmp_path: Path, models: list[Model]) -> None:
    """The fixed hard cases, then random ones; each set recalculated in one engine run. Every formula cell of
    every sheet is checked, the learning sheets among them."""
    need(engine_key, request)
    folder = tmp_path / f"run{next(_runs)}"
    folder.mkdir()
    results = []
    for i, model in enumerate(models):
        image = save_png(random_image(model, i), folder / f"picture{i}.png")
        results.append(build_workbook(image, folder / f"model{i}.xlsx", model=model, label=model.classes[-1]))
    copies = engine(engine_key).recalculate([r.path for r in results], folder / "recalculated", TIMEOUT)
    for i, (model, result, copy) in enumerate(zip(models, results, copies, strict=True)):
        assert error_cells(load_values(copy)) == [], result.path.name
        report = verified(result.path, copy, engine_key)
        assert report.cells == result.formulas  # every formula cell was compared
        assert_learning_stages(report, len(model.arch.blocks))
        stages = {s.stage: s for s in report.stages}
        for block in model.arch.blocks:
            # A strided conv's gradient is spread out into a second grid per map, one formula per gradient cell.
            per_map = int(np.prod(block.conv_shape))
            assert stages[f"Back conv {block.index}"].cells == per_map * (2 if block.conv.stride > 1 else 1)
        learned = learn(model, random_image(model, i), model.classes[-1])
        got = numbers(result.path, copy, "step_loss", "grad_input_g")
        assert got["step_loss"][0, 0] == pytest.approx(learned.step_loss, rel=1e-12, abs=1e-12)
        assert_stage_matches("grad_input_g", got["grad_input_g"], learned.grad_input[1])


@BOTH_ENGINES
def test_a_one_filter_first_conv_recalculates_in_both_engines(engine_key: str, books: Books,
                                                              request: pytest.FixtureRequest) -> None:
    """A one-filter conv 1 is a legal model (tests/factories.py, --filters 1); its workbook must verify too."""
    need(engine_key, request)
    copy = books.recalculated(engine_key, "one-filter")
    assert error_cells(load_values(copy)) == []
    report = verified(books.paths["one-filter"], copy, engine_key)
    assert_learning_stages(report, 1)


# ------------------------------------------------------------------------------------------ 2. ties in pooling


def first_max_backward(relu: np.ndarray, grad_pool: np.ndarray, size: int, stride: int,
                       last: bool = False) -> np.ndarray:
    """∂L/∂ a ReLU map by loops: each window's gradient to its first maximum in row-major order (``last``: to its
    last, the convention the workbook must not follow); overlapping windows add up."""
    out = np.zeros_like(relu)
    for i in range(grad_pool.shape[0]):
        for j in range(grad_pool.shape[1]):
            window = relu[i * stride: i * stride + size, j * stride: j * stride + size].reshape(-1)
            place = len(window) - 1 - int(np.argmax(window[::-1])) if last else int(np.argmax(window))
            r, c = divmod(place, size)
            out[i * stride + r, j * stride + c] += grad_pool[i, j]
    return out


def tied_windows(relu: np.ndarray, size: int, stride: int, rows: int, cols: int) -> int:
    """How many windows hold their maximum more than once."""
    count = 0
    for i in range(rows):
        for j in range(cols):
            window = relu[i * stride: i * stride + size, j * stride: j * stride + size]
            count += int((window == window.max()).sum() > 1)
    return count


@BOTH_ENGINES
@pytest.mark.parametrize("key", ["ties-flat", "ties-flat-two", "ties-zeros"])
def test_tied_pooling_windows_send_the_gradient_to_their_first_maximum(
        engine_key: str, key: str, books: Books, request: pytest.FixtureRequest) -> None:
    need(engine_key, request)
    book, copy, model = books.paths[key], books.recalculated(engine_key, key), books.models[key]
    verified(book, copy, engine_key)
    learned = learn(model, pixels_of(book), model.classes[1])
    ties = sent = 0
    for block in model.arch.blocks:
        k, (maps, rows, cols) = block.index, block.pool_shape
        size, stride = block.pool.size, block.pool.stride
        for f in range(1, maps + 1):
            wanted = (f"relu{k}_out{f}", f"grad_pool{k}_out{f}", f"grad_relu{k}_out{f}")
            relu, grad_pool, grad_relu = numbers(book, copy, *wanted).values()
            ties += tied_windows(relu, size, stride, rows, cols)
            if key != "ties-zeros" and block.conv.padding == 0:  # a flat picture: every window is one value
                assert tied_windows(relu, size, stride, rows, cols) == rows * cols, (k, f)
            expected = first_max_backward(relu, grad_pool, size, stride)
            assert_stage_matches(f"Back ReLU {k} map {f}", grad_relu, expected)
            assert_stage_matches(f"Back ReLU {k} map {f} (engine)", grad_relu, learned.grad_relu[k - 1][f - 1])
            wrong = first_max_backward(relu, grad_pool, size, stride, last=True)
            sent += int(not np.allclose(expected, wrong))  # the last maximum would have been different
    assert ties >= 8 and sent >= 1, (ties, sent)


def near_tie_model() -> tuple[Model, np.ndarray]:
    """Weights a student might type (0.1 on red, 0.3 on green, 1×1 kernels) and two neighbouring pixels whose
    conv values are the same number, 0.3, computed two ways: 0.3·1 and 0.1·3, which float64 holds one unit in
    the last place apart (0.3 and 0.30000000000000004). Spreadsheets call them equal; the engine's pool calls
    them a tie too (within ``pool.TIE``) and sends that window's gradient to the first cell, as the sheets do."""
    model = make_model(4, 4, [(2, 1, 1, 0, 2, 2)], classes=2, seed=0, scale=1 / 255)
    w = np.zeros((2, 3, 1, 1))
    w[0, 0], w[0, 1], w[1, 0] = 0.1, 0.3, 0.5
    model = with_weights(model, Weights((w,), (np.zeros(2),), model.weights.dense_w, model.weights.dense_b))
    pixels = np.zeros((4, 4, 3), dtype=np.uint8)
    pixels[0, 0] = (0, 1, 0)  # 0.3 × 1
    pixels[0, 1] = (3, 0, 0)  # 0.1 × 3
    pixels[1, 0], pixels[1, 1], pixels[2:, 2:] = (1, 0, 0), (2, 0, 0), (1, 1, 0)
    return model, pixels


@BOTH_ENGINES
def test_a_near_tie_in_a_pooling_window_goes_where_the_engine_sends_it(engine_key: str, tmp_path: Path,
                                                                      request: pytest.FixtureRequest) -> None:
    need(engine_key, request)
    model, pixels = near_tie_model()
    trace = forward(pixels, model, model.classes[0])
    conv = trace.blocks[0].conv[0]
    assert conv[0, 0] < conv[0, 1] and conv[0, 1] - conv[0, 0] < 1e-16  # one unit in the last place
    result = build_workbook(save_png(pixels, tmp_path / "near.png"), tmp_path / "near.xlsx", model=model,
                            label=model.classes[0])
    (copy,) = engine(engine_key).recalculate([result.path], tmp_path / "recalculated", TIMEOUT)
    learned = learn(model, pixels, model.classes[0])
    assert learned.grad_relu[0][0, 0, 0] != 0 and learned.grad_relu[0][0, 0, 1] == 0  # the first of the two
    got = numbers(result.path, copy, "grad_relu1_out1")["grad_relu1_out1"]
    assert_stage_matches("Back ReLU 1 map 1", got, learned.grad_relu[0][0])
    verified(result.path, copy, engine_key)


# ------------------------------------------------------------------------------------------ 3. edits move everything


def read_back_learning(path: Path) -> tuple[Model, np.ndarray, str, float, str, Learning]:
    """What verify reads back from a workbook (model, pixels, true label, learning rate, Grad-CAM's class), and the
    engine's learning layer on it."""
    back = read_back(path, open_workbook(path))
    assert back.learning_rate is not None and back.cam_class is not None
    learned = learn(back.model, back.image, back.true_label, back.learning_rate, back.cam_class)
    return back.model, back.image, back.true_label, back.learning_rate, back.cam_class, learned


EDIT_NAMES = ("loss", "probs", "grad_logits", "grad_dense_w", "grad_conv1_w1_1", "grad_conv1_b1", "grad_input_r",
              "saliency", "step_conv1_w1_1", "step_dense_b", "step_logits", "step_probs", "step_loss", "gradcam",
              "gradcam_input", "contrib")


def expected_values(trace_loss: float, probs: np.ndarray, learned: Learning) -> dict[str, np.ndarray]:
    """The engine's numbers under the names of EDIT_NAMES, shaped as the workbook holds them."""
    return {
        "loss": np.array([[trace_loss]]), "probs": probs[None], "grad_logits": learned.grad_logits[None],
        "grad_dense_w": learned.grad_dense_w, "grad_conv1_w1_1": learned.grad_conv_w[0][0, 0],
        "grad_conv1_b1": learned.grad_conv_b[0][:1, None], "grad_input_r": learned.grad_input[0],
        "saliency": learned.saliency, "step_conv1_w1_1": learned.step.conv_w[0][0, 0],
        "step_dense_b": learned.step.dense_b[None], "step_logits": learned.step_logits[None],
        "step_probs": learned.step_probs[None], "step_loss": np.array([[learned.step_loss]]),
        "gradcam": learned.gradcam, "gradcam_input": learned.gradcam_input, "contrib": learned.contrib,
    }


def changed(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> set[str]:
    return {name for name in before if not np.allclose(before[name], after[name], rtol=1e-9, atol=1e-12)}


@BOTH_ENGINES
@pytest.mark.parametrize("edit", EDITS)
def test_an_edit_recomputes_every_number_after_it(engine_key: str, edit: str, books: Books,
                                                  request: pytest.FixtureRequest) -> None:
    need(engine_key, request)
    base, path, copy = books.paths["tiny"], books.paths[f"edit-{edit}"], books.recalculated(engine_key, f"edit-{edit}")
    report = verify_workbook(path, recalculated=copy, engine=engine_key, check_cache=False)
    assert report.ok and report.formulas_ok and not report.cache.checked, report.summary()
    assert report.cells == books.formulas["tiny"]
    assert_learning_stages(report, 1)

    model, pixels, label, rate, cam, learned = read_back_learning(path)
    trace = forward(pixels, model, label)
    before = numbers(base, base, *EDIT_NAMES)  # the engine's values, cached when the workbook was built
    after = numbers(base, copy, *EDIT_NAMES)  # the edited workbook's, as the spreadsheet engine recalculated them
    for name, expected in expected_values(trace.loss, trace.probs, learned).items():
        assert_stage_matches(f"{edit}: {name}", after[name], expected)
    moved = changed(before, after)
    original = tiny_model()
    old = forward(pixels_of(base), original, original.classes[0])
    if edit == "pixel":
        assert {"loss", "grad_conv1_w1_1", "grad_input_r", "step_loss"} <= moved, moved
        assert pixels[EDITED_PIXEL[1], EDITED_PIXEL[2], 0] != pixels_of(base)[EDITED_PIXEL[1], EDITED_PIXEL[2], 0]
    elif edit == "weight":
        _, r, c = EDITED_WEIGHT
        assert model.weights.conv_w[0][0, 0, r, c] == moved_weight(original)
        assert {"probs", "grad_conv1_w1_1", "step_conv1_w1_1", "step_loss"} <= moved, moved
        # The stepped weight is the edited weight moved against its new gradient.
        assert after["step_conv1_w1_1"][r, c] == pytest.approx(
            model.weights.conv_w[0][0, 0, r, c] - rate * after["grad_conv1_w1_1"][r, c], rel=1e-12)
    elif edit == "label":
        new, gone = model.classes.index(label), model.classes.index(original.classes[0])
        assert new != gone
        # p − y: the new true class's entry turns negative, the old one's positive; the probabilities stay.
        assert before["grad_logits"][0, gone] < 0 < before["grad_logits"][0, new]
        assert after["grad_logits"][0, new] < 0 < after["grad_logits"][0, gone]
        assert_stage_matches("probs", after["probs"], before["probs"])
        assert_stage_matches("grad_logits", after["grad_logits"], after["probs"] - np.eye(len(model.classes))[new])
        assert {"loss", "grad_logits", "grad_dense_w", "step_loss"} <= moved, moved
    elif edit == "rate":
        assert rate == EDITED_RATE != DEFAULT_LEARNING_RATE
        assert moved <= {"step_conv1_w1_1", "step_dense_b", "step_logits", "step_probs", "step_loss"}, moved
        assert {"step_conv1_w1_1", "step_loss"} <= moved, moved
        assert after["step_loss"][0, 0] == pytest.approx(learned.step_loss, rel=1e-12)
        assert learned.step_loss != pytest.approx(learn(model, pixels, label).step_loss, rel=1e-6)
    else:
        assert cam != old.predicted_label and learned.cam_class == model.classes.index(cam)
        assert moved == {"gradcam", "gradcam_input"}, moved
        assert learned.cam_class != learn(model, pixels, label).cam_class


# ------------------------------------------------------------------------------ 4. the learning rate and the loss


RATES = [float(r) for r in np.geomspace(1e-5, MAX_LEARNING_RATE / 2, 67)]  # five a decade


def overshoot(model: Model, pixels: np.ndarray, label: str) -> float | None:
    """The smallest learning rate above one that lowers the loss at which the step raises it, or None."""
    loss = forward(pixels, model, label).loss
    steps = {rate: learn(model, pixels, label, rate).step_loss for rate in RATES}
    falls = min(rate for rate, step in steps.items() if step < loss)
    return next((rate for rate, step in steps.items() if rate > falls and step > loss), None)


def test_the_default_step_lowers_the_loss_of_every_sample_whatever_the_label() -> None:
    """xlcnn.nn.learning's claim for DEFAULT_LEARNING_RATE, on the default model and each of its sample pictures."""
    model = load_model("default")
    spec = model.arch.input
    for name in ("circle", "circle-2", "square", "square-2", "triangle", "triangle-2", "star", "smiley"):
        pixels = load_image(SAMPLES / f"{name}.png", (spec.height, spec.width), spec.fit)
        for label in model.classes:
            loss = forward(pixels, model, label).loss
            assert learn(model, pixels, label, DEFAULT_LEARNING_RATE).step_loss < loss, (name, label)


def test_too_large_a_step_overshoots_for_the_square_called_a_circle_and_never_for_the_circle() -> None:
    """The Step sheet's "a larger η lowers the loss further, and one too large may overshoot and raise it", as
    its module says: samples/square.png with the true label circle overshoots from about η = 0.005;
    samples/circle.png with a wrong true label never does, at any rate."""
    model = load_model("default")
    spec = model.arch.input
    square = load_image(SQUARE, (spec.height, spec.width), spec.fit)
    rate = overshoot(model, square, "circle")
    assert rate is not None and 0.002 < rate < 0.01, rate
    circle = load_image(CIRCLE, (spec.height, spec.width), spec.fit)
    assert all(overshoot(model, circle, label) is None for label in ("square", "triangle"))


@pytest.mark.libreoffice
def test_the_step_lowers_or_overshoots_the_loss_in_libreoffice_as_the_engine_says(soffice: str, books: Books) -> None:
    """circle.png, true label square, η = 0.003: the loss falls; square.png, true label circle, η = 0.03: it
    rises (the engine's numbers, recalculated by LibreOffice)."""
    for key, image, label, lowers in (("rate-lowers", CIRCLE, "square", True),
                                      ("rate-overshoots", SQUARE, "circle", False)):
        book, copy, model = books.paths[key], books.recalculated("libreoffice", key), books.models[key]
        spec = model.arch.input
        pixels = load_image(image, (spec.height, spec.width), spec.fit)
        assert forward(pixels, model).predicted_label != label
        rate = DEFAULT_LEARNING_RATE if lowers else 0.03
        learned = learn(model, pixels, label, rate)
        loss = forward(pixels, model, label).loss
        got = numbers(book, copy, "loss", "step_loss", "learning_rate")
        assert got["learning_rate"][0, 0] == rate
        assert got["loss"][0, 0] == pytest.approx(loss, rel=1e-12)
        assert got["step_loss"][0, 0] == pytest.approx(learned.step_loss, rel=1e-12)
        assert bool(got["step_loss"][0, 0] < got["loss"][0, 0]) is lowers, (key, got)
        verified(book, copy, "libreoffice")


# ------------------------------------------------------------------------------------------- 5. learn=False


def sheet_formulas(path: Path) -> dict[str, dict[str, str]]:
    book = Book.open(path)
    out: dict[str, dict[str, str]] = {}
    for sheet, ref in book.formula_cells():
        out.setdefault(sheet, {})[ref] = book.formulas[sheet][ref].value
    return out


def test_without_the_learning_layer_there_are_no_learning_sheets_names_or_formulas(tmp_path: Path) -> None:
    model = tiny_model()
    image = picture(tmp_path / "picture.png")
    bare = build_workbook(image, tmp_path / "bare.xlsx", model=model, learn=False)
    full = build_workbook(image, tmp_path / "full.xlsx", model=model)
    learning = set(learning_sheets(1))
    bare_book, full_book = Book.open(bare.path), Book.open(full.path)
    assert set(bare_book.formulas.sheetnames) & learning == set()
    assert bare_book.formulas.sheetnames == [s for s in full_book.formulas.sheetnames if s not in learning]
    assert [name for name in bare_book.names if is_learning_name(name)] == []
    assert set(bare_book.names) == {name for name, (sheet, _) in full_book.names.items() if sheet not in learning}
    assert all(is_learning_name(name) for name, (sheet, _) in full_book.names.items() if sheet in learning)
    # The formulas: the forward-only count, in the file as in the plan; the learning layer's are only on its sheets.
    bare_cells, full_cells = sheet_formulas(bare.path), sheet_formulas(full.path)
    assert bare.formulas == sum(len(c) for c in bare_cells.values()) == formula_count(plan_for(model, learn=False))
    assert full.formulas == sum(len(c) for c in full_cells.values()) == formula_count(plan_for(model, learn=True))
    # The Overview sums the learning layer up too (each map's contributions, the step): the rest of it is the same.
    summary = len(full_cells["Overview"]) - len(bare_cells["Overview"])
    assert summary == 3 + 3 * 2 + 3  # the 3 classes' names over the contributions, 3 classes × 2 maps, the step
    assert full.formulas - bare.formulas == sum(len(full_cells[s]) for s in learning) + summary > summary
    for sheet, cells in bare_cells.items():
        if sheet == "Guide":  # its table of contents is longer with the learning layer: the same live cells, lower
            assert sorted(cells.values()) == sorted(full_cells[sheet].values())
        elif sheet == "Overview":
            assert set(cells.values()) <= set(full_cells[sheet].values())
        else:
            assert cells == full_cells[sheet], sheet


@BOTH_ENGINES
def test_a_workbook_without_the_learning_layer_verifies(engine_key: str, books: Books,
                                                        request: pytest.FixtureRequest) -> None:
    need(engine_key, request)
    copy = books.recalculated(engine_key, "no-learning")
    report = verified(books.paths["no-learning"], copy, engine_key)
    assert report.cells == books.formulas["no-learning"]
    stages = [s.stage for s in report.stages]
    assert set(stages) & set(learning_sheets(1)) == set() and "Loss" in stages


def test_the_learning_layer_at_most_quadruples_the_formulas_of_every_template(tmp_path: Path) -> None:
    ratios = {}
    for name in list_templates():
        model = load_model(name)
        full = build_workbook(CIRCLE, tmp_path / f"{name}.xlsx", model=model)
        bare = build_workbook(CIRCLE, tmp_path / f"{name}-bare.xlsx", model=model, learn=False)
        assert full.formulas == formula_count(plan_for(model, learn=True))
        assert bare.formulas == formula_count(plan_for(model, learn=False))
        ratios[name] = full.formulas / bare.formulas
    assert len(ratios) >= 5 and all(ratio > 1 for ratio in ratios.values()), ratios
    over = {name: f"{ratio:.3f}×" for name, ratio in ratios.items() if ratio > 4}
    assert over == {}, f"the learning layer more than quadruples the formulas of {over} (all: {ratios})"


# ------------------------------------------------------------------------------------- 6. the names of the contract


def two_block_model() -> Model:
    """12×11 → conv 3×3 ×3 pad 1 → pool 2 → 6×5 → conv 3×3 ×2 stride 2 pad 1 → 3×3 → pool 2 one apart → 2×2."""
    return make_model(12, 11, [(3, 3, 1, 1, 2, 2), (2, 3, 2, 1, 2, 1)], classes=3, seed=3)


def contract_shapes(model: Model) -> dict[str, tuple[int, int]]:
    """The learning table of the names contract, with each grid's (rows, columns)."""
    arch = model.arch
    spec, classes, flat = arch.input, len(arch.classes), arch.flatten_size
    shapes = {"learning_rate": (1, 1), "grad_logits": (1, classes), "grad_dense_w": (flat, classes),
              "grad_dense_b": (1, classes), "grad_flatten": (flat, 1), "saliency": (spec.height, spec.width),
              "step_dense_w": (flat, classes), "step_dense_b": (1, classes), "step_logits": (1, classes),
              "step_probs": (1, classes), "step_loss": (1, 1), "cam_class": (1, 1),
              "gradcam": arch.blocks[-1].conv_shape[1:], "gradcam_input": (spec.height, spec.width),
              "contrib": (arch.blocks[-1].pool_shape[0], classes)}
    shapes.update({name: (spec.height, spec.width) for name in ("grad_input_r", "grad_input_g", "grad_input_b")})
    for block in arch.blocks:
        k, kernel = block.index, block.conv.kernel
        filters, channels = block.conv.filters, block.in_shape[0]
        for f in range(1, filters + 1):
            shapes[f"grad_pool{k}_out{f}"] = block.pool_shape[1:]
            shapes[f"grad_relu{k}_out{f}"] = shapes[f"grad_conv{k}_out{f}"] = block.conv_shape[1:]
            shapes[f"grad_conv{k}_b{f}"] = shapes[f"step_conv{k}_b{f}"] = (1, 1)
            for c in range(1, channels + 1):
                shapes[f"grad_conv{k}_w{f}_{c}"] = shapes[f"step_conv{k}_w{f}_{c}"] = (kernel, kernel)
    return shapes


def contract_values(model: Model, learned: Learning) -> dict[str, np.ndarray | float | str]:
    """The engine's value of every name of ``contract_shapes``, shaped as the workbook holds it."""
    out: dict[str, np.ndarray | float | str] = {
        "learning_rate": learned.learning_rate, "grad_logits": learned.grad_logits[None],
        "grad_dense_w": learned.grad_dense_w, "grad_dense_b": learned.grad_dense_b[None],
        "grad_flatten": learned.grad_flatten[:, None], "saliency": learned.saliency,
        "step_dense_w": learned.step.dense_w, "step_dense_b": learned.step.dense_b[None],
        "step_logits": learned.step_logits[None], "step_probs": learned.step_probs[None],
        "step_loss": learned.step_loss, "cam_class": model.classes[learned.cam_class], "gradcam": learned.gradcam,
        "gradcam_input": learned.gradcam_input, "contrib": learned.contrib,
    }
    out.update({name: learned.grad_input[c] for c, name in enumerate(("grad_input_r", "grad_input_g", "grad_input_b"))})
    for block in model.arch.blocks:
        k = block.index
        for f in range(1, block.conv.filters + 1):
            out[f"grad_pool{k}_out{f}"] = learned.grad_pool[k - 1][f - 1]
            out[f"grad_relu{k}_out{f}"] = learned.grad_relu[k - 1][f - 1]
            out[f"grad_conv{k}_out{f}"] = learned.grad_conv[k - 1][f - 1]
            out[f"grad_conv{k}_b{f}"] = learned.grad_conv_b[k - 1][f - 1]
            out[f"step_conv{k}_b{f}"] = learned.step.conv_b[k - 1][f - 1]
            for c in range(1, block.in_shape[0] + 1):
                out[f"grad_conv{k}_w{f}_{c}"] = learned.grad_conv_w[k - 1][f - 1, c - 1]
                out[f"step_conv{k}_w{f}_{c}"] = learned.step.conv_w[k - 1][f - 1, c - 1]
    return out


def test_the_learning_names_have_their_shapes_and_the_engine_s_values(tmp_path: Path) -> None:
    model = two_block_model()
    pixels = random_image(model, 1)
    label, rate = model.classes[2], 0.01
    result = build_workbook(save_png(pixels, tmp_path / "picture.png"), tmp_path / "two.xlsx", model=model,
                            label=label, learning_rate=rate)
    book = Book.open(result.path)
    shapes = {name: (r1 - r0 + 1, c1 - c0 + 1) for name, (_, (c0, r0, c1, r1)) in book.names.items()}
    expected = contract_shapes(model)
    # 18 names once; per filter ∂ pool, ReLU, conv maps, ∂ bias and stepped bias (3 + 2 filters); per kernel its
    # gradient and stepped copy (3·3 + 2·3 kernels).
    assert len(expected) == 18 + 5 * (3 + 2) + 2 * (3 * 3 + 2 * 3)
    wrong = {name: (shapes.get(name), shape) for name, shape in expected.items() if shapes.get(name) != shape}
    assert wrong == {}
    # No learning name outside the contract but the sheets' own helpers (the forward pass after the step).
    extra = {name for name in shapes if is_learning_name(name)} - set(expected)
    assert all(name.startswith(("step_flatten", "step_relu", "step_pool", "saliency_overlay")) for name in extra), extra
    learned = learn(model, pixels, label, rate)
    assert learned.cam_class == result.trace.predicted_index  # Grad-CAM explains the prediction by default
    for name, value in contract_values(model, learned).items():
        got = book.values(name)
        if isinstance(value, str):
            assert got.shape == (1, 1) and got[0, 0] == value, name
        else:
            assert_stage_matches(name, got.astype(float), np.reshape(value, expected[name]), rtol=0, atol=0)
    # The step used the learning rate given to build_workbook, and the stepped parameters are w − η·∂L/∂w.
    assert_stage_matches("step_conv2_w1_1", book.values("step_conv2_w1_1").astype(float),
                         model.weights.conv_w[1][0, 0] - rate * learned.grad_conv_w[1][0, 0])
    assert learned.step_loss != learn(model, pixels, label).step_loss


def test_a_workbook_s_learning_names_are_what_verify_reads_back(tmp_path: Path) -> None:
    """The learning rate and Grad-CAM's class come back through their names, edited or not."""
    model = two_block_model()
    result = build_workbook(save_png(random_image(model, 2), tmp_path / "picture.png"), tmp_path / "two.xlsx",
                            model=model, learning_rate=0.25)
    back = read_back(result.path, open_workbook(result.path))
    assert (back.learning_rate, back.cam_class) == (0.25, result.trace.predicted_label)
    other = next(cls for cls in model.classes if cls != result.trace.predicted_label)
    edited = edited_with_openpyxl(result.path, tmp_path / "edited.xlsx", {
        "rate": (("learning_rate", 0, 0), 0.5), "cam": (("cam_class", 0, 0), other)})
    back = read_back(edited, open_workbook(edited))
    assert (back.learning_rate, back.cam_class) == (0.5, other)


# Keep the helpers honest: a name's cells are read where xlcnn put them.
def test_named_reads_the_cells_of_a_name(tmp_path: Path) -> None:
    model = tiny_model()
    result = build_workbook(picture(tmp_path / "picture.png"), tmp_path / "tiny.xlsx", model=model)
    sheet, (c0, r0, _, _) = Book.open(result.path).names["grad_input_r"]
    wb = openpyxl.load_workbook(result.path, data_only=True)
    corner = wb[sheet][f"{get_column_letter(c0)}{r0}"].value
    assert numbers(result.path, result.path, "grad_input_r")["grad_input_r"][0, 0] == corner
    assert numbers(result.path, result.path, "grad_input_r")["grad_input_r"].shape == (6, 6)

