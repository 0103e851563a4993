"""``modify_model``: new sizes and per-block conv settings, checked like model.toml, with the weights that still
fit kept, the others seeded and random, and a provenance (and so a model card) that says which."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pytest
from PIL import Image

import xlcnn
from xlcnn import build_workbook, load_model, modify_model
from xlcnn.cli import as_flag
from xlcnn.errors import LimitError, OptionError, spell
from xlcnn.model.spec import ConvSpec, PoolSpec


def option_error(**options: object) -> str:
    """The message as the command line shows it; the library's own names parameters, not options."""
    with pytest.raises(OptionError) as info:
        modify_model(load_model("default"), **options)  # type: ignore[arg-type]
    assert "--" not in str(info.value)
    return spell(info.value.message, as_flag)


def test_it_is_exported() -> None:
    assert xlcnn.modify_model is modify_model and "modify_model" in xlcnn.__all__


def test_no_change_gives_back_the_same_model() -> None:
    model = load_model("default")
    assert modify_model(model) is model
    assert modify_model(model, size=28, filters=(6, 12), kernel=3, stride=1, padding=(0, 1), pool=2, seed=5) is model
    assert modify_model(model, padding=(0, 1)) is model and modify_model(model, padding=1) is not model


def test_one_value_applies_to_every_block_and_a_list_to_each() -> None:
    model = modify_model(load_model("default"), size=(20, 36), filters=(6, 5), kernel=5, stride=(2, 1),
                         padding=(2, 0), pool=(1, 3))
    arch = model.arch
    assert (arch.input.height, arch.input.width) == (20, 36)
    assert arch.convs == ((ConvSpec(6, 5, 2, 2), PoolSpec(1, 1)), (ConvSpec(5, 5, 1, 0), PoolSpec(3, 3)))
    assert arch.classes == load_model("default").classes
    assert arch.input.scale_text == "1/255"


def test_weights_that_keep_their_shape_are_kept_and_the_others_are_seeded() -> None:
    base = load_model("default")
    assert [conv.filters for conv, _ in base.arch.convs] == [6, 12]
    model = modify_model(base, filters=(16, 12), seed=3)
    w, b = model.weights, base.weights
    assert w.conv_w[0].shape == (16, 3, 3, 3) and w.conv_w[1].shape == (12, 16, 3, 3)
    assert not np.array_equal(w.conv_w[1][:, :6], b.conv_w[1])  # re-initialised, not padded
    assert np.array_equal(w.dense_w, b.dense_w) and np.array_equal(w.dense_b, b.dense_b)  # 12×6×6 as before
    assert np.all(w.conv_b[0] == 0) and np.all(w.conv_b[1] == 0)
    again = modify_model(base, filters=(16, 12), seed=3)
    other = modify_model(base, filters=(16, 12), seed=4)
    assert np.array_equal(again.weights.conv_w[0], w.conv_w[0])  # the same seed, the same weights
    assert not np.array_equal(other.weights.conv_w[0], w.conv_w[0])
    for array in w.as_npz_dict().values():
        assert array.dtype == np.float64 and np.isfinite(array).all()


def test_the_provenance_says_what_is_random() -> None:
    model = modify_model(load_model("default"), filters=(16, 12), seed=3)
    prov = model.provenance
    assert prov.method == "modified"
    assert prov.summary == (
        "Changed from template 'default' (trained): conv 1 and conv 2 have random starting weights (He-normal, "
        "seed 3), not trained; dense kept from the template. Its predictions are not meaningful until it is "
        "trained.")
    assert prov.accuracy is None and prov.epochs is None and prov.seed == 3
    assert prov.dataset == load_model("default").provenance.dataset
    assert prov.command == "xlcnn build IMAGE --model default --filters 16,12 --seed 3"
    assert model.title == f"{load_model('default').title} (modified: conv 1 filters 16)"
    assert model.name == "default"


def test_all_random_and_all_kept_are_said_so() -> None:
    everything = modify_model(load_model("tiny"), size=12, filters=3).provenance
    assert everything.summary == (
        "Changed from template 'tiny' (trained): conv 1 and dense have random starting weights (He-normal, "
        "seed 0), not trained; nothing kept from the template. Its predictions are not meaningful until it is "
        "trained.")
    assert everything.dataset == ""
    # 29×29 pools to the same 6×6 maps as 28×28 (27 → 13 → 13 → 6): every weight still fits, but was not made
    # for this network.
    kept = modify_model(load_model("default"), size=29)
    for got, expected in zip(kept.weights.as_npz_dict().values(), load_model("default").weights.as_npz_dict().values(),
                             strict=True):
        assert np.array_equal(got, expected)
    assert kept.provenance.summary == (
        "Changed from template 'default' (trained): every layer keeps the template's weights, but the network's "
        "shape changed, so they were not made for it and its predictions may not be meaningful.")
    assert kept.provenance.seed is None and kept.provenance.accuracy is None
    assert kept.provenance.command == "xlcnn build IMAGE --model default --size 29"


