"""Training: backpropagation through the network the workbook computes, with Adam.

Each step runs ``xlcnn.learn.kernels``: the engine's layers — the first convolution's input scale included —
laid out for speed (float32, channels last, one matrix product per convolution). Its gradients are the
engine's (``tests/test_kernels.py``), whose every ``backward`` sits beside its ``forward`` and is checked
against finite differences. Accuracies are counted with the same pass in float64, whose predictions are the
engine's; what the model card reports of the trained model (held-out accuracy, confidence, calibration, filter
activity) is measured with the engine itself, as the workbook computes it.

Training is seeded and deterministic: the seed fixes the initial weights (``xlcnn.model.zoo.initial_weights``),
the generated data (built-in data sets), the validation split (photo folders) and the order of the
mini-batches, so the same command gives bit-identical weights on the same machine. BLAS runs on one thread (a
second buys nothing at these sizes); the second core augments the next mini-batch while a step runs.

The library stays free of any user interface: progress is reported through a callback.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from xlcnn.errors import DatasetError, OptionError, OutputError, option
from xlcnn.files import reason, replace_together
from xlcnn.learn import kernels, quality
from xlcnn.learn.augment import Augment, augment, describe
from xlcnn.learn.datasets import BUILTIN, BuiltinDataset, Dataset, Warn, builtin, load_folder, split
from xlcnn.learn.patches import top_patches
from xlcnn.model.spec import Architecture, Model, Provenance, Weights
from xlcnn.model.templates import (
    MODEL_FILE,
    PATCHES_FILE,
    WEIGHTS_FILE,
    load_model,
    model_toml,
    write_patches,
    write_weights,
)
from xlcnn.model.zoo import ARCHITECTURES, TRANSLATED_LABELS, initial_weights
from xlcnn.nn import engine
from xlcnn.nn.layers import softmax

VALIDATION_SIZE = 1_000  # fresh images a built-in data set is validated on
REAL_HELD_OUT = 0.2  # the share of each class of a real data set held out: a stratified fifth
REAL_CALIBRATION = 0.2  # and the share of the rest kept back to fit the temperature on
# Role tags of the trainer's random streams, far from the data's chunk numbers ([seed, 0], [seed, 1], …):
# numpy ignores trailing zeros of a seed, so a tag must never be 0 and streams must never share a prefix.
ORDER_STREAM, AUGMENT_STREAM, REVIVE_STREAM = 1_000_001, 1_000_002, 1_000_003
PHOTO_EPOCHS = 40  # photo folders are small, so they take more passes
_T = TypeVar("_T")


@dataclass(frozen=True)
class TrainConfig:
    """How to optimise: Adam on mini-batches, its step size shrinking along a cosine to ``final_rate``,
    on augmented images, towards softened targets (label smoothing)."""

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 0.005
    final_rate: float = 0.0001
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    seed: int = 1
    # The target is 1 − ε + ε/K for the true class and ε/K for each other, not 1: a network trained towards
    # certainty learns to say 100.0% and its probabilities stop moving when a student edits a weight.
    label_smoothing: float = 0.1
    augment: Augment = field(default_factory=Augment)
    revivals: int = 3  # rounds of re-initialising dead filters and training on
    alive: float = 0.01  # how hard a filter that is off on an image is pushed back on (see _keep_alive)


@dataclass(frozen=True)
class Progress:
    """Where training is: reported after every mini-batch and once more at the end of every epoch."""

    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based, within the epoch
    batches: int
    loss: float  # mean cross-entropy over this epoch's batches so far
    accuracy: float  # fraction right over this epoch's batches so far (before each step)
    val_accuracy: float | None  # on the validation set, after the last finished epoch
    epoch_done: bool


ProgressCallback = Callable[[Progress], None]


# ------------------------------------------------------------------------------------ forward/backward


def _as_input(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) raw 0–255 → (N, 3, H, W) float64, as the engine feeds the first convolution."""
    return np.asarray(images, dtype=np.float64).transpose(0, 3, 1, 2)


def loss_and_gradients(
    arch: Architecture, weights: Weights, images: np.ndarray, labels: np.ndarray
) -> tuple[float, Weights]:
    """Mean cross-entropy of a batch of raw (N, H, W, 3) images and its gradient for every weight."""
    batch = engine.run(arch, weights, _as_input(images))
    loss = float(softmax.cross_entropy(batch.probs, labels).mean())
    return loss, engine.gradients(arch, weights, batch, softmax.backward(batch.probs, labels))


