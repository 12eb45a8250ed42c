"""``underspec label export``, ``propagate`` and ``run``: from a selection to crowd task pools,
from crowd labels to one training set and a trained model, and the whole loop as a dry run
with a simulated crowd."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from underspec.constraints import COUNT, NATURAL
from underspec.data.image_sets import ImageSet, load_image_set
from underspec.errors import UnderspecError, atomic_dir, check_output_dir
from underspec.files import check_same_data, load_npy, read_csv, read_json
from underspec.labeling.export import ExportOptions, build_pools, page_tasks, toloka_tsv
from underspec.labeling.select import knn_ensemble, linear_proba
from underspec.pipelines.labeling import aggregate, select_items, write_selection


def _selection(selection_dir: str | Path, image_set: ImageSet | None = None) -> tuple[Path, dict, pd.DataFrame]:
    """A selection folder's summary and table; with ``image_set``, refused if made on other data."""
    folder = Path(selection_dir)
    if not folder.is_dir():
        raise UnderspecError(f"{folder}: no such folder; expected the output folder of underspec label select")
    what = "the selection of underspec label select"
    summary = read_json(folder / "selection.json", what)
    table = read_csv(folder / "selection.csv", what, ("id", "status", "auto_label", "confidence"),
                     dtype={"id": str, "auto_label": str, "status": str}, keep_default_na=False)
    bad = ~table["status"].isin(["auto", "send", "problematic"])
    if bad.any():
        raise UnderspecError(f"{folder / 'selection.csv'}, row {int(np.flatnonzero(bad)[0]) + 2}, column 'status': "
                             f"{table['status'][bad].iloc[0]!r}; expected auto, send or problematic")
    if table["id"].duplicated().any():
        twice = table["id"][table["id"].duplicated()].iloc[0]
        raise UnderspecError(f"{folder / 'selection.csv'}, column 'id': {twice!r} appears twice; "
                             "expected one row per item")
    if image_set is not None:
        _same_data(folder, summary, image_set)
    return folder, summary, table


def _same_data(folder: Path, summary: dict, image_set: ImageSet) -> None:
    """Refuse ``image_set`` if the selection in ``folder`` was made on other data."""
    check_same_data(folder / "selection.json", summary.get("stamp"), image_set)
    if len(image_set.table) != summary.get("items"):
        raise UnderspecError(f"{image_set.source}: {len(image_set.table)} items, but the selection in {folder} "
                             f"was made on {summary.get('items')}; expected the same data")


def _ids(image_set: ImageSet) -> pd.Index:
    return pd.Index(image_set.table["id"].astype(str))


@dataclass
class Pools:
    """The crowd's task pools of a selection, in memory: ``pool`` (pool, page, task, image,
    golden, hint), ``gold`` (the honeypots' known labels by task), ``images`` (task to image
    file), ``rows`` (each image's item row) and the ``report``."""

    pool: pd.DataFrame
    gold: pd.Series
    images: dict[str, str]
    rows: np.ndarray
    report: dict


def export_pools(image_set: ImageSet, selection: pd.DataFrame, options: ExportOptions | None = None) -> Pools:
    """Task pools (training, exam, production pages with honeypots) for the selection's
    ``send`` items, honeypots drawn from the known labels."""
    options = options or ExportOptions()
    if image_set.X.ndim != 4:
        raise UnderspecError(f"{image_set.source}: items of shape {image_set.X.shape[1:]}; export needs images "
                             f"(N, C, H, W) to show to the crowd")
    ids = _ids(image_set)
    labels = image_set.table["label"].to_numpy()
    classes = list(image_set.classes)
    known = pd.Series([str(classes[k]) for k in labels[labels >= 0]], index=ids[labels >= 0], dtype=object)
    send = selection.loc[selection["status"] == "send", "id"].astype(str).tolist()
    pool = build_pools(send, known, options)
    rows = ids.get_indexer(pool["task"].unique())
    images = {task: f"images/{row:06d}.png" for task, row in zip(pool["task"].unique(), rows, strict=True)}
    pool.insert(3, "image", pool["task"].map(images))
    production = pool[pool["pool"] == "production"]
    gold = production[production["golden"] != ""].drop_duplicates("task").set_index("task")["golden"].rename("label")
    report = {"overlap": options.overlap, "page_size": options.page_size, "classes": [str(c) for c in classes],
              "pages": int(production["page"].nunique()), "tasks_to_label": len(send),
              "honeypots": len(gold), "training": options.training, "exam": options.exam,
              "assignments": int(production["page"].nunique() * options.overlap), "options": asdict(options)}
    return Pools(pool, gold, images, rows, report)


