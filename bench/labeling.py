"""Benchmark (not a test) of the labeling issue: aggregation of a simulated crowd, and what
underspec's selection buys compared with random selection.

1. Aggregation. 2,000 MNIST and 2,000 CIFAR-4 items (their real class mix), 30 simulated
   workers with accuracies spread from 0.95 down to chance and their errors on preferred
   classes, 10% spammers who always give one label, overlap 3, pages of 50 tasks with one
   honeypot each (the pools of ``underspec label export``). Accuracy on the 2,000 items of
   every underspec aggregator, with and without the honeypot filter, against crowd-kit's
   MajorityVote and DawidSkene on the same answers, and the Bayes-optimal aggregate computed
   with the workers' true confusion matrices (the limit). Several crowds (seeds), mean and sd.
2. Budget. CIFAR-4: 200 known labels, the rest of a training sample unlabeled; for each number
   of items labeled by the simulated crowd (which first takes an exam of 20 known items, as in
   seed 004, then works under the honeypot filter), the test accuracy of the final network for
   underspec's selection (select -> crowd -> Dawid-Skene -> propagate -> train) and for random
   selection (random items -> crowd -> Dawid-Skene -> train on known + crowd labels); random
   selection followed by the same propagation is also reported, to separate what the
   selection does from what propagation does. Every network trains for the same number of
   steps (5,000 by default: 2,000 left the network trained on all 6,000 items short of what it
   reaches); random selection's networks also train for ``--short-steps`` and the better of
   the two counts is the baseline, so the longer training cannot hand the target to underspec
   by overfitting the baseline's smaller labeled set.

    pip install -e '.[compare]'   # crowd-kit, for the comparison only
    python bench/labeling.py [--part aggregation,adversarial,real,budget] [--crowds 5] [--n-train 6000] [--steps 5000]
                             [--short-steps 2000] [--semi] [--arch vgg] [--augment strong]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from audit import load  # bench/audit.py: the MNIST and CIFAR-4 samples
from results_io import save
from underspec.labeling.aggregate import DawidSkene, GoldMajorityVote, MajorityVote
from underspec.labeling.crowd import answer_pages, bayes_optimal, make_workers
from underspec.labeling.export import ExportOptions, build_pools
from underspec.labeling.quality import screen_workers

N_ITEMS, N_WORKERS, OVERLAP, PAGE = 2000, 30, 3, 50
EXAM = 20
"""Exam items of the budget part's crowd (seed 004: 20 of its known labels); the aggregation
part keeps the issue's setting, honeypots only."""
AGGREGATION_SETTING = (
    f"{N_ITEMS} items per data set (their real class mix), {N_WORKERS} simulated workers with accuracies from 0.95 "
    f"down to chance and errors on preferred classes, 10% spammers, overlap {OVERLAP}, pages of {PAGE} tasks with "
    "one honeypot. `no_filter`: every answer kept. `honeypot_filter`: the same crowd with quality control "
    "running during collection (a worker whom `screen_workers` would exclude is banned, their answers are "
    "rejected and their pages redone by other workers). `filter_after_the_fact`: the no-filter answers with the "
    "excluded workers removed afterwards (their tasks lose answers). The Bayes limit uses the workers' true "
    "confusion matrices on the same answers. Accuracy on the 2,000 items (honeypots left out); seconds are "
    "wall times of one fit.")


def crowd_answers(items: list, known: pd.Series, truth: dict, names: list, seed: int, quality_control: bool,
                  exam: int = 0):
    """A simulated crowd answers the exported pages of ``items`` (honeypots drawn from
    ``known``); with ``quality_control`` the honeypot filter bans workers while the answers
    come in, and with ``exam`` known items every worker first takes an exam of that many (those
    under 0.8 are not admitted). Returns the answers (without the page column), the honeypots'
    gold labels and the workers' true confusion matrices."""
    pools = build_pools(items, known, ExportOptions(overlap=OVERLAP, page_size=PAGE, training=0, exam=exam,
                                                    seed=seed))
    production = pools[pools["pool"] == "production"]
    gold = production.loc[production["golden"] != ""].drop_duplicates("task").set_index("task")["golden"]
    confusion = make_workers(N_WORKERS, len(names), seed=seed)
    answers = answer_pages(production, truth, names, confusion, overlap=OVERLAP, seed=seed,
                           gold=gold if quality_control else None,
                           exam=pools[pools["pool"] == "exam"].set_index("task")["golden"])
    return answers.drop(columns="page"), gold, confusion  # attrs["rejected"] goes along