def evaluate(model: Model, data: Dataset) -> float:
    """The fraction of ``data`` that ``model`` classifies right."""
    if len(data) == 0:
        raise DatasetError("cannot measure accuracy on an empty data set")
    if tuple(data.classes) != tuple(model.classes):
        raise DatasetError(f"the data's classes {data.classes} are not the model's {model.classes}")
    return _accuracy(model.arch, model.weights, data)


# ------------------------------------------------------------------------------------------- Adam


def _flat(weights: Weights) -> list[np.ndarray]:
    return [*weights.conv_w, *weights.conv_b, weights.dense_w, weights.dense_b]


def _unflat(arrays: list[np.ndarray], blocks: int) -> Weights:
    return Weights(tuple(arrays[:blocks]), tuple(arrays[blocks : 2 * blocks]), arrays[-2], arrays[-1])


class _Adam:
    """Adam (Kingma & Ba, 2015) with bias correction, updating a list of arrays in place."""

    def __init__(self, params: list[np.ndarray], config: TrainConfig) -> None:
        self.params, self.config, self.t = params, config, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray], rate: float) -> None:
        c = self.config
        self.t += 1
        correction1, correction2 = 1 - c.beta1**self.t, 1 - c.beta2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= c.beta1
            m += (1 - c.beta1) * g
            v *= c.beta2
            v += (1 - c.beta2) * g * g
            p -= rate * (m / correction1) / (np.sqrt(v / correction2) + c.epsilon)


def _rate(config: TrainConfig, step: int, steps: int) -> float:
    """Cosine decay from ``learning_rate`` to ``final_rate``: big steps first, fine ones at the end."""
    progress = step / max(1, steps - 1)
    return config.final_rate + 0.5 * (config.learning_rate - config.final_rate) * (1 + math.cos(math.pi * progress))


# ---------------------------------------------------------------------------------------- training


