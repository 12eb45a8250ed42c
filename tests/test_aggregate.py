"""Crowd answer aggregation: majority vote, gold-weighted vote, Dawid-Skene with gold clamped."""

from __future__ import annotations

import json

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
                 "--out", str(out), "--min-seconds", "2", "--min-accuracy", "0.6", "--same-answer-screen"]) == 0
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


# --- issue 23: crowd-kit's behaviour on its own cases, and the screens on a skewed crowd ----------

def test_dawid_skene_edge_settings_and_empty_answers_do_not_crash():
    answers, truth = simulate(n_tasks=60)
    zero = DawidSkene(n_iter=0).fit(answers)  # crowd-kit: the majority vote
    assert zero.n_iter_ == 0 and zero.labels_.equals(MajorityVote().fit_predict(answers))
    classical = DawidSkene(shrinkage=0, smoothing=0).fit(answers)  # the docstring's classical estimate
    assert (classical.labels_.sort_index().to_numpy() == truth.to_numpy()).mean() > 0.9
    assert np.isfinite(classical.probas_.to_numpy()).all()
    empty = pd.DataFrame({"task": [], "worker": [], "label": []})
    for model in (MajorityVote(), GoldMajorityVote(), DawidSkene()):
        assert model.fit(empty).labels_.empty and model.probas_.empty


def test_dawid_skene_parameters_are_those_of_the_final_posterior():
    answers, _ = simulate(n_tasks=80, seed=2)
    for n_iter in (0, 1, 5):
        model = DawidSkene(n_iter=n_iter, shrinkage=0).fit(answers)
        assert np.allclose(model.priors_.to_numpy(), model.probas_.mean().to_numpy())


def test_dawid_skene_leaves_a_symmetric_crowd_where_it_is():
    """crowd-kit's overlap case: every worker says "no" to one task of three."""
    data = pd.DataFrame([{"task": t, "worker": w, "label": "yes" if (w - t) % 3 else "no"}
                         for w in range(30) for t in range(3)])
    model = DawidSkene(n_iter=20).fit(data)
    assert np.allclose(model.probas_.to_numpy(), [[1 / 3, 2 / 3]] * 3, atol=1e-3)


def test_gold_majority_vote_skills_are_plain_gold_accuracy_and_several_gold_labels_count():
    answers = pd.DataFrame({"task": ["t1", "t2", "t3", "t1", "t2", "t3", "t1", "t3"],
                            "worker": ["w1"] * 3 + ["w2"] * 3 + ["w3"] * 2,
                            "label": ["l1", "l1", "l1", "l2", "l1", "l2", "l3", "l3"]})
    gold = pd.Series(["l1", "l2", "l2"], index=["t1", "t1", "t3"])  # t1 accepts l1 and l2
    model = GoldMajorityVote().fit(answers, gold)
    assert model.skills_.to_dict() == {"w1": 0.5, "w2": 1.0, "w3": 0.0}
    assert model.labels_.to_dict() == {"t1": "l2", "t2": "l1", "t3": "l2"}


def test_majority_vote_skills_are_agreement_with_the_majority():
    answers = pd.DataFrame({"task": ["a", "a", "a", "b", "b", "b"], "worker": ["x", "y", "z"] * 2,
                            "label": [1, 1, 0, 0, 0, 0]})
    assert MajorityVote().fit(answers).skills_.to_dict() == {"x": 1.0, "y": 1.0, "z": 1.0 / 2}


def skewed_crowd(seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """90% of the tasks are "0"; three careful workers who say "0" to 97% of theirs (they miss
    some positives), four fair workers, and a spammer who always says "1"."""
    rng = np.random.default_rng(seed)
    truth = pd.Series((rng.random(400) < 0.1).astype(int))
    rows = []
    for task, label in truth.items():
        for worker in range(3):
            rows.append((task, f"careful{worker}", int(label and rng.random() < 0.7)))
        for worker in range(4):
            rows.append((task, f"fair{worker}", int(label) if rng.random() < 0.85 else 1 - int(label)))
        rows.append((task, "spammer", 1))
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), truth


def test_same_answer_screen_tells_a_spammer_from_a_careful_worker_facing_a_common_class():
    from underspec.labeling.quality import screen_workers

    answers, _ = skewed_crowd()
    kept, excluded = screen_workers(answers)
    assert excluded["worker"].tolist() == ["spammer"]
    assert {"careful0", "careful1", "careful2"} <= set(kept["worker"])
    assert screen_workers(answers, max_same_share=None)[1].empty  # the screen turned off


def test_label_aggregate_labels_every_task_and_can_turn_the_screen_off(tmp_path, capsys):
    from underspec.cli import main

    answers, truth = skewed_crowd(seed=1)
    only_spammer = pd.DataFrame({"task": [1000, 1001], "worker": ["spammer"] * 2, "label": [1, 1]})
    pd.concat([answers, only_spammer]).to_csv(tmp_path / "a.csv", index=False)
    assert main(["label", "aggregate", str(tmp_path / "a.csv"), "--method", "majority",
                 "--out", str(tmp_path / "l.csv")]) == 0
    out = capsys.readouterr().out
    labels = pd.read_csv(tmp_path / "l.csv")
    assert len(labels) == len(truth) + 2 and labels["label"].notna().all()  # no task left out
    assert "excluded spammer" in out and "2 task(s) had answers from excluded workers only" in out
    report = json.loads((tmp_path / "l.workers.json").read_text())
    assert report["tasks_without_kept_answers"] == ["1000", "1001"]
    assert main(["label", "aggregate", str(tmp_path / "a.csv"), "--method", "majority", "--no-same-answer-screen",
                 "--out", str(tmp_path / "all.csv")]) == 0
    assert "excluded" not in capsys.readouterr().out
    assert main(["label", "aggregate", str(tmp_path / "a.csv"), "--out", str(tmp_path / "ds.csv")]) == 0
    assert "excluded" not in capsys.readouterr().out  # Dawid-Skene weighs the spammer instead (measured)
    ds = pd.read_csv(tmp_path / "ds.csv").set_index("task")["label"]
    assert (ds.loc[truth.index].to_numpy() == truth.to_numpy()).mean() > 0.95
