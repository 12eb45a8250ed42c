"""The project's own network as a scikit-learn classifier over the one fit loop.

:class:`NetworkClassifier` is what ``underspec train`` builds, fits and saves, what the audit
cross-validates (``cross_val_predict(clone(estimator), ...)``) and what the labeling loop embeds
with. The mitigations that change how it learns are fit arguments or parameters: sample
weights, ``groups`` (group DRO), ``X_unlabeled`` (FixMatch), ``X_valid`` (early stopping on the
validation balanced accuracy, best epoch kept) and ``init`` (start from saved weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from underspec.constraints import COUNT, NON_NEGATIVE, POSITIVE, SEED, Number, validate
from underspec.errors import UnderspecError
from underspec.models.augment import make_augment, prediction_views
from underspec.models.fit import (
    as_inputs,
    fit,
    model_device,
    predict_proba,
    resolve_precision,
    trunk_features,
    weighted_ce,
)
from underspec.models.group_dro import GroupDRO
from underspec.models.networks import MultiHeadNet, resolve_arch
from underspec.models.semi import FixMatch, fixmatch_for


def checked_items(estimator: BaseEstimator, X, y="no_validation", *, reset: bool = True, name: str = "X"):
    """``X`` (and ``y``) through scikit-learn's ``validate_data`` for items of any shape
    (vectors or images), as float32, except uint8 images (N, C, H, W), which stay uint8: pixels
    0-255 that the fit loop scales to [0, 1] a batch at a time. Its errors become
    :class:`UnderspecError` (a ValueError) naming the argument ``name``."""
    pixels = getattr(X, "dtype", None) == np.uint8 and np.ndim(X) == 4
    try:
        return validate_data(estimator, X, y, reset=reset, allow_nd=True, dtype=None if pixels else np.float32)
    except ValueError as exc:
        raise UnderspecError(f"{name}: {exc}") from exc


def encode_labels(classes: np.ndarray, y, name: str) -> np.ndarray:
    """Indices of ``y``'s values in ``classes`` (sorted); a value outside them is refused."""
    y = np.asarray(y)
    index = np.searchsorted(classes, y)
    index = np.clip(index, 0, len(classes) - 1)
    if len(y) and not (classes[index] == y).all():
        bad = y[classes[index] != y][0]
        raise UnderspecError(f"{name}: class {bad!r} is not among the training classes {list(classes)}")
    return index


def load_init(path: str, model: MultiHeadNet, arch: str, input_shape: tuple) -> None:
    """Copy into ``model`` every weight of a saved file that matches it by name and shape."""
    from underspec.files import load_weights

    state = load_weights(Path(path), "a weights file to start from (a model.pt or a state dict)")
    state = state.get("state_dict", state)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and hasattr(v, "shape") and own[k].shape == v.shape}
    if not usable:
        raise UnderspecError(f"{path}: no weight matches this network ({arch}, input {input_shape}); "
                             "expected weights of the same network")
    model.load_state_dict(usable, strict=False)


