"""The audit's shared pieces: options, the lazily computed context every check may use, the
uniform result of a check, and the registry of checks by name.

Every check returns a :class:`CheckResult`, as cleanlab's Datalab does: a per-item table
(``id``, ``is_issue``, ``score`` in [0, 1] where **lower means more suspect**, plus any
columns of its own), a summary dict, and figures (as data) for the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from underspec.data.image_sets import ImageSet, as_float
from underspec.errors import UnderspecError
from underspec.files import load_npy

LOGISTIC_C = {"imagenet": 0.002}
"""The logistic model's inverse regularisation on a representation other than 0.01: chosen on
CIFAR-10's deer, dog, frog and horse (10,000 items, 20% labels flipped uniformly or to the next
class; label-issue F1 averaged over the two: on ``imagenet``, C 0.002 / 0.004 gave 0.878 /
0.877; on its layers at 160 px alone, C 0.002 / 0.01 / 0.02 gave 0.873 / 0.863 / 0.852), then
measured on the benchmark's CIFAR-4 (``bench/audit.py``)."""


@dataclass
class AuditOptions:
    """What the user told the audit.

    Parameters
    ----------
    groups : list of str
        Sensitive group columns (label rates per group and per intersection of two).
    control : str, optional
        A column that may reverse a group difference (Simpson's paradox check).
    model : {"auto", "network", "logistic"}
        Where the out-of-sample probabilities come from: the project's network, or a logistic
        regression on the pixels, the features or the representation; ``auto``
        (:func:`resolve_model`) takes the network for images under 64 pixels and the logistic
        head on a patch representation from 64 pixels.
    folds : int
        Cross-validation folds for out-of-sample probabilities.
    epochs : float, optional
        Training passes of each network; by default :func:`network_epochs` (35 for the small
        CNN of grey images, 15 for the larger networks).
    min_group : int
        Groups smaller than this are reported and left out of the tests.
    features : str, optional
        A ``.npy`` of features, one row per item of the data (e.g. embeddings from another
        network); the logistic model then uses them instead of the pixels.
    representation : {"none", "auto", "patches", "patches-fast"}
        For the logistic model: fit it on this label-free representation of the images
        (:func:`underspec.models.representation.represent`, fitted on every item and cached)
        instead of the pixels; ``auto`` takes ``patches-fast`` for photographs.
    augment : {"auto", "none", "shift", "shift_flip", "strong", "dropout"}
        Augmentation when training the network: ``auto`` shifts grey images (digits, X-rays)
        and also mirrors colour ones (photos).
    arch : {"auto", "cnn", "vgg", "resnet18"}
        The network: ``auto`` takes the small CNN for grey images, the VGG-style CNN for colour
        ones and the ResNet-18 layout from 64 pixels (:func:`underspec.models.networks.resolve_arch`).
    precision : {"auto", "float32", "bfloat16"}
        Mixed bfloat16 precision for the larger networks (:func:`underspec.models.fit.resolve_precision`).
    rounds : int, optional
        Rounds of the label-issue check: after the first, the models are fitted again, out of
        fold as before, on the items the previous round did not flag, and every item is scored
        anew (iterative cleaning, as in the iterative noisy cross-validation of Chen et al. 2019).
        By default 3 for the logistic model and 1 for the network. On CIFAR-4 (10,000 items, 20%
        of labels flipped, ``bench/results/audit-cifar4-*-rounds*.md``) the logistic model on
        ``imagenet`` went from F1 0.747 / 0.663 (uniform / pair flips) to 0.842 / 0.828, and to
        0.865 / 0.844 since the last round flags the least likely labels, as many as counted
        (:data:`~underspec.audit.label_issues.LAST_FILTER`), 0.892 / 0.869 on the features at
        160 px with the mirror image, 0.916 / 0.904 on the four views and four layers of the
        present recipe with C 0.002 (:data:`LOGISTIC_C`), 0.915 / 0.900 (0.914 / 0.901 over
        four noise draws) with the neighbours' labels in the last round
        (:data:`~underspec.audit.label_issues.NEIGHBOUR_WEIGHT`), 0.915 / 0.905 over the four
        draws (each above 0.90) with the second round forward-corrected
        (:data:`~underspec.audit.label_issues.FORWARD_CORRECTED`); the VGG network (15 epochs,
        uniform) from 0.781 in 249 s to 0.770 in two rounds in 420 s: fitted on cleaner labels it
        grows surer, and cleanlab flags more of the clean items.
    seed : int
    ray : str, optional
        A Ray cluster's address: the folds run there as Ray tasks (:mod:`underspec.engine`).
    """

    groups: list[str] = field(default_factory=list)
    control: str | None = None
    model: str = "auto"
    folds: int = 5
    epochs: float | None = None
    min_group: int = 10
    features: str | None = None
    representation: str = "none"
    augment: str = "auto"
    arch: str = "auto"
    precision: str = "auto"
    seed: int = 0
    progress: bool = False
    ray: str | None = None
    rounds: int | None = None