def fit(
    arch: Architecture,
    train: Dataset,
    config: TrainConfig,
    validation: Dataset | None = None,
    on_progress: ProgressCallback | None = None,
    warn: Warn | None = None,
) -> Weights:
    """Train ``arch`` from seeded initial weights on ``train``; returns the weights after the last epoch.

    Then every filter's activity is measured on ``validation`` (or, without one, on ``train``): a filter
    whose map is positive on fewer than ``quality.MIN_ACTIVITY`` of the images is dead — it shows a sheet of
    zeros — so it is given fresh random weights and a small positive bias, and training goes on for a
    quarter of the epochs, up to ``config.revivals`` times. A filter still dead after that is reported
    through ``warn``.
    """
    if config.epochs < 1 or config.batch_size < 1:
        raise OptionError(f"epochs and batch size must be positive, not {config.epochs} and {config.batch_size}")
    params = [p.copy() for p in _flat(initial_weights(arch, config.seed))]
    _train(arch, train, config, params, config.epochs, config.learning_rate, validation, on_progress, 0)
    check = validation if validation is not None and len(validation) else train
    revive_rng = np.random.default_rng([config.seed, REVIVE_STREAM])  # its own stream: fresh filters
    more = max(2, config.epochs // 4)
    for round_ in range(1, config.revivals + 1):
        dead = quality.dead_filters(quality.activity(arch, _raw(arch, params), check.images))
        if not dead:
            break
        _revive(arch, params, dead, revive_rng)
        _train(arch, train, config, params, more, config.learning_rate / 2, validation, on_progress,
               config.epochs + (round_ - 1) * more)
    else:
        dead = quality.dead_filters(quality.activity(arch, _raw(arch, params), check.images))
        if dead and warn is not None:
            named = ", ".join(f"conv {k + 1} filter {f + 1}" for k, f in dead)
            warn(f"{named} stayed dead (its map is almost never positive) after {config.revivals} fresh starts")
    return _raw(arch, params)


def _centre(arch: Architecture) -> float:
    """What training subtracts from every raw pixel: mid-grey when the first convolution does not pad.

    Pixels of 0–255 are all positive, which makes gradient descent zig-zag; centred on 0 they train
    faster and better. Without padding every window of the first layer is whole, so a network trained
    on ``x − c`` is exactly the network on ``x`` whose first biases are ``b − c · scale · Σ w``: the
    workbook keeps its raw pixels, and only the biases show that the training data was centred. (With
    padding the border windows would differ, so those models train on the raw pixels.)"""
    return 127.5 if arch.blocks[0].conv.padding == 0 else 0.0


def _raw(arch: Architecture, params: list[np.ndarray]) -> Weights:
    """The weights being trained (on centred pixels) as weights for raw pixels (see ``_centre``)."""
    weights = _unflat(params, len(arch.blocks))
    c = _centre(arch)
    if c == 0:
        return weights
    first = weights.conv_b[0] - c * arch.input.scale * weights.conv_w[0].sum(axis=(1, 2, 3))
    return Weights(weights.conv_w, (first, *weights.conv_b[1:]), weights.dense_w, weights.dense_b)


def _revive(arch: Architecture, params: list[np.ndarray], dead: list[tuple[int, int]],
            rng: np.random.Generator) -> None:
    """Fresh He-normal weights and a small positive bias for each dead (layer, filter), so it switches on."""
    blocks = len(arch.blocks)
    for k, f in dead:
        w = params[k]
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        w[f] = rng.normal(0.0, np.sqrt(2.0 / fan_in), w[f].shape)
        params[blocks + k][f] = 0.1


def _keep_alive(grads: Weights, relu_max: tuple[np.ndarray, ...], strength: float) -> Weights:
    """Add −``strength`` × the share of the batch on which a filter's map is nowhere positive to the gradient
    of its bias, so that gradient descent raises the bias of a filter that is off. ``relu_max`` holds, per
    block, each map's largest value after ReLU, (F, N). A filter that is off everywhere gets no gradient from
    the loss at all (ReLU passes none back), so without this push it can die and stay dead, and its sheets
    show nothing but zeros."""
    if strength == 0:
        return grads
    biases = tuple(db - strength * (top <= 0).mean(axis=1)
                   for db, top in zip(grads.conv_b, relu_max, strict=True))
    return Weights(grads.conv_w, biases, grads.dense_w, grads.dense_b)


def _smoothed(labels: np.ndarray, classes: int, smoothing: float) -> np.ndarray:
    y = softmax.one_hot(labels, classes)
    return y * (1 - smoothing) + smoothing / classes


def _train(
    arch: Architecture, train: Dataset, config: TrainConfig, params: list[np.ndarray], epochs: int,
    first_rate: float, validation: Dataset | None, on_progress: ProgressCallback | None, done: int,
) -> None:
    """``epochs`` epochs of Adam on ``params`` (in place); ``done`` epochs were run before (for the
    seeds of this run's batch order and augmentation, and for the progress report)."""
    run_config = replace(config, learning_rate=first_rate)
    adam = _Adam(params, run_config)
    order_rng = np.random.default_rng([config.seed, ORDER_STREAM, done + 1])  # its own stream: batch order
    augment_rng = np.random.default_rng([config.seed, AUGMENT_STREAM, done + 1])  # how each image is varied
    n, k = len(train), len(arch.classes)
    centre = _centre(arch)
    batches = math.ceil(n / config.batch_size)
    total_epochs = done + epochs
    val_accuracy: float | None = None
    batches_ahead = _ahead(_augmented(train, config.augment, config.batch_size, centre, epochs, order_rng,
                                      augment_rng))
    with closing(batches_ahead):  # stops the second thread however training ends
        for epoch in range(1, epochs + 1):
            total_loss, right, seen = 0.0, 0, 0
            for b in range(batches):
                index, planes = next(batches_ahead)
                current = _unflat(params, len(arch.blocks))
                run = kernels.forward(arch, current, planes)
                p, labels = run.probs, train.labels[index]
                dlogits = (p - _smoothed(labels, k, config.label_smoothing)) / len(index)
                grads = _keep_alive(kernels.backward(arch, current, run, dlogits), run.relu_max, config.alive)
                adam.step(_flat(grads), _rate(run_config, (epoch - 1) * batches + b, epochs * batches))
                total_loss += float(softmax.cross_entropy(p, labels).sum())
                right += int((p.argmax(axis=1) == labels).sum())
                seen += len(index)
                if on_progress:
                    on_progress(Progress(done + epoch, total_epochs, b + 1, batches, total_loss / seen, right / seen,
                                         val_accuracy, False))
            if validation is not None and len(validation):
                val_accuracy = _accuracy(arch, _raw(arch, params), validation)
            if on_progress:
                on_progress(Progress(done + epoch, total_epochs, batches, batches, total_loss / seen, right / seen,
                                     val_accuracy, True))


def _augmented(train: Dataset, how: Augment, size: int, centre: float, epochs: int, order_rng: np.random.Generator,
               augment_rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every mini-batch of ``epochs`` epochs, in order: (the images' indices, the augmented images as the
    trainer's pass reads them, (n, 3, H, W) float32 with ``centre`` subtracted)."""
    n = len(train)
    for _ in range(epochs):
        order = order_rng.permutation(n)
        for start in range(0, n, size):
            index = order[start : start + size]
            planes = augment(train.images[index], augment_rng, how).transpose(0, 3, 1, 2)  # augment's layout: a view
            yield index, np.subtract(planes, centre, dtype=kernels.DTYPE)


def _ahead(items: Iterator[_T]) -> Generator[_T, None, None]:
    """``items``, each made on a second thread while the caller works on the one before: augmenting a batch
    overlaps the step on the last (NumPy lets go of the interpreter in its array work), on the second core.
    One thread draws every item in turn, so the random streams are read in the same order as without it."""
    with ThreadPoolExecutor(1, thread_name_prefix="xlcnn-batches") as pool:
        coming = pool.submit(next, items, None)
        while (item := coming.result()) is not None:
            coming = pool.submit(next, items, None)
            yield item


def _accuracy(arch: Architecture, weights: Weights, data: Dataset, chunk: int = 64) -> float:
    """``evaluate``'s fraction right, through the trainer's pass in float64: the same predictions (the
    probabilities agree to about 1e-15), several times faster, which counts when it runs every epoch. 64 images
    at a time keep the float64 windows in the cache: 1,000 images take half the time they take 250 at a time,
    with the same probabilities bit for bit."""
    right = 0
    for start in range(0, len(data), chunk):
        planes = data.images[start : start + chunk].transpose(0, 3, 1, 2)
        predicted = kernels.forward(arch, weights, planes, np.float64).probs.argmax(axis=1)
        right += int((predicted == data.labels[start : start + chunk]).sum())
    return right / len(data)


def _bare_model(arch: Architecture, weights: Weights) -> Model:
    return Model("training", "training", "", arch, weights, Provenance("training", ""))


# ---------------------------------------------------------------------------- the public entry point


@dataclass(frozen=True)
class _Source:
    """What a model is trained on, said for the model card and the reproducing command."""

    train: Dataset
    validation: Dataset
    dataset: str  # provenance.dataset
    trained_on: str  # "12,000 generated images of …"
    accuracy_note: str
    held_out: str  # the validation images in a few words: "1,000 fresh ones"
    args: tuple[str, ...]  # the command's arguments that choose the data
    title: str
    calibration: Dataset  # the held-out images the temperature is fitted on
    calibration_note: str  # which images those are, for the model card
    augment: Augment = field(default_factory=Augment)
    licence: str = ""


def _architecture(template: str | Path) -> Architecture:
    """The architecture to train: a built-in one as ``xlcnn.model.zoo`` defines it in code (so the shipped
    templates can be made again from nothing), a folder's from its ``model.toml``. Only the layers and
    the input are taken; training starts from seeded weights, and the classes are the data's.
    """
    name = str(template)
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]()
    return load_model(template).arch


def _builtin_source(spec: BuiltinDataset, arch: Architecture, seed: int, train_size: int | None) -> _Source:
    size = (arch.input.height, arch.input.width)
    n = spec.train_size if train_size is None else train_size
    val_seed = seed + 1  # a different seed, so no validation image was seen in training
    return _Source(
        train=spec.generate(n, seed, size),
        validation=spec.generate(VALIDATION_SIZE, val_seed, size),
        dataset=f"built-in data set {spec.name!r}: {spec.what}",
        trained_on=f"{n:,} {spec.what}",
        accuracy_note=f"{VALIDATION_SIZE:,} freshly generated images from seed {val_seed}, never used in training",
        held_out=f"{VALIDATION_SIZE:,} fresh ones it never saw",
        args=("--dataset", spec.name, "--train-size", str(n)),
        title=spec.title,
        calibration=spec.generate(VALIDATION_SIZE, seed + 2, size),
        calibration_note=f"fitted on {VALIDATION_SIZE:,} more fresh images, from seed {seed + 2}",
    )


def _real_source(name: str, arch: Architecture, seed: int) -> _Source:
    """A data set shipped inside a well-kept package: a stratified fifth held out to measure the model on,
    chosen by ``seed``, and a fifth of the rest kept out of training to fit the temperature on."""
    from xlcnn.learn.realdata import real

    spec = real(name)
    data = spec.load((arch.input.height, arch.input.width))
    rest, held = split(data, REAL_HELD_OUT, seed)
    train, calibration = split(rest, REAL_CALIBRATION, seed + 1)  # so that nothing is measured where fitted
    note = f"{len(held):,} held-out images: {REAL_HELD_OUT:.0%} of each class, chosen by seed {seed}"
    return _Source(
        train=train,
        validation=held,
        dataset=f"{spec.what}; originally {spec.origin}",
        trained_on=f"{len(train):,} of {spec.what}",
        accuracy_note=f"{note}, never used in training",
        held_out=f"{len(held):,} held-out ones it never saw",
        args=("--dataset", spec.name),
        title=spec.title,
        calibration=calibration,
        calibration_note=(f"fitted on {len(calibration):,} other images kept out of training: "
                          f"{REAL_CALIBRATION:.0%} of each class of the rest, chosen by seed {seed + 1}"),
        augment=Augment(flip=spec.flip),
        licence=spec.licence,
    )


MIN_CLASS_IMAGES = 20  # fewer photos of a class than this and the network learns those photos, not the class
MIN_VALIDATION_IMAGES = 30  # fewer held-out photos than this and the validation accuracy is mostly chance
OVERFITTING_GAP = 0.15  # training accuracy this far above validation accuracy: it learnt the photos by heart


def _warn_if_small(data: Dataset, validation: Dataset, warn: Warn | None) -> None:
    """Say so when a photo folder is too small for its accuracies to mean much."""
    if warn is None:
        return
    for k, name in enumerate(data.classes):
        count = int((data.labels == k).sum())
        if count < MIN_CLASS_IMAGES:
            warn(f"the class {name!r} has only {count} images; with fewer than {MIN_CLASS_IMAGES} a class is "
                 "learnt by heart rather than learnt")
    if len(validation) < MIN_VALIDATION_IMAGES:
        warn(f"only {len(validation)} photos are held out for validation; with fewer than "
             f"{MIN_VALIDATION_IMAGES} the validation accuracy is mostly chance (add photos, or a larger "
             f"{option('val_split')})")


def overfitting_warning(train_accuracy: float, val_accuracy: float | None) -> str | None:
    """What to tell a teacher whose network learnt its training photos by heart, or None."""
    if val_accuracy is None or train_accuracy - val_accuracy <= OVERFITTING_GAP:
        return None
    return (f"training accuracy {train_accuracy:.0%} is far above validation accuracy {val_accuracy:.0%}: the "
            "network has learnt these photos rather than the classes (more photos, fewer epochs or a smaller "
            "template help)")


def _photo_source(
    folder: Path, arch: Architecture, seed: int, val_split: float, skip_bad: bool, flip: bool, warn: Warn | None
) -> _Source:
    data = load_folder(folder, (arch.input.height, arch.input.width), arch.input.fit, skip_bad, warn)
    train, validation = split(data, val_split, seed)
    _warn_if_small(data, validation, warn)
    counts = ", ".join(f"{int((data.labels == k).sum())} {c}" for k, c in enumerate(data.classes))
    name = folder.resolve().name
    note = (
        f"{len(validation):,} held-out photos: {val_split:.0%} of each class, chosen by seed {seed}"
        if len(validation) else "no photos were held out for validation"
    )
    return _Source(
        train=train,
        validation=validation,
        dataset=f"photo folder {name!r} ({len(data):,} images: {counts}; {len(validation):,} held out)",
        trained_on=f"{len(train):,} photos from the folder {name} ({', '.join(data.classes)})",
        accuracy_note=note,
        held_out=f"{len(validation):,} held-out photos",
        args=(str(folder), "--val-split", repr(val_split), *(("--skip-bad",) if skip_bad else ()),
              *(() if flip else ("--no-flip",))),
        title=f"{name}: {_either(data.classes)}",
        calibration=validation if len(validation) else train,
        calibration_note="fitted on the same held-out photos" if len(validation) else "fitted on the training photos",
        augment=Augment(flip=flip),
    )


def train_model(
    photos: str | Path | None = None,
    *,
    dataset: str | None = None,
    template: str | Path | None = None,
    output: str | Path | None = None,
    epochs: int | None = None,
    seed: int = 1,
    val_split: float = 0.2,
    train_size: int | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    skip_bad: bool = False,
    flip: bool = True,
    on_progress: ProgressCallback | None = None,
    warn: Warn | None = None,
) -> Model:
    """Train a model on a folder of photos (``photos/<class>/*``) or on a built-in data set (``dataset``).

    ``template`` (a built-in name or a template folder) gives the architecture; by default ``default``,
    or the template a built-in data set is made for. Photo folders hold out ``val_split`` of each class
    for validation; built-in data sets are validated on 1,000 images freshly generated from ``seed + 1``.
    ``epochs`` and ``learning_rate`` default to the data set's own (``PHOTO_EPOCHS`` and
    ``TrainConfig.learning_rate`` for photos). ``output`` is only recorded in the provenance's reproducing
    command; save with :func:`write_template`. Returns the model, its provenance filled in.
    """
    _check_options(photos, dataset, epochs, seed, learning_rate, batch_size, train_size, val_split)
    with threadpool_limits(limits=1, user_api="blas"):  # a second BLAS thread buys nothing on these sizes
        return _train_model(photos, dataset, template, output, epochs, seed, val_split, train_size,
                            learning_rate, batch_size, skip_bad, flip, on_progress, warn)


def _source(photos: str | Path | None, dataset: str | None, arch: Architecture, seed: int, val_split: float,
            train_size: int | None, skip_bad: bool, flip: bool, warn: Warn | None) -> _Source:
    from xlcnn.learn.realdata import REAL

    if dataset in REAL:
        return _real_source(dataset, arch, seed)
    if dataset is not None:
        return _builtin_source(builtin(dataset), arch, seed, train_size)
    return _photo_source(Path(str(photos)), arch, seed, val_split, skip_bad, flip, warn)


def _check_dataset(dataset: str | None) -> None:
    from xlcnn.learn.realdata import REAL

    if dataset is not None and dataset not in BUILTIN and dataset not in REAL:
        known = ", ".join([*BUILTIN, *REAL])
        raise DatasetError(f"unknown data set {dataset!r} (built-in data sets: {known})")


def _check_dataset_options(dataset: str | None, train_size: int | None, flip: bool) -> None:
    """Refuse what a data set would silently ignore (the model card's command would not say it)."""
    from xlcnn.learn.realdata import REAL

    if dataset in REAL and train_size is not None:
        raise OptionError(f"{option('train_size')} is for the generated data sets (shapes, stripes); "
                          f"{dataset} has a fixed number of images")
    if dataset is not None and not flip:
        raise OptionError(f"{option('flip', 'False')} is for photo folders; a built-in data set knows whether "
                          "its pictures may be mirrored")


def _default_template(dataset: str | None) -> str:
    from xlcnn.learn.realdata import REAL

    if dataset is None:
        return "default"
    return REAL[dataset].template if dataset in REAL else builtin(dataset).template


def _train_model(
    photos: str | Path | None, dataset: str | None, template: str | Path | None, output: str | Path | None,
    epochs: int | None, seed: int, val_split: float, train_size: int | None, learning_rate: float | None,
    batch_size: int | None, skip_bad: bool, flip: bool, on_progress: ProgressCallback | None, warn: Warn | None,
) -> Model:
    _check_dataset(dataset)
    _check_dataset_options(dataset, train_size, flip)
    chosen = template if template is not None else _default_template(dataset)
    arch = _architecture(chosen)
    source = _source(photos, dataset, arch, seed, val_split, train_size, skip_bad, flip, warn)
    arch = replace(arch, classes=source.train.classes)
    default_epochs, default_rate, smoothing = _defaults(dataset)
    cfg = TrainConfig(
        epochs=epochs or default_epochs,
        batch_size=batch_size or TrainConfig.batch_size,
        learning_rate=learning_rate or default_rate,
        seed=seed,
        label_smoothing=smoothing,
        augment=source.augment,
    )
    raw = fit(arch, source.train, cfg, source.validation, on_progress, warn)
    cap = quality.MAX_MEDIAN_CONFIDENCE
    if source.calibration is not source.validation:
        cap -= quality.SAMPLE_MARGIN
    temperature = quality.fit_temperature(quality.logits(arch, raw, source.calibration.images),
                                          source.calibration.labels, cap)
    weights = quality.with_temperature(raw, temperature)
    trained = _bare_model(arch, weights)
    train_accuracy = evaluate(trained, source.train)
    held = source.validation if len(source.validation) else None
    measured = quality.measure(arch, weights, held.images, held.labels) if held is not None else None
    val_accuracy = measured.accuracy if measured is not None else None
    overfitting = overfitting_warning(train_accuracy, val_accuracy) if photos is not None else None
    if overfitting is not None and warn is not None:
        warn(overfitting)
    return Model(
        name=Path(str(output)).resolve().name if output is not None else "trained",
        title=source.title,
        description=f"A small CNN trained by xlcnn on {source.trained_on}.",
        arch=arch,
        weights=weights,
        provenance=Provenance(
            method="trained",
            summary=_summary(source, cfg, train_accuracy, val_accuracy, temperature),
            dataset=source.dataset,
            seed=seed,
            epochs=cfg.epochs,
            train_size=len(source.train),
            accuracy=val_accuracy,
            accuracy_note=source.accuracy_note,
            command=_command(source.args, chosen, cfg, output),
            licence=source.licence,
            median_confidence=None if measured is None else round(float(measured.median_confidence), 4),
            calibration_error=None if measured is None else round(float(measured.calibration_error), 4),
            temperature=temperature,
            activity=() if measured is None else tuple(tuple(round(float(a), 4) for a in layer)
                                                       for layer in measured.activity),
        ),
        patches=top_patches(arch, weights, source.train.images),
        labels=TRANSLATED_LABELS.get(arch.classes, ()),
    )


def _defaults(dataset: str | None) -> tuple[int, float, float]:
    """(epochs, first step size) a data set trains with unless told otherwise, and its label smoothing."""
    from xlcnn.learn.realdata import REAL

    if dataset is None:
        return PHOTO_EPOCHS, TrainConfig.learning_rate, TrainConfig.label_smoothing
    if dataset in REAL:
        spec = REAL[dataset]
        return spec.epochs, spec.learning_rate, spec.label_smoothing
    shapes = builtin(dataset)
    return shapes.epochs, shapes.learning_rate, TrainConfig.label_smoothing


def _check_options(
    photos: object, dataset: object, epochs: int | None, seed: int, learning_rate: float | None,
    batch_size: int | None, train_size: int | None, val_split: float,
) -> None:
    wholes = {"epochs": epochs, "seed": seed, "batch_size": batch_size, "train_size": train_size}
    for name, value in wholes.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be a whole number, not {type(value).__name__}")
    for name, number in (("learning_rate", learning_rate), ("val_split", val_split)):
        if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
            raise TypeError(f"{name} must be a number, not {type(number).__name__}")
    if (photos is None) == (dataset is None):
        raise OptionError(f"give either a folder of photos or a built-in data set ({option('dataset')}), "
                          "not both or neither")
    if dataset is not None and val_split != 0.2:
        raise OptionError(f"{option('val_split')} is for photo folders; a built-in data set keeps its own "
                          "held-out images")
    if photos is not None and train_size is not None:
        raise OptionError(f"{option('train_size')} is for the generated data sets (shapes, stripes)")
    if epochs is not None and epochs < 1:
        raise OptionError(f"{option('epochs')} must be at least 1, not {epochs}")
    if seed < 0:
        raise OptionError(f"{option('seed')} must be 0 or more, not {seed}")
    if learning_rate is not None and not 0 < learning_rate <= 1:  # nan is refused too
        raise OptionError(f"{option('learning_rate')} must be above 0 and at most 1, not {learning_rate}")
    if batch_size is not None and batch_size < 1:
        raise OptionError(f"{option('batch_size')} must be at least 1, not {batch_size}")
    if train_size is not None and train_size < 1:
        raise OptionError(f"{option('train_size')} must be at least 1, not {train_size}")
    if not 0 <= val_split < 1:
        raise OptionError(f"{option('val_split')} must be at least 0 and below 1, not {val_split}")


def _either(classes: tuple[str, ...]) -> str:
    return f"{', '.join(classes[:-1])} or {classes[-1]}"


def _summary(source: _Source, cfg: TrainConfig, train_accuracy: float, val_accuracy: float | None,
             temperature: float) -> str:
    """A few sentences for the model card, which shows the data and the accuracy note beside it."""
    varied = describe(cfg.augment, source.train.images.shape[1:3])
    varied = f", {varied}" if varied else ""
    how = (
        f"Trained by xlcnn with backpropagation: {cfg.epochs} epochs of Adam (step size {cfg.learning_rate:g}, "
        f"shrinking to nearly 0) on mini-batches of {cfg.batch_size}, seed {cfg.seed}{varied}, "
        f"towards targets of {1 - cfg.label_smoothing + cfg.label_smoothing / len(source.train.classes):.0%} "
        f"rather than 100% (label smoothing). Its logits are divided by a temperature of {temperature:g} "
        f"({source.calibration_note}): its confidence comes as close to how often it is right as it can while "
        f"its median confidence stays at most {quality.MAX_MEDIAN_CONFIDENCE:.0%}."
    )
    right = f" Right on {train_accuracy:.1%} of its {len(source.train):,} training images"
    if val_accuracy is None:
        return f"{how}{right}; nothing was held out to test it on."
    return f"{how}{right} and on {val_accuracy:.1%} of {source.held_out}."


def _command(args: tuple[str, ...], template: str | Path, cfg: TrainConfig, output: str | Path | None) -> str:
    """The ``xlcnn train`` command that makes these weights again, every choice spelt out."""
    words = ["xlcnn", "train", *args, "--template", str(template), "--epochs", str(cfg.epochs),
             "--batch-size", str(cfg.batch_size), "--learning-rate", repr(cfg.learning_rate),
             "--seed", str(cfg.seed), "-o", str(output) if output is not None else "DIR"]
    return shlex.join(words)


def check_template_folder(folder: str | Path, force: bool = False) -> None:
    """Refuse an output that training must not write into, before spending minutes on training.

    A missing or empty folder, or a template folder (it holds ``model.toml``), is fine: a template is
    replaced. Any other non-empty folder needs ``force``, and a file is refused.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, not a folder")
    if out.is_dir() and not force and not (out / MODEL_FILE).is_file():
        others = sorted(p.name for p in out.iterdir())
        if others:
            raise OutputError(
                f"{out}: the folder is not empty and holds no template (e.g. {others[0]}); choose a new or empty "
                f"folder, or use {option('force', 'True')} to write the template's files (model.toml, weights.npz, "
                f"patches.npz) into it anyway"
            )


def write_template(model: Model, folder: str | Path, force: bool = False) -> Path:
    """Save ``model`` into ``folder`` as a template (``model.toml`` + ``weights.npz``); see
    ``check_template_folder``.

    Only those files are written (and patches.npz when the model has patches), replaced together or not at
    all: a failure (a full disk, an immutable file) leaves an earlier template in the folder as it was, and
    loadable.
    """
    check_template_folder(folder, force)
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot be written ({reason(exc)})") from None
    writers: dict[Path, Callable[[Path], object]] = {
        out / WEIGHTS_FILE: lambda tmp: write_weights(model, tmp),
        out / MODEL_FILE: lambda tmp: tmp.write_text(model_toml(model), encoding="utf-8"),
    }
    if model.patches is not None:
        writers[out / PATCHES_FILE] = lambda tmp: write_patches(model, tmp)
    replace_together(writers)
    if model.patches is None:
        (out / PATCHES_FILE).unlink(missing_ok=True)  # it showed the filters of the weights just replaced
    return out
