"""``underspec label ...``: the labeling workflow's steps as functions on files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from underspec.data.image_sets import ImageSet
from underspec.errors import UnderspecError, atomic_dir, check_output_dir, write_npy_atomic, write_text_atomic
from underspec.files import data_stamp, load_npy, read_csv
from underspec.labeling.aggregate import METHODS, DawidSkene, GoldMajorityVote
from underspec.labeling.quality import check_answers, screen_workers
from underspec.labeling.select import SelectOptions, holdout_accuracy, neighbourhood_space, select
from underspec.models.representation import PRETRAINED, PRETRAINED_RECIPES, RECIPES, cache_key


def _classes(value: str | list | None, labels: pd.Series) -> list | None:
    """The classes given as a comma-separated text or a list, as integers when the answers'
    labels are (a CSV of digits)."""
    if not value:
        return None
    names = [c.strip() for c in value.split(",") if c.strip()] if isinstance(value, str) else [str(c) for c in value]
    if pd.api.types.is_numeric_dtype(labels):
        try:
            return [int(c) for c in names]
        except ValueError as exc:
            raise UnderspecError(f"classes: expected integers like the answers' labels, got {value!r}") from exc
    return names


MIN_GOLD = 3
"""Honeypot answers a worker needs before their honeypot accuracy can exclude them (fewer say
too little); the workers below it are listed in the report as not screened on gold."""


def aggregate(answers: pd.DataFrame, gold: pd.Series | None = None, *, method: str = "dawid-skene",
              classes: list | None = None, min_accuracy: float | None = None, min_seconds: float | None = None,
              same_answer_screen: bool | None = None, where: str = "answers",
              gold_where: str = "gold") -> tuple[pd.DataFrame, dict]:
    """Screen the workers and aggregate their answers, in memory.

    The screens' defaults (``None``) depend on the method. The majority votes screen on
    honeypots (``min_accuracy`` 0.6) and on same answers: a bad worker's vote counts as much as
    a good one's. Dawid-Skene does not screen by default: it estimates each worker's confusion
    matrix and weighs their answers by it, a systematically wrong worker is information to it,
    and removing answers after they were collected only loses evidence. Measured
    (``bench/labeling.py``): after-the-fact screening cost Dawid-Skene 11 to 13 points on
    the simulated crowds and 7 to 10 points on the adversarial ones; on D_Product it changes nothing.
    (Screening *while* collecting, with the banned workers' pages redone, is another matter:
    ``label run`` and the benchmark's ``honeypot_filter`` do that, and it helps.)

    Parameters
    ----------
    answers : DataFrame
        ``task, worker, label[, seconds]``, one row per answer.
    gold : Series, optional
        Known labels by task (honeypots).
    classes : list, optional
        The classes (default: every label seen).
    where, gold_where : str
        Name the answers and the gold in error messages (their files).

    Returns
    -------
    (DataFrame, dict)
        ``task, label, confidence`` of every answered task, and the report: screening,
        excluded workers with the reason, per-worker estimates.
    """
    if method not in METHODS:
        raise UnderspecError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    check_answers(answers, gold, classes, where=where, gold_where=gold_where)
    votes = method != "dawid-skene"
    min_accuracy = (0.6 if votes else 0.0) if min_accuracy is None else min_accuracy
    same_answer_screen = votes if same_answer_screen is None else same_answer_screen
    kept, excluded = screen_workers(answers, gold, min_accuracy=min_accuracy, min_gold=MIN_GOLD,
                                    min_seconds=min_seconds, max_same_share=0.95 if same_answer_screen else None)
    if classes is None:
        classes = sorted(set(answers["label"]) | (set(gold) if gold is not None else set()))
    model = METHODS[method](classes=classes).fit(kept, gold)
    frames = [_labels_frame(model)]
    # A task whose every answer came from an excluded worker still gets a label, from those
    # answers, and the report lists it: no task is left out without a word.
    lost = sorted(set(answers["task"]) - set(kept["task"]), key=str)
    if lost:
        frames.append(_labels_frame(METHODS[method](classes=classes).fit(answers[answers["task"].isin(lost)], gold)))
    labels = pd.concat([f for f in frames if len(f)], ignore_index=True)
    workers = _worker_estimates(kept, gold, model)
    unscreened = sorted(str(w) for w, e in workers.items() if e.get("gold_answers", MIN_GOLD) < MIN_GOLD)
    report = {"method": method, "classes": [str(c) for c in classes], "tasks": len(labels),
              "screening": {"min_accuracy": min_accuracy, "min_gold": MIN_GOLD, "min_seconds": min_seconds,
                            "same_answer": same_answer_screen, "not_screened_on_gold": unscreened},
              "tasks_without_kept_answers": [str(t) for t in lost],
              "excluded": excluded.to_dict(orient="records"), "workers": workers,
              "confusion_rows": "true class", "confusion_columns": "answer"}
    return labels, report


def _labels_frame(model) -> pd.DataFrame:
    """``task, label, confidence`` of a fitted aggregator."""
    return pd.DataFrame({"task": model.labels_.index, "label": model.labels_.to_numpy(),
                         "confidence": model.probas_.max(axis=1).round(6).to_numpy()})


def _worker_estimates(kept: pd.DataFrame, gold: pd.Series | None, model) -> dict[str, dict]:
    """Per kept worker: answers, honeypot answers and accuracy, and the model's estimate of
    them (Dawid-Skene's confusion matrix, the gold majority vote's skill)."""
    workers = {}
    for worker, part in kept.groupby("worker"):
        entry = {"answers": len(part)}
        if gold is not None:
            on_gold = part[part["task"].isin(gold.index)]
            entry["gold_answers"] = len(on_gold)
            if len(on_gold):
                entry["gold_accuracy"] = round(float((on_gold["label"].to_numpy()
                                                      == gold.loc[on_gold["task"]].to_numpy()).mean()), 4)
        if isinstance(model, DawidSkene):
            entry["confusion"] = model.errors_[worker].round(4).to_numpy().tolist()
        if isinstance(model, GoldMajorityVote):
            entry["skill"] = round(float(model.skills_[worker]), 4)
        workers[str(worker)] = entry
    return workers


def read_gold(gold_path: str | Path) -> pd.Series:
    """Known labels by task from a ``task,label`` CSV (one per task)."""
    g = read_csv(gold_path, "gold", ("task", "label"))
    if g["task"].duplicated().any():
        twice = g["task"][g["task"].duplicated()].iloc[0]
        raise UnderspecError(f"{gold_path}, column 'task': {str(twice)!r} appears twice; expected one known "
                             "label per task")
    return g.set_index("task")["label"]


def aggregate_file(answers_path: str | Path, out: str | Path, *, gold_path: str | Path | None = None,
                   method: str = "dawid-skene", classes: str | list | None = None, min_accuracy: float | None = None,
                   min_seconds: float | None = None, pool: str | Path | None = None,
                   same_answer_screen: bool | None = None) -> dict:
    """Read the answers (and gold), :func:`aggregate` them, write ``out`` (task,label,confidence)
    and ``<out>.workers.json`` (the report).

    With ``pool`` (a folder of ``underspec label export``), every answered task must be one of
    the pool's production tasks, the classes default to the pool's, and the gold to its
    ``gold.csv``.
    """
    answers = read_csv(answers_path, "answers: task,worker,label[,seconds]", ("task", "worker", "label"))
    if answers.empty:
        raise UnderspecError(f"{answers_path}: no answers (a header only); expected one row per answer "
                             "task,worker,label")
    if pool is not None:
        pool_classes = _pool_tasks(Path(pool), answers, answers_path)
        classes = pool_classes if classes is None else classes
        gold_path = gold_path or Path(pool) / "gold.csv"
    gold = None if gold_path is None else read_gold(gold_path)
    labels, report = aggregate(answers, gold, method=method, classes=_classes(classes, answers["label"]),
                               min_accuracy=min_accuracy, min_seconds=min_seconds,
                               same_answer_screen=same_answer_screen, where=str(answers_path),
                               gold_where=str(gold_path))
    out = Path(out)
    write_text_atomic(out, labels.to_csv(index=False))
    write_text_atomic(out.with_suffix(".workers.json"), json.dumps(report, indent=1, default=str) + "\n")
    return report


def _pool_tasks(pool: Path, answers: pd.DataFrame, answers_path: str | Path) -> list:
    """Refuse answers to tasks outside the pool's production tasks; the pool's classes."""
    tasks = read_csv(pool / "pool.csv", "task pool", ("pool", "task"))
    tasks = tasks.loc[tasks["pool"] == "production", "task"].astype(str)
    unknown = ~answers["task"].astype(str).isin(set(tasks))
    if unknown.any():
        raise UnderspecError(f"{answers_path}, row {int(np.flatnonzero(unknown)[0]) + 2}, column 'task': "
                             f"{str(answers['task'][unknown].iloc[0])!r} is not a task of {pool / 'pool.csv'}")
    try:
        return json.loads((pool / "pool.json").read_text())["classes"]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise UnderspecError(f"{pool / 'pool.json'}: not readable ({exc})") from exc


EMBEDDINGS = ("auto", *RECIPES, *PRETRAINED, "supervised", "semi-supervised", "self-supervised", "pixels")


MIN_STEPS = 1000  # a network trained on a few hundred labels needs many passes over them


def embedding_method(image_set: ImageSet, method: str) -> str:
    """The embedding ``auto`` stands for: ``patches`` for images (``patches-fast`` past 20,000
    images of 64 px: :func:`~underspec.models.representation.patch_recipe`), ``semi-supervised``
    for vectors."""
    from underspec.models.representation import patch_recipe

    if method != "auto":
        return method
    items = image_set.network_items
    return patch_recipe(items) if items.ndim == 4 else "semi-supervised"


def embeddings(image_set: ImageSet, method: str, cache: str | Path | None, *, epochs: float = 15,
               seed: int = 0, address: str | None = None) -> np.ndarray:
    """Embeddings of every item, cached as ``.npy`` under a key of the data and the method.

    ``auto``: ``patches`` for images, ``semi-supervised`` for vectors.

    ``supervised``: the penultimate layer of the project's network trained on the labeled
    items (``epochs`` passes, but at least ``MIN_STEPS`` mini-batches); ``semi-supervised``: the
    same network trained on the unlabeled items too (FixMatch); ``self-supervised``:
    the same layer of a network trained on every item without labels (SimCLR-style,
    :mod:`underspec.models.contrastive`); ``patches``: k-means features of whitened image
    patches, learnt without labels and without a network (:mod:`underspec.models.patch_features`);
    ``pixels``: the first 64 principal components of the pixels (no training); ``imagenet``:
    EfficientNet-Lite0's pretrained ImageNet features (:mod:`underspec.models.imagenet_features`,
    an optional extra) and ``face-descriptor``: dlib's face embedding. ``address``: a
    Ray cluster where the patch representations' shards are encoded (:mod:`underspec.engine`).
    The cache key hashes the items as stored (uint8 pixels from files, in blocks), the labels and,
    for a patch recipe or a pretrained network, its settings (a recipe changed under the same
    name is computed again).
    """
    method = embedding_method(image_set, method)
    labels = hashlib.sha256(image_set.table["label"].to_numpy().tobytes()).hexdigest()
    key = cache_key(image_set.network_items, {"method": method, "epochs": epochs, "seed": seed,
                                              "min_steps": MIN_STEPS, "labels": labels,
                                              "recipe": RECIPES.get(method) or PRETRAINED_RECIPES.get(method)})[:16]
    path = Path(cache) / f"embedding-{method}-{key}.npy" if cache else None
    if path is not None and path.is_file():
        return load_npy(path, "a cached embedding (delete it to recompute)")
    if method == "pixels":
        from sklearn.decomposition import PCA

        flat = image_set.X.reshape(len(image_set.X), -1)
        emb = PCA(min(64, flat.shape[1], len(flat)), random_state=seed).fit_transform(flat)
    elif method in ("supervised", "semi-supervised"):
        from underspec.models.classifier import NetworkClassifier

        labeled = image_set.table["label"].to_numpy() >= 0
        semi = method == "semi-supervised" and not labeled.all()
        per_epoch = max(labeled.sum(), (~labeled).sum() if semi else 0, 1)
        batch_size = 64
        model = NetworkClassifier(epochs=max(epochs, MIN_STEPS * batch_size / per_epoch), batch_size=batch_size,
                                  seed=seed, augment="auto", progress="embedding network")
        model.fit(image_set.X[labeled], image_set.table["label"].to_numpy()[labeled],
                  X_unlabeled=image_set.X[~labeled] if semi else None)
        emb = model.embed(image_set.X)
    elif method in RECIPES or method in PRETRAINED:  # the shared representations (patches, imagenet, ...)
        from underspec.models.representation import represent

        try:
            emb = represent(image_set.network_items, method, cache=None, seed=seed, progress=True,  # uint8 from files
                            address=address)
        except UnderspecError as exc:  # vectors, or images too small for patches
            raise UnderspecError(f"embedding {method}: {image_set.source}: {exc}") from exc
    elif method == "self-supervised":
        from underspec.models.contrastive import self_supervised_embedding

        if image_set.X.ndim != 4:
            raise UnderspecError("embedding self-supervised: needs images; these items are vectors")
        emb = self_supervised_embedding(image_set.X, epochs=epochs, seed=seed, progress="self-supervised embedding")
    else:
        raise UnderspecError(f"embedding: expected {', '.join(EMBEDDINGS)}, got {method!r}")
    if path is not None:
        write_npy_atomic(path, emb)
    return emb


@dataclass
class Selection:
    """What ``label select`` found, in memory: ``table`` (``id`` as text, ``status``,
    ``auto_label``, ``confidence``, ``rank`` of each unlabeled item), ``summary``, the
    ``embedding`` of every item and the selector's ``result`` (row, status, ... by row)."""

    table: pd.DataFrame
    summary: dict
    embedding: np.ndarray
    result: pd.DataFrame


