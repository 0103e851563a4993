"""The package's layers hold at run time too: the NumPy engine and the trainer work with neither XlsxWriter
nor openpyxl nor click installed (import-linter checks the imports themselves, in .ci/checks)."""

from __future__ import annotations

import subprocess
import sys

import xlcnn

WITHOUT_SPREADSHEETS = """
import sys
for name in ("xlsxwriter", "openpyxl", "click"):
    sys.modules[name] = None  # any import of them now fails
import numpy as np
import xlcnn
from xlcnn.learn import train
model = xlcnn.load_model("tiny")
trace = xlcnn.forward(np.full((6, 6, 3), 200, np.uint8), model)
print(trace.predicted_label, len(trace.stages()), train.TrainConfig.__name__)
print(sorted(m for m in sys.modules if m.startswith(("xlcnn.book", "xlcnn.check", "xlcnn.cli"))))
"""


def test_the_engine_and_the_trainer_import_without_the_spreadsheet_libraries() -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_SPREADSHEETS], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    label, stages, config = done.stdout.splitlines()[0].split(" ")
    # conv, ReLU and pool of its two maps; flatten, logits, probabilities, loss
    assert label in xlcnn.load_model("tiny").classes and int(stages) == 3 * 2 + 4 and config == "TrainConfig"
    assert done.stdout.splitlines()[1] == "[]"  # not one module of the workbook, the checker or the CLI
