"""Export of crowd task pools, the simulated crowd, propagation and the dry run of the whole
labeling loop, on scikit-learn's digits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from underspec.cli import main
from underspec.errors import UnderspecError
from underspec.labeling.crowd import answer_pages, bayes_optimal, make_workers
from underspec.labeling.export import ExportOptions, build_pools


def test_pools_put_one_honeypot_on_each_page_and_every_item_once():
    known = pd.Series(["a", "b"] * 15, index=[f"k{i}" for i in range(30)])
    send = [f"s{i}" for i in range(100)]
    pools = build_pools(send, known, ExportOptions(page_size=10, training=8, exam=6))
    training, exam = (set(pools.loc[pools["pool"] == p, "task"]) for p in ("training", "exam"))
    production = pools[pools["pool"] == "production"]
    assert len(training) == 8 and len(exam) == 6 and not training & exam
    assert (pools.loc[pools["pool"] == "training", "hint"] != "").all()
    assert sorted(production.loc[production["golden"] == "", "task"]) == sorted(send)
    per_page = production.groupby("page").agg(size=("task", "size"), gold=("golden", lambda g: (g != "").sum()))
    assert (per_page["gold"] == 1).all() and per_page["size"].max() == 10 and len(per_page) == 12  # 100 / 9
    honeypots = set(production.loc[production["golden"] != "", "task"])
    assert honeypots <= set(known.index) - training - exam


def test_pools_refuse_too_few_known_labels_and_nothing_to_send():
    known = pd.Series(["a", "b"] * 5, index=range(10))
    with pytest.raises(UnderspecError, match=r"training 20 \+ exam 20: 10 known labels; expected at least 41"):
        build_pools([100], known, ExportOptions())
    with pytest.raises(UnderspecError, match="sends no item"):
        build_pools([], known, ExportOptions(training=2, exam=2))


def test_simulated_crowd_has_spammers_and_the_bayes_limit_beats_majority():
    confusion = make_workers(30, 4, spammers=0.1, seed=1)
    assert np.allclose(confusion.sum(2), 1)
    spammers = [(np.ptp(c.argmax(1)) == 0) and c.max() == 1 for c in confusion]
    assert sum(spammers) == 3
    rng = np.random.default_rng(0)
    truth = {f"t{i}": str(rng.integers(4)) for i in range(600)}
    pages = pd.DataFrame({"task": list(truth), "page": np.arange(600) // 20})
    answers = answer_pages(pages, truth, ["0", "1", "2", "3"], confusion, overlap=3, seed=0)
    assert len(answers) == 1800 and (answers.groupby("task")["worker"].nunique() == 3).all()
    best = bayes_optimal(answers, confusion, ["0", "1", "2", "3"])
    majority = answers.groupby("task")["label"].agg(lambda v: v.value_counts().index[0])
    truth_s = pd.Series(truth)
    assert (best == truth_s[best.index]).mean() > (majority == truth_s[majority.index]).mean() + 0.03


@pytest.fixture
def digits_selection(tmp_path):
    """Three digit classes, 60 known labels, and a selection sending 40 items."""
    d = load_digits()
    keep = d.target < 3
    truth = d.target[keep]
    y = truth.copy()
    y[60:] = -1
    np.savez(tmp_path / "d.npz", x=d.images[keep] / 16.0, y=y)
    assert main(["label", "select", str(tmp_path / "d.npz"), "--budget", "40", "--out", str(tmp_path / "sel"),
                 "--embedding", "pixels"]) == 0
    return tmp_path, truth


def test_export_round_trips_through_aggregate(digits_selection, capsys):
    tmp_path, truth = digits_selection
    out = tmp_path / "pool"
    assert main(["label", "export", str(tmp_path / "sel"), "--out", str(out), "--page-size", "10",
                 "--training", "10", "--exam", "10"]) == 0
    pool = pd.read_csv(out / "pool.csv", keep_default_na=False)
    production = pool[pool["pool"] == "production"]
    sent = pd.read_csv(tmp_path / "sel" / "selection.csv").query("status == 'send'")["id"]
    assert sorted(production.loc[production["golden"] == "", "task"]) == sorted(sent)
    assert all((out / image).is_file() for image in pool["image"])
    tsv = (out / "toloka" / "production.tsv").read_text()
    assert tsv.splitlines()[0] == "INPUT:task\tINPUT:image\tGOLDEN:label\tHINT:text"
    assert tsv.count("\n\n") == production["page"].nunique() - 1  # an empty line between pages
    # good workers answer the exported pages; aggregation gives back the true labels
    confusion = np.stack([np.full((3, 3), 0.02) + 0.94 * np.eye(3)] * 5)
    truth_by_id = {i: str(truth[i]) for i in range(len(truth))}
    answers = answer_pages(production, truth_by_id, ["0", "1", "2"], confusion, overlap=3, seed=0)
    answers.drop(columns="page").to_csv(tmp_path / "answers.csv", index=False)
    assert main(["label", "aggregate", str(tmp_path / "answers.csv"), "--gold", str(out / "gold.csv"),
                 "--out", str(tmp_path / "labels.csv")]) == 0
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert set(labels["task"]) == set(production["task"])
    assert (labels["label"].to_numpy() == truth[labels["task"].to_numpy()]).mean() > 0.9
    gold = pd.read_csv(out / "gold.csv")
    assert (labels.set_index("task").loc[gold["task"], "label"].to_numpy() == gold["label"].to_numpy()).all()
    # with --pool: the pool's gold and classes; answers for a task outside the pool are refused
    assert main(["label", "aggregate", str(tmp_path / "answers.csv"), "--pool", str(out),
                 "--out", str(tmp_path / "labels2.csv")]) == 0
    assert (pd.read_csv(tmp_path / "labels2.csv")["label"] == labels["label"]).all()
    stray = answers.drop(columns="page")
    stray.loc[len(stray)] = [10_000, "w00", "1", 4.0]
    stray.to_csv(tmp_path / "stray.csv", index=False)
    assert main(["label", "aggregate", str(tmp_path / "stray.csv"), "--pool", str(out),
                 "--out", str(tmp_path / "labels3.csv")]) == 2
    assert "'10000' is not a task of" in capsys.readouterr().err and not (tmp_path / "labels3.csv").exists()


def test_export_refuses_other_data_and_leaves_nothing(digits_selection, capsys):
    tmp_path, _ = digits_selection
    np.savez(tmp_path / "other.npz", x=np.zeros((10, 8, 8)), y=np.arange(10) % 2)
    assert main(["label", "export", str(tmp_path / "sel"), "--data", str(tmp_path / "other.npz"),
                 "--out", str(tmp_path / "pool")]) == 2
    assert "computed on other data" in capsys.readouterr().err
    assert not (tmp_path / "pool").exists() and not list(tmp_path.glob(".pool*"))


def test_propagate_merges_sources_and_labels_every_item(digits_selection, capsys):
    tmp_path, truth = digits_selection
    sent = pd.read_csv(tmp_path / "sel" / "selection.csv").query("status == 'send'")["id"].to_numpy()
    crowd = pd.DataFrame({"task": sent, "label": truth[sent], "confidence": 0.9})
    crowd.loc[0, "confidence"] = 0.5  # too unsure: propagated instead
    crowd.to_csv(tmp_path / "labels.csv", index=False)
    args = ["label", "propagate", str(tmp_path / "d.npz"), "--selection", str(tmp_path / "sel"),
            "--labels", str(tmp_path / "labels.csv"), "--no-train"]
    assert main([*args, "--out", str(tmp_path / "final"), "--min-propagated", "0"]) == 0
    merged = pd.read_csv(tmp_path / "final" / "labels.csv").set_index("id")
    assert len(merged) == len(truth) and merged["label"].notna().all()  # threshold 0: every item labeled
    assert (merged.loc[:59, "source"] == "known").all()
    assert (merged.loc[sent[1:], "source"] == "crowd").all() and merged.loc[sent[0], "source"] != "crowd"
    report = json.loads((tmp_path / "final" / "propagate.json").read_text())
    assert sum(report["by_source"].values()) == len(truth) and report["by_source"]["auto"] > 100
    assert (merged["label"].to_numpy() == truth).mean() > 0.9
    # a propagated label needs a confident model; unsure items stay unlabeled
    assert main([*args, "--out", str(tmp_path / "strict"), "--min-propagated", "0.999"]) == 0
    strict = pd.read_csv(tmp_path / "strict" / "labels.csv").set_index("id")
    unlabeled = strict["source"] == "unlabeled"
    assert unlabeled.any() and strict.loc[unlabeled, "label"].isna().all()
    assert (strict.loc[unlabeled, "confidence"] < 0.999).all()
    assert (strict.loc[~unlabeled, "label"].astype(int).to_numpy() == truth[~unlabeled.to_numpy()]).mean() > 0.95
    # a task that is not an item, a label outside the classes
    for bad, message in (({"task": 10_000}, "'10000' is not an item"), ({"label": 7}, "'7' is not one of")):
        crowd.assign(**bad).to_csv(tmp_path / "bad.csv", index=False)
        capsys.readouterr()
        assert main([*args[:6], str(tmp_path / "bad.csv"), "--no-train", "--out", str(tmp_path / "no")]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "no").exists()


def test_dry_run_chains_the_loop_and_scores_each_step(tmp_path, capsys):
    d = load_digits()
    keep = d.target < 3
    np.savez(tmp_path / "d.npz", x=d.images[keep] / 16.0, y=d.target[keep])
    out = tmp_path / "run"
    assert main(["label", "run", str(tmp_path / "d.npz"), "--known", "60", "--budget", "60", "--out", str(out),
                 "--embedding", "pixels", "--page-size", "10", "--training", "5", "--exam", "5",
                 "--propagator", "knn", "--epochs", "3", "--semi", "fixmatch", "--arch", "vgg",
                 "--precision", "float32", "--augment", "shift"]) == 0
    report = json.loads((out / "run.json").read_text())
    final = pd.read_csv(out / "final" / "labels.csv", dtype={"label": str}, keep_default_na=False)
    left = int((final["label"] == "").sum())
    assert report["final"]["unlabeled_items"] == left
    # the items propagation left unlabeled are trained on; none left, no FixMatch
    assert report["final"]["semi_supervised"] == ("fixmatch" if left else "none")
    run = json.loads((out / "final" / "run" / "run.json").read_text())
    assert run["unlabeled_items"] == (left if left else 0)
    assert (run["arch"], run["precision"]) == ("vgg", "float32")  # the network asked for, not auto's CNN
    assert run["options"]["augment"] == "shift"  # --augment reaches the final model
    assert report["selection"]["send"] == 60 and report["pool"]["pages"] == 7  # 60 / 9 per page
    assert report["crowd"]["answers"] == (60 + 7) * 3  # each task and a honeypot per page, thrice
    assert 3 <= report["crowd"]["admitted"] < 30  # the exam let some of the 30 workers in, not all
    assert report["label_accuracy"] > 0.9 and report["accuracy_by_source"]["known"] == 1.0
    assert report["final"]["validation_balanced_accuracy"] > 0.8
    assert (out / "final" / "run" / "model.pt").is_file()
    capsys.readouterr()
    y = d.target[keep].copy()
    y[5] = -1
    np.savez(tmp_path / "partial.npz", x=d.images[keep] / 16.0, y=y)
    assert main(["label", "run", str(tmp_path / "partial.npz"), "--known", "60", "--budget", "60",
                 "--out", str(tmp_path / "no")]) == 2
    assert "1 items without a label" in capsys.readouterr().err and not (tmp_path / "no").exists()
    assert main(["label", "run", str(tmp_path / "d.npz"), "--known", "2", "--budget", "60",
                 "--out", str(tmp_path / "no")]) == 2
    assert "--known 2: expected 3 to" in capsys.readouterr().err and not (tmp_path / "no").exists()


def test_quality_control_during_collection_bans_bad_workers_and_refills_their_pages():
    confusion = make_workers(12, 3, best=0.95, spammers=0.2, seed=2)
    rng = np.random.default_rng(1)
    truth = {f"t{i}": str(rng.integers(3)) for i in range(400)}
    known = {f"g{i}": str(i % 3) for i in range(20)}
    truth.update(known)
    pools = build_pools(list(truth)[:400], pd.Series(known), ExportOptions(page_size=11, training=0, exam=0))
    production = pools[pools["pool"] == "production"]
    gold = production.loc[production["golden"] != ""].drop_duplicates("task").set_index("task")["golden"]
    plain = answer_pages(production, truth, ["0", "1", "2"], confusion, overlap=3, seed=0)
    checked = answer_pages(production, truth, ["0", "1", "2"], confusion, overlap=3, seed=0, gold=gold)
    assert checked.attrs["rejected"] > 0
    assert (checked.groupby("page")["worker"].nunique() == 3).all()  # every page still done thrice
    spammers = {f"w{w:02d}" for w, c in enumerate(confusion) if np.ptp(c.argmax(1)) == 0 and c.max() == 1}
    assert spammers and spammers & set(plain["worker"]) and not spammers & set(checked["worker"])

    def right(answers):
        return (answers["label"] == answers["task"].map(truth)).mean()

    assert right(checked) > right(plain) + 0.1


def test_shrinkage_helps_dawid_skene_when_workers_have_few_answers_per_class():
    from underspec.labeling.aggregate import DawidSkene

    gains = []
    for seed in (0, 1):
        confusion = make_workers(30, 10, seed=seed)
        rng = np.random.default_rng(seed)
        truth = {i: str(rng.integers(10)) for i in range(2000)}
        pages = pd.DataFrame({"task": list(truth), "page": np.arange(2000) // 49})
        answers = answer_pages(pages, truth, [str(c) for c in range(10)], confusion, overlap=3, seed=seed)
        truth_s = pd.Series(truth)
        default = (DawidSkene().fit_predict(answers).sort_index() == truth_s).mean()
        classical = (DawidSkene(shrinkage=0.0).fit_predict(answers).sort_index() == truth_s).mean()
        gains.append(default - classical)
    assert min(gains) > 0 and np.mean(gains) > 0.003  # measured: +0.35 and +0.45 points


def test_the_exam_keeps_spammers_and_weak_workers_out_of_production():
    """Three good workers, three spammers and three who answer at random: with an exam only
    the good ones answer the production pages; without one everybody does."""
    good = np.eye(3) * 0.9 + 0.1 / 3
    confusion = np.stack([good] * 3 + [np.eye(3)[[k] * 3] for k in range(3)] + [np.full((3, 3), 1 / 3)] * 3)
    rng = np.random.default_rng(0)
    truth = {f"t{i}": str(rng.integers(3)) for i in range(60)}
    pages = pd.DataFrame({"task": list(truth), "page": np.arange(60) // 10})
    exam = pd.Series([str(k % 3) for k in range(20)], index=[f"e{k}" for k in range(20)])
    with_exam = answer_pages(pages, truth, ["0", "1", "2"], confusion, overlap=3, seed=0, exam=exam)
    assert set(with_exam["worker"]) == {"w00", "w01", "w02"}
    assert (with_exam.groupby("task")["worker"].nunique() == 3).all()
    table = with_exam.attrs["exam"].set_index("worker")
    assert table["admitted"].tolist() == [True] * 3 + [False] * 6
    assert (table.loc[["w03", "w04", "w05"], "accuracy"] < 0.5).all()
    without = answer_pages(pages, truth, ["0", "1", "2"], confusion, overlap=3, seed=0)
    assert len(set(without["worker"])) > 3 and "exam" not in without.attrs
    with pytest.raises(UnderspecError, match=r"exam: 0 of 6 simulated workers .* expected at least 3"):
        answer_pages(pages, truth, ["0", "1", "2"], confusion[3:], overlap=3, seed=0, exam=exam)


def test_export_never_deletes_a_users_files_in_out(digits_selection, capsys):
    # an existing --out folder used to be replaced wholesale, the user's files with it
    tmp_path, _ = digits_selection
    out = tmp_path / "u"
    out.mkdir()
    (out / "thesis.txt").write_text("years of work\n")
    args = ["label", "export", str(tmp_path / "sel"), "--page-size", "10", "--training", "10", "--exam", "10"]
    assert main([*args, "--out", str(out)]) == 2
    assert "thesis.txt" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]
    assert (out / "thesis.txt").read_text() == "years of work\n"
    pool = tmp_path / "pool"
    assert main([*args, "--out", str(pool)]) == 0
    assert main([*args, "--out", str(pool)]) == 0  # its own earlier export is replaced
    assert (pool / "pool.csv").exists()
