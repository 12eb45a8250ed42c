"""``underspec train`` and ``predict``: a network trained from scratch on a labeled image set,
with the mitigations as options, early stopping on validation balanced accuracy, and a run
folder holding the checkpoint and what produced it.

With a ``representation`` (``--representation patches|patches-fast|face-descriptor``) the
network is an MLP on a label-free representation of the images, fitted on every item of the data
(labeled, validation and unlabeled alike); the fitted transformer is saved in ``model.pt`` so that
``predict`` reads new images the same way.

A run folder ``RUN/`` holds ``model.pt`` (weights and what is needed to rebuild the network and
its representation), ``run.json`` (options, classes, per-epoch history, best epoch and score) and, after
``underspec postprocess``, ``thresholds.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from underspec.constraints import COUNT, NON_NEGATIVE, POSITIVE, SEED, Number, validate
from underspec.data.image_sets import ImageSet
from underspec.errors import UnderspecError, atomic_dir, check_output_dir
from underspec.files import check_same_data, load_weights, read_json
from underspec.mitigate.weights import class_weights, group_codes, group_weights, reweighing
from underspec.models.augment import prediction_views
from underspec.models.classifier import NetworkClassifier
from underspec.models.fit import current_device, predict_proba
from underspec.models.networks import MultiHeadNet
from underspec.models.representation import (
    fit_representation,
    resolve_representation,
    transformer_from_state,
    transformer_state,
)

OOD = "out_of_distribution"
SEMI_SUPERVISED = ("none", "fixmatch")


@dataclass
class TrainOptions:
    """How to train; each mitigation is one field (all off by default).

    Parameters
    ----------
    arch : {"auto", "cnn", "vgg", "resnet18"}
        ``auto`` chooses from the item shape (:func:`underspec.models.networks.resolve_arch`);
        the checkpoint records the network it chose.
    precision : {"auto", "float32", "bfloat16"}
        Mixed bfloat16 precision (:func:`underspec.models.fit.resolve_precision`).
    epochs : float
        At most this many passes; training stops earlier after ``patience`` epochs without a
        better validation balanced accuracy, and the best epoch's weights are kept.
    valid_share : float
        Share of the training items held out for validation when the data has no ``valid``
        split (stratified, seeded).
    init : str, optional
        A local weights file (a ``model.pt`` of an earlier run, or a state dict) to start from.
    class_weights : bool
        Weight items so that every class weighs the same.
    group_weights : list of str
        Weight items so that every group (intersection of these columns) weighs the same.
    reweigh : list of str
        Kamiran–Calders reweighing over label x the intersection of these columns.
    use_weight_column : bool
        Multiply by the data's ``weight`` column (``--weights COL`` when loading).
    issues : str, optional
        An audit ``findings.json``; its ``label_issues`` are dropped or relabelled.
    issue_action : {"drop", "relabel"}
    group_dro : list of str
        Train with group DRO over the intersection of these columns.
    ood_findings : str, optional
        An audit ``findings.json``; items its ``outliers`` check flagged are trained as an
        extra "out_of_distribution" class (seed 001).
    augment : {"none", "auto", "shift", "shift_flip", "strong", "dropout"}
        Augmentation of the training images.
    representation : {"none", "auto", "patches", "patches-fast", "face-descriptor"}
        ``none`` (default): the network on the pixels. Otherwise an MLP on that label-free
        representation of the images (:mod:`underspec.models.representation`; ``auto``:
        ``patches-fast`` for photographs, the pixels otherwise). The pixels stay the default:
        on CIFAR bird-against-cat with 8,000 labels the VGG-style network on pixels reads 0.887
        where a linear model on ``patches`` reads 0.854 (``bench/results/representation.md``);
        on faces the pretrained descriptor is the stronger input.
    semi_supervised : {"none", "fixmatch"}
        ``fixmatch`` also trains on the unlabeled items (label -1) with the FixMatch objective
        (:mod:`underspec.models.semi`); an epoch is then a pass over the larger of the labeled
        and the unlabeled items.
    pseudo_threshold : float
        FixMatch: least confidence of the network's label of an unlabeled item for it to count.
    """

    arch: str = "auto"
    precision: str = "auto"
    epochs: float = 30
    patience: int = 5
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    valid_share: float = 0.15
    seed: int = 0
    init: str | None = None
    class_weights: bool = False
    group_weights: list[str] = field(default_factory=list)
    reweigh: list[str] = field(default_factory=list)
    use_weight_column: bool = True
    issues: str | None = None
    issue_action: str = "drop"
    group_dro: list[str] = field(default_factory=list)
    ood_findings: str | None = None
    augment: str = "none"
    representation: str = "none"
    semi_supervised: str = "none"
    pseudo_threshold: float = 0.8
    progress: bool = True

    CONSTRAINTS: ClassVar[dict[str, Number]] = {
        "epochs": POSITIVE, "patience": COUNT, "batch_size": COUNT, "lr": POSITIVE,
        "weight_decay": NON_NEGATIVE, "valid_share": Number(float, low=0, high=1, low_open=True, high_open=True),
        "seed": SEED, "pseudo_threshold": Number(float, low=0, high=1, low_open=True)}


def _flagged(findings_path: str, check: str, image_set: ImageSet) -> dict[str, dict]:
    """Items a check flagged in an audit ``findings.json`` of this very data, by ``str(id)``."""
    path = Path(findings_path)
    findings = read_json(path, "the findings.json of underspec audit")
    check_same_data(path, findings.get("data"), image_set)
    if check not in findings:
        raise UnderspecError(f"{path}: no {check!r} check; run underspec audit with it")
    return {str(item["id"]): item for item in findings[check]["items"] if item["is_issue"]}


def split_rows(table: pd.DataFrame, options: TrainOptions) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and validation items (labeled ones only)."""
    labeled = table["label"].to_numpy() >= 0
    split = table["split"].astype(str).to_numpy()
    valid = labeled & np.isin(split, ["valid", "val"])
    train = labeled & (split == "train")
    if valid.any():
        return np.flatnonzero(train), np.flatnonzero(valid)
    rows = np.flatnonzero(train)
    y = table["label"].to_numpy()[rows]
    stratify = y if np.bincount(y).min() >= 2 else None
    tr, va = train_test_split(rows, test_size=options.valid_share, random_state=options.seed, stratify=stratify)
    return np.sort(tr), np.sort(va)


