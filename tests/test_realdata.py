"""The real data sets of the digits and faces templates (scikit-learn's load_digits, scikit-image's lfw_subset),
and that nothing but retraining needs the packages that hold them."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xlcnn import DatasetError, OptionError
from xlcnn.learn.datasets import Dataset, split
from xlcnn.learn.realdata import DIGITS, FACES, REAL, RealDataset, real
from xlcnn.model.labels import check_labels

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _needs(module: str, package: str) -> None:
    """The test extra installs the data packages: in CI a missing one fails the test rather than skipping it."""
    try:
        importlib.import_module(module)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{package} is required in CI (the test extra) but is not installed")
        pytest.skip(f'{package} is not installed; pip install -e ".[test]" to run this test')


@pytest.fixture(scope="module")
def digits() -> Dataset:
    _needs("sklearn", "scikit-learn")
    return real("digits").load((8, 8))


@pytest.fixture(scope="module")
def faces() -> Dataset:
    _needs("skimage", "scikit-image")
    return real("faces").load((25, 25))


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


def _lfw_subset() -> np.ndarray:
    from skimage.data import lfw_subset

    return np.asarray(lfw_subset())


def _grey(data: Dataset) -> np.ndarray:
    """The one grey channel of images whose three channels must be equal."""
    images = data.images
    assert np.array_equal(images[..., 0], images[..., 1]) and np.array_equal(images[..., 0], images[..., 2])
    return images[..., 0]


# ---------------------------------------------------------------------------------------------- loads


def test_digits_are_all_1797_images_as_rgb_with_load_digits_labels(digits: Dataset) -> None:
    _, target = _load_digits()
    assert digits.images.shape == (1797, 8, 8, 3) and digits.images.dtype == np.uint8
    assert digits.labels.dtype == np.int64 and np.array_equal(digits.labels, target)
    assert digits.classes == DIGITS == tuple(f"digit {d}" for d in range(10))
    assert np.bincount(digits.labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    _grey(digits)


def test_digits_are_dark_ink_on_white_paper(digits: Dataset) -> None:
    counts, _ = _load_digits()
    assert counts[0, 0, 3] == 13  # the first digit (a 0): row 0, column 3 holds 13 of 16 inked cells
    assert _grey(digits)[0, 0, 3] == 48  # 255 − 13·255/16 = 47.8125
    # every pixel, at the data's own 8×8: 0 (no ink) is white, 16 (all ink) is black
    assert np.array_equal(_grey(digits), np.rint(255 - counts * 255 / 16).astype(np.uint8))
    assert _grey(digits)[counts == 0].min() == 255 and _grey(digits)[counts == 16].max() == 0


def test_digits_are_resized_smoothly_to_any_size() -> None:
    _needs("sklearn", "scikit-learn")
    counts, _ = _load_digits()
    data = real("digits").load((28, 20))
    assert data.images.shape == (1797, 28, 20, 3) and data.images.dtype == np.uint8
    grey = _grey(data).astype(np.int64)
    # bilinear: no overshoot, so paper stays white where a whole column of the 8×8 picture is blank
    blank = counts[:, :, 0].max(axis=1) == 0
    assert blank.sum() > 1000 and (grey[blank, :, 0] == 255).all()
    # and no 8×8 blocks: blending neighbours makes many more greys than the 17 levels of ink
    assert len(np.unique(grey)) > 200
    means = grey.reshape(1797, -1).mean(axis=1)
    assert np.corrcoef(means, counts.reshape(1797, -1).mean(axis=1))[0, 1] < -0.98  # more ink, darker picture


def test_faces_are_100_faces_then_100_pictures_that_are_not(faces: Dataset) -> None:
    assert faces.images.shape == (200, 25, 25, 3) and faces.images.dtype == np.uint8
    assert faces.labels.dtype == np.int64 and faces.classes == FACES == ("face", "not a face")
    assert faces.labels.tolist() == [0] * 100 + [1] * 100
    # at its own 25×25 a photo is as it is, 0..1 → 0..255 rounded
    assert np.array_equal(_grey(faces), np.rint(_lfw_subset() * 255).astype(np.uint8))


def test_faces_are_fitted_like_a_picture_given_to_build() -> None:
    _needs("skimage", "scikit-image")
    from PIL import Image

    from xlcnn.image import fit_image

    data = real("faces").load((32, 24))
    assert data.images.shape == (200, 32, 24, 3) and data.images.dtype == np.uint8
    first = Image.fromarray(np.rint(_lfw_subset()[0] * 255).astype(np.uint8), mode="L").convert("RGB")
    assert np.array_equal(data.images[0], fit_image(first, 32, 24, "crop"))


@pytest.mark.parametrize("name", sorted(REAL))
def test_a_held_out_fifth_is_stratified(name: str) -> None:
    spec = real(name)
    _needs(spec.module.partition(".")[0], spec.package)
    data = spec.load((8, 8))
    train, held = split(data, 0.2, seed=0)
    assert len(train) + len(held) == len(data)
    for k in range(len(data.classes)):
        n = int((data.labels == k).sum())
        assert abs(int((held.labels == k).sum()) - 0.2 * n) <= 1, data.classes[k]


# ------------------------------------------------------------------------------------------ the registry


@pytest.mark.parametrize("name", sorted(REAL))
def test_each_data_set_describes_itself_for_the_model_card(name: str) -> None:
    spec = REAL[name]
    assert isinstance(spec, RealDataset) and spec.name == name and spec.template == name
    assert check_labels(list(spec.classes), "classes") == spec.classes  # text a spreadsheet keeps as text
    assert spec.title and spec.what and spec.origin and spec.licence
    assert spec.package in ("scikit-learn", "scikit-image")
    assert spec.flip == (name == "faces")  # a mirrored face is a face; a mirrored digit is no digit


def test_bare_digits_would_not_be_labels() -> None:
    with pytest.raises(ValueError, match="is a plain number"):
        check_labels([str(d) for d in range(10)], "classes")


def test_an_unknown_name_lists_the_real_data_sets() -> None:
    with pytest.raises(DatasetError) as err:
        real("mnist")
    assert str(err.value) == "unknown real data set 'mnist' (real data sets: digits, faces)"


def test_a_size_is_checked_before_anything_is_read() -> None:
    with pytest.raises(OptionError, match="at least 1×1"):
        real("digits").load((0, 8))


# --------------------------------------------------------------------------------- the optional packages


@pytest.mark.parametrize(("name", "module", "package"),
                         [("digits", "sklearn", "scikit-learn"), ("faces", "skimage", "scikit-image")])
def test_a_missing_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, name: str, module: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # any import of it now fails, as if not installed
    with pytest.raises(DatasetError) as err:
        real(name).load((8, 8))
    expected = f'the data set {name!r} needs {package}, which is not installed (pip install "xlcnn[data]")'
    assert str(err.value) == expected


def test_a_broken_package_is_not_called_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    _needs("sklearn", "scikit-learn")
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # the package is there, its data module is not
    with pytest.raises(DatasetError, match=r"^the data set 'digits' needs scikit-learn, which cannot be imported: "):
        real("digits").load((8, 8))


BUILD_WITHOUT_DATA_PACKAGES = """
import sys
import xlcnn
from xlcnn.learn import realdata
assert realdata.REAL["digits"].package == "scikit-learn"
sys.argv = ["xlcnn", "build", sys.argv[1], "-o", sys.argv[2]]
from xlcnn.cli import main
try:
    main()
except SystemExit as done:
    assert not done.code, done.code
print(sorted({m.partition(".")[0] for m in sys.modules} & {"sklearn", "skimage"}))
"""


def test_import_and_build_never_import_the_data_packages(tmp_path: Path) -> None:
    out = tmp_path / "circle.xlsx"
    done = subprocess.run([sys.executable, "-c", BUILD_WITHOUT_DATA_PACKAGES, str(ROOT / "samples" / "circle.png"),
                           str(out)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and done.stdout.splitlines()[-1] == "[]"
