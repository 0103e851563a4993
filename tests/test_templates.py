"""Model templates: the built-ins load with the right shapes, save → load is exact, and every broken template is
refused with one line naming the file and the field.

Broken templates are copies of ``templates/tiny`` in ``tmp_path``: its model.toml is edited as data (tomllib
→ dict → tomli_w) and its weights as a dict of arrays, so each test changes exactly one thing.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import shutil
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from xlcnn.errors import ModelError
from xlcnn.model.spec import Model, Provenance, Weights
from xlcnn.model.templates import list_templates, load_model, save_model
from xlcnn.resources import templates_root

TINY = templates_root() / "tiny"
LAYERS_RULE = "layers must be (conv, relu, maxpool) repeated, then flatten, dense, softmax, cross_entropy"
BOTH_FILES = "model.toml and weights.npz"
DAMAGED_ZIP = "not a valid .npz file (the zip archive is truncated or damaged)"
INJECTION_LABELS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", '=HYPERLINK("http://x","y")']


def tiny_doc() -> dict[str, Any]:
    return tomllib.loads((TINY / "model.toml").read_text(encoding="utf-8"))


def tiny_arrays() -> dict[str, np.ndarray]:
    with np.load(TINY / "weights.npz", allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def variant(
    tmp_path: Path,
    doc: Callable[[dict[str, Any]], None] | None = None,
    arrays: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> Path:
    """A copy of templates/tiny with ``doc`` applied to its model.toml and ``arrays`` to its weights."""
    folder = tmp_path / "model"
    shutil.copytree(TINY, folder)
    if doc is not None:
        config = tiny_doc()
        doc(config)
        (folder / "model.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    if arrays is not None:
        weights = tiny_arrays()
        arrays(weights)
        np.savez(folder / "weights.npz", **weights)  # type: ignore[arg-type]
    return folder


def model_error(folder: Path | str) -> str:
    with pytest.raises(ModelError) as info:
        load_model(folder)
    message = str(info.value)
    assert "\n" not in message
    return message


def expected_shapes(model: Model) -> dict[str, tuple[int, ...]]:
    """The weight shapes the architecture needs, worked out here independently of xlcnn.model.templates."""
    spec = model.arch.input
    channels, height, width = 3, spec.height, spec.width
    shapes: dict[str, tuple[int, ...]] = {}
    for k, (conv, pool) in enumerate(model.arch.convs, start=1):
        shapes[f"conv{k}_w"] = (conv.filters, channels, conv.kernel, conv.kernel)
        shapes[f"conv{k}_b"] = (conv.filters,)
        height = (height + 2 * conv.padding - conv.kernel) // conv.stride + 1
        width = (width + 2 * conv.padding - conv.kernel) // conv.stride + 1
        height = (height - pool.size) // pool.stride + 1
        width = (width - pool.size) // pool.stride + 1
        channels = conv.filters
    shapes["dense_w"] = (channels * height * width, len(model.classes))
    shapes["dense_b"] = (len(model.classes),)
    return shapes


# ------------------------------------------------------------------------------------------ built-ins


def test_the_built_in_templates_are_listed() -> None:
    names = list_templates()
    assert names == sorted(names)
    assert {"default", "edges", "tiny"} <= set(names)


@pytest.mark.parametrize("name", list_templates())
def test_every_built_in_template_loads_with_the_shapes_its_architecture_needs(name: str) -> None:
    model = load_model(name)
    assert model.name == name
    arrays = model.weights.as_npz_dict()
    assert {key: array.shape for key, array in arrays.items()} == expected_shapes(model)
    for key, array in arrays.items():
        assert array.dtype == np.float64, key
        assert np.isfinite(array).all(), key
    assert len(set(label.casefold() for label in model.classes)) == len(model.classes) >= 2
    assert model.provenance.method in ("trained", "hand-set", "random")
    assert model.provenance.summary


def test_known_shapes_of_tiny_and_default() -> None:
    tiny = load_model("tiny").weights
    assert (tiny.conv_w[0].shape, tiny.dense_w.shape) == ((2, 3, 3, 3), (18, 3))  # 6×6 → pool → 2·3·3 = 18
    default = load_model("default").weights
    assert [w.shape for w in default.conv_w] == [(6, 3, 3, 3), (12, 6, 3, 3)]
    # 28×28 → 26×26 (conv 1 does not pad) → pool 13×13 → conv 2 (pads) 13×13 → pool 6×6, 12 maps: 12·6·6 = 432
    assert default.dense_w.shape == (432, 3)


def test_a_template_can_be_given_as_a_folder_path(tmp_path: Path) -> None:
    folder = variant(tmp_path)
    model = load_model(folder)
    assert model.source == folder
    assert model.classes == load_model("tiny").classes


# ------------------------------------------------------------------------------------------ round trip


def assert_same_model(got: Model, expected: Model) -> None:
    assert (got.name, got.title, got.description) == (expected.name, expected.title, expected.description)
    assert got.arch == expected.arch
    assert got.provenance == expected.provenance
    got_arrays, expected_arrays = got.weights.as_npz_dict(), expected.weights.as_npz_dict()
    assert got_arrays.keys() == expected_arrays.keys()
    for key in expected_arrays:
        assert got_arrays[key].dtype == expected_arrays[key].dtype == np.float64
        assert np.array_equal(got_arrays[key], expected_arrays[key]), key  # bit for bit, not approximately


@pytest.mark.parametrize("name", list_templates())
def test_save_then_load_gives_the_same_model(tmp_path: Path, name: str) -> None:
    model = load_model(name)
    folder = save_model(model, tmp_path / "copy")
    assert_same_model(load_model(folder), model)


def test_round_trip_keeps_full_provenance_odd_labels_and_awkward_floats(tmp_path: Path) -> None:
    base = load_model("tiny")
    rng = np.random.default_rng(7)
    classes = ("chat", "Hund", "猫")
    weights = Weights(
        conv_w=(rng.normal(size=(2, 3, 3, 3)) * 1e-300,),  # tiny, but still exact after the round trip
        conv_b=(np.array([np.pi, -1 / 3]),),
        dense_w=rng.normal(size=(18, 3)) * 1e12,
        dense_b=np.array([0.1, -0.0, 5e-324]),  # a negative zero and the smallest subnormal
    )
    provenance = Provenance(
        method="trained", summary="Trained on shapes.", dataset="shapes-v1", seed=123, epochs=40, train_size=6000,
        accuracy=0.9375, accuracy_note="held-out 10%", command="xlcnn train shapes --seed 123",
    )
    model = dataclasses.replace(
        base, name="odd", title="Odd «title»", description='Quotes " and \\ and\nnewlines',
        arch=dataclasses.replace(base.arch, classes=classes), weights=weights, provenance=provenance,
    )
    loaded = load_model(save_model(model, tmp_path / "odd"))
    assert_same_model(loaded, model)
    assert np.signbit(loaded.weights.dense_b[1])


# ------------------------------------------------------------------------------------------ files


def test_missing_model_toml(tmp_path: Path) -> None:
    folder = variant(tmp_path)
    (folder / "model.toml").unlink()
    # Given as a path, the folder is used as it is and the missing file is named.
    assert model_error(folder) == f"{folder / 'model.toml'}: missing (a template folder needs {BOTH_FILES})"


def test_missing_weights(tmp_path: Path) -> None:
    folder = variant(tmp_path)
    (folder / "weights.npz").unlink()
    assert model_error(folder) == f"{folder / 'weights.npz'}: missing (a template folder needs {BOTH_FILES})"


def test_malformed_toml(tmp_path: Path) -> None:
    folder = variant(tmp_path)
    text = 'name = "tiny\nclasses = [\n'
    (folder / "model.toml").write_text(text, encoding="utf-8")
    with pytest.raises(tomllib.TOMLDecodeError) as parse:  # the parser's own words, whatever Python's version
        tomllib.loads(text)
    assert model_error(folder) == f"{folder / 'model.toml'}: not valid TOML ({parse.value})"


def test_toml_that_is_not_utf8(tmp_path: Path) -> None:
    folder = variant(tmp_path)
    (folder / "model.toml").write_bytes(b'name = "caf\xe9"\n')  # Latin-1
    assert model_error(folder) == (
        f"{folder / 'model.toml'}: not valid TOML ('utf-8' codec can't decode byte 0xe9 in position 11: "
        "invalid continuation byte)"
    )


def test_unknown_template_name_lists_the_built_ins() -> None:
    known = ", ".join(list_templates())
    assert model_error("no-such-model") == (
        f"unknown template 'no-such-model' (built-in templates: {known}; or give a folder path)"
    )


def test_missing_template_folder(tmp_path: Path) -> None:
    folder = tmp_path / "nowhere"
    assert model_error(folder) == f"{folder}: no such template folder"


def test_file_given_as_template_folder(tmp_path: Path) -> None:
    folder = variant(tmp_path)
    toml = folder / "model.toml"
    assert model_error(toml) == f"{toml}: not a template folder (it is a file; give the folder holding model.toml)"


# ------------------------------------------------------------------------------------------ model.toml fields


def drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.pop(key)


def set_input(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["input"].update(values)


def set_layer(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["layers"][index].update(values)


def set_classes(*labels: Any) -> Callable[[dict[str, Any]], None]:
    """New classes; the template's translations of the old ones (labels.zh) go with them."""
    def edit(doc: dict[str, Any]) -> None:
        doc.update(classes=list(labels))
        doc.pop("labels", None)
    return edit