def accuracy(labels: pd.Series, truth: dict, items: list) -> float:
    return float((labels.reindex(items).to_numpy() == np.asarray([truth[t] for t in items])).mean())


def crowd_items(name: str) -> tuple[list, dict, list, pd.Series]:
    """Class names, true label by item id, the items to label and the known labels (honeypots)
    of a data set's sample."""
    _, y, _, _, classes = load(name, N_ITEMS + 200)
    names = [str(c) for c in range(len(classes))]
    truth = {f"i{k}": names[c] for k, c in enumerate(y)}
    return names, truth, list(truth)[:N_ITEMS], pd.Series({t: truth[t] for t in list(truth)[N_ITEMS:]})


def over_crowds(rows: list[dict], n_classes: int) -> dict:
    """Each crowd's row, and their mean and sd."""
    frame = pd.DataFrame(rows)
    return {"classes": n_classes, "per_crowd": rows, "mean": frame.mean().round(4).to_dict(),
            "sd": frame.std().round(4).to_dict()}


def aggregation(datasets: list[str], crowds: int) -> dict:
    """For each data set and crowd: the same crowd answering without quality control and with
    the honeypot filter running during collection (banned workers' pages redone by others)."""
    from crowdkit.aggregation import DawidSkene as CKDawidSkene
    from crowdkit.aggregation import MajorityVote as CKMajorityVote

    result = {}
    for name in datasets:
        names, truth, items, known = crowd_items(name)
        rows = []
        for seed in range(crowds):
            row = {"seed": seed}
            for qc in (False, True):
                answers, gold, confusion = crowd_answers(items, known, truth, names, seed, qc)
                tag = "honeypot_filter" if qc else "no_filter"
                row[f"answers_accepted_{tag}"] = len(answers)
                row[f"answers_rejected_{tag}"] = answers.attrs["rejected"]
                row[f"bayes_optimal_limit_{tag}"] = accuracy(bayes_optimal(answers, confusion, names), truth, items)
                t0 = time.perf_counter()
                row[f"underspec_dawid_skene_{tag}"] = accuracy(DawidSkene(classes=names).fit_predict(answers, gold),
                                                               truth, items)
                row[f"seconds_underspec_ds_{tag}"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                row[f"crowdkit_dawid_skene_{tag}"] = accuracy(CKDawidSkene(n_iter=100).fit_predict(answers),
                                                              truth, items)
                row[f"seconds_crowdkit_ds_{tag}"] = time.perf_counter() - t0
                row[f"crowdkit_majority_{tag}"] = accuracy(CKMajorityVote().fit_predict(answers), truth, items)
                if qc:
                    continue
                row["underspec_dawid_skene_classical_no_filter"] = accuracy(
                    DawidSkene(classes=names, shrinkage=0).fit_predict(answers, gold), truth, items)
                row["underspec_majority_no_filter"] = accuracy(MajorityVote(classes=names).fit_predict(answers),
                                                               truth, items)
                row["underspec_gold_majority_no_filter"] = accuracy(
                    GoldMajorityVote(classes=names).fit_predict(answers, gold), truth, items)
                kept, excluded = screen_workers(answers, gold)
                row["excluded_after_the_fact"] = len(excluded)
                row["underspec_dawid_skene_filter_after_the_fact"] = accuracy(
                    DawidSkene(classes=names).fit_predict(kept, gold), truth, items)
            rows.append(row)
            print(name, {k: round(v, 4) for k, v in row.items()}, flush=True)
        result[name] = over_crowds(rows, len(names))
    return result


ADVERSARIAL_SETTING = (
    f"{N_ITEMS} items per data set, 40 simulated workers: 30 with accuracies from 0.95 down to 0.6 (errors on "
    "preferred classes), 5 adversarial (each class answered as another one 85% of the time) and 5 constant "
    "spammers; overlap 3, pages of 25 tasks with one honeypot (4% gold), no quality control during collection. "
    "`underspec_cli_dawid_skene`: what `underspec label aggregate --gold` does (Dawid-Skene, gold clamped, no "
    "after-the-fact screen); `..._screened`: the same after the honeypot and same-answer screens.")
D_PRODUCT = Path(__file__).resolve().parents[2] / "shared" / "peer" / "data" / "zheng2017"


def adversarial_crowd(names: list, truth: dict, items: list, known: pd.Series,
                      seed: int) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """The answers of one crowd of :data:`ADVERSARIAL_SETTING`, its gold (the honeypots' known
    labels) and the workers' true confusion matrices."""
    pools = build_pools(items, known, ExportOptions(overlap=OVERLAP, page_size=25, training=0, exam=0, seed=seed))
    production = pools[pools["pool"] == "production"]
    gold = production.loc[production["golden"] != ""].drop_duplicates("task").set_index("task")["golden"]
    confusion = make_workers(40, len(names), spammers=0.125, adversarial=0.125, worst=0.6, seed=seed)
    answers = answer_pages(production, truth, names, confusion, overlap=OVERLAP, seed=seed).drop(columns="page")
    return answers, gold, confusion


def adversarial(datasets: list[str], crowds: int) -> dict:
    """Crowds with a quarter of adversarial or constant workers, 4% gold, aggregated after the fact."""
    from crowdkit.aggregation import DawidSkene as CKDawidSkene
    from crowdkit.aggregation import MajorityVote as CKMajorityVote

    result = {}
    for name in datasets:
        names, truth, items, known = crowd_items(name)
        rows = []
        for seed in range(crowds):
            answers, gold, confusion = adversarial_crowd(names, truth, items, known, seed)
            kept, excluded = screen_workers(answers, gold)
            row = {"seed": seed,
                   "bayes_optimal_limit": accuracy(bayes_optimal(answers, confusion, names), truth, items),
                   "underspec_cli_dawid_skene": accuracy(DawidSkene(classes=names).fit_predict(answers, gold),
                                                         truth, items),
                   "underspec_dawid_skene_screened": accuracy(DawidSkene(classes=names).fit_predict(kept, gold),
                                                              truth, items),
                   "underspec_gold_majority": accuracy(GoldMajorityVote(classes=names).fit_predict(answers, gold),
                                                       truth, items),
                   "underspec_majority": accuracy(MajorityVote(classes=names).fit_predict(answers), truth, items),
                   "crowdkit_dawid_skene": accuracy(CKDawidSkene(n_iter=100).fit_predict(answers), truth, items),
                   "crowdkit_majority": accuracy(CKMajorityVote().fit_predict(answers), truth, items),
                   "excluded_by_screens": len(excluded)}
            rows.append(row)
            print(name, "adversarial", {k: round(v, 4) for k, v in row.items()}, flush=True)
        result[name] = over_crowds(rows, len(names))
    return result


def real_data() -> dict:
    """D_Product (Zheng et al. 2017): 8,315 tasks, 176 workers, no gold; the CLI as a user runs it,
    the API, and crowd-kit on the same answers."""
    import tempfile

    from crowdkit.aggregation import DawidSkene as CKDawidSkene
    from crowdkit.aggregation import MajorityVote as CKMajorityVote

    from underspec.pipelines.labeling import aggregate_file

    answers = pd.read_csv(D_PRODUCT / "d_product_answer.csv")
    answers.columns = ["task", "worker", "label"]
    truth = pd.read_csv(D_PRODUCT / "d_product_truth.csv").set_index("question")["truth"]

    def score(labels: pd.Series) -> float:
        return float((labels.reindex(truth.index).to_numpy() == truth.to_numpy()).mean())

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        answers.to_csv(Path(tmp) / "answers.csv", index=False)
        for method in ("majority", "dawid-skene"):
            t0 = time.perf_counter()
            report = aggregate_file(Path(tmp) / "answers.csv", Path(tmp) / f"{method}.csv", method=method)
            labels = pd.read_csv(Path(tmp) / f"{method}.csv").set_index("task")["label"]
            rows[f"underspec_cli_{method}"] = {"accuracy": score(labels), "labeled": len(labels),
                                               "excluded": len(report["excluded"]),
                                               "seconds": round(time.perf_counter() - t0, 2)}
    for name, model in (("underspec_api_dawid_skene_classical", DawidSkene(shrinkage=0)),
                        ("crowdkit_majority", CKMajorityVote()), ("crowdkit_dawid_skene", CKDawidSkene(n_iter=100))):
        t0 = time.perf_counter()
        labels = model.fit_predict(answers)
        rows[name] = {"accuracy": score(labels), "labeled": int(labels.notna().sum()),
                      "seconds": round(time.perf_counter() - t0, 2)}
    print("d_product", rows, flush=True)
    return {"tasks": int(truth.size), "workers": int(answers["worker"].nunique()), "rows": rows,
            "published": {"majority": 0.897, "dawid_skene": 0.940}}


def aggregation_markdown(result: dict) -> str:
    methods = sorted(k for k in next(iter(result.values()))["mean"] if k != "seed")
    lines = ["| method | " + " | ".join(result) + " |", "|---|" + "---|" * len(result)]
    for m in methods:
        cells = [f"{r['mean'][m]:.4f} ± {r['sd'][m]:.4f}" for r in result.values()]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def budget_curve(n_train: int, n_known: int, budgets: list[int], steps: int, repeats: int,
                 embedding: str = "auto", short_steps: int = 2000, semi: bool = False,
                 arch: str = "vgg", augment: str = "strong", first_repeat: int = 0,
                 representation: str = "none") -> dict:
    """Test accuracy of the final network against the number of crowd-labeled items, for
    underspec's selection and for random selection (with and without propagation); each
    repeat draws another crowd, other random items and other training seeds.

    Every network trains for ``steps`` steps; random selection's labels are also trained for
    ``short_steps`` (a small labeled set may do better with fewer), and the target takes
    whichever of the two is better. ``semi`` adds the FixMatch columns (slow). The repeats are
    ``first_repeat`` to ``first_repeat + repeats - 1`` (a later run adds repeats to an earlier one). Every final
    network is ``underspec train --arch arch --augment augment`` (the VGG-style network with the
    strong augmentation by default: with every true label it reads 0.8875 on the test set where
    the small CNN with shifts and mirrors read 0.786), or with a ``representation`` ``underspec
    train --representation representation`` (an MLP on those features, with input dropout)."""
    import tempfile

    from underspec.data.image_sets import ImageSet
    from underspec.data.items import ItemTable
    from underspec.labeling.select import SelectOptions, select
    from underspec.pipelines.label_loop import propagate
    from underspec.pipelines.labeling import embedding_method, embeddings
    from underspec.pipelines.train import TrainOptions, predict, train

    x, y, xt, yt, classes = load("cifar4", n_train)
    names = [str(c) for c in range(len(classes))]
    rng = np.random.default_rng(0)
    known = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), n_known // len(classes), replace=False)
                                    for c in range(len(classes))]))
    labels = np.full(len(y), -1)
    labels[known] = y[known]
    table = pd.DataFrame({"id": np.arange(len(y)).astype(str), "split": "train", "label": labels})
    image_set = ImageSet(ItemTable(x, table), list(range(len(classes))), source="cifar4 sample")
    test_set = ImageSet(ItemTable(xt, pd.DataFrame({"id": np.arange(len(yt)).astype(str), "split": "test",
                                                    "label": yt})), list(range(len(classes))), source="cifar4 test")
    work = Path(__file__).parent / "work"
    t0 = time.perf_counter()
    emb = embeddings(image_set, embedding, work / "cache", seed=0)
    embedding_seconds = time.perf_counter() - t0
    truth = {str(i): names[c] for i, c in enumerate(y)}
    known_labels = pd.Series({str(i): names[y[i]] for i in known})

    def crowd_labels(rows: np.ndarray, seed: int) -> pd.DataFrame:
        """A simulated crowd (an exam of 20 known items, then the honeypot filter) labels
        ``rows``; Dawid-Skene aggregates."""
        tasks = [str(r) for r in rows]
        answers, gold, _ = crowd_answers(tasks, known_labels, truth, names, seed, quality_control=True,
                                         exam=EXAM)
        model = DawidSkene(classes=names).fit(answers, gold)
        return pd.DataFrame({"row": rows, "code": model.labels_.loc[tasks].astype(int).to_numpy(),
                             "confidence": model.probas_.loc[tasks].max(axis=1).to_numpy(),
                             "right": model.labels_.loc[tasks].to_numpy() == np.asarray([truth[t] for t in tasks])})

    def test_accuracy(codes: np.ndarray, tag: str, seed: int, semi: bool = False, steps: int = steps) -> float:
        """Train on the labeled items for ``steps`` steps whatever their number (the best epoch
        on the validation split is kept), and score on the test set. ``semi``: FixMatch on the
        unlabeled items too (the steps then pass over the larger of the two sets)."""
        per_epoch = max(0.85 * (codes >= 0).sum(), (codes < 0).sum() if semi else 0)
        with tempfile.TemporaryDirectory(dir=work) as run:
            train(image_set.with_labels(codes), run, TrainOptions(
                epochs=steps * 64 / per_epoch, patience=10_000, augment=augment, arch=arch, seed=seed, progress=False,
                semi_supervised="fixmatch" if semi else "none", representation=representation))
            predicted = predict(test_set, run)["label"].to_numpy().astype(int)
        accuracy_ = float((predicted == yt).mean())
        print(f"  {tag}: {int((codes >= 0).sum())} training labels, test accuracy {accuracy_:.4f}", flush=True)
        return accuracy_

    no_selection = pd.DataFrame({"id": [], "status": [], "auto_label": [], "confidence": []})
    pool = np.flatnonzero(labels < 0)
    ceiling = test_accuracy(y, "every training item with its true label (the network's ceiling)", 0)
    ceiling_short = test_accuracy(y, f"the same, {short_steps} steps", 0, steps=short_steps)
    rows = []
    for rep in range(first_repeat, first_repeat + repeats):
        rows.append({"repeat": rep, "labels_bought": 0, "known_only": test_accuracy(labels, "known only", rep)})
        draw = np.random.default_rng(100 + rep)
        for budget in budgets:
            print(f"repeat {rep}, budget {budget}", flush=True)
            row = {"repeat": rep, "labels_bought": budget}
            chosen = select(emb, labels, budget, len(classes), SelectOptions(seed=0))
            crowd = crowd_labels(chosen.loc[chosen["status"] == "send", "row"].to_numpy(), rep)
            selection = pd.DataFrame({"id": chosen["row"].astype(str), "status": chosen["status"],
                                      "auto_label": [names[k] if k >= 0 else "" for k in chosen["auto_label"]],
                                      "confidence": chosen["confidence"]})
            codes = propagate(image_set, emb, selection, crowd)["label"].to_numpy()
            auto = (chosen["status"] == "auto").to_numpy()
            labeled = codes >= 0
            row["underspec_auto_labels"] = int(auto.sum())
            row["underspec_auto_label_accuracy"] = float((chosen["auto_label"][auto] == y[pool][auto]).mean())
            row["underspec_training_labels"] = int(labeled.sum())
            row["underspec_label_accuracy"] = float((codes[labeled] == y[labeled]).mean())
            row["crowd_accuracy"] = float(crowd["right"].mean())
            row["underspec"] = test_accuracy(codes, "underspec selection + propagation", rep)
            sent_only = labels.copy()
            sent_only[crowd["row"].to_numpy()] = crowd["code"].to_numpy()
            row["underspec_sent_only"] = test_accuracy(sent_only, "underspec selection, crowd labels only", rep)
            if semi:
                row["underspec_semi"] = test_accuracy(sent_only, "underspec selection, crowd labels + FixMatch", rep,
                                                      semi=True)
            crowd_r = crowd_labels(np.sort(draw.choice(pool, budget, replace=False)), rep)
            codes = labels.copy()
            codes[crowd_r["row"].to_numpy()] = crowd_r["code"].to_numpy()
            row["random_crowd_accuracy"] = float(crowd_r["right"].mean())
            row["random"] = test_accuracy(codes, "random selection", rep)
            row["random_short"] = test_accuracy(codes, f"random selection, {short_steps} steps", rep,
                                                steps=short_steps)
            if semi:
                row["random_semi"] = test_accuracy(codes, "random selection + FixMatch", rep, semi=True)
            merged_r = propagate(image_set, emb, no_selection, crowd_r)
            propagated = merged_r["label"].to_numpy()
            row["random_propagated_label_accuracy"] = float((propagated[propagated >= 0] == y[propagated >= 0]).mean())
            row["random_propagated"] = test_accuracy(propagated, "random + propagation", rep)
            rows.append(row)
    frame = pd.DataFrame(rows)
    summary = frame.drop(columns="repeat").groupby("labels_bought").agg(["mean", "std"]).round(4)
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    return {"n_train": n_train, "n_known": n_known, "exam": EXAM, "test_items": len(yt), "steps": steps,
            "repeats": repeats, "propagator": "linear", "rank": SelectOptions().rank,
            "short_steps": short_steps, "arch": arch, "augment": augment, "representation": representation,
            "ceiling_all_true_labels": ceiling,
            "ceiling_all_true_labels_short": ceiling_short,
            "embedding": embedding_method(image_set, embedding), "embedding_seconds": round(embedding_seconds, 1),
            "rows": rows,
            "summary": summary.reset_index().to_dict(orient="records")}