def test_a_template_folder_is_named_by_its_path_in_the_command(tmp_path: Path) -> None:
    from xlcnn.model.templates import save_model

    folder = save_model(load_model("tiny"), tmp_path / "mine")
    model = modify_model(load_model(folder), size=(8, 10))
    assert model.provenance.command == f"xlcnn build IMAGE --model '{folder}' --size 8x10 --seed 0"


@pytest.mark.parametrize(("options", "message"), [
    ({"size": 0}, "--size 0: must be between 1 and 512"),
    ({"size": 513}, "--size 513: must be between 1 and 512"),
    ({"size": (0, 28)}, "--size 0x28: the height and width must be between 1 and 512"),
    ({"size": (28, 28, 3)}, "--size 28,28,3: give one side (N) or height and width (HxW)"),
    ({"size": 2.5}, "--size 2.5: must be whole numbers"),
    ({"filters": 0}, "--filters 0: must be between 1 and 64"),
    ({"filters": 65}, "--filters 65: must be between 1 and 64"),
    ({"filters": (4, -1)}, "--filters 4,-1: each value must be between 1 and 64"),
    ({"filters": ()}, "--filters: give a whole number, or one per conv block"),
    ({"filters": (1, 2, 3)},
     "--filters 1,2,3: 3 values, but model 'default' has 2 conv blocks; give one value for all, or one per block"),
    ({"filters": True}, "--filters True: must be whole numbers"),
    ({"kernel": 16}, "--kernel 16: must be between 1 and 15"),
    ({"stride": 0}, "--stride 0: must be between 1 and 8"),
    ({"padding": 9}, "--padding 9: must be between 0 and 8"),
    ({"pool": 9}, "--pool 9: must be between 1 and 8"),
    ({"seed": -1}, "--seed -1: must be a whole number, 0 or more"),
    ({"size": 2}, "--size 2: conv 1's 3×3 kernel does not fit its 2×2 input with padding 0"),
    ({"size": 5}, "--size 5: pool 2's 2×2 window does not fit conv 2's 1×1 output"),  # 3×3 → 1×1 → 1×1
    ({"kernel": 15, "padding": 0}, "--kernel 15 --padding 0: conv 2's 15×15 kernel does not fit its 7×7 input with "
                                   "padding 0"),
    ({"size": 1, "padding": 0}, "--size 1 --padding 0: conv 1's 3×3 kernel does not fit its 1×1 input with padding 0"),
    ({"pool": 8}, "--pool 8: pool 2's 8×8 window does not fit conv 2's 3×3 output"),
])
def test_values_are_checked_like_model_toml(options: dict[str, object], message: str) -> None:
    assert option_error(**options) == message


def test_a_workbook_too_big_is_refused_before_any_weight_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    def no(*args: object) -> None:
        raise AssertionError("weights made")

    monkeypatch.setattr("xlcnn.model.modify.initial_weights", no)
    with pytest.raises(LimitError, match=r"^the workbook's Dense sheet would need 16,777,228 rows; spreadsheets hold "
                                         r"1,048,576 \("):
        modify_model(load_model("tiny"), size=512, filters=64, pool=1)


def test_the_model_card_of_a_modified_model_says_so(tmp_path: Path) -> None:
    image = tmp_path / "p.png"
    Image.new("RGB", (30, 20), (200, 30, 30)).save(image)
    out = tmp_path / "out.xlsx"
    result = build_workbook(image, out, model=modify_model(load_model("default"), size=16, filters=2, seed=7))
    assert result.model.arch.input.height == 16
    texts = [c.value for row in openpyxl.load_workbook(out)["Guide"].iter_rows() for c in row
             if isinstance(c.value, str)]
    assert any(t.startswith("Changed from template 'default' (trained): conv 1, conv 2 and dense have "
                            "random starting weights (He-normal, seed 7)") for t in texts)
    assert "not measured" in texts
    assert "xlcnn build IMAGE --model default --size 16 --filters 2 --seed 7" in texts
