"""Replacing a template is all or nothing: whichever step of the replacement fails, the old template is
left as it was and still loads, and nothing else is left in its folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from factories import make_model

from xlcnn.cli import cli
from xlcnn.errors import OutputError
from xlcnn.learn import train
from xlcnn.learn.train import write_template
from xlcnn.model.templates import load_model


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def failing_replace(at: int) -> object:
    """``os.replace`` that fails (disk full) on its ``at``-th call."""
    real, calls = os.replace, []

    def replace(src: object, dst: object) -> None:
        calls.append(1)
        if len(calls) == at:
            raise OSError(28, "No space left on device")
        real(src, dst)  # type: ignore[arg-type]

    return replace


# Replacing two existing files takes four renames: each old one aside, each new one into place.
@pytest.mark.parametrize("at", [1, 2, 3, 4])
def test_a_failed_replacement_leaves_the_old_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      at: int) -> None:
    old, new = make_model(6, 6, [(2, 3, 1, 1, 2, 2)], seed=1), make_model(6, 6, [(2, 3, 1, 1, 2, 2)], seed=2)
    folder = write_template(old, tmp_path / "tpl")
    before = snapshot(folder)
    monkeypatch.setattr("xlcnn.files.os.replace", failing_replace(at))
    with pytest.raises(OutputError) as info:
        write_template(new, folder)
    assert str(info.value) == f"{folder}: cannot be written (No space left on device); the files there are as they were"
    monkeypatch.undo()
    assert snapshot(folder) == before  # the same two files, byte for byte, and nothing else
    assert np.array_equal(load_model(folder).weights.dense_w, old.weights.dense_w)


def test_a_full_replacement_replaces_both_files(tmp_path: Path) -> None:
    old, new = make_model(6, 6, [(2, 3, 1, 1, 2, 2)], seed=1), make_model(6, 6, [(2, 3, 1, 1, 2, 2)], seed=2)
    folder = write_template(old, tmp_path / "tpl")
    write_template(new, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["model.toml", "weights.npz"]
    assert np.array_equal(load_model(folder).weights.dense_w, new.weights.dense_w)


def test_train_over_a_template_that_cannot_be_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = make_model(6, 6, [(2, 3, 1, 1, 2, 2)], seed=1)
    folder = write_template(old, tmp_path / "stripes")
    before = snapshot(folder)
    monkeypatch.setattr(train, "train_model", lambda *a, **k: make_model(6, 6, [(2, 3, 1, 1, 2, 2)], seed=5))
    monkeypatch.setattr("xlcnn.files.os.replace", failing_replace(3))  # the first new file into place
    result = CliRunner().invoke(cli, ["train", "--dataset", "stripes", "-o", str(folder), "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == (f"Error: {folder}: cannot be written (No space left on device); the files there are "
                             "as they were\n")
    monkeypatch.undo()
    assert snapshot(folder) == before
