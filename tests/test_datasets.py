"""The built-in procedural data sets and the photo-folder reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xlcnn import DatasetError
from xlcnn.learn.datasets import BUILTIN, SHAPE_STYLES, SHAPES, _shape_mask, generate, load_folder, sample_image, split


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_same_seed_same_pixels_other_seed_other_pixels(name: str) -> None:
    a = generate(name, 60, seed=7)
    b = generate(name, 60, seed=7)
    c = generate(name, 60, seed=8)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_images_are_uint8_rgb_of_the_templates_size_with_balanced_labels(name: str) -> None:
    data = generate(name, 301, seed=1)
    size = {"shapes": (28, 28), "stripes": (6, 6)}[name]
    assert data.images.shape == (301, *size, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64 and data.labels.shape == (301,)
    assert data.classes == BUILTIN[name].classes and len(data.classes) >= 3
    counts = np.bincount(data.labels, minlength=len(data.classes))
    assert counts.max() - counts.min() <= 1  # 301 = 101 + 100 + 100
    assert len(set(data.labels[:12].tolist())) > 1  # shuffled, not class by class


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_pixels_span_the_range_and_images_differ(name: str) -> None:
    data = generate(name, 200, seed=3)
    assert data.images.min() <= 10 and data.images.max() >= 245  # dark and light colours both occur
    per_image_spread = data.images.reshape(200, -1).std(axis=1)
    assert per_image_spread.min() > 5  # every image shows its pattern, none is a flat colour
    assert len({img.tobytes() for img in data.images}) == 200


def test_shapes_vary_in_position_so_the_network_must_learn_translation_invariance() -> None:
    rng = np.random.default_rng(5)
    masks = np.stack([_shape_mask(kind, stroke, size, rng, (28, 28)) for kind in SHAPES for _ in range(20)
                      for stroke, size in (("filled", "small"), ("thin outline", "medium"), ("filled", "large"))])
    rows = (masks * np.arange(28)[None, :, None]).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
    cols = (masks * np.arange(28)[None, None, :]).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
    assert rows.std() > 2.5 and cols.std() > 2.5  # the centre wanders by several pixels
    assert rows.min() < 10 and rows.max() > 17 and cols.min() < 10 and cols.max() > 17
    assert masks.min() == 0.0 and masks.max() == 1.0 and ((masks > 0) & (masks < 1)).any()  # anti-aliased


def test_shapes_come_in_every_style_and_the_style_is_what_is_drawn() -> None:
    data = generate("shapes", 600, seed=4)
    styles = np.array([style.split(", ") for style in data.styles])
    for column, values in enumerate(SHAPE_STYLES.values()):
        counts = {value: int((styles[:, column] == value).sum()) for value in values}
        assert min(counts.values()) > 600 / len(values) / 2, counts  # every style, roughly as often
    grey = data.images.astype(float) @ np.array([0.299, 0.587, 0.114])
    centre, edge = np.median(grey[:, 10:18, 10:18], axis=(1, 2)), np.median(grey[:, [0, -1], :], axis=(1, 2))
    filled = styles[:, 1] == "filled"
    big = styles[:, 2] == "large"
    light = styles[:, 0] == "light on dark"
    # A large filled shape covers the middle: lighter than the paper when light on dark, darker otherwise.
    # (Off-centre shapes miss the middle now and then, so most, not all.)
    assert ((centre > edge)[filled & big & light]).mean() > 0.8
    assert ((centre < edge)[filled & big & ~light]).mean() > 0.8


def test_generators_draw_at_any_size() -> None:
    data = generate("shapes", 6, seed=1, size=(40, 32))
    assert data.images.shape == (6, 40, 32, 3)
    stripes = generate("stripes", 6, seed=1, size=(8, 8))
    assert stripes.images.shape == (6, 8, 8, 3)


def test_stripes_run_the_way_their_label_says() -> None:
    data = generate("stripes", 300, seed=2)
    grey = data.images.astype(float) @ np.array([0.299, 0.587, 0.114])  # stripes differ in brightness
    across_rows = np.abs(np.diff(grey, axis=1)).mean(axis=(1, 2))  # large for horizontal stripes
    across_cols = np.abs(np.diff(grey, axis=2)).mean(axis=(1, 2))  # large for vertical stripes
    horizontal, vertical = data.labels == 0, data.labels == 1
    assert (across_rows[horizontal] > across_cols[horizontal]).all()
    assert (across_cols[vertical] > across_rows[vertical]).all()


def test_only_the_generated_data_sets_are_generated() -> None:
    """digits and faces are real pictures (xlcnn.learn.realdata): nothing generates them."""
    with pytest.raises(DatasetError,
                       match=r"^unknown generated data set 'digits' \(generated data sets: shapes, stripes\)$"):
        generate("digits", 10, seed=1)


def test_sample_image_is_a_large_picture_of_the_class() -> None:
    image = sample_image("shapes", "circle", seed=1, size=120)
    assert image.size == (120, 120) and image.mode == "RGB"
    with pytest.raises(DatasetError, match="has no class 'star'"):
        sample_image("shapes", "star", seed=1)


# -------------------------------------------------------------------------------------- photo folders


def _write(folder: Path, count: int, colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", size, tuple(min(255, c + 10 * i) for c in colour)).save(folder / f"img{i}.png")


def test_photo_folder_classes_are_sorted_folder_names(tmp_path: Path) -> None:
    _write(tmp_path / "dog", 3, (200, 0, 0))
    _write(tmp_path / "cat", 2, (0, 200, 0))
    (tmp_path / ".git").mkdir()  # hidden folders and files are not classes or images
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0")
    data = load_folder(tmp_path, (8, 6))
    assert data.classes == ("cat", "dog")
    assert data.images.shape == (5, 8, 6, 3) and data.images.dtype == np.uint8
    assert data.labels.tolist() == [0, 0, 1, 1, 1]
    assert data.images[0, 0, 0].tolist() == [0, 200, 0]  # read as RGB, centre-cropped and resized
    assert data.sources[0].endswith("img0.png")


def test_photo_folder_warns_about_files_it_ignores(tmp_path: Path) -> None:
    _write(tmp_path / "a", 1, (0, 0, 0))
    _write(tmp_path / "b", 1, (255, 255, 255))
    (tmp_path / "README.txt").write_text("notes")
    (tmp_path / "a" / "notes.txt").write_text("notes")
    warnings: list[str] = []
    load_folder(tmp_path, (4, 4), warn=warnings.append)
    assert warnings == [
        f"{tmp_path}: ignored 1 file(s) outside the class folders, e.g. README.txt",
        f"{tmp_path / 'a'}: ignored 1 file(s) that are not images by name, e.g. notes.txt",
    ]


def test_photo_folder_class_names_that_read_as_numbers_become_text_labels(tmp_path: Path) -> None:
    for name in ("0", "7", "2024-01-05", "TRUE"):
        _write(tmp_path / name, 1, (0, 0, 0))
    _write(tmp_path / "b", 1, (255, 255, 255))
    warnings: list[str] = []
    data = load_folder(tmp_path, (4, 4), warn=warnings.append)
    assert data.classes == ("class 0", "class 2024-01-05", "class 7", "class TRUE", "b")
    assert warnings == [f"{tmp_path}: class folders whose names a spreadsheet would read as numbers or dates get "
                        "'class' in front in the workbook ('0' is 'class 0', '2024-01-05' is 'class 2024-01-05', "
                        "'7' is 'class 7', …)"]


def test_photo_folder_class_names_must_be_usable_labels(tmp_path: Path) -> None:
    _write(tmp_path / "a*", 1, (0, 0, 0))
    _write(tmp_path / "b", 1, (255, 255, 255))
    wildcards = r"a\*: class folder name 'a\*' contains \*, \? or ~ \(spreadsheet wildcards\)$"
    with pytest.raises(DatasetError, match=wildcards):
        load_folder(tmp_path, (4, 4))


def test_skip_bad_drops_an_empty_class_and_an_unreadable_image(tmp_path: Path) -> None:
    _write(tmp_path / "a", 2, (0, 0, 0))
    _write(tmp_path / "b", 2, (255, 255, 255))
    (tmp_path / "c").mkdir()
    (tmp_path / "b" / "broken.jpg").write_bytes(b"not a jpeg")
    warnings: list[str] = []
    data = load_folder(tmp_path, (4, 4), skip_bad=True, warn=warnings.append)
    assert data.classes == ("a", "b") and len(data) == 4
    assert warnings[0].startswith(f"skipped {tmp_path / 'b' / 'broken.jpg'}: not an image file")
    assert warnings[1] == f"skipped {tmp_path / 'c'}: empty class folder (no images in it)"


def test_split_holds_out_a_share_of_every_class(tmp_path: Path) -> None:
    data = generate("stripes", 100, seed=1)
    train, validation = split(data, 0.2, seed=4)
    assert len(train) + len(validation) == 100
    assert np.bincount(validation.labels).tolist() == [7, 7, 7]  # 20% of 34, 33 and 33, rounded
    _, again_validation = split(data, 0.2, seed=4)
    assert np.array_equal(validation.images, again_validation.images)
    assert not {img.tobytes() for img in train.images} & {img.tobytes() for img in validation.images}
    none_train, none_validation = split(data, 0.0, seed=4)
    assert len(none_validation) == 0 and len(none_train) == 100
