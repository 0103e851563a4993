"""Real training data for the ``digits`` and ``faces`` templates, from data sets that ship inside two
well-kept packages, so that nothing is downloaded:

- ``digits``: scikit-learn's ``load_digits``, 1,797 handwritten digits of 8×8 pixels, each pixel a count
  from 0 to 16, drawn here as dark ink on white paper (the way a student draws a digit for the model);
- ``faces``: scikit-image's ``lfw_subset``, 100 faces and then 100 pictures that are not faces, 25×25
  grey photos with values from 0 to 1.

The packages (the ``data`` extra) are needed only to retrain these templates, never to build a workbook:
each is imported when its data set is loaded, not before, so ``import xlcnn`` and ``xlcnn build`` run
without them. Class labels are text a spreadsheet keeps as text (``xlcnn.model.labels``): a bare ``3``
would become a number, so the digits are called ``digit 0`` … ``digit 9``.

The accuracy on a model card is measured on a held-out fifth of the images, chosen class by class by
:func:`xlcnn.learn.datasets.split`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from PIL import Image

from xlcnn.errors import DatasetError, one_line
from xlcnn.image import check_fit, fit_image
from xlcnn.learn.datasets import Dataset
from xlcnn.model.zoo import DIGITS

# (the package's module that holds the data, (height, width)) → (N, H, W, 3) uint8 images, (N,) labels.
# The module is handed over rather than imported by the reader, so that one place imports the optional
# packages and turns their absence into a DatasetError.
Reader = Callable[[ModuleType, tuple[int, int]], tuple[np.ndarray, np.ndarray]]

DIGIT_LEVELS = 16  # load_digits counts the inked cells of a 4×4 block: 0 (paper) to 16 (all ink)


@dataclass(frozen=True)
class RealDataset:
    """A data set of real pictures bundled with a package: where it came from, and how to read it."""

    name: str
    classes: tuple[str, ...]
    template: str  # the built-in template it is made for
    title: str  # the template's title
    what: str  # "the 1,797 handwritten digits … bundled with …", for the model card
    origin: str  # where the data came from before the package bundled it
    licence: str  # the data's licence, as far as the package and its sources state one
    package: str  # what ``pip install`` needs to read it
    module: str  # the module of the package that holds the data ("sklearn.datasets")
    read: Reader
    flip: bool  # whether a mirrored picture is still of its class, so training may mirror them
    epochs: int  # how many epochs ``xlcnn train`` runs by default
    learning_rate: float  # Adam's first step size for it
    label_smoothing: float = 0.1  # the ε of the targets it trains towards (see TrainConfig.label_smoothing)

    def load(self, size: tuple[int, int]) -> Dataset:
        """All images as RGB uint8 (N, H, W, 3) of ``size`` = (height, width), in the package's order."""
        check_fit(size[0], size[1], "stretch")
        images, labels = self.read(self._import(), size)
        return Dataset(images, labels.astype(np.int64), self.classes)

    def _import(self) -> ModuleType:
        """The module that holds the data, or a one-line DatasetError saying what to install."""
        package = self.module.partition(".")[0]
        try:
            # The package first: a submodule imported before is found without looking at its package.
            importlib.import_module(package)
            return importlib.import_module(self.module)
        except ImportError as exc:
            if isinstance(exc, ModuleNotFoundError) and exc.name == package:
                raise DatasetError(f"the data set {self.name!r} needs {self.package}, which is not installed "
                                   f'(pip install "xlcnn[data]")') from None
            # installed, but broken, or something it needs is missing
            raise DatasetError(f"the data set {self.name!r} needs {self.package}, which cannot be imported: "
                               f"{one_line(str(exc))}") from None


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """(N, H, W) → (N, H, W, 3): grey in all three channels."""
    return np.repeat(grey[..., None], 3, axis=-1)


# ------------------------------------------------------------------------------------------- digits



def ink_on_paper(counts: np.ndarray) -> np.ndarray:
    """load_digits' 0..16 ink counts → float grey levels: 16 is black ink (0), 0 is white paper (255)."""
    return 255.0 - counts * (255.0 / DIGIT_LEVELS)


