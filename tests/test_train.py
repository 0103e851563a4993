"""Training: every backward against central finite differences, determinism, the shipped weights' accuracy,
training on a photo folder, and the ``xlcnn train`` command's errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from factories import make_model
from helpers import assert_stage_matches
from layer_check import numeric_gradient
from PIL import Image

from xlcnn import load_model
from xlcnn.cli import cli
from xlcnn.learn.datasets import generate, sample_image
from xlcnn.learn.train import (
    Progress,
    TrainConfig,
    evaluate,
    fit,
    loss_and_gradients,
    overfitting_warning,
    train_model,
)
from xlcnn.model.spec import Weights
from xlcnn.model.zoo import tiny_architecture
from xlcnn.nn.layers import conv, dense, flatten, pool, relu, softmax

# A seed no shipped template was trained or validated on: the test images are new to the network.
UNUSED_SEED = 20_260_101




def probe(forward: Callable[[], np.ndarray], upstream: np.ndarray) -> Callable[[], float]:
    """The scalar Σ upstream · forward(), whose gradient a layer's backward computes from ``upstream``."""
    return lambda: float((forward() * upstream).sum())


# ---------------------------------------------------------------------------------- layer gradients

CONV_CASES = [  # (N, C, H, W, filters, kernel, stride, padding, scale)
    (2, 3, 7, 6, 2, 3, 1, 1, 1 / 255),  # the first layer of a model: raw pixels times 1/255
    (2, 2, 7, 7, 3, 2, 2, 0, 1.0),
    (1, 2, 6, 5, 2, 3, 2, 2, 0.5),  # stride 2 and a padding of 2
    (2, 1, 5, 5, 1, 1, 1, 0, 1.0),  # 1×1 kernel
    (1, 2, 9, 8, 2, 5, 3, 1, 1.0),  # stride 3 skips pixels no window reads
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_backward_matches_finite_differences(case: tuple[int, ...]) -> None:
    n, c, h, w, f, k, stride, padding, scale = case
    rng = np.random.default_rng(sum(case[:8]))
    x = rng.uniform(0, 255, (n, c, h, w)) if scale != 1.0 else rng.normal(size=(n, c, h, w))
    kernel, bias = rng.normal(size=(f, c, k, k)), rng.normal(size=f)
    upstream = rng.normal(size=conv.forward(x, kernel, bias, stride, padding, scale).shape)
    loss = probe(lambda: conv.forward(x, kernel, bias, stride, padding, scale), upstream)
    dx, dw, db = conv.backward(upstream, x, kernel, stride, padding, scale)
    # the convolution is linear in each argument, so a large step is exact and keeps rounding error tiny
    assert_stage_matches("dx", dx, numeric_gradient(loss, x, 1.0), rtol=1e-9, atol=1e-9)
    assert_stage_matches("dw", dw, numeric_gradient(loss, kernel, 1.0), rtol=1e-9, atol=1e-9)
    assert_stage_matches("db", db, numeric_gradient(loss, bias, 1.0), rtol=1e-9, atol=1e-9)
    no_dx, dw_again, _ = conv.backward(upstream, x, kernel, stride, padding, scale, input_grad=False)
    assert no_dx is None and np.array_equal(dw_again, dw)


@pytest.mark.parametrize(("size", "stride"), [(2, 2), (3, 2), (2, 3), (3, 1)])
def test_maxpool_backward_matches_finite_differences(size: int, stride: int) -> None:
    rng = np.random.default_rng(size * 10 + stride)
    x = rng.normal(size=(2, 3, 8, 7))  # distinct values: no ties, no kink within the step
    upstream = rng.normal(size=pool.forward(x, size, stride).shape)
    dx = pool.backward(upstream, x, size, stride)
    assert_stage_matches("dx", dx, numeric_gradient(probe(lambda: pool.forward(x, size, stride), upstream), x, 1e-5),
                         rtol=1e-9, atol=1e-9)


def test_maxpool_backward_sends_a_tied_window_to_one_cell() -> None:
    x = np.zeros((1, 1, 2, 2))
    dx = pool.backward(np.ones((1, 1, 1, 1)), x, 2, 2)
    assert dx.sum() == 1.0 and dx[0, 0, 0, 0] == 1.0


def test_relu_flatten_and_dense_backward_match_finite_differences() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 2, 4, 5))
    upstream = rng.normal(size=x.shape)
    assert_stage_matches("relu", relu.backward(upstream, x),
                         numeric_gradient(probe(lambda: relu.forward(x), upstream), x, 1e-6), rtol=1e-9, atol=1e-9)
    flat_up = rng.normal(size=(3, 40))
    assert_stage_matches("flatten", flatten.backward(flat_up, x.shape),
                         numeric_gradient(probe(lambda: flatten.forward(x), flat_up), x, 1.0), rtol=1e-12)
    v, w, b = rng.normal(size=(3, 6)), rng.normal(size=(6, 4)), rng.normal(size=4)
    logits_up = rng.normal(size=(3, 4))
    loss = probe(lambda: dense.forward(v, w, b), logits_up)
    dv, dw, db = dense.backward(logits_up, v, w)
    assert_stage_matches("dense dx", dv, numeric_gradient(loss, v, 1.0), rtol=1e-10, atol=1e-12)
    assert_stage_matches("dense dw", dw, numeric_gradient(loss, w, 1.0), rtol=1e-10, atol=1e-12)
    assert_stage_matches("dense db", db, numeric_gradient(loss, b, 1.0), rtol=1e-10, atol=1e-12)