def training_labels(image_set: ImageSet, rows: np.ndarray,
                    options: TrainOptions) -> tuple[np.ndarray, np.ndarray, list]:
    """Training rows, their labels after the label-issue and OOD options, and the network's
    outputs (the classes, plus the out-of-distribution class with ``ood_findings``)."""
    table, classes = image_set.table, list(image_set.classes)
    y = table["label"].to_numpy()[rows].copy()
    ids = table["id"].astype(str).to_numpy()[rows]
    if options.issues:
        flagged = _flagged(options.issues, "label_issues", image_set)
        hit = np.isin(ids, list(flagged))
        if options.issue_action == "drop":
            rows, y, ids = rows[~hit], y[~hit], ids[~hit]
        elif options.issue_action == "relabel":
            names = [str(c) for c in classes]
            for k in np.flatnonzero(hit):
                y[k] = names.index(str(flagged[ids[k]]["predicted"]))
        else:
            raise UnderspecError(f"issue_action: expected drop or relabel, got {options.issue_action!r}")
    outputs = classes
    if options.ood_findings:
        ood = np.isin(ids, list(_flagged(options.ood_findings, "outliers", image_set)))
        y[ood] = len(classes)
        outputs = [*classes, OOD]
    return rows, y, outputs


def sample_weights(table: pd.DataFrame, rows: np.ndarray, y: np.ndarray, options: TrainOptions) -> np.ndarray:
    """The product of the weight mitigations for the training rows."""
    t = table.iloc[rows]
    w = np.ones(len(rows))
    if options.use_weight_column and "weight" in t.columns:
        w *= t["weight"].to_numpy(float)
    if options.class_weights:
        w *= class_weights(y)
    if options.group_weights:
        w *= group_weights(group_codes(t, options.group_weights))
    if options.reweigh:
        w *= reweighing(y, group_codes(t, options.reweigh))
    return w


def build_estimator(options: TrainOptions) -> NetworkClassifier:
    """The network ``options`` describe, unfitted."""
    return NetworkClassifier(epochs=options.epochs, batch_size=options.batch_size, lr=options.lr,
                             weight_decay=options.weight_decay, arch=options.arch, precision=options.precision,
                             augment=options.augment, patience=options.patience,
                             pseudo_threshold=options.pseudo_threshold, init=options.init, seed=options.seed,
                             progress="train" if options.progress else False)


def fit_arguments(image_set: ImageSet, X: np.ndarray, train_rows: np.ndarray, valid_rows: np.ndarray,
                  y: np.ndarray, options: TrainOptions) -> dict:
    """What ``NetworkClassifier.fit`` gets beside the training items (rows of ``X``, the
    network's inputs of every item): weights, validation items, and the group codes (group DRO)
    or the unlabeled items (FixMatch)."""
    table = image_set.table
    arguments = {"sample_weight": sample_weights(table, train_rows, y, options),
                 "X_valid": X[valid_rows], "y_valid": table["label"].to_numpy()[valid_rows]}
    if options.group_dro:
        arguments["groups"] = group_codes(table.iloc[train_rows], options.group_dro)
    if options.semi_supervised == "fixmatch":
        arguments["X_unlabeled"] = X[table["label"].to_numpy() < 0]
    return arguments