def write_pools(pools: Pools, image_set: ImageSet, out: str | Path, url_prefix: str = "") -> None:
    """``out/pool.csv``, ``gold.csv``, ``toloka/{training,exam,production}.tsv``, ``tasks.html``
    (in-house annotation page), ``images/`` and ``pool.json``, written whole."""
    from underspec.report.images import save_item_png
    from underspec.report.pages import labeling_page

    with atomic_dir(out) as tmp:
        for task, row in zip(pools.images, pools.rows, strict=True):
            save_item_png(image_set.X[row], tmp / pools.images[task])
        pools.pool.to_csv(tmp / "pool.csv", index=False)
        pools.gold.reset_index().to_csv(tmp / "gold.csv", index=False)
        (tmp / "toloka").mkdir()
        for name in ("training", "exam", "production"):
            part = pools.pool[pools.pool["pool"] == name]
            (tmp / "toloka" / f"{name}.tsv").write_text(toloka_tsv(part, pools.images, url_prefix))
        (tmp / "tasks.html").write_text(labeling_page(page_tasks(pools.pool, pools.images), list(image_set.classes)))
        (tmp / "pool.json").write_text(json.dumps(pools.report, indent=1) + "\n")


def export_file(selection_dir: str | Path, out: str | Path, options: ExportOptions | None = None,
                image_set: ImageSet | None = None) -> dict:
    """Write the task pools of a selection's ``send`` items into the folder ``out``
    (:func:`export_pools`, :func:`write_pools`); the folder appears whole or not at all. Without
    ``image_set``, the data recorded in the selection is loaded."""
    options = options or ExportOptions()
    check_output_dir(out)
    folder, summary, selection = _selection(selection_dir)
    if image_set is None:
        if not summary.get("data"):
            raise UnderspecError(f"data: {folder / 'selection.json'} records no data; expected the data the selection "
                                 "was made on")
        image_set = load_image_set(**summary["data"])
    _same_data(folder, summary, image_set)
    pools = export_pools(image_set, selection, options)
    write_pools(pools, image_set, out, options.url_prefix)
    return pools.report


def crowd_labels(frame: pd.DataFrame, ids: pd.Index, classes: list, where: str = "crowd labels") -> pd.DataFrame:
    """Aggregated crowd labels (``task, label, confidence``) checked against the data, with the
    item ``row`` and class ``code`` of each."""
    frame = frame.assign(task=frame["task"].astype(str), label=frame["label"].astype(str))
    rows = ids.get_indexer(frame["task"])
    if (rows < 0).any():
        raise UnderspecError(f"{where}, row {int(np.flatnonzero(rows < 0)[0]) + 2}, column 'task': "
                             f"{frame['task'][rows < 0].iloc[0]!r} is not an item of the data")
    if frame["task"].duplicated().any():
        row = int(np.flatnonzero(frame["task"].duplicated().to_numpy())[0]) + 2
        raise UnderspecError(f"{where}, row {row}, column 'task': {frame['task'].iloc[row - 2]!r} appears twice; "
                             "expected one label per task")
    names = [str(c) for c in classes]
    outside = ~frame["label"].isin(names)
    if outside.any():
        raise UnderspecError(f"{where}, row {int(np.flatnonzero(outside)[0]) + 2}, column 'label': "
                             f"{frame['label'][outside].iloc[0]!r} is not one of {names}")
    return frame.assign(row=rows, code=[names.index(v) for v in frame["label"]])


def _read_labels(path: str | Path, ids: pd.Index, classes: list) -> pd.DataFrame:
    frame = read_csv(path, "crowd labels: task,label,confidence of underspec label aggregate",
                     ("task", "label", "confidence"), dtype={"task": str, "label": str})
    return crowd_labels(frame, ids, classes, str(path))


SOURCES = ("known", "crowd", "auto", "propagated", "unlabeled")


MIN_PROPAGATED = {"linear": 0.0, "knn": 0.9}
"""The propagators and their default threshold: the linear model labels every item."""