def test_softmax_cross_entropy_backward_matches_finite_differences() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])

    def mean_loss() -> float:
        return float(softmax.cross_entropy(softmax.forward(z)[3], labels).mean())

    dz = softmax.backward(softmax.forward(z)[3], labels)
    assert_stage_matches("dz", dz, numeric_gradient(mean_loss, z, 1e-5), rtol=1e-7, atol=1e-10)


def test_whole_network_gradient_matches_finite_differences() -> None:
    """Two blocks with a stride, padding and overlapping pools: every weight of the network, checked."""
    model = make_model(9, 8, [(3, 3, 2, 1, 2, 1), (2, 2, 1, 0, 2, 2)], classes=4, seed=3)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (5, 9, 8, 3))
    labels = np.array([0, 1, 2, 3, 1])
    _, grads = loss_and_gradients(model.arch, model.weights, images, labels)
    w = model.weights
    named = [(f"conv{k + 1}_w", w.conv_w[k], grads.conv_w[k]) for k in range(2)]
    named += [(f"conv{k + 1}_b", w.conv_b[k], grads.conv_b[k]) for k in range(2)]
    named += [("dense_w", w.dense_w, grads.dense_w), ("dense_b", w.dense_b, grads.dense_b)]
    for name, param, analytic in named:
        numeric = numeric_gradient(lambda: loss_and_gradients(model.arch, w, images, labels)[0], param, 1e-5)
        assert_stage_matches(name, analytic, numeric, rtol=1e-6, atol=1e-9)
        assert np.abs(analytic).max() > 1e-4  # a real signal, not zeros matching zeros


# ------------------------------------------------------------------------------------------ training


def _tiny_fit(seed: int) -> Weights:
    data = generate("stripes", 240, seed=seed)
    return fit(tiny_architecture(), data, TrainConfig(epochs=3, batch_size=32, seed=seed))


def test_same_seed_gives_bit_identical_weights() -> None:
    a, b, c = _tiny_fit(5), _tiny_fit(5), _tiny_fit(6)
    for x, y, z in zip(a.as_npz_dict().values(), b.as_npz_dict().values(), c.as_npz_dict().values(), strict=True):
        assert np.array_equal(x, y)
        assert not np.array_equal(x, z)