def _torch_device() -> str:
    from underspec.models.fit import current_device

    return current_device()


PCA_SAMPLE = 20_000
"""Most images the pixel embedding's principal components are fitted on (then applied to all)."""
LONG_JOB_SECONDS = 120.0
"""A cross-validated network expected to take longer than this is announced with its estimate."""
PROBE_ITEMS = 256
"""Items of the short timed fit that the estimate extrapolates from."""
PROBE_WORTH = 20_000
"""Fewest item-epochs (items x epochs x folds) worth timing: below, the probe costs more than it says."""


def network_seconds(estimator, X: np.ndarray, y: np.ndarray, folds: int) -> float:
    """Estimated seconds of ``folds``-fold cross-validation of the network ``estimator``: fits
    of one and of three epochs on :data:`PROBE_ITEMS` items are timed after a warm-up (their
    difference is two epochs without the start-up costs), then scaled to every fold's items
    and epochs, and the predictions of each view of each item (a forward pass: about a third
    of a training step's cost per item)."""
    import time

    from sklearn.base import clone

    from underspec.models.augment import prediction_views

    n = min(len(y), PROBE_ITEMS)
    rows = np.random.default_rng(0).permutation(len(y))[:n]
    timings = []
    for epochs in (0.25, 1.0, 3.0):  # the first is the warm-up
        probe = clone(estimator).set_params(epochs=epochs, progress=False)
        started = time.perf_counter()
        probe.fit(X[rows], y[rows])
        timings.append(time.perf_counter() - started)
    per_item_epoch = max(timings[2] - timings[1], 1e-6) / (2 * n)
    views = len(prediction_views(estimator.augment, X[:1]))  # each item is predicted in every view
    train_items = len(y) * (folds - 1) / folds
    return per_item_epoch * (folds * train_items * estimator.epochs + len(y) * views / 3)  # forward only: ~1/3


def announce_network_time(estimator, X: np.ndarray, y: np.ndarray, folds: int) -> None:
    """Print, before a long cross-validated network, its estimated time and the cheaper option."""
    import sys

    if len(y) * estimator.epochs * folds < PROBE_WORTH:
        return
    seconds = network_seconds(estimator, X, y, folds)
    if seconds < LONG_JOB_SECONDS:
        return
    print(f"audit: {folds} folds x {estimator.epochs:g} epochs of the network on {len(y)} labeled items, about "
          f"{seconds / 60:.0f} min here; the cheaper option, a logistic head on a representation "
          "(`model` logistic, `representation` patches-fast), takes a few minutes",
          file=sys.stderr, flush=True)