HALF_THE_LABELS = [("underspec", "random_best"), ("underspec", "random_propagated"),
                   ("underspec_sent_only", "random_best"), ("underspec_semi", "random_best"),
                   ("underspec_semi", "random_semi")]
"""(underspec variant, random variant) pairs compared at half the labels: the target's own
comparison, then like for like (the same propagation or training on both sides).
``random_best`` is the better of random selection's two step counts (per budget, means)."""


def _mean(row: dict, key: str) -> float | None:
    """The mean of ``key`` in a summary row (None if not measured); ``random_best`` is the
    larger of the ``random`` and ``random_short`` means."""
    if key == "random_best":
        return max((row[k + "_mean"] for k in ("random", "random_short") if k + "_mean" in row), default=None)
    return row.get(key + "_mean")


def half_the_labels(curve: dict) -> list[dict]:
    """For each budget B whose half was also run, and each pair of :data:`HALF_THE_LABELS`
    that was measured: the underspec variant at B/2 against the random variant at B (means)."""
    by_budget = {r["labels_bought"]: r for r in curve["summary"] if r["labels_bought"]}
    found = []
    for b, r in by_budget.items():
        for ours, theirs in HALF_THE_LABELS if b // 2 in by_budget else []:
            at_half, at_budget = _mean(by_budget[b // 2], ours), _mean(r, theirs)
            if at_half is not None and at_budget is not None:
                found.append({"budget": b, "underspec": ours, "random": theirs, "underspec_at_half": at_half,
                              "random_at_budget": at_budget, "holds": at_half >= at_budget})
    return found


BUDGET_COLUMNS = [("underspec", "underspec"), ("underspec_sent_only", "underspec, crowd labels only"),
                  ("underspec_semi", "underspec, crowd labels + FixMatch"), ("random", "random"),
                  ("random_short", "random, {short} steps"), ("random_propagated", "random + propagation"),
                  ("random_semi", "random + FixMatch")]
"""The accuracy columns of the budget table (those measured), and their headers."""


def budget_markdown(curve: dict) -> str:
    def cell(r: dict, key: str) -> str:  # one repeat: no spread to show
        spread = r[key + "_std"]
        return f"{r[key + '_mean']:.4f}" + ("" if math.isnan(spread) else f" ± {spread:.4f}")

    short = curve.get("short_steps")
    columns = [(k, h.format(short=short)) for k, h in BUDGET_COLUMNS
               if any(k + "_mean" in r for r in curve["summary"])]
    lines = [f"CIFAR-4 training sample of {curve['n_train']} items, {curve['n_known']} known labels, "
             f"test set of {curve['test_items']}; final network trained by `underspec train`'s pipeline "
             f"(`--arch {curve.get('arch', 'cnn')} --augment {curve.get('augment', 'auto')}`) "
             f"for {curve['steps']} steps whatever the number of labels (the best epoch on its validation split "
             f"kept)" + (f"; random selection's labels also for {short} steps, and the target takes the better "
                         "of the two" if short else "") +
             f". Crowd: 30 simulated workers, an exam of {curve.get('exam', 0)} known items (admitted from "
             f"0.8 right), overlap 3, honeypot filter on, Dawid-Skene. Test accuracy, mean ± sd over "
             f"{curve['repeats']} repeats "
             f"(crowd, random items and training seed redrawn). Selection embedding: "
             f"`{curve.get('embedding', 'supervised')}`, items ranked by `--rank {curve.get('rank', 'knn')}`.\n",
             ("`+ FixMatch`: the same labels, and the unlabeled items trained on with `underspec train --semi "
              "fixmatch`. " if "random_semi" in dict(columns) else "") +
             "`propagation`: the items left unlabeled get the labels of "
             f"`underspec label propagate --propagator {curve.get('propagator', 'knn')}`, the same for both "
             "selections.\n",
             "| labels bought | " + " | ".join(h for _, h in columns) + " | "
             "crowd label accuracy (underspec / random items) | automatic labels (accuracy) | "
             "underspec training labels (accuracy) |",
             "|---|" + "---|" * (len(columns) + 3)]
    for r in curve["summary"]:
        if not r["labels_bought"]:
            lines.append(f"| 0 (known labels only) | {cell(r, 'known_only')} |" + " |" * (len(columns) + 2))
            continue
        lines.append(f"| {r['labels_bought']} | " + " | ".join(cell(r, k) for k, _ in columns) +
                     f" | {r['crowd_accuracy_mean']:.4f} / "
                     f"{r.get('random_crowd_accuracy_mean', float('nan')):.4f} | "
                     f"{r['underspec_auto_labels_mean']:.0f} ({r['underspec_auto_label_accuracy_mean']:.4f}) | "
                     f"{r['underspec_training_labels_mean']:.0f} ({r['underspec_label_accuracy_mean']:.4f}) |")
    if "ceiling_all_true_labels" in curve:
        lines.append(f"\nThe same network trained on all {curve['n_train']} training items with their true labels "
                     f"(once, seed 0): {curve['ceiling_all_true_labels']:.4f}"
                     + (f" ({curve['ceiling_all_true_labels_short']:.4f} with {short} steps)" if short else "")
                     + ", what a perfect labeling of this sample gives it.")
    lines.append("\nTarget (underspec with half the labels reaches random selection's accuracy; `random_best`: the "
                 "better of random selection's step counts):\n")
    for h in curve["half_the_labels"]:
        lines.append(f"- {h['random']} with {h['budget']}: {h['random_at_budget']:.4f}; {h['underspec']} with "
                     f"{h['budget'] // 2}: {h['underspec_at_half']:.4f}: {'holds' if h['holds'] else 'does not hold'}")
    return "\n".join(lines) + "\n"


def aggregation_targets(result: dict) -> str:
    lines = ["\nTargets (means over crowds):\n"]
    for name, r in result.items():
        m = r["mean"]
        for tag in ("honeypot_filter", "no_filter"):
            gap = m[f"bayes_optimal_limit_{tag}"] - m[f"underspec_dawid_skene_{tag}"]
            lines.append(f"- {name}, {tag.replace('_', ' ')}: Dawid-Skene {gap * 100:.2f} points under the Bayes "
                         f"limit ({'within' if gap <= 0.01 else 'not within'} 1 point); "
                         f"{m[f'underspec_dawid_skene_{tag}'] - m[f'crowdkit_dawid_skene_{tag}']:+.4f} against "
                         f"crowd-kit's Dawid-Skene")
        gain = m["underspec_dawid_skene_honeypot_filter"] - m["underspec_dawid_skene_no_filter"]
        lines.append(f"- {name}: the honeypot filter adds {gain * 100:+.2f} points to Dawid-Skene "
                     f"({m['answers_rejected_honeypot_filter']:.0f} answers rejected and asked again)")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="aggregation,budget")
    parser.add_argument("--datasets", default="mnist,cifar4")
    parser.add_argument("--crowds", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--known", type=int, default=200)
    parser.add_argument("--budgets", default="250,500,1000,2000")
    parser.add_argument("--steps", type=int, default=5000, help="training steps of each final network")
    parser.add_argument("--short-steps", type=int, default=2000,
                        help="random selection's networks are also trained for this many steps")
    parser.add_argument("--semi", action="store_true", help="also the FixMatch columns (slow)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--first-repeat", type=int, default=0, help="index of the first repeat (its draws' seeds)")
    parser.add_argument("--embedding", default="auto", help="underspec label select --embedding")
    parser.add_argument("--arch", default="vgg", help="underspec train --arch of every final network")
    parser.add_argument("--augment", default="strong", help="underspec train --augment of every final network")
    parser.add_argument("--representation", default="none",
                        help="underspec train --representation of every final network (none: on the pixels)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    parts = args.part.split(",")
    command = "python bench/labeling.py " + " ".join(sys.argv[1:])
    previous = Path(args.out) / "labeling.json"
    result = json.loads(previous.read_text()) if previous.is_file() else {}  # a part run alone keeps the other
    if "aggregation" in parts:
        result["aggregation"] = {"command": command,
                                 "datasets": aggregation(args.datasets.split(","), args.crowds)}
    if "adversarial" in parts:
        result["adversarial"] = {"command": command, "datasets": adversarial(args.datasets.split(","), args.crowds)}
    if "real" in parts:
        result["real"] = {"command": command, **real_data()}
    if "budget" in parts:
        curve = budget_curve(args.n_train, args.known, [int(b) for b in args.budgets.split(",")], args.steps,
                             args.repeats, args.embedding, args.short_steps, args.semi, args.arch, args.augment,
                             args.first_repeat, args.representation)
        curve["half_the_labels"] = half_the_labels(curve)
        result["budget"] = {"command": command, **curve}
    save(Path(args.out), "labeling", result, render(result))
    return 0


def render(result: dict) -> str:
    """The Markdown of a ``labeling.json`` (both parts, whichever were run)."""
    markdown = "# Labeling benchmark\n\n"
    if "aggregation" in result:
        markdown += (f"## Aggregation accuracy (mean ± sd over crowds)\n\nCommand: `{result['aggregation']['command']}`"
                     f"\n\n{AGGREGATION_SETTING}\n\n{aggregation_markdown(result['aggregation']['datasets'])}"
                     f"{aggregation_targets(result['aggregation']['datasets'])}")
    if "adversarial" in result:
        datasets = result["adversarial"]["datasets"]
        markdown += (f"\n## Adversarial crowds (mean ± sd over crowds)\n\nCommand: `{result['adversarial']['command']}`"
                     f"\n\n{ADVERSARIAL_SETTING}\n\n{aggregation_markdown(datasets)}\nTargets:\n\n")
        for name, r in datasets.items():
            m = r["mean"]
            gap = m["bayes_optimal_limit"] - m["underspec_cli_dawid_skene"]
            versus = (m["underspec_cli_dawid_skene"] - m["crowdkit_dawid_skene"]) * 100
            markdown += (f"- {name}: `label aggregate --gold` (Dawid-Skene) {gap * 100:.2f} points under the Bayes "
                         f"limit ({'within' if gap <= 0.01 else 'not within'} 1 point); {versus:+.2f} against "
                         f"crowd-kit's Dawid-Skene; the after-the-fact screens would cost "
                         f"{(m['underspec_cli_dawid_skene'] - m['underspec_dawid_skene_screened']) * 100:.2f} points\n")
    if "real" in result:
        real = result["real"]
        markdown += (f"\n## Real crowd: D_Product (Zheng et al. 2017)\n\nCommand: `{real['command']}`\n\n"
                     f"{real['tasks']} tasks, {real['workers']} workers, 3 answers per task, no gold; published "
                     f"(crowd-kit JOSS paper): majority 0.897, Dawid-Skene 0.940. Every task with ground truth "
                     f"counts; a task left without a label counts as wrong.\n\n| run | accuracy | labeled | excluded "
                     f"workers | seconds |\n|---|---|---|---|---|\n")
        for name, row in real["rows"].items():
            markdown += (f"| {name} | {row['accuracy']:.4f} | {row['labeled']} | {row.get('excluded', '')} | "
                         f"{row['seconds']} |\n")
    if "budget" in result:
        markdown += (f"\n## Budget: test accuracy against labels bought\n\nCommand: `{result['budget']['command']}`"
                     f"\n\n{budget_markdown(result['budget'])}")
    return markdown


if __name__ == "__main__":
    raise SystemExit(main())