def select_items(image_set: ImageSet, budget: int, *, embedding: str = "auto", options: SelectOptions | None = None,
                 cache: str | Path | None = None, data: dict | None = None, address: str | None = None) -> Selection:
    """Label automatically what is sure, pick ``budget`` items to send (see
    :func:`underspec.labeling.select.select`), estimate the automatic labels' accuracy on
    held-out known labels. ``data`` (the arguments of
    :func:`~underspec.data.image_sets.load_image_set` that loaded ``image_set``) goes into the
    summary so that ``label export`` can find the images. ``address``: a Ray cluster for the
    embedding (see :func:`embeddings`). Past 20,000 items a wide embedding is selected on its
    principal components (:func:`~underspec.labeling.select.neighbourhood_space`)."""
    options = options or SelectOptions()
    labels = image_set.table["label"].to_numpy()
    unlabeled = int((labels < 0).sum())
    if unlabeled == 0:
        raise UnderspecError(f"{image_set.source}: every item has a label; selection is for the unlabeled ones "
                             "(an empty label or -1); to try the loop on labeled data, use label run")
    if budget < 0 or budget > unlabeled:
        raise UnderspecError(f"budget {budget}: expected 0 to {unlabeled}, the number of unlabeled items")
    embedding = embedding_method(image_set, embedding)
    emb = neighbourhood_space(embeddings(image_set, embedding, cache, seed=options.seed, address=address),
                              options.seed)
    result = select(emb, labels, budget, len(image_set.classes), options)
    classes = list(image_set.classes)
    table = pd.DataFrame({"id": image_set.table["id"].astype(str).to_numpy()[result["row"]],
                          "status": result["status"],
                          "auto_label": [str(classes[k]) if k >= 0 else "" for k in result["auto_label"]],
                          "confidence": result["confidence"], "rank": result["rank"]})
    counts = result["status"].value_counts().to_dict()
    summary = {"items": len(labels), "labeled": int((labels >= 0).sum()), "unlabeled": unlabeled,
               "budget": budget, "auto": int(counts.get("auto", 0)), "send": int(counts.get("send", 0)),
               "problematic_over_budget": int(counts.get("problematic", 0)),
               "auto_accuracy_estimate": holdout_accuracy(emb, labels, len(classes), options), "embedding": embedding,
               "classes": [str(c) for c in classes], "data": data, "stamp": data_stamp(image_set)}
    return Selection(table, summary, emb, result)