def train(image_set: ImageSet, out: str | Path, options: TrainOptions | None = None) -> tuple[Path, float]:
    """Build the network, fit it (best epoch kept), write ``RUN/model.pt`` and ``RUN/run.json``.

    Returns
    -------
    (checkpoint path, best validation balanced accuracy)
    """
    options = options or TrainOptions()
    validate(options)
    check_output_dir(out)  # before any work
    if options.semi_supervised not in SEMI_SUPERVISED:
        raise UnderspecError(f"semi_supervised: expected one of {', '.join(SEMI_SUPERVISED)}, "
                             f"got {options.semi_supervised!r}")
    if options.semi_supervised != "none" and options.group_dro:
        raise UnderspecError(f"group_dro and semi_supervised {options.semi_supervised}: give one of them")
    out, table = Path(out), image_set.table
    try:  # checked before any work
        representation = resolve_representation(options.representation, image_set.network_items)
    except UnderspecError as exc:
        raise UnderspecError(f"{image_set.source}: {exc}") from exc
    if options.semi_supervised == "fixmatch" and not (table["label"].to_numpy() < 0).any():
        raise UnderspecError(f"semi_supervised fixmatch: {image_set.source} needs unlabeled items (an empty "
                             "label); every item has one")
    train_rows, valid_rows = split_rows(table, options)
    train_rows, y, outputs = training_labels(image_set, train_rows, options)
    if len(np.unique(y)) < 2:
        raise UnderspecError(f"{image_set.source}: fewer than two classes left to train on")
    try:
        transformer, X = fit_representation(image_set.network_items, representation, seed=options.seed,
                                            progress=options.progress)
        arguments = fit_arguments(image_set, X, train_rows, valid_rows, y, options)
        model = build_estimator(options).fit(X[train_rows], y, **arguments)
    except UnderspecError as exc:
        raise UnderspecError(f"{image_set.source}: {exc}; nothing written") from exc
    record = run_record(image_set, model, options, outputs, train_rows, valid_rows, arguments)
    checkpoint = {"state_dict": model.model_.state_dict(), "input_shape": list(model.input_shape_),
                  "arch": model.arch_, "precision": model.precision_, "outputs": record["outputs"],
                  "output_index": record["output_index"]}
    if transformer is not None:  # new items are read through the same fitted representation
        checkpoint["representation"] = {**transformer_state(transformer),
                                        "image_shape": list(image_set.network_items.shape[1:])}
        record["representation"] = representation
    with atomic_dir(out) as tmp:  # the whole run folder: no stale thresholds.json of an older model
        torch.save(checkpoint, tmp / "model.pt")
        (tmp / "run.json").write_text(json.dumps(record, indent=1) + "\n")
    return out / "model.pt", model.best_validation_score_


def run_record(image_set: ImageSet, model: NetworkClassifier, options: TrainOptions, outputs: list,
               train_rows: np.ndarray, valid_rows: np.ndarray, arguments: dict) -> dict:
    """The ``run.json`` of a fitted network: options, classes, per-epoch history, best epoch."""
    history = [{"epoch": epoch, "valid_balanced_accuracy": round(score, 4), "loss": round(loss, 5)}
               for epoch, (score, loss) in enumerate(zip(model.validation_scores_, model.loss_curve_, strict=False))]
    record = {"options": asdict(options), "arch": model.arch_, "precision": model.precision_,
              "device": current_device(), "classes": list(image_set.classes),
              "outputs": [str(outputs[k]) for k in model.classes_], "output_index": model.classes_.tolist(),
              "source": image_set.source, "train_items": int(len(train_rows)), "valid_items": int(len(valid_rows)),
              "unlabeled_items": len(arguments.get("X_unlabeled", ())),
              "skipped_unreadable": [list(b) for b in image_set.bad], "resized": list(image_set.resized),
              "valid_ids": image_set.table["id"].to_numpy()[valid_rows].tolist(),
              "best_epoch": model.best_epoch_, "best_valid_balanced_accuracy": round(model.best_validation_score_, 4),
              "history": history}
    if "X_unlabeled" in arguments:  # how much of the pool counted over the last epoch's steps
        record["unlabeled_used_last_epoch"] = round(model.unlabeled_used_, 4)
    return record