def test_training_reports_progress_and_learns() -> None:
    events: list[Progress] = []
    model = train_model(dataset="stripes", train_size=1000, epochs=8, seed=3, on_progress=events.append)
    batches = 1000 // 64 + 1
    assert len(events) == 8 * (batches + 1)
    assert [e.epoch for e in events if e.epoch_done] == [1, 2, 3, 4, 5, 6, 7, 8]
    done = [e for e in events if e.epoch_done]
    assert done[-1].loss < done[0].loss and done[0].val_accuracy is not None
    prov = model.provenance
    assert prov.method == "trained" and prov.seed == 3 and prov.epochs == 8 and prov.train_size == 1000
    assert prov.accuracy == done[-1].val_accuracy and prov.accuracy is not None and prov.accuracy > 0.7  # chance: 1/3
    assert prov.accuracy_note == "1,000 freshly generated images from seed 4, never used in training"
    assert prov.command == (
        "xlcnn train --dataset stripes --train-size 1000 --template tiny --epochs 8 --batch-size 64 "
        "--learning-rate 0.02 --seed 3 -o DIR"
    )
    assert prov.summary.endswith(f"training images and on {prov.accuracy:.1%} of 1,000 fresh ones it never saw.")


@pytest.mark.parametrize(("template", "dataset", "floor"), [("default", "shapes", 0.97), ("tiny", "stripes", 0.97)])
def test_shipped_weights_are_accurate_on_fresh_images(template: str, dataset: str, floor: float) -> None:
    """At least 97% on 1,000 images generated from a seed training never used."""
    model = load_model(template)
    prov = model.provenance
    assert prov.method == "trained" and prov.seed is not None and prov.seed not in (UNUSED_SEED, UNUSED_SEED - 1)
    fresh = generate(dataset, 1_000, seed=UNUSED_SEED)
    accuracy = evaluate(model, fresh)
    assert accuracy >= floor, f"{template}: {accuracy:.1%} on 1,000 fresh {dataset} images (needs {floor:.0%})"
    assert prov.accuracy is not None and prov.accuracy >= floor
    assert abs(accuracy - prov.accuracy) < 0.03  # the model card's number holds on other fresh images too


# ------------------------------------------------------------------------------------- photo folders