def write_selection(selection: Selection, image_set: ImageSet, out: str | Path) -> None:
    """``out/selection.csv``, ``selection.json``, ``embedding.npy`` (for ``label propagate``)
    and ``report.html`` (map of the embedding by status, grids of each group), written whole."""
    html = _select_report(image_set, selection.embedding, selection.result, selection.summary)
    with atomic_dir(out) as tmp:  # no file of an older selection survives beside the new ones
        (tmp / "selection.csv").write_text(selection.table.to_csv(index=False))
        (tmp / "selection.json").write_text(json.dumps(selection.summary, indent=1) + "\n")
        np.save(tmp / "embedding.npy", selection.embedding)
        (tmp / "report.html").write_text(html)


def select_file(image_set: ImageSet, budget: int, out: str | Path, *, embedding: str = "auto",
                options: SelectOptions | None = None, cache: str | Path | None = None,
                data: dict | None = None, address: str | None = None) -> dict:
    """:func:`select_items`, written into the folder ``out`` (:func:`write_selection`); the summary."""
    check_output_dir(out)  # before any training
    selection = select_items(image_set, budget, embedding=embedding, options=options, cache=cache, data=data,
                             address=address)
    write_selection(selection, image_set, out)
    return selection.summary


def _select_report(image_set: ImageSet, emb: np.ndarray, result: pd.DataFrame, summary: dict) -> str:
    """The selection's HTML report: a t-SNE map of (at most 2,000 of) the items by status."""
    from sklearn.manifold import TSNE

    from underspec.report.pages import selection_page

    rng = np.random.default_rng(0)
    show = np.sort(rng.choice(len(emb), min(len(emb), 2000), replace=False))
    status = np.full(len(emb), "labeled", dtype=object)
    status[result["row"].to_numpy()] = result["status"].to_numpy()
    xy = TSNE(2, init="pca", random_state=0, perplexity=min(30, max(5, len(show) // 4))).fit_transform(emb[show])
    return selection_page(image_set, xy, show, status, result, summary)
