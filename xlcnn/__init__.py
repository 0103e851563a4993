"""xlcnn: turn any image into an Excel workbook that *is* a convolutional neural network.

The library comes first; the ``xlcnn`` command is a thin layer over these functions.

>>> import xlcnn
>>> model = xlcnn.load_model("tiny")
>>> trace = xlcnn.forward(xlcnn.load_image("samples/stripes.png", (6, 6)), model)  # doctest: +SKIP
"""

import importlib
from typing import TYPE_CHECKING, Any

from xlcnn.errors import (
    DatasetError,
    GnumericError,
    ImageError,
    LibreOfficeError,
    LimitError,
    ModelError,
    OptionError,
    OutputError,
    WorkbookError,
    XlcnnError,
)
from xlcnn.image import load_image, read_image
from xlcnn.model.spec import Architecture, Model, Provenance, Weights
from xlcnn.model.templates import list_templates, load_model, save_model
from xlcnn.nn.engine import Trace, forward
from xlcnn.nn.learning import Learning
from xlcnn.nn.learning import learn as learning_layer  # not "learn": that is the trainer's subpackage
from xlcnn.version import __version__

if TYPE_CHECKING:
    from xlcnn.book.build import build_workbook, modify_model
    from xlcnn.book.classset import build_class_set
    from xlcnn.check.handout import write_handout, write_handouts
    from xlcnn.check.verify import verify_workbook
    from xlcnn.learn.train import train_model, write_template

# Writing, checking and training pull in more (XlsxWriter, openpyxl, the data sets); they load on first use,
# so that the engine and the trainer import without the spreadsheet libraries.
_LAZY = {"build_workbook": "xlcnn.book.build", "modify_model": "xlcnn.book.build",
         "build_class_set": "xlcnn.book.classset", "write_handouts": "xlcnn.check.handout",
         "write_handout": "xlcnn.check.handout", "train_model": "xlcnn.learn.train",
         "write_template": "xlcnn.learn.train", "verify_workbook": "xlcnn.check.verify"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xlcnn' has no attribute {name!r}")

__all__ = [
    "Architecture",
    "DatasetError",
    "GnumericError",
    "ImageError",
    "Learning",
    "LibreOfficeError",
    "LimitError",
    "Model",
    "ModelError",
    "OptionError",
    "OutputError",
    "Provenance",
    "Trace",
    "Weights",
    "WorkbookError",
    "XlcnnError",
    "__version__",
    "build_class_set",
    "build_workbook",
    "forward",
    "learning_layer",
    "list_templates",
    "load_image",
    "load_model",
    "modify_model",
    "read_image",
    "save_model",
    "train_model",
    "verify_workbook",
    "write_handout",
    "write_handouts",
    "write_template",
]