def load_run(run: str | Path) -> tuple[MultiHeadNet, dict]:
    """The network of a run folder (or a ``model.pt`` path) and its ``run.json``."""
    path = Path(run)
    folder = path.parent if path.suffix == ".pt" else path
    ckpt_path = path if path.suffix == ".pt" else path / "model.pt"
    if not ckpt_path.is_file():
        raise UnderspecError(f"{ckpt_path}: no such checkpoint (expected the output folder of underspec train)")
    ckpt = load_weights(ckpt_path, "the model.pt of underspec train")
    try:
        model = MultiHeadNet(tuple(ckpt["input_shape"]), len(ckpt["outputs"]), arch=ckpt["arch"])
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise UnderspecError(f"{ckpt_path}: not a checkpoint of underspec train ({str(exc)[:100]})") from exc
    model.eval()
    record = read_json(folder / "run.json", "the run.json of underspec train") if (folder / "run.json").is_file() \
        else {"outputs": ckpt["outputs"], "classes": ckpt["outputs"]}
    transformer, image_shape = None, list(ckpt["input_shape"])
    if "representation" in ckpt:
        transformer = transformer_from_state(ckpt["representation"], str(ckpt_path))
        image_shape = list(ckpt["representation"].get("image_shape", image_shape))
    return model, {**record, "input_shape": image_shape, "folder": str(folder),
                   "precision": ckpt.get("precision", "float32"), "transformer": transformer}


PREDICT_SHARD = 8192
"""Items of one shard of a prediction (a task here or on a Ray cluster): a whole number of the
network's batches of 1,024, so that the probabilities are those of one pass over all items."""


def predict_shard(shared: tuple, bounds: tuple[int, int]) -> np.ndarray:
    """The first head's probabilities (n, n_classes) of the items ``bounds`` (start, stop): the
    mean over the test-time views of the run's augmentation
    (:func:`underspec.models.augment.prediction_views`), as :class:`NetworkClassifier` predicts."""
    model, X, precision, augment = shared
    part = X[bounds[0]:bounds[1]]
    return np.mean([predict_proba(model, view(part), precision=precision)[:, 0]
                    for view in prediction_views(augment, part)], axis=0)


def predict(image_set: ImageSet, run: str | Path, *, apply_thresholds: bool = True, address: str | None = None,
            progress: bool = False) -> pd.DataFrame:
    """One row per item: ``id``, predicted ``label``, and ``p_<output>`` per network output.

    When the run was post-processed (``thresholds.json``) and the data has its group columns,
    the binary decision follows the per-group thresholds. Each item's probabilities are the mean
    over the test-time views of the augmentation the run trained with (the item alone, shifted
    and mirrored copies: :func:`~underspec.models.augment.prediction_views`), as the classifier
    that trained it predicts. The items are predicted in shards of
    :data:`PREDICT_SHARD`, here or as tasks on the Ray cluster at ``address``
    (:mod:`underspec.engine`), with a progress bar if ``progress``.
    """
    from underspec.engine import iter_tasks

    model, record = load_run(run)
    X = image_set.network_items
    shape, expected = tuple(X.shape[1:]), tuple(record["input_shape"])
    if shape != expected:
        raise UnderspecError(f"{image_set.source}: items of shape {shape}; the model expects {expected}")
    if record["transformer"] is not None:  # the run's representation, as fitted on its training data
        X = record["transformer"].transform(X)
    if address is not None:
        model = model.cpu()  # the cluster's workers need not have the accelerator this process has
    proba = np.zeros((len(X), len(record["outputs"])), np.float32)
    shards = [(start, min(start + PREDICT_SHARD, len(X))) for start in range(0, len(X), PREDICT_SHARD)]
    augment = record.get("options", {}).get("augment", "none")  # a model.pt without its run.json: the item alone
    for index, part in iter_tasks(predict_shard, (model, X, record["precision"], augment), shards, address=address,
                                  progress="predict" if progress else None):
        proba[slice(*shards[index])] = part
    outputs = record["outputs"]
    frame = pd.DataFrame({"id": image_set.table["id"].to_numpy()})
    label_index = proba.argmax(1)
    thresholds = Path(record["folder"]) / "thresholds.json"
    if apply_thresholds and thresholds.is_file():
        from underspec.fairness.thresholds import GroupThresholds

        document = read_json(thresholds, "the thresholds.json of underspec postprocess")
        label_index = GroupThresholds.from_dict(document).apply(proba, image_set.table)
    values = [*record.get("classes", outputs), OOD]  # class values as in the data, then the OOD class
    index = record.get("output_index", range(len(outputs)))  # the network's outputs among those values
    frame["label"] = [values[index[k]] for k in label_index]
    for k, name in enumerate(outputs):
        frame[f"p_{name}"] = proba[:, k]
    return frame