class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """One-head network chosen from the item shape (MLP for vectors, a CNN for images).

    Parameters
    ----------
    epochs : float
        Passes over the training items (over the larger of the labeled and the unlabeled items
        with ``X_unlabeled``); fewer with early stopping.
    batch_size, lr, weight_decay : optimiser settings.
    arch : {"auto", "cnn", "vgg", "resnet18"}
        See :func:`underspec.models.networks.resolve_arch`.
    precision : {"auto", "float32", "bfloat16"}
        ``bfloat16`` trains and predicts in mixed precision; ``auto`` uses it for the larger
        networks on CPUs that compute in bfloat16 (:func:`underspec.models.fit.resolve_precision`).
    augment : {"none", "auto", "shift", "shift_flip", "strong", "dropout"}
        Augmentation of the training images (see :mod:`underspec.models.augment`). A network
        trained on shifted (and mirrored) images predicts the mean over an image's shifts by one
        pixel (and their mirrors): test-time augmentation, :func:`underspec.models.augment.prediction_views`.
    patience : int, optional
        With ``X_valid``: stop after this many epochs without a better validation balanced
        accuracy (None: train every epoch). The best epoch's weights are kept either way.
    pseudo_threshold : float
        FixMatch (with ``X_unlabeled``): least confidence of the network's label of an
        unlabeled item for it to count.
    init : str, optional
        A local weights file (a ``model.pt`` of ``underspec train`` or a state dict) to start
        from; weights that match the network by name and shape are copied.
    seed : int
        Seeds the initial weights, the mini-batch order and the augmentations.
    progress : bool or str
        Progress bar while fitting (a string is its label).

    Attributes
    ----------
    classes_ : ndarray
        The class values seen in ``y`` (sorted); the network has one output per class.
    n_features_in_ : int
        ``X.shape[1]`` (the channels of an image).
    input_shape_ : tuple
        The shape of one item.
    arch_, precision_ : str
        What ``auto`` resolved to.
    model_ : MultiHeadNet
        The trained network (the best epoch's weights with ``X_valid``).
    loss_curve_ : list of float
        The mean training loss of each epoch.
    validation_scores_ : list of float
        With ``X_valid``: the balanced accuracy after each epoch.
    best_epoch_, best_validation_score_ : int, float
        With ``X_valid``: the epoch kept and its score.
    unlabeled_used_ : float
        With ``X_unlabeled``: the share of unlabeled items that counted over the last epoch.
    """

    CONSTRAINTS: ClassVar[dict[str, Number]] = {
        "epochs": POSITIVE, "batch_size": COUNT, "lr": POSITIVE, "weight_decay": NON_NEGATIVE,
        "patience": COUNT, "pseudo_threshold": Number(float, low=0, high=1, low_open=True), "seed": SEED}

    def __init__(self, *, epochs: float = 15, batch_size: int = 64, lr: float = 2e-3,
                 weight_decay: float = 1e-4, arch: str = "cnn", precision: str = "auto",
                 augment: str = "none", patience: int | None = None, pseudo_threshold: float = 0.8,
                 init: str | None = None, seed: int = 0, progress: bool | str = False):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.arch = arch
        self.precision = precision
        self.augment = augment
        self.patience = patience
        self.pseudo_threshold = pseudo_threshold
        self.init = init
        self.seed = seed
        self.progress = progress

    def fit(self, X, y, sample_weight=None, *, groups=None, X_unlabeled=None, X_valid=None,
            y_valid=None) -> NetworkClassifier:
        """Train on items ``X`` (N, ...) of classes ``y``.

        Parameters
        ----------
        X : array (N, D) or (N, C, H, W)
            Vectors or images; uint8 images are pixels 0-255, kept as they are in memory and
            scaled to [0, 1] a batch at a time (the same network as on their float images).
        y : array (N,)
            Class values (any sortable values: integers, strings).
        sample_weight : array (N,), optional
        groups : array of int (N,), optional
            Group code of each item: train with group DRO (the worst group's loss).
        X_unlabeled : array, optional
            Unlabeled items of the same shape: train on them too with the FixMatch objective.
        X_valid, y_valid : arrays, optional
            Validation items: score the balanced accuracy after every epoch, keep the best
            epoch's weights, and stop early after ``patience`` epochs without a better one.

        Raises
        ------
        UnderspecError
            A parameter out of range, items that are not finite numbers, fewer than two
            classes, ``groups`` with ``X_unlabeled``, or training that diverges.
        """
        validate(self)
        X, y = checked_items(self, X, y)
        check_classification_targets(y)
        try:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        except ValueError as exc:
            raise UnderspecError(f"sample_weight: {exc}") from exc
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise UnderspecError(f"y: only one class ({self.classes_[0]!r}); expected items of at least two classes")
        self.input_shape_ = tuple(X.shape[1:])
        self.arch_ = resolve_arch(self.input_shape_, self.arch)
        self.precision_ = resolve_precision(self.precision, self.arch_)
        torch.manual_seed(self.seed)
        self.model_ = MultiHeadNet(self.input_shape_, len(self.classes_), arch=self.arch_)
        if self.init:
            load_init(self.init, self.model_, self.arch_, self.input_shape_)
        objective, pool = self._objective(X, groups, X_unlabeled)
        best: dict = {}  # the best epoch's weights, with X_valid
        on_epoch = None if X_valid is None else self._keep_best(X_valid, y_valid, best)
        self.loss_curve_ = fit(self.model_, objective, X, y_index, sample_weight=sample_weight,
                               groups=None if groups is None else np.asarray(groups), pool=pool,
                               epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                               weight_decay=self.weight_decay, seed=self.seed, progress=self.progress,
                               on_epoch=on_epoch, augment=make_augment(self.augment, X),
                               precision=self.precision_)
        if not self.loss_curve_ or not np.isfinite(self.loss_curve_).all():
            raise UnderspecError(f"training diverged (loss {self.loss_curve_[-1] if self.loss_curve_ else 'nan'}); "
                                 f"try a smaller lr than {self.lr:g}")
        if best:
            self.model_.load_state_dict(best["state"])
        if isinstance(objective, FixMatch):
            steps = int(np.ceil(max(len(pool), len(X)) / self.batch_size))
            last = objective.mask_rates[-steps:]
            self.unlabeled_used_ = float(np.mean(last)) if last else 0.0
        return self

    def _objective(self, X: np.ndarray, groups, X_unlabeled):
        """The training objective and the unlabeled pool of this fit."""
        if groups is not None and X_unlabeled is not None:
            raise UnderspecError("groups (group DRO) and X_unlabeled (FixMatch): give one of them")
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (len(X),) or not np.issubdtype(groups.dtype, np.integer) or groups.min() < 0:
                raise UnderspecError(f"groups: expected {len(X)} group codes >= 0, one per item")
            return GroupDRO(int(groups.max()) + 1), None
        if X_unlabeled is not None:
            pool = checked_items(self, X_unlabeled, reset=False, name="X_unlabeled")
            if len(pool) == 0 or pool.shape[1:] != X.shape[1:]:
                raise UnderspecError(f"X_unlabeled: shape {pool.shape}; expected items of shape {X.shape[1:]}")
            return fixmatch_for(X, self.augment, threshold=self.pseudo_threshold, seed=self.seed), pool
        return weighted_ce, None

    def _keep_best(self, X_valid, y_valid, best: dict):
        """The ``on_epoch`` hook of early stopping: score, keep the best weights in
        ``best["state"]``, stop or not."""
        X_valid = checked_items(self, X_valid, reset=False, name="X_valid")
        y_valid = encode_labels(self.classes_, y_valid, "y_valid")
        self.validation_scores_, self.best_epoch_, self.best_validation_score_ = [], -1, -1.0

        def on_epoch(epoch: int, net: torch.nn.Module) -> bool:
            proba = predict_proba(net, X_valid, precision=self.precision_)[:, 0]
            score = float(balanced_accuracy_score(y_valid, proba.argmax(1))) if len(y_valid) else 0.0
            self.validation_scores_.append(score)
            if score > self.best_validation_score_:
                self.best_epoch_, self.best_validation_score_ = epoch, score
                best["state"] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            return self.patience is not None and epoch - self.best_epoch_ >= self.patience

        return on_epoch

    def _items(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = checked_items(self, X, reset=False)
        if X.shape[1:] != self.input_shape_:
            raise UnderspecError(f"X: items of shape {X.shape[1:]}; the network expects {self.input_shape_}")
        return X

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, len(classes_)): the mean over the test views of each item
        (the item itself unless the network was trained on shifted or mirrored images)."""
        X = self._items(X)
        return np.mean([predict_proba(self.model_, view(X), precision=self.precision_)[:, 0]
                        for view in prediction_views(self.augment, X)], axis=0)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each item (values of ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(1)]

    def embed(self, X, batch_size: int = 1024) -> np.ndarray:
        """The penultimate layer (the trunk's features), (N, 128)."""
        X = self._items(X)
        self.model_.eval()
        return trunk_features(self.model_.trunks[0], X, batch_size)

    def saliency(self, X, y, batch_size: int = 256) -> np.ndarray:
        """Gradient saliency: ``|d logit_y / d x|`` of each item for its class ``y``, shape of X."""
        X = self._items(X)
        y = encode_labels(self.classes_, y, "y")
        self.model_.eval()
        device = model_device(self.model_)
        out = []
        for i in range(0, len(X), batch_size):
            x = as_inputs(X[i:i + batch_size]).to(device).requires_grad_(True)
            logits = self.model_(x)[:, 0]
            picked = logits.gather(1, torch.as_tensor(y[i:i + batch_size]).to(device).view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(picked, x)
            out.append(grad.abs().cpu().numpy())
        return np.concatenate(out)