def _read_digits(datasets: ModuleType, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    bunch = datasets.load_digits()
    height, width = size
    grey = np.empty((len(bunch.images), height, width), dtype=np.float64)
    for i, counts in enumerate(bunch.images):
        # Resampled as 32-bit floats (Pillow's mode "F") and rounded once, at the end. Bilinear, because an
        # 8×8 picture is enlarged for any model bigger than that: nearest neighbour would keep its 8×8
        # blocks, and Lanczos (what ``xlcnn build`` uses for photos) would ring around the blocks' sharp
        # edges, drawing light and dark halos no pen makes; bilinear only blends neighbours, like a soft pen.
        picture = Image.fromarray(ink_on_paper(counts).astype(np.float32), mode="F")
        grey[i] = np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float64)
    pixels = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return _grey_to_rgb(pixels), np.asarray(bunch.target, dtype=np.int64)


# -------------------------------------------------------------------------------------------- faces

FACES = ("face", "not a face")
FACE_COUNT = 100  # lfw_subset holds the 100 faces first, then the 100 pictures that are not faces


def _read_faces(data: ModuleType, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    photos = np.asarray(data.lfw_subset(), dtype=np.float64)  # (200, 25, 25), 0..1
    grey = np.clip(np.rint(photos * 255.0), 0, 255).astype(np.uint8)
    # Each 8-bit photo is fitted the way ``xlcnn build`` fits a picture (centre-crop, Lanczos), so the
    # model learns from faces that look like the ones it will be shown.
    images = np.stack([fit_image(Image.fromarray(g, mode="L").convert("RGB"), *size, "crop") for g in grey])
    labels = (np.arange(len(grey)) >= FACE_COUNT).astype(np.int64)  # 0 = face, 1 = not a face
    return images, labels


REAL: dict[str, RealDataset] = {
    "digits": RealDataset(
        "digits", DIGITS, "digits",
        title="Handwritten digits: 0 to 9",
        what="the 1,797 handwritten digits (8×8 pixels, each a count of ink from 0 to 16) bundled with "
        "scikit-learn as load_digits, drawn as dark ink on white paper",
        origin="the test set of the \"Optical Recognition of Handwritten Digits\" data set in the UCI Machine "
        "Learning Repository, by E. Alpaydin and C. Kaynak (Bogazici University, 1998): digits written on "
        "forms by 13 people, scanned to 32×32 bitmaps and counted in 4×4 blocks",
        licence="CC BY 4.0 (Creative Commons Attribution 4.0 International), the licence the UCI Machine "
        "Learning Repository gives it; credit E. Alpaydin and C. Kaynak",
        package="scikit-learn", module="sklearn.datasets", read=_read_digits,
        flip=False,  # a mirrored 3 is no digit at all
        # A network right on 99% of digits, trained towards 91%, grows a long tail of images it is only
        # 60–90% sure of, all right: capped at a median of 98%, its mean confidence fell 6 points below its
        # accuracy (a calibration error of 0.063). Trained towards 55%, the margins between its logits come
        # out much more alike from image to image, and the temperature then sharpens them evenly: 0.036–0.048
        # over seeds 1–4, at 98.6–99.4% (160 epochs; 80 were not enough, 240 changed nothing).
        epochs=160, learning_rate=0.01, label_smoothing=0.5,
    ),
    "faces": RealDataset(
        "faces", FACES, "faces",
        title="Face or not a face",
        what="the 200 grey photos (25×25 pixels) bundled with scikit-image as lfw_subset: 100 faces and 100 "
        "pictures that are not faces",
        origin="Labeled Faces in the Wild (LFW, University of Massachusetts Amherst), a collection of face "
        "photos from the web: the faces were picked from it at random and the pictures that are not faces "
        "cut from the backgrounds of its photos, cropped and shrunk to 25×25 pixels",
        licence="none stated: scikit-image names no licence for lfw_subset, though it names one for most of "
        "its other sample images",
        package="scikit-image", module="skimage.data", read=_read_faces,
        flip=True,  # a face mirrored is still a face, and a background still a background
        epochs=400, learning_rate=0.01,  # 200 pictures: few steps per epoch, so many epochs
    ),
}


def real(name: str) -> RealDataset:
    """The real data set called ``name``, or a ``DatasetError`` listing them."""
    try:
        return REAL[name]
    except KeyError:
        raise DatasetError(f"unknown real data set {name!r} (real data sets: {', '.join(REAL)})") from None
