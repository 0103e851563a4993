"""What each conv-1 filter looks for: the training patches that excite it most (``xlcnn.learn.patches``), their
file beside the weights (patches.npz), and the Filters 1 sheet's pictures of each filter and its patches.

The patches are checked against naive loops (``tests/naive.py``'s convolution, a window cut pixel by pixel);
the workbook's fills are read back with openpyxl. One test recalculates in LibreOffice."""

from __future__ import annotations

import dataclasses
import pickle
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from factories import make_arch, make_model
from helpers import zh_sheet
from naive import conv as naive_conv
from PIL import Image

import xlcnn.learn.patches
from xlcnn import build_workbook, load_model, save_model, verify_workbook
from xlcnn.book.stages import filters, plan_layout
from xlcnn.errors import ModelError
from xlcnn.learn.patches import strongest_windows, top_patches
from xlcnn.model.spec import Model, Weights
from xlcnn.model.templates import MAX_PATCHES, PATCHES_ARRAY, PATCHES_FILE, write_patches
from xlcnn.model.zoo import initial_weights

# (height, width, [(filters, kernel, stride, padding, pool size, pool stride)], scale)
SHAPES = [
    (8, 9, [(3, 3, 1, 1, 2, 2)], 1 / 255),
    (9, 8, [(2, 3, 2, 1, 1, 1)], 1.0),  # stride 2 and padding 1
    (10, 10, [(3, 2, 2, 0, 1, 1), (2, 2, 1, 0, 1, 1)], 1 / 255),  # a second block does not matter
    (7, 7, [(2, 5, 1, 2, 1, 1)], 0.5),
]


def random_weights(arch: object, seed: int) -> Weights:
    w = initial_weights(arch, seed)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed + 7)
    return Weights(w.conv_w, tuple(rng.normal(0, 0.1, b.shape) for b in w.conv_b), w.dense_w, w.dense_b)


def random_images(n: int, height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3)).astype(np.uint8)


def naive_top(arch: object, weights: Weights, images: np.ndarray, count: int) -> tuple[list[list[int]], np.ndarray]:
    """For each conv-1 filter: the images chosen, strongest first, and their windows, by plain loops."""
    block = arch.blocks[0]  # type: ignore[attr-defined]
    spec = block.conv
    k, s, p = spec.kernel, spec.stride, spec.padding
    h, w = images.shape[1:3]
    best: list[list[tuple[float, int, int, int]]] = [[] for _ in range(spec.filters)]  # (value, image, row, col)
    for n, image in enumerate(images):
        maps = naive_conv(image.transpose(2, 0, 1).astype(float), weights.conv_w[0], weights.conv_b[0], s, p,
                          arch.input.scale)  # type: ignore[attr-defined]
        for f in range(spec.filters):
            top = (maps[f, 0, 0], 0, 0)
            for i in range(maps.shape[1]):
                for j in range(maps.shape[2]):
                    if maps[f, i, j] > top[0]:  # strictly larger: the first maximum in row-major order wins
                        top = (maps[f, i, j], i, j)
            best[f].append((top[0], n, top[1], top[2]))
    chosen = [sorted(cands, key=lambda c: (-c[0], c[1]))[:count] for cands in best]
    shown = len(chosen[0])
    patches = np.zeros((spec.filters, shown, k, k, 3), dtype=np.uint8)
    for f, cands in enumerate(chosen):
        for q, (_, n, i, j) in enumerate(cands):
            for di in range(k):
                for dj in range(k):
                    y, x = i * s + di - p, j * s + dj - p
                    if 0 <= y < h and 0 <= x < w:  # outside: the zero padding, as the convolution reads it
                        patches[f, q, di, dj] = images[n, y, x]
    return [[c[1] for c in cands] for cands in chosen], patches