def propagate(image_set: ImageSet, emb: np.ndarray, selection: pd.DataFrame, crowd: pd.DataFrame,
              min_confidence: float = 0.7, min_propagated: float | None = None,
              propagator: str = "linear") -> pd.DataFrame:
    """Labels for every item: known labels first, then crowd labels of at least
    ``min_confidence``, then the selection's automatic labels; a model of the embedding fitted
    on all of those labels the rest where its probability reaches ``min_propagated`` (the others
    stay unlabeled).

    ``propagator``: ``linear``, a regularised logistic regression (the default: on CIFAR photos
    its labels are right more often than the neighbours', and the final network trained on
    all of them beats one trained on the confident half); ``knn``, the k-NN ensemble of the
    selection. ``min_propagated`` defaults to 0 for ``linear`` (every item labeled) and 0.9
    for ``knn``.

    Returns
    -------
    DataFrame
        ``id, label`` (class index, -1 if unlabeled), ``source`` (one of :data:`SOURCES`) and
        ``confidence``.
    """
    if propagator not in MIN_PROPAGATED:
        raise UnderspecError(f"propagator: expected one of {', '.join(MIN_PROPAGATED)}, got {propagator!r}")
    if min_propagated is None:
        min_propagated = MIN_PROPAGATED[propagator]
    ids = _ids(image_set)
    names = [str(c) for c in image_set.classes]
    code = image_set.table["label"].to_numpy().copy()
    source = np.where(code >= 0, "known", "").astype(object)
    confidence = np.where(code >= 0, 1.0, np.nan)
    sure = crowd[(crowd["confidence"].to_numpy() >= min_confidence) & (code[crowd["row"].to_numpy()] < 0)]
    rows = sure["row"].to_numpy()
    code[rows], source[rows], confidence[rows] = sure["code"].to_numpy(), "crowd", sure["confidence"].to_numpy()
    auto = selection[selection["status"] == "auto"]
    rows = ids.get_indexer(auto["id"])
    free = code[rows] < 0
    code[rows[free]] = [names.index(v) for v in auto["auto_label"][free]]
    source[rows[free]] = "auto"
    confidence[rows[free]] = auto["confidence"].to_numpy()[free]
    rest = np.flatnonzero(code < 0)
    if len(rest):
        labeled = code >= 0
        if propagator == "linear":
            proba = linear_proba(emb[labeled], code[labeled], emb[rest], len(names))
        else:
            proba = knn_ensemble(emb[labeled], code[labeled], emb[rest], len(names))[1]
        sure = proba.max(1) >= min_propagated
        code[rest] = np.where(sure, proba.argmax(1), -1)
        source[rest] = np.where(sure, "propagated", "unlabeled")
        confidence[rest] = proba.max(1)
    return pd.DataFrame({"id": ids, "label": code, "source": source, "confidence": np.round(confidence, 4)})


def propagate_file(image_set: ImageSet, selection_dir: str | Path, labels_path: str | Path, out: str | Path, *,
                   min_confidence: float = 0.7, min_propagated: float | None = None, propagator: str = "linear",
                   train_options=None) -> dict:
    """Merge and propagate (see :func:`propagate`), write ``out/labels.csv`` (id, label,
    source, confidence) and ``out/propagate.json``; with ``train_options`` also train the final
    model on every labeled item into ``out/run`` (``underspec train``'s run folder). ``out``
    appears whole or not at all."""
    check_output_dir(out)
    folder, _, selection = _selection(selection_dir, image_set)
    emb_path = folder / "embedding.npy"
    emb = load_npy(emb_path, "the embedding of underspec label select (run it again)")
    if emb.ndim != 2 or len(emb) != len(image_set.table):
        raise UnderspecError(f"{emb_path}: {len(emb)} items, but {image_set.source} has {len(image_set.table)}; "
                             f"expected the data the selection was made on")
    crowd = _read_labels(labels_path, _ids(image_set), image_set.classes)
    report, _ = propagate_and_train(image_set, emb, selection, crowd, out, min_confidence=min_confidence,
                                    min_propagated=min_propagated, propagator=propagator, train_options=train_options)
    return report


