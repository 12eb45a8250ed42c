"""Crowd answer aggregation: majority vote, gold-weighted vote, Dawid-Skene with gold clamped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underspec.errors import UnderspecError
from underspec.labeling.aggregate import DawidSkene, GoldMajorityVote, MajorityVote


def simulate(n_tasks=300, seed=0):
    """Three good workers (90% right) and four spammers who answer at random."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_tasks)
    rows = []
    for worker, skill in [*((f"good{i}", 0.9) for i in range(3)), *((f"spam{i}", 0.0) for i in range(4))]:
        for task in range(n_tasks):
            right = rng.random() < skill
            rows.append((task, worker, int(truth[task]) if right else int(rng.integers(0, 3))))
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), pd.Series(truth)


def test_majority_vote_counts_and_breaks_ties_by_class_order():
    answers = pd.DataFrame({"task": ["a", "a", "a", "b", "b"], "worker": ["x", "y", "z", "x", "y"],
                            "label": [1, 1, 0, 2, 0]})
    mv = MajorityVote()
    assert mv.fit_predict(answers).to_dict() == {"a": 1, "b": 0}
    assert mv.probas_.loc["a"].tolist() == pytest.approx([1 / 3, 2 / 3, 0])
    assert mv.fit_predict_proba(answers).shape == (2, 3)


def test_dawid_skene_finds_the_good_workers_and_beats_the_majority():
    answers, truth = simulate()
    mv = (MajorityVote().fit_predict(answers).sort_index().to_numpy() == truth.to_numpy()).mean()
    ds = DawidSkene()
    labels = ds.fit_predict(answers).sort_index().to_numpy()
    assert (labels == truth.to_numpy()).mean() > max(0.95, mv + 0.05)
    good = np.mean([np.trace(ds.errors_[f"good{i}"].to_numpy()) / 3 for i in range(3)])
    spam = np.mean([np.trace(ds.errors_[f"spam{i}"].to_numpy()) / 3 for i in range(4)])
    assert good > 0.85 and spam < 0.5
    assert np.allclose(ds.probas_.sum(axis=1), 1)


def test_gold_clamps_dawid_skene_and_weights_the_vote():
    answers, truth = simulate(n_tasks=200, seed=1)
    gold = truth[:40]
    ds = DawidSkene().fit(answers, gold)
    assert (ds.labels_.loc[gold.index].to_numpy() == gold.to_numpy()).all()
    assert (ds.probas_.loc[gold.index].max(axis=1) == 1.0).all()
    gmv = GoldMajorityVote().fit(answers, gold)
    assert gmv.skills_["good0"] > 0.8 and gmv.skills_["spam0"] < 0.6
    acc = (gmv.labels_.sort_index().to_numpy() == truth.to_numpy()).mean()
    plain = (MajorityVote().fit_predict(answers).sort_index().to_numpy() == truth.to_numpy()).mean()
    assert acc > plain


def test_bad_answers_are_refused():
    with pytest.raises(UnderspecError, match="no column 'worker'"):
        MajorityVote().fit(pd.DataFrame({"task": [1], "label": [0]}))
    answers = pd.DataFrame({"task": [1, 2], "worker": ["a", "b"], "label": [0, 7]})
    with pytest.raises(UnderspecError, match="7 is not one of the classes"):
        DawidSkene(classes=[0, 1]).fit(answers)


def test_label_aggregate_command_screens_workers_and_writes_labels(tmp_path, capsys):
    import json

    from underspec.cli import main

    answers, truth = simulate(n_tasks=120, seed=3)
    lazy = pd.DataFrame({"task": range(120), "worker": "lazy", "label": 0})  # always the same answer
    answers = pd.concat([answers, lazy], ignore_index=True)
    answers["seconds"] = np.where(answers["worker"] == "spam0", 0.5, 8.0)
    answers.to_csv(tmp_path / "answers.csv", index=False)
    truth[:30].rename("label").rename_axis("task").reset_index().to_csv(tmp_path / "gold.csv", index=False)
    out = tmp_path / "labels.csv"
    assert main(["label", "aggregate", str(tmp_path / "answers.csv"), "--gold", str(tmp_path / "gold.csv"),
                 "--out", str(out), "--min-seconds", "2"]) == 0
    labels = pd.read_csv(out)
    assert list(labels.columns) == ["task", "label", "confidence"] and len(labels) == 120
    assert (labels.sort_values("task")["label"].to_numpy() == truth.to_numpy()).mean() > 0.95
    assert labels["confidence"].between(0, 1).all()
    report = json.loads(out.with_suffix(".workers.json").read_text())
    reasons = {row["worker"]: row["reason"] for row in report["excluded"]}
    assert "median answer time" in reasons["spam0"] and "same label" in reasons["lazy"]
    assert all("honeypot accuracy" in reasons[f"spam{i}"] for i in (1, 2, 3))
    assert len(report["workers"]["good0"]["confusion"]) == 3


@pytest.mark.parametrize(("change", "words"), [
    ("duplicate", "answered task 0 twice"),
    ("stray gold", "gold: 1 task(s) not in"),
    ("no worker", "no column 'worker'"),
    ("outside", "is not one of [0, 1, 2]"),
])
def test_label_aggregate_refuses_bad_input_and_writes_nothing(tmp_path, capsys, change, words):
    from underspec.cli import main

    answers, truth = simulate(n_tasks=20)
    gold = truth[:5].rename("label").rename_axis("task").reset_index()
    if change == "duplicate":
        answers = pd.concat([answers, answers[:1]])
    elif change == "stray gold":
        gold.loc[len(gold)] = [999, 1]
    elif change == "no worker":
        answers = answers.drop(columns=["worker"])
    else:
        answers.loc[3, "label"] = 5
    answers.to_csv(tmp_path / "answers.csv", index=False)
    gold.to_csv(tmp_path / "gold.csv", index=False)
    code = main(["label", "aggregate", str(tmp_path / "answers.csv"), "--gold", str(tmp_path / "gold.csv"),
                 "--classes", "0,1,2", "--out", str(tmp_path / "labels.csv")])
    assert code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "labels.csv").exists()