def fold_proba(shared: tuple, fold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """One fold of the cross-validation: the estimator fitted on the fold's training rows, its
    class probabilities (every class a column) for the fold's held-out rows."""
    from sklearn.base import clone

    estimator, X, y, n_classes = shared
    train, test = fold
    model = clone(estimator).fit(X[train], y[train])
    out = np.zeros((len(test), n_classes))
    out[:, model.classes_] = model.predict_proba(X[test])
    return out


NETWORK_EPOCHS = {"cnn": 35}
"""The network's training passes when none are given, by architecture (:data:`DEFAULT_EPOCHS`
for the others). The small CNN of grey images reads labels better with longer training:
Fashion-MNIST, 10,000 items with 20% of labels flipped, four noise draws each, label-issue F1
pair / uniform 0.9005 / 0.9045 at 15 epochs (three draws of eight under 0.90,
``bench/results/audit-fashion-*-draws.md``), 0.9283 / 0.9301 at 35, every draw 0.926 or more
(``audit-fashion-*-draws-35.md``), in 103 to 143 s per audit against 43 to 63 s (2 cores).
The VGG and ResNet-18 networks keep 15: on CIFAR-4 the VGG network took 249 s at 15 epochs and
510 s at 35 for F1 0.781 / 0.808."""
DEFAULT_EPOCHS = 15


def network_epochs(epochs: float | None, input_shape: tuple[int, ...], arch: str = "auto") -> float:
    """``epochs`` when given, else the audit's default for the network that ``arch`` gives items
    of ``input_shape`` (:data:`NETWORK_EPOCHS`)."""
    if epochs is not None:
        return epochs
    from underspec.models.networks import resolve_arch

    return NETWORK_EPOCHS.get(resolve_arch(tuple(input_shape), arch), DEFAULT_EPOCHS)


HEAD_FROM_PIXELS = 64
"""``model`` auto: images this large (on their shorter side) get a logistic head on a patch
representation instead of the network (ResNet-18 there: on 1,000 chest X-rays of 64 px, its 5
folds took 5 to 8 minutes for a label-issue F1 of 0.252 over three draws of flipped labels; the
head on ``patches``, 0.256 in 20 s; ``bench/results/nih-audit.md``)."""
MODELS = ("auto", "network", "logistic")


def resolve_model(options: AuditOptions, X: np.ndarray) -> tuple[str, str]:
    """The model and the representation the ``options`` stand for on items like ``X`` (only its
    shape is read). ``auto`` is the logistic model when features or a representation are given
    (the representation ``auto`` as :func:`~underspec.models.representation.resolve_representation`
    resolves it) or when the images have :data:`HEAD_FROM_PIXELS` pixels or more (then on
    ``patches``, or ``patches-fast`` past
    :data:`~underspec.models.representation.FULL_PATCHES_PIXELS`); colour photographs under
    :data:`HEAD_FROM_PIXELS` pixels get it on ``imagenet`` where its weights are installed (on
    CIFAR-4, 10,000 items with 20% of labels flipped, its 3 rounds found them with F1 0.842 /
    0.828, uniform / pair flips, in 99 s with the features computed (2 cores), 0.865 / 0.844
    with the last round's filter (``audit-cifar4-*-imagenet-last-filter.md``), 0.892 / 0.869 in
    119 s from the images on the features at 160 px with the mirror image
    (``audit-cifar4-*-imagenet-160-mirror.md``), 0.916 / 0.904 in 248 s on the present recipe
    (``audit-cifar4-*-imagenet-layers.md``; 0.912 / 0.900 over four noise draws), 0.915 / 0.900
    with the neighbours' labels in the last round (0.914 / 0.901 over four draws,
    ``audit-cifar4-*-imagenet-neighbours*.md``), against 0.781 in
    249 s / 0.808 in 510 s for the VGG network it replaces (15 / 35 epochs),
    ``bench/results/audit-cifar4-*-imagenet-rounds.md``); else the network."""
    from underspec.models import imagenet_features
    from underspec.models.representation import is_photograph, patch_recipe, resolve_representation

    if options.model not in MODELS:
        raise UnderspecError(f"model: expected one of {', '.join(MODELS)}, got {options.model!r}")
    representation = resolve_representation(options.representation, X)
    model = options.model
    if model == "auto":
        if options.features is not None or representation != "none":
            model = "logistic"
        elif X.ndim == 4 and min(X.shape[2:]) >= HEAD_FROM_PIXELS:
            model, representation = "logistic", patch_recipe(X)
        elif is_photograph(X) and imagenet_features.available():
            model, representation = "logistic", "imagenet"
        else:
            model = "network"
    if model == "network" and representation != "none":
        raise UnderspecError(f"representation {options.representation}: a head on a representation "
                             "is the logistic model; expected model 'logistic' or 'auto', or representation 'none'")
    if options.features is not None:
        representation = "none"  # the features file takes the representation's place
    return model, representation


class AuditContext:
    """The image set plus what several checks share, each computed at most once."""

    def __init__(self, image_set: ImageSet, options: AuditOptions):
        self.image_set, self.options = image_set, options
        table = image_set.table
        self.labeled = (table["label"] >= 0).to_numpy()
        if self.labeled.sum() < 2 * max(2, options.folds):
            raise UnderspecError(f"{image_set.source}: {int(self.labeled.sum())} labeled items; "
                                 f"expected at least {2 * options.folds}")
        self.y = table["label"].to_numpy()[self.labeled]
        self.ids = table["id"].to_numpy()[self.labeled]
        self.table = table[self.labeled].reset_index(drop=True)
        self.n_classes = len(image_set.classes)
        self.model_name, self.representation = resolve_model(options, image_set.items.X)
        self.inputs = self._inputs()
        self.device = "cpu" if self.model_name == "logistic" else _torch_device()

    @cached_property
    def X(self) -> np.ndarray:  # noqa: N802 (the features are X everywhere)
        """The labeled items as float32 (made at the first check that needs every image)."""
        return self.image_set.float_rows(np.flatnonzero(self.labeled))

    @property
    def item_shape(self) -> tuple:
        """The shape of one item, without converting any."""
        return tuple(self.image_set.items.X.shape[1:])

    def labeled_blocks(self, block: int = 4096):
        """The labeled items as float32, ``block`` at a time, in order (no copy of them all)."""
        rows = np.flatnonzero(self.labeled)
        for start in range(0, len(rows), block):
            yield self.image_set.float_rows(rows[start:start + block])

    def labeled_images(self, rows: np.ndarray) -> np.ndarray:
        """The float32 labeled items ``rows`` (indices among the labeled items), for pictures."""
        return self.image_set.float_rows(np.flatnonzero(self.labeled)[rows])

    def _inputs(self) -> np.ndarray:
        """What the model is fitted on: the items for the network; for the logistic model the
        flattened pixels, the ``features`` file, or the ``representation``."""
        from underspec.models.representation import represent

        if self.model_name == "network":
            return self.image_set.network_items[self.labeled]  # uint8 pixels when read from files
        representation = self.representation
        if self.options.features is None and representation != "none":
            images = self.image_set.network_items  # uint8 pixels when read from files: no float32 copy
            features = represent(images, representation, seed=self.options.seed, progress=self.options.progress,
                                 address=self.options.ray)
            return features if self.labeled.all() else features[self.labeled]  # no copy when all are labeled
        if self.options.features is None:
            return self.X.reshape(len(self.X), -1)
        path = Path(self.options.features)
        features = load_npy(path, "features, one row per item (N, D)", finite=False)
        n = len(self.image_set.table)
        if features.ndim < 2 or len(features) != n or not np.isfinite(features).all():
            raise UnderspecError(f"features {path}: shape {features.shape}; expected ({n}, D) finite "
                                 "values, one row per item in the data's order")
        return features.reshape(n, -1)[self.labeled]

    @cached_property
    def estimator(self):
        """The unfitted model of the options: a logistic regression (on the pixels, the
        features or the representation) or the project's network."""
        if self.model_name == "logistic":
            from sklearn.linear_model import LogisticRegression

            if self.representation != "none":  # thousands of standardised features (C measured)
                return LogisticRegression(max_iter=1000, C=LOGISTIC_C.get(self.representation, 0.01))
            return LogisticRegression(max_iter=500, C=1.0)  # on the raw pixels in [0, 1]
        from underspec.models.classifier import NetworkClassifier

        epochs = network_epochs(self.options.epochs, self.inputs.shape[1:], self.options.arch)
        return NetworkClassifier(epochs=epochs, seed=self.options.seed, augment=self.options.augment,
                                 arch=self.options.arch, precision=self.options.precision,
                                 progress="network" if self.options.progress else False)

    @cached_property
    def proba(self) -> np.ndarray:
        """Out-of-sample class probabilities of the labeled items (N_labeled, C), by stratified
        K-fold cross-validation: each item is scored by a model that never saw it. A class
        without labeled items gets probability 0. The folds run here or as Ray tasks
        (``options.ray``), with the same results."""
        return self.out_of_fold()

    def out_of_fold(self, trusted: np.ndarray | None = None, estimator=None) -> np.ndarray:
        """Out-of-sample class probabilities of every labeled item (N_labeled, C), each fold's
        model (``estimator``, default :attr:`estimator`) fitted only on the ``trusted`` items of
        its training rows (default: all)."""
        from sklearn.model_selection import StratifiedKFold

        from underspec.engine import run_tasks

        counts = np.bincount(self.y, minlength=self.n_classes)
        folds = max(2, int(min(self.options.folds, counts[counts > 0].min())))
        cv = list(StratifiedKFold(folds, shuffle=True, random_state=self.options.seed).split(self.inputs, self.y))
        if trusted is not None:
            cv = [(train[trusted[train]], test) for train, test in cv]
        estimator = self.estimator if estimator is None else estimator
        if self.options.progress and self.model_name == "network" and self.options.ray is None:
            announce_network_time(estimator, self.inputs, self.y, folds)
        parts = run_tasks(fold_proba, (estimator, self.inputs, self.y, self.n_classes), cv,
                          address=self.options.ray, progress="folds" if self.options.progress else None)
        out = np.zeros((len(self.y), self.n_classes))
        for (_, test), part in zip(cv, parts, strict=True):
            out[test] = part
        return out

    @property
    def label_rounds(self) -> int:
        """Rounds of the label-issue check (``options.rounds``; by default 3 for the logistic
        model, 1 for the network)."""
        if self.options.rounds is not None:
            return self.options.rounds
        return 3 if self.model_name == "logistic" else 1

    @cached_property
    def model(self):
        """The model fitted on every labeled item (saliency, coefficients)."""
        from sklearn.base import clone

        return clone(self.estimator).fit(self.inputs, self.y)

    @cached_property
    def pixel_embedding(self) -> np.ndarray:
        """A label-free embedding of every item (labeled or not): the first principal
        components of the pixels (at most 64). Near-duplicates and outliers use it."""
        from sklearn.decomposition import PCA

        pixels = self.image_set.pixels
        if pixels is None or len(pixels) <= PCA_SAMPLE:  # a temporary float32 copy, not kept
            flat = as_float(self.image_set.network_items).reshape(len(self.image_set.table), -1)
            n = min(64, flat.shape[1], len(flat))
            return PCA(n, random_state=self.options.seed).fit_transform(flat)
        # many images from files: fitted on a sample (centred in place: it is a temporary), applied
        # a block at a time, each block's pages released (no float32 copy, no 1.2 GB of pages held)
        from underspec.data.image_store import release_pages

        sample = np.sort(np.random.default_rng(self.options.seed).choice(len(pixels), PCA_SAMPLE, replace=False))
        pca = PCA(min(64, int(np.prod(pixels.shape[1:])), PCA_SAMPLE), random_state=self.options.seed, copy=False)
        pca.fit(as_float(pixels[sample]).reshape(PCA_SAMPLE, -1))
        blocks = []
        for start in range(0, len(pixels), 4096):
            blocks.append(pca.transform(as_float(pixels[start:start + 4096]).reshape(-1, pca.n_features_in_)))
            release_pages(pixels)
        return np.concatenate(blocks)

    @cached_property
    def image_balanced_accuracy(self) -> float:
        from sklearn.metrics import balanced_accuracy_score

        return float(balanced_accuracy_score(self.y, self.proba.argmax(1)))


@dataclass(frozen=True)
class Figure:
    """What one picture of a report shows, as data: ``kind`` names a drawing of
    :mod:`underspec.report.figures` (``items``: a grid of items with captions, ``bars``: one bar
    per label, ``heat``: maps side by side) and ``data`` holds its arguments (arrays, labels,
    the title). Checks compute; the report draws."""

    kind: str
    data: dict


@dataclass
class CheckResult:
    """One check's findings: per-item ``items`` (``id``, ``is_issue``, ``score``), ``summary``,
    and ``figures`` (title to :class:`Figure`) for the report."""

    name: str
    summary: dict
    items: pd.DataFrame
    figures: dict[str, Figure] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = {"id", "is_issue", "score"} - set(self.items.columns)
        if missing:
            raise UnderspecError(f"check {self.name}: items lack {sorted(missing)}")

    @property
    def n_issues(self) -> int:
        return int(self.items["is_issue"].sum())


Check = Callable[[AuditContext], CheckResult]
"""An audit check: the shared context in, the findings out (see :mod:`underspec.audit.checks`)."""


def items_frame(ids, is_issue, score, **extra) -> pd.DataFrame:
    """The per-item table of a check."""
    return pd.DataFrame({"id": ids, "is_issue": np.asarray(is_issue, bool),
                         "score": np.clip(np.asarray(score, float), 0.0, 1.0), **extra})