def set_layers(*types: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        by_type = {layer["type"]: layer for layer in doc["layers"]}
        doc["layers"] = [by_type.get(kind, {"type": kind}) for kind in types]

    return edit


def set_top(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.update(values)


TOML_CASES = [
    # the [input] table
    ("no input", drop("input"), "[input] table is missing"),
    ("input height 100000", set_input(height=100000), "input.height must be between 1 and 512, not 100000"),
    ("input width 0", set_input(width=0), "input.width must be between 1 and 512, not 0"),
    ("input height text", set_input(height="6"), "input.height must be a whole number, not '6'"),
    ("input channels 1", set_input(channels=1), "input.channels must be 3, not 1"),
    ("input scale 1/0", set_input(scale="1/0"), "input.scale must be a number or a fraction like \"1/255\", not '1/0'"),
    ("input scale negative", set_input(scale=-1), "input.scale must be a positive number, not -1"),
    ("input fit", set_input(fit="zoom"), "input.fit must be one of crop, pad, stretch, not 'zoom'"),
    ("input misspelt key", set_input(heigth=6),
     "input.heigth is not a setting of [input] (it takes height, width, channels, scale, fit)"),
    # the layer sequence
    ("no layers", drop("layers"), "layers is missing or empty (conv, relu, maxpool, …, cross_entropy)"),
    ("empty layers", set_top(layers=[]), "layers is missing or empty (conv, relu, maxpool, …, cross_entropy)"),
    ("relu missing", set_layers("conv", "maxpool", "flatten", "dense", "softmax", "cross_entropy"),
     f"{LAYERS_RULE}; found conv, maxpool, flatten, dense, softmax, cross_entropy"),
    ("pool after flatten", set_layers("conv", "relu", "flatten", "maxpool", "dense", "softmax", "cross_entropy"),
     f"{LAYERS_RULE}; found conv, relu, flatten, maxpool, dense, softmax, cross_entropy"),
    ("no conv at all", set_layers("flatten", "dense", "softmax", "cross_entropy"),
     f"{LAYERS_RULE}; found flatten, dense, softmax, cross_entropy"),
    ("no loss", set_layers("conv", "relu", "maxpool", "flatten", "dense", "softmax"),
     f"{LAYERS_RULE}; found conv, relu, maxpool, flatten, dense, softmax"),
    ("unknown layer", set_layer(1, type="tanh"),
     f"{LAYERS_RULE}; found conv, tanh, maxpool, flatten, dense, softmax, cross_entropy"),
    ("layer without type", lambda doc: doc["layers"][1].pop("type"), "layers[1] needs a type"),
    # sizes
    ("filters 0", set_layer(0, filters=0), "layers[0].filters must be between 1 and 64, not 0"),
    ("filters 1000", set_layer(0, filters=1000), "layers[0].filters must be between 1 and 64, not 1000"),
    ("filters 2.0", set_layer(0, filters=2.0), "layers[0].filters must be a whole number, not 2.0"),
    ("filters true", set_layer(0, filters=True), "layers[0].filters must be a whole number, not True"),
    ("kernel -1", set_layer(0, kernel=-1), "layers[0].kernel must be between 1 and 15, not -1"),
    ("kernel missing", lambda doc: doc["layers"][0].pop("kernel"), "layers[0].kernel is missing"),
    ("stride 0", set_layer(0, stride=0), "layers[0].stride must be between 1 and 8, not 0"),
    ("padding -1", set_layer(0, padding=-1), "layers[0].padding must be between 0 and 8, not -1"),
    ("pool size 0", set_layer(2, size=0), "layers[2].size must be between 1 and 15, not 0"),
    ("misspelt stride", set_layer(0, stide=2),
     "layers[0].stide is not a setting of a conv layer (it takes type, filters, kernel, stride, padding)"),
    ("setting on relu", set_layer(1, size=2), "layers[1].size is not a setting of a relu layer (it takes type)"),
    ("dense units disagree", set_layer(4, units=5), "layers[4].units is 5, but classes lists 3 classes"),
    # shapes that do not fit
    ("kernel too big", set_layer(0, kernel=9),
     "layers[0].kernel: conv 1's 9×9 kernel does not fit its 6×6 input with padding 1"),
    ("pool too big", set_layer(2, size=7, stride=1),
     "layers[2].size: pool 1's 7×7 window does not fit conv 1's 6×6 output"),
    # class labels
    ("no classes", drop("classes"), "classes is missing (a list of class names)"),
    ("classes not a list", set_top(classes="cat, dog"), "classes must be a list of class names"),
    ("one class", set_classes("cat"), "classes must list between 2 and 50 classes, not 1"),
    ("duplicate", set_classes("cat", "dog", "cat"), "classes has duplicate class 'cat'"),
    ("duplicate by case", set_classes("cat", "dog", "Cat"),
     "classes has duplicate class 'Cat' (same as 'cat' ignoring case)"),
    ("empty label", set_classes("cat", "", "dog"), "classes[1] is empty"),
    ("blank label", set_classes("cat", "   ", "dog"), "classes[1] is empty"),
    ("padded label", set_classes("cat", " dog", "cow"), "classes[1] ' dog' has leading or trailing spaces"),
    ("label not text", set_classes("cat", 3, "dog"), "classes[1] must be text, not 3"),
    ("control character", set_classes("cat", "d\tog", "cow"), "classes[1] 'd\\tog' contains a control character"),
    ("too long", set_classes("cat", "x" * 61, "dog"), "classes[1] is longer than 60 characters"),
    ("wildcard *", set_classes("cat", "d*g", "cow"), "classes[1] 'd*g' contains *, ? or ~ (spreadsheet wildcards)"),
    ("wildcard ?", set_classes("cat", "dog?", "cow"), "classes[1] 'dog?' contains *, ? or ~ (spreadsheet wildcards)"),
    ("wildcard ~", set_classes("cat", "~dog", "cow"), "classes[1] '~dog' contains *, ? or ~ (spreadsheet wildcards)"),
    ("number", set_classes("cat", "42", "dog"), "classes[1] '42' is a plain number; give classes names"),
    ("decimal", set_classes("cat", "dog", "-3.5"), "classes[2] '-3.5' is a plain number; give classes names"),
    ("exponent", set_classes("1e5", "cat", "dog"), "classes[0] '1e5' is a plain number; give classes names"),
    ("percent", set_classes("cat", "50%", "dog"), "classes[1] '50%' is a plain number; give classes names"),
    # the rest of the file
    ("format 2", set_top(format=2), "format 2 is not supported (this xlcnn reads format 1)"),
    ("name not text", set_top(name=5), "name must be text, not 5"),
    ("accuracy above 1", lambda doc: doc["provenance"].update(accuracy=1.5),
     "provenance.accuracy must be a fraction between 0 and 1, not 1.5"),
    ("negative seed", lambda doc: doc["provenance"].update(seed=-1),
     "provenance.seed must be between 0 and 9223372036854775807, not -1"),
    ("provenance not a table", set_top(provenance="by hand"), "[provenance] must be a table"),
]


@pytest.mark.parametrize(("edit", "problem"), [case[1:] for case in TOML_CASES], ids=[case[0] for case in TOML_CASES])
def test_bad_model_toml_names_the_file_and_the_field(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], problem: str
) -> None:
    folder = variant(tmp_path, doc=edit)
    assert model_error(folder) == f"{folder / 'model.toml'}: {problem}"


def five_classes(labels: list[str]) -> Callable[[dict[str, Any]], None]:
    return set_classes(*labels)


def five_class_weights(arrays: dict[str, np.ndarray]) -> None:
    arrays["dense_w"] = np.zeros((18, 5))
    arrays["dense_b"] = np.zeros(5)


def test_formula_looking_labels_are_accepted_unchanged(tmp_path: Path) -> None:
    folder = variant(tmp_path, doc=five_classes(INJECTION_LABELS), arrays=five_class_weights)
    model = load_model(folder)
    assert model.classes == tuple(INJECTION_LABELS)
    again = load_model(save_model(model, tmp_path / "again"))
    assert again.classes == tuple(INJECTION_LABELS)


# ------------------------------------------------------------------------------------------ weights.npz


def replace(key: str, value: Any) -> Callable[[dict[str, np.ndarray]], None]:
    return lambda arrays: arrays.update({key: np.asarray(value)})


def poke(key: str, index: tuple[int, ...], value: float) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(arrays: dict[str, np.ndarray]) -> None:
        arrays[key] = arrays[key].copy()
        arrays[key][index] = value

    return edit


EXPECTED = "(expected conv1_w, conv1_b, dense_w, dense_b)"
WEIGHT_CASES = [
    ("wrong kernel shape", replace("conv1_w", np.zeros((2, 3, 2, 2))),
     "conv1_w has shape (2, 3, 2, 2), but the architecture needs (2, 3, 3, 3)"),
    ("dense transposed", lambda a: a.update(dense_w=a["dense_w"].T.copy()),
     "dense_w has shape (3, 18), but the architecture needs (18, 3)"),
    ("bias as a scalar", replace("dense_b", 0.0), "dense_b has shape (), but the architecture needs (3,)"),
    ("missing array", lambda a: a.pop("dense_b"), f"missing array dense_b {EXPECTED}"),
    ("unexpected array", replace("conv2_w", np.zeros((1, 1, 1, 1))), f"unexpected array conv2_w {EXPECTED}"),
    ("NaN", poke("dense_w", (4, 1), np.nan), "dense_w holds NaN or infinite values"),
    ("inf", poke("conv1_b", (1,), np.inf), "conv1_b holds NaN or infinite values"),
    ("-inf", poke("conv1_w", (0, 2, 1, 1), -np.inf), "conv1_w holds NaN or infinite values"),
    ("text", replace("conv1_b", ["a", "b"]), "conv1_b must hold numbers, not <U1"),
    ("booleans", replace("conv1_b", [True, False]), "conv1_b must hold numbers, not bool"),
    ("complex", replace("conv1_b", [1j, 2]), "conv1_b must hold numbers, not complex128"),
]


@pytest.mark.parametrize(("edit", "problem"), [c[1:] for c in WEIGHT_CASES], ids=[c[0] for c in WEIGHT_CASES])
def test_bad_weights_name_the_file_and_the_array(
    tmp_path: Path, edit: Callable[[dict[str, np.ndarray]], None], problem: str
) -> None:
    folder = variant(tmp_path, arrays=edit)
    assert model_error(folder) == f"{folder / 'weights.npz'}: {problem}"


def test_whole_number_weights_are_accepted_as_float64(tmp_path: Path) -> None:
    folder = variant(tmp_path, arrays=replace("conv1_b", np.array([1, -2], dtype=np.int16)))
    bias = load_model(folder).weights.conv_b[0]
    assert bias.dtype == np.float64 and bias.tolist() == [1.0, -2.0]


class _Tripwire:
    """Unpickling this creates a file: proof that a loader unpickled something."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_pickled_npz_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"

    def objects(arrays: dict[str, np.ndarray]) -> None:
        bias = np.empty(3, dtype=object)
        bias[:] = [_Tripwire(marker), 0.0, 0.0]
        arrays["dense_b"] = bias

    folder = variant(tmp_path, arrays=objects)  # np.savez pickles object arrays (allow_pickle=True)
    assert model_error(folder) == (
        f"{folder / 'weights.npz'}: dense_b holds pickled Python objects, which xlcnn never loads"
    )
    assert not marker.exists()


def write_weights(tmp_path: Path, data: bytes) -> Path:
    folder = variant(tmp_path)
    (folder / "weights.npz").write_bytes(data)
    return folder


def test_weights_file_that_is_a_plain_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    folder = write_weights(tmp_path, pickle.dumps({"dense_b": _Tripwire(marker)}))
    assert model_error(folder) == (
        f"{folder / 'weights.npz'}: is a Python pickle, which xlcnn never loads (weights must be an .npz archive)"
    )
    assert not marker.exists()


def test_weights_file_that_is_a_single_npy_array(tmp_path: Path) -> None:
    single = io.BytesIO()
    np.save(single, np.zeros(3))
    folder = write_weights(tmp_path, single.getvalue())
    assert model_error(folder) == (
        f"{folder / 'weights.npz'}: is a single .npy array, not an .npz archive of named arrays (use numpy.savez)"
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not a valid .npz file (the file is empty)"),
        (b"conv1_w = [1, 2, 3]\n", "not a valid .npz file (not a zip archive)"),
        (b"PK\x03\x04 and then nothing a zip reader can use", DAMAGED_ZIP),
    ],
    ids=["empty", "text", "broken zip"],
)
def test_corrupt_npz(tmp_path: Path, data: bytes, problem: str) -> None:
    folder = write_weights(tmp_path, data)
    assert model_error(folder) == f"{folder / 'weights.npz'}: {problem}"


def test_truncated_npz(tmp_path: Path) -> None:
    whole = (TINY / "weights.npz").read_bytes()
    folder = write_weights(tmp_path, whole[: len(whole) // 2])
    assert model_error(folder) == f"{folder / 'weights.npz'}: {DAMAGED_ZIP}"


def test_npz_with_damaged_array_data(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **tiny_arrays())  # type: ignore[arg-type]
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("dense_w.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # a byte of dense_w's numbers (stored)
    folder = write_weights(tmp_path, bytes(data))
    assert model_error(folder) == f"{folder / 'weights.npz'}: not a valid .npz file (Bad CRC-32 for file 'dense_w.npy')"


def test_npz_member_that_is_not_an_array(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "made by hand")
    folder = write_weights(tmp_path, buffer.getvalue())
    assert model_error(folder) == f"{folder / 'weights.npz'}: notes.txt is not a NumPy array"


def test_absurd_array_is_refused_from_its_header_without_reading_it(tmp_path: Path) -> None:
    """A header claiming 10¹² numbers (8 TB) is refused before NumPy tries to allocate it."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, array in tiny_arrays().items():
            if key != "dense_w":
                with archive.open(f"{key}.npy", "w") as member:
                    np.lib.format.write_array(member, array)
        archive.writestr("dense_w.npy", header.getvalue())  # the header alone: no data follows
    folder = write_weights(tmp_path, buffer.getvalue())
    assert model_error(folder) == (
        f"{folder / 'weights.npz'}: dense_w has shape (1000000, 1000000), but the architecture needs (18, 3)"
    )


def test_the_activity_on_the_card_must_list_every_filter(tmp_path: Path) -> None:
    folder = variant(tmp_path, lambda doc: doc["provenance"].update(activity=[[0.5], [0.1, 0.2, 0.3]]))
    with pytest.raises(ModelError) as info:
        load_model(folder)
    assert str(info.value) == (f"{folder / 'model.toml'}: provenance.activity must list a fraction for each filter "
                               "of each conv layer (2 filters), not 1 and 3")
    folder = variant(tmp_path / "ok", lambda doc: doc["provenance"].update(activity=[[0.5, 1.0]]))
    assert load_model(folder).provenance.activity == ((0.5, 1.0),)