# ------------------------------------------------------------------------------------------ top_patches


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}-{s[2][0]}")
@pytest.mark.parametrize("count", [1, 4])
def test_top_patches_equal_naive_loops(shape: tuple, count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    height, width, convs, scale = shape
    arch = make_arch(height, width, convs, scale=scale)
    for seed in range(3):
        weights = random_weights(arch, seed)
        images = random_images(17, height, width, seed)
        expected_images, expected = naive_top(arch, weights, images, count)
        got = top_patches(arch, weights, images, count)
        assert got.dtype == np.uint8 and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
        assert strongest_windows(arch, weights, images, count).image.tolist() == expected_images
        # In chunks of one image the kept best are merged 17 times: the same patches, the same order.
        monkeypatch.setattr(xlcnn.learn.patches, "CHUNK_BYTES", 1)
        np.testing.assert_array_equal(top_patches(arch, weights, images, count), expected)
        monkeypatch.undo()


def test_at_most_one_patch_comes_from_each_image() -> None:
    """Image 0 is white: every window of it beats every window of the dark ones, but it gives one patch."""
    arch = make_arch(8, 8, [(2, 3, 1, 1, 2, 2)])
    w = np.abs(random_weights(arch, 0).conv_w[0])  # filters that like light
    weights = dataclasses.replace(random_weights(arch, 0), conv_w=(w,))
    images = random_images(6, 8, 8, 1) // 4
    images[0] = 255
    best = strongest_windows(arch, weights, images, 4)
    for f in range(2):
        assert best.image[f, 0] == 0
        assert len(set(best.image[f].tolist())) == 4
    patches = top_patches(arch, weights, images, 4)
    assert (patches[:, 0, 1, 1] == 255).all()  # the centre of the first patch is white, the others are dark
    assert (patches[:, 1:, 1, 1] < 64).all()


def test_ties_go_to_the_lowest_image_then_the_first_cell() -> None:
    """A filter of zeros gives its bias everywhere: a tie over every cell of every image."""
    arch = make_arch(6, 7, [(2, 3, 2, 1, 1, 1)])
    base = random_weights(arch, 0)
    weights = dataclasses.replace(base, conv_w=(np.zeros_like(base.conv_w[0]),))
    images = random_images(9, 6, 7, 0)
    best = strongest_windows(arch, weights, images, 3)
    assert best.image.tolist() == [[0, 1, 2]] * 2
    assert best.row.tolist() == best.col.tolist() == [[0, 0, 0]] * 2
    np.testing.assert_array_equal(best.value, np.repeat(base.conv_b[0][:, None], 3, axis=1))


def test_fewer_images_than_patches_give_one_patch_each() -> None:
    arch = make_arch(5, 5, [(3, 3, 1, 0, 1, 1)])
    assert top_patches(arch, random_weights(arch, 0), random_images(2, 5, 5, 0), 4).shape == (3, 2, 3, 3, 3)


@pytest.mark.parametrize(("images", "error"), [
    (np.zeros((3, 8, 8, 3)), TypeError),  # float pixels
    (np.zeros((3, 8, 7, 3), dtype=np.uint8), ValueError),  # not the model's size
    (np.zeros((8, 8, 3), dtype=np.uint8), ValueError),  # one image, not a batch
    (np.zeros((0, 8, 8, 3), dtype=np.uint8), ValueError),  # no images
])
def test_wrong_images_are_refused(images: np.ndarray, error: type[Exception]) -> None:
    arch = make_arch(8, 8, [(2, 3, 1, 1, 2, 2)])
    with pytest.raises(error):
        top_patches(arch, random_weights(arch, 0), images)


# ------------------------------------------------------------------------------------------ patches.npz


def with_patches(model: Model, count: int = 4, seed: int = 0) -> Model:
    spec = model.arch.input
    images = random_images(40, spec.height, spec.width, seed)
    return dataclasses.replace(model, patches=top_patches(model.arch, model.weights, images, count))


def saved(tmp_path: Path, model: Model | None = None) -> Path:
    return save_model(model or with_patches(make_model(8, 8, [(3, 3, 1, 1, 2, 2)])), tmp_path / "template")


def test_patches_round_trip_through_save_and_load(tmp_path: Path) -> None:
    model = with_patches(make_model(8, 8, [(3, 3, 1, 1, 2, 2)]), count=5)
    folder = saved(tmp_path, model)
    assert (folder / PATCHES_FILE).is_file()
    with np.load(folder / PATCHES_FILE, allow_pickle=False) as npz:
        assert npz.files == [PATCHES_ARRAY]
    loaded = load_model(folder)
    assert loaded.patches is not None and loaded.patches.dtype == np.uint8
    np.testing.assert_array_equal(loaded.patches, model.patches)


def test_without_the_file_a_model_has_no_patches(tmp_path: Path) -> None:
    folder = saved(tmp_path)
    (folder / PATCHES_FILE).unlink()
    assert load_model(folder).patches is None


def test_saving_a_model_without_patches_removes_the_old_file(tmp_path: Path) -> None:
    folder = saved(tmp_path)
    save_model(dataclasses.replace(load_model(folder), patches=None), folder)
    assert not (folder / PATCHES_FILE).exists()
    assert load_model(folder).patches is None


def _savez(path: Path, **arrays: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]


def _zipped_pickle(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{PATCHES_ARRAY}.npy", pickle.dumps(np.zeros((3, 4, 3, 3, 3), dtype=np.uint8)))


GOOD = (3, 4, 3, 3, 3)
HOSTILE = {
    "no patches": (lambda p: _savez(p, **{PATCHES_ARRAY: np.zeros((3, 0, 3, 3, 3), np.uint8)}), "has shape (3, 0,"),
    "too many patches": (lambda p: _savez(p, **{PATCHES_ARRAY: np.zeros((3, MAX_PATCHES + 1, 3, 3, 3), np.uint8)}),
                         "but conv 1 needs (3, 1 to 16, 3, 3, 3)"),
    "too few filters": (lambda p: _savez(p, **{PATCHES_ARRAY: np.zeros((2, 4, 3, 3, 3), np.uint8)}), "has shape"),
    "wrong kernel": (lambda p: _savez(p, **{PATCHES_ARRAY: np.zeros((3, 4, 5, 5, 3), np.uint8)}), "has shape"),
    "no channels": (lambda p: _savez(p, **{PATCHES_ARRAY: np.zeros((3, 4, 3, 3), np.uint8)}), "has shape"),
    "floats": (lambda p: _savez(p, **{PATCHES_ARRAY: np.zeros(GOOD)}),
               "must hold uint8 pixels (0 to 255), not float64"),
    "int16": (lambda p: _savez(p, **{PATCHES_ARRAY: np.zeros(GOOD, np.int16)}), "not int16"),
    "objects": (lambda p: _savez(p, **{PATCHES_ARRAY: np.array([None, "x"], dtype=object)}), "pickled Python objects"),
    "a pickle": (lambda p: p.write_bytes(pickle.dumps(np.zeros(GOOD, np.uint8))),
                 "is a Python pickle, which xlcnn never loads (patches must be an .npz archive)"),
    "a pickle in the zip": (_zipped_pickle, "is not a NumPy array"),
    "not a zip": (lambda p: p.write_text("these are not the patches you are looking for\n"), "not a zip archive"),
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "truncated": (lambda p: (_savez(p, **{PATCHES_ARRAY: np.zeros(GOOD, np.uint8)}),
                             p.write_bytes(p.read_bytes()[:60])), "not a valid .npz file"),
    "one .npy": (lambda p: p.write_bytes(b"\x93NUMPY" + b"\x01\x00" + b"x" * 100), "a single .npy array"),
    "wrong name": (lambda p: _savez(p, patches=np.zeros(GOOD, np.uint8)), "missing array conv1_patches"),
    "an extra array": (lambda p: _savez(p, **{PATCHES_ARRAY: np.zeros(GOOD, np.uint8), "more": np.zeros(1)}),
                       "unexpected array more"),
    "a folder": (lambda p: p.mkdir(), "is a directory"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_patches_file_is_one_line_naming_it(tmp_path: Path, case: str) -> None:
    folder = saved(tmp_path)
    path = folder / PATCHES_FILE
    path.unlink()
    make, problem = HOSTILE[case]
    make(path)
    with pytest.raises(ModelError) as caught:
        load_model(folder)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert problem in message


def test_bad_patches_of_a_model_made_in_code_are_refused(tmp_path: Path) -> None:
    model = make_model(8, 8, [(3, 3, 1, 1, 2, 2)])
    wrong = dataclasses.replace(model, patches=np.zeros((3, 4, 3, 3), np.uint8))
    with pytest.raises(ModelError, match="conv1_patches has shape"):
        write_patches(wrong, tmp_path / PATCHES_FILE)
    with pytest.raises(ModelError, match="model 'test': conv1_patches must hold uint8"):
        build_workbook(picture(tmp_path / "p.png", 8), tmp_path / "out.xlsx",
                       dataclasses.replace(model, patches=np.zeros((3, 4, 3, 3, 3))))
    assert not (tmp_path / "out.xlsx").exists()


# ------------------------------------------------------------------------------------------ the workbook


def picture(path: Path, side: int, seed: int = 3) -> Path:
    Image.fromarray(random_images(1, side, side, seed)[0]).save(path)
    return path


def argb(rgb: np.ndarray) -> str:
    return "FF" + "".join(f"{int(v):02X}" for v in rgb)


def expected_filter_colours(w: np.ndarray) -> np.ndarray:
    """(3, k, k) kernels of one filter → (k, k, 3): 0 → 128, ±the largest |weight| → 255 or 0."""
    top = np.abs(w).max()
    out = np.zeros((*w.shape[1:], 3), dtype=int)
    for c in range(3):
        for i in range(w.shape[1]):
            for j in range(w.shape[2]):
                out[i, j, c] = min(255, max(0, round(128 + 128 * w[c, i, j] / top)))
    return out


def fills(ws: object, grid: object) -> np.ndarray:
    """The (rows, cols) fill colours of a grid, and check its cells hold nothing."""
    colours = np.empty((grid.rows, grid.cols), dtype=object)  # type: ignore[attr-defined]
    for r in range(grid.rows):  # type: ignore[attr-defined]
        for c in range(grid.cols):  # type: ignore[attr-defined]
            row, col = grid.at(r, c)  # type: ignore[attr-defined]
            cell = ws.cell(row + 1, col + 1)  # type: ignore[attr-defined]
            assert cell.value is None
            colours[r, c] = cell.fill.fgColor.rgb if cell.fill.fill_type == "solid" else None
    return colours


def built(tmp_path: Path, model: Model, name: str, lang: str = "en") -> openpyxl.Workbook:
    folder = tmp_path / name  # each in its own folder: the picture's name is in the workbook
    folder.mkdir()
    out = folder / "book.xlsx"
    build_workbook(picture(folder / "picture.png", model.arch.input.height), out, model, lang=lang)
    return openpyxl.load_workbook(out)


def test_filters_1_shows_each_filter_and_its_patches_in_colour(tmp_path: Path) -> None:
    model = with_patches(make_model(8, 8, [(3, 3, 1, 1, 2, 2), (2, 3, 1, 1, 2, 2)]), count=6)
    assert model.patches is not None
    book = built(tmp_path, model, "patches")
    layout = plan_layout(model.arch, teaching=True, patches=6)
    ws = book["Filters 1"]
    for f in range(1, 4):
        bias = layout.grid(f"conv1_b{f}")
        shown = layout.grid(filters.picture_key(f))
        assert shown.top == layout.grid(f"conv1_w{f}_1").top and shown.left > bias.left
        want = expected_filter_colours(model.weights.conv_w[0][f - 1])
        assert fills(ws, shown).tolist() == [[argb(want[i, j]) for j in range(3)] for i in range(3)]
        assert ws.cell(shown.title_row + 1, shown.left + 1).value == "picture"
        for p in range(1, filters.SHOWN_PATCHES + 1):  # the 4 strongest of the 6 stored
            grid = layout.grid(filters.patch_key(f, p))
            patch = model.patches[f - 1, p - 1]
            assert fills(ws, grid).tolist() == [[argb(patch[i, j]) for j in range(3)] for i in range(3)]
        first = layout.grid(filters.patch_key(f, 1))
        caption = ws.cell(first.title_row + 1, first.left + 1).value
        assert caption == "Top training patches"
    assert "0 → 128" in ws.cell(4, 2).value  # the key, in the header
    assert "picture" not in [c.value for row in book["Filters 2"].iter_rows() for c in row]  # conv 1 only


def test_a_model_without_patches_shows_only_the_filters(tmp_path: Path) -> None:
    model = make_model(8, 8, [(3, 3, 1, 1, 2, 2)])
    ws = built(tmp_path, model, "none")["Filters 1"]
    layout = plan_layout(model.arch, teaching=True)  # no patches: no slots for them
    for f in range(1, 4):
        assert None not in fills(ws, layout.grid(filters.picture_key(f)))
        assert filters.patch_key(f, 1) not in layout.grids
    slots = plan_layout(model.arch, teaching=True, patches=4)  # where patches would have been: blank
    for f in range(1, 4):
        for p in range(1, filters.SHOWN_PATCHES + 1):
            assert (fills(ws, slots.grid(filters.patch_key(f, p))) == None).all()  # noqa: E711
    texts = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert "Top training patches" not in texts


def test_the_pictures_change_no_formula_and_no_name(tmp_path: Path) -> None:
    """The same workbook with and without patches: the same defined names, the same cells outside the pictures."""
    model = make_model(8, 8, [(3, 3, 1, 1, 2, 2)])
    plain = built(tmp_path, model, "plain")
    pictured = built(tmp_path, with_patches(model), "pictured")
    assert dict(plain.defined_names.items()).keys() == dict(pictured.defined_names.items()).keys()
    assert {k: v.attr_text for k, v in plain.defined_names.items()} == {
        k: v.attr_text for k, v in pictured.defined_names.items()}
    for ws in plain.worksheets:
        other = pictured[ws.title]
        values = {(c.row, c.column): c.value for row in ws.iter_rows() for c in row if c.value is not None}
        assert values == {(c.row, c.column): c.value for row in other.iter_rows() for c in row
                          if c.value is not None and c.value != "Top training patches"}


def test_large_kernels_get_no_pictures(tmp_path: Path) -> None:
    model = make_model(10, 10, [(2, 9, 1, 4, 2, 2)])
    layout = plan_layout(model.arch, teaching=True)
    assert filters.picture_key(1) not in layout.grids and filters.patch_key(1, 1) not in layout.grids
    ws = built(tmp_path, dataclasses.replace(model, patches=np.zeros((2, 4, 9, 9, 3), np.uint8)), "large")["Filters 1"]
    assert not any(c.fill.fill_type == "solid" for row in ws.iter_rows() for c in row)


def test_too_many_colours_are_rounded_as_the_image_sheet_rounds_them(tmp_path: Path) -> None:
    """64 filters of 7×7 with random patches: 15,680 coloured cells, so their colours are rounded to 16 levels,
    and the cell formats stay bounded."""
    model = make_model(8, 8, [(64, 7, 1, 3, 8, 8)], classes=2)
    rng = np.random.default_rng(0)
    model = dataclasses.replace(model, patches=rng.integers(0, 256, (64, 4, 7, 7, 3)).astype(np.uint8))
    ws = built(tmp_path, model, "many")["Filters 1"]
    colours = {c.fill.fgColor.rgb for row in ws.iter_rows() for c in row
               if c.fill.fill_type == "solid" and c.value is None}
    assert 1000 < len(colours) <= 4096
    assert all(int(rgb[i : i + 2], 16) % 17 == 0 for rgb in colours for i in (2, 4, 6))
    assert "rounded to 16 levels" in ws.cell(4, 2).value


def test_chinese_captions(tmp_path: Path) -> None:
    ws = built(tmp_path, with_patches(make_model(8, 8, [(2, 3, 1, 1, 2, 2)])), "zh", lang="zh")[zh_sheet("Filters 1")]
    texts = {c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert "图示" in texts and "最强的训练图块" in texts


@pytest.mark.libreoffice
def test_a_workbook_with_pictures_verifies(soffice: str, tmp_path: Path) -> None:
    model = with_patches(make_model(8, 8, [(3, 3, 2, 1, 1, 1), (2, 3, 1, 1, 2, 2)]))
    out = tmp_path / "verified.xlsx"
    build_workbook(picture(tmp_path / "v.png", 8), out, model)
    report = verify_workbook(out)
    assert report.ok, report.summary()