def propagate_and_train(image_set: ImageSet, emb: np.ndarray, selection: pd.DataFrame, crowd: pd.DataFrame,
                        out: str | Path, *, min_confidence: float = 0.7, min_propagated: float | None = None,
                        propagator: str = "linear", train_options=None) -> tuple[dict, pd.DataFrame]:
    """:func:`propagate` in memory, then the folder ``out`` written whole: ``labels.csv``,
    ``propagate.json`` and, with ``train_options``, the final model's run folder ``run/``.
    Returns the report and the labels (``id, label`` as class values, ``source, confidence``)."""
    with tqdm(total=1, desc=f"propagating labels ({propagator} model)", unit="step", leave=False):
        merged = propagate(image_set, emb, selection, crowd, min_confidence, min_propagated, propagator)
    names = np.asarray([*(str(c) for c in image_set.classes), ""], dtype=object)
    table = merged.assign(label=names[merged["label"].to_numpy()])  # -1 picks the last name, ""
    report = {"items": len(merged), "by_source": {s: int((merged["source"] == s).sum()) for s in SOURCES},
              "min_confidence": min_confidence, "propagator": propagator,
              "min_propagated": MIN_PROPAGATED[propagator] if min_propagated is None else min_propagated}
    out = Path(out)
    with atomic_dir(out) as tmp:
        if train_options is not None:
            report["run"] = _final_model(image_set, merged["label"].to_numpy(), tmp / "run", out / "run",
                                         train_options)
        (tmp / "labels.csv").write_text(table.to_csv(index=False))
        (tmp / "propagate.json").write_text(json.dumps(report, indent=1) + "\n")
    return report, table


def _final_model(image_set: ImageSet, codes: np.ndarray, folder: Path, final_folder: Path, train_options) -> dict:
    """Train the final model on the merged labels into ``folder`` (``final_folder`` once the
    output is in place); what the report says of it."""
    from underspec.pipelines.train import train

    if train_options.semi_supervised != "none" and (codes >= 0).all():
        train_options = replace(train_options, semi_supervised="none")  # nothing left to learn from
    _, score = train(image_set.with_labels(codes), folder, train_options)
    return {"checkpoint": str(final_folder / "model.pt"), "validation_balanced_accuracy": round(score, 4),
            "semi_supervised": train_options.semi_supervised, "unlabeled_items": int((codes < 0).sum())}


def _admitted(answers: pd.DataFrame, workers: int) -> int:
    """How many simulated workers passed the exam (all of them when there was none)."""
    return int(answers.attrs["exam"]["admitted"].sum()) if "exam" in answers.attrs else workers