def _photo_folder(root: Path, per_class: int = 24) -> Path:
    """Three classes of generated shape photos (60×60 PNGs), as a teacher would arrange them."""
    for label in ("circle", "square", "triangle"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            sample_image("shapes", label, seed=1000 + i, size=60).save(root / label / f"{label}{i:02d}.png")
    return root


def test_cli_trains_on_a_photo_folder_and_writes_a_template(tmp_path: Path) -> None:
    photos = _photo_folder(tmp_path / "photos")
    out = tmp_path / "model"
    result = CliRunner().invoke(cli, ["train", str(photos), "-o", str(out), "--epochs", "3", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "epoch 3/3" in result.output and f"Wrote {out}/" in result.output
    model = load_model(out)
    assert model.classes == ("circle", "square", "triangle") and model.name == "model"
    prov = model.provenance
    assert prov.method == "trained" and prov.train_size == 3 * 19 and prov.epochs == 3 and prov.seed == 2
    assert prov.accuracy_note == "15 held-out photos: 20% of each class, chosen by seed 2"
    assert prov.command == (
        f"xlcnn train {photos} --val-split 0.2 --template default --epochs 3 --batch-size 64 --learning-rate 0.005 "
        f"--seed 2 -o {out}"
    )
    assert "24 circle, 24 square, 24 triangle" in prov.dataset
    again = tmp_path / "again"
    CliRunner().invoke(cli, ["train", str(photos), "-o", str(again), "--epochs", "3", "--seed", "2"])
    assert (again / "weights.npz").read_bytes() == (out / "weights.npz").read_bytes()  # the same command, same bytes


def test_a_model_trained_on_a_photo_folder_builds_a_workbook(tmp_path: Path) -> None:
    """The teacher's path end to end: photos → xlcnn train → xlcnn build --model → a workbook of it."""
    import openpyxl

    photos = _photo_folder(tmp_path / "photos", per_class=12)
    out = tmp_path / "my-model"
    assert CliRunner().invoke(cli, ["train", str(photos), "-o", str(out), "--epochs", "2"]).exit_code == 0
    workbook = tmp_path / "square.xlsx"
    result = CliRunner().invoke(cli, ["build", str(photos / "square" / "square00.png"), "--model", str(out),
                                      "-o", str(workbook)])
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(workbook)
    rows = [[v for v in row if v is not None] for row in book["Guide"].iter_rows(values_only=True)]
    card = {row[0]: row[1] for row in rows if len(row) >= 2}  # the model card: label, value
    prov = load_model(out).provenance
    assert card["Template"] == "my-model" and card["Classes"] == "circle, square, triangle"
    assert card["Reproduce with"] == prov.command and prov.summary in card["How the weights were made"]
    assert prov.accuracy is not None and card["Accuracy"].startswith(f"{prov.accuracy:.1%}")


def test_cli_trains_a_built_in_data_set_and_replaces_a_template(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    args = ["train", "--dataset", "stripes", "--train-size", "300", "--epochs", "2", "-o", str(out)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    first = (out / "weights.npz").read_bytes()
    result = CliRunner().invoke(cli, [*args, "--seed", "9"])  # a template folder is simply replaced
    assert result.exit_code == 0, result.output
    assert (out / "weights.npz").read_bytes() != first
    assert sorted(p.name for p in out.iterdir()) == ["model.toml", "patches.npz", "weights.npz"]
    assert load_model(out).arch.input.height == 6


def _errors(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["train", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_cli_error_fewer_than_two_classes(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "cat").mkdir(parents=True)
    sample_image("shapes", "circle", seed=1, size=40).save(photos / "cat" / "a.png")
    code, output = _errors([str(photos), "-o", str(tmp_path / "out")])
    assert code == 1
    assert output == (
        f"Error: {photos}: needs at least two class folders of images (found only 'cat'); put each class's "
        f"images in its own sub-folder, e.g. {photos / 'cat'}/*.jpg\n"
    )
    assert not (tmp_path / "out").exists()


def test_cli_error_empty_class_folder(tmp_path: Path) -> None:
    photos = _photo_folder(tmp_path / "photos", per_class=2)
    (photos / "dog").mkdir()
    code, output = _errors([str(photos), "-o", str(tmp_path / "out")])
    assert code == 1
    assert output == (
        f"Error: {photos / 'dog'}: empty class folder (no images in it); add images, remove the folder, or skip "
        "it with --skip-bad\n"
    )


def test_cli_error_unreadable_image(tmp_path: Path) -> None:
    photos = _photo_folder(tmp_path / "photos", per_class=2)
    bad = photos / "square" / "broken.jpg"
    bad.write_bytes(b"this is not a JPEG")
    code, output = _errors([str(photos), "-o", str(tmp_path / "out")])
    assert code == 1
    assert output == (
        f"Error: {bad}: not an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP, …); fix or remove it, "
        "or skip it with --skip-bad\n"
    )


def test_cli_skip_bad_skips_with_warnings(tmp_path: Path) -> None:
    photos = _photo_folder(tmp_path / "photos", per_class=4)
    (photos / "dog").mkdir()
    (photos / "square" / "broken.jpg").write_bytes(b"this is not a JPEG")
    result = CliRunner().invoke(cli, ["train", str(photos), "-o", str(tmp_path / "out"), "--epochs", "1",
                                      "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert f"Warning: skipped {photos / 'square' / 'broken.jpg'}: not an image file" in result.output
    assert f"Warning: skipped {photos / 'dog'}: empty class folder (no images in it)" in result.output
    assert load_model(tmp_path / "out").classes == ("circle", "square", "triangle")


def test_cli_errors_on_options(tmp_path: Path) -> None:
    code, output = _errors(["-o", str(tmp_path / "out")])
    assert (code, output) == (1, "Error: give either a folder of photos or a built-in data set (--dataset), not "
                                 "both or neither\n")
    # digits and faces are data sets of --dataset too (real data, from the data extra's packages): the message
    # lists every name it takes.
    code, output = _errors(["--dataset", "letters", "-o", str(tmp_path / "out")])
    assert (code, output) == (1, "Error: unknown data set 'letters' (built-in data sets: shapes, stripes, digits, "
                                 "faces)\n")
    assert not (tmp_path / "out").exists()
    code, output = _errors([str(tmp_path / "nowhere"), "-o", str(tmp_path / "out")])
    assert (code, output) == (1, f"Error: {tmp_path / 'nowhere'}: no such folder\n")


def test_cli_refuses_a_non_empty_folder_that_is_not_a_template(tmp_path: Path) -> None:
    out = tmp_path / "essay"
    out.mkdir()
    (out / "essay.docx").write_text("my homework")
    args = ["--dataset", "stripes", "--train-size", "60", "--epochs", "1", "-o", str(out)]
    code, output = _errors(args)
    assert code == 1
    assert output == (
        f"Error: {out}: the folder is not empty and holds no template (e.g. essay.docx); choose a new or empty "
        "folder, or use --force to write the template's files (model.toml, weights.npz, patches.npz) into it anyway\n"
    )
    assert CliRunner().invoke(cli, ["train", *args, "--force"]).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["essay.docx", "model.toml", "patches.npz", "weights.npz"]


def test_training_on_a_small_photo_folder_says_what_its_accuracies_are_worth(tmp_path: Path) -> None:
    """Three classes of 12 photos: each class under 20, and 6 photos held out (2 a class, under 30): a
    warning for each class and one for the validation, on stderr."""
    photos = _photo_folder(tmp_path / "photos", per_class=12)
    result = CliRunner().invoke(cli, ["train", str(photos), "-o", str(tmp_path / "m"), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    for name in ("circle", "square", "triangle"):
        assert (f"Warning: the class {name!r} has only 12 images; with fewer than 20 a class is learnt by heart "
                "rather than learnt") in warnings
    assert ("Warning: only 6 photos are held out for validation; with fewer than 30 the validation accuracy is "
            "mostly chance (add photos, or a larger --val-split)") in warnings


def test_a_training_accuracy_far_above_the_validation_accuracy_is_called_overfitting() -> None:
    assert overfitting_warning(1.0, 0.6) == ("training accuracy 100% is far above validation accuracy 60%: the "
                                             "network has learnt these photos rather than the classes (more "
                                             "photos, fewer epochs or a smaller template help)")
    assert overfitting_warning(0.9, 0.8) is None  # within 15 points
    assert overfitting_warning(1.0, None) is None  # nothing held out


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "digits", "--train-size", "50"],
     "--train-size is for the generated data sets (shapes, stripes); digits has a fixed number of images"),
    (["--dataset", "shapes", "--no-flip"],
     "--no-flip is for photo folders; a built-in data set knows whether its pictures may be mirrored"),
    (["--dataset", "stripes", "--val-split", "0.5"],
     "--val-split is for photo folders; a built-in data set keeps its own held-out images"),
])
def test_options_a_data_set_would_ignore_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = _errors([*args, "-o", str(tmp_path / "m")])
    assert (code, output) == (1, f"Error: {message}\n")
    assert not (tmp_path / "m").exists()


def test_a_folder_named_like_another_s_text_label_is_refused(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for name, colour in (("TRUE", (0, 0, 0)), ("class TRUE", (255, 255, 255))):
        (photos / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), colour).save(photos / name / f"{i}.png")
    code, output = _errors([str(photos), "-o", str(tmp_path / "m")])
    assert code == 1
    assert output == (f"Error: {photos}: the class folders 'TRUE' and 'class TRUE' would both be the class "
                      "'class TRUE' (a spreadsheet would read 'TRUE' as a value); rename one of them\n")