def dry_run(image_set: ImageSet, out: str | Path, *, known: int, budget: int, embedding: str = "auto",
            select_options=None, export_options: ExportOptions | None = None, workers: int = 30,
            method: str = "dawid-skene", propagator: str = "linear", min_propagated: float | None = None,
            train_options=None, cache: str | Path | None = None, seed: int = 0) -> dict:
    """The whole loop on a fully labeled set, with a simulated crowd: keep ``known`` labels
    (stratified), select -> export -> simulated crowd -> aggregate -> propagate -> train, and
    score every step's labels against the hidden truth. Writes ``out/{select,pool,crowd,final}``
    and ``out/run.json``."""
    from sklearn.model_selection import train_test_split

    for name, value, number in (("known", known, COUNT), ("budget", budget, NATURAL), ("workers", workers, COUNT)):
        number.check(name, value)
    check_output_dir(out)
    truth = image_set.table["label"].to_numpy()
    if (truth < 0).any():
        raise UnderspecError(f"{image_set.source}: {int((truth < 0).sum())} items without a label; a dry run "
                             f"needs every true label (it hides all but the known ones)")
    n_classes = len(image_set.classes)
    if not n_classes <= known <= len(truth) - n_classes:
        raise UnderspecError(f"known {known}: expected {n_classes} to {len(truth) - n_classes} (one known and "
                             f"one hidden item per class at least)")
    if budget > len(truth) - known:
        raise UnderspecError(f"budget {budget}: expected at most {len(truth) - known}, the items left unlabeled "
                             f"when {known} of the {len(truth)} labels are kept known")
    try:
        keep, _ = train_test_split(np.arange(len(truth)), train_size=known, random_state=seed, stratify=truth)
    except ValueError as exc:  # a class with a single item cannot be split
        raise UnderspecError(f"{image_set.source}: cannot keep a stratified sample of {known} labels ({exc})") from exc
    masked = image_set.with_labels(np.where(np.isin(np.arange(len(truth)), keep), truth, -1))
    out = Path(out)
    with atomic_dir(out) as tmp:  # select/, pool/, crowd/, final/ appear together or not at all
        report = _dry_run(image_set, masked, truth, tmp, known=known, budget=budget, embedding=embedding,
                          select_options=select_options, export_options=export_options or ExportOptions(seed=seed),
                          workers=workers, method=method, propagator=propagator, min_propagated=min_propagated,
                          train_options=train_options, cache=cache, seed=seed)
        if report["final"]:
            report["final"]["checkpoint"] = str(out / "final" / "run" / "model.pt")
        (tmp / "run.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def _dry_run(image_set: ImageSet, masked: ImageSet, truth: np.ndarray, out: Path, *, known: int, budget: int,
             embedding: str, select_options, export_options: ExportOptions, workers: int, method: str,
             propagator: str, min_propagated: float | None, train_options, cache, seed: int) -> dict:
    """The loop's steps chained in memory, each step's files written into ``out`` for the user
    to look at (never read back); every step's labels scored against ``truth``."""
    from underspec.labeling.crowd import answer_pages, make_workers

    steps = tqdm(total=4, desc="label run: select", unit="step", leave=False)
    selection = select_items(masked, budget, embedding=embedding, options=select_options, cache=cache)
    write_selection(selection, masked, out / "select")
    steps.update()
    steps.set_description("label run: export")
    pools = export_pools(masked, selection.table, export_options)
    write_pools(pools, masked, out / "pool", export_options.url_prefix)
    steps.update()
    steps.set_description("label run: crowd")
    names = [str(c) for c in image_set.classes]
    truth_by_id = dict(zip(_ids(image_set), (names[k] for k in truth), strict=True))
    pool = pools.pool
    exam = pool[pool["pool"] == "exam"].set_index("task")["golden"]
    confusion = make_workers(workers, len(names), seed=seed)
    paged = answer_pages(pool[pool["pool"] == "production"], truth_by_id, names, confusion,
                         overlap=export_options.overlap, seed=seed, gold=pools.gold, exam=exam)  # exam, honeypots
    answers = paged.drop(columns="page")
    labels, aggregated = aggregate(answers, pools.gold, method=method)
    _write_crowd(out / "crowd", answers, labels, aggregated)
    steps.update()
    steps.set_description("label run: propagate and train")
    crowd = crowd_labels(labels, _ids(image_set), image_set.classes)
    propagated, final = propagate_and_train(masked, selection.embedding, selection.table, crowd, out / "final",
                                            min_propagated=min_propagated, propagator=propagator,
                                            train_options=train_options)
    steps.update()
    steps.close()
    crowd = crowd[~crowd["task"].isin(pools.gold.index)]
    right = final["label"].to_numpy() == np.asarray([truth_by_id[i] for i in final["id"]])
    labeled = (final["source"] != "unlabeled").to_numpy()
    return {"known": known, "budget": budget, "selection": {k: selection.summary[k] for k in ("auto", "send")},
            "pool": {k: pools.report[k] for k in ("pages", "honeypots", "assignments")},
            "crowd": {"workers": workers, "admitted": _admitted(paged, workers), "answers": len(answers),
                      "rejected": paged.attrs["rejected"],
                      "excluded": [row["worker"] for row in aggregated["excluded"]],
                      "accuracy": round(float((crowd["label"] == crowd["task"].map(truth_by_id)).mean()), 4)},
            "accuracy_by_source": {s: round(float(right[final["source"] == s].mean()), 4)
                                   for s in SOURCES[:-1] if (final["source"] == s).any()},
            "labeled_share": round(float(labeled.mean()), 4),
            "label_accuracy": round(float(right[labeled].mean()), 4), "final": propagated.get("run")}


def _write_crowd(folder: Path, answers: pd.DataFrame, labels: pd.DataFrame, report: dict) -> None:
    """The simulated crowd's ``answers.csv``, its aggregated ``labels.csv`` and the workers' report."""
    folder.mkdir()
    (folder / "answers.csv").write_text(answers.to_csv(index=False))
    (folder / "labels.csv").write_text(labels.to_csv(index=False))
    (folder / "labels.workers.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
