"""Training with mitigations, prediction, evaluation against fairlearn, and thresholds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

from underspec.cli import main
from underspec.data.image_sets import load_image_set
from underspec.errors import UnderspecError
from underspec.fairness.metrics import evaluate, hter
from underspec.fairness.thresholds import GroupThresholds, Rule, fit_thresholds, relaxed_equalized_odds
from underspec.mitigate.weights import class_weights, reweighing
from underspec.models.fit import Batch
from underspec.models.group_dro import GroupDRO
from underspec.pipelines.train import TrainOptions, load_run, predict, train


@pytest.fixture(scope="module")
def binary_npz(tmp_path_factory):
    d = load_digits()
    rng = np.random.default_rng(0)
    keep = d.target < 2
    x, y = d.images[keep] / 16.0, d.target[keep]
    path = tmp_path_factory.mktemp("data") / "b.npz"
    np.savez(path, x=x, y=y, sex=rng.integers(0, 2, len(y)))
    return path


def test_reweighing_makes_label_and_group_independent():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    w = reweighing(y, g)
    # P(g=0)=1/2, P(y=1)=1/2, P(g=0, y=1)=1/8 -> weight 2 for that item
    assert w[3] == pytest.approx(0.5 * 0.5 / (1 / 8))
    assert w[0] == pytest.approx(0.5 * 0.5 / (3 / 8))
    for group in (0, 1):
        m = g == group
        assert np.sum(w[m] * (y[m] == 1)) / np.sum(w[m]) == pytest.approx(0.5)
    cw = class_weights(np.array([0, 0, 0, 1]))
    assert cw[:3].sum() == pytest.approx(cw[3])


def test_group_dro_moves_weight_to_the_group_with_the_higher_loss():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Unflatten(1, (1, 2)))
    x = torch.randn(8, 2)
    y = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(model(x)[:, 0], y, reduction="none")
    g = (loss > loss.median()).long()  # group 1 holds the items with the higher losses
    dro = GroupDRO(2, step_size=1.0)
    total = dro(model, Batch(x, y, torch.ones(8), g=g))
    assert dro.q[1] > dro.q[0] and dro.q.sum() == pytest.approx(1.0)
    assert total.requires_grad


def test_train_keeps_the_best_epoch_and_predict_writes_probabilities(binary_npz, tmp_path):
    data = load_image_set(binary_npz)
    ckpt, score = train(data, tmp_path / "run", TrainOptions(epochs=6, patience=2, progress=False))
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert ckpt.is_file() and score == pytest.approx(record["best_valid_balanced_accuracy"], abs=1e-4)
    assert score > 0.9
    assert (record["arch"], record["precision"]) == ("cnn", "float32")  # auto, resolved for grey 8x8 digits
    assert record["device"] in ("cpu", "cuda")
    assert record["best_epoch"] == max(range(len(record["history"])),
                                       key=lambda e: (record["history"][e]["valid_balanced_accuracy"], -e))
    frame = predict(data, tmp_path / "run")
    assert list(frame.columns) == ["id", "label", "p_0", "p_1"]
    assert np.allclose(frame[["p_0", "p_1"]].sum(axis=1), 1, atol=1e-5)
    valid = frame["id"].isin(record["valid_ids"]).to_numpy()
    y = data.table["label"].to_numpy()
    recomputed = np.mean([(frame["label"].to_numpy()[valid & (y == c)] == c).mean() for c in (0, 1)])
    assert recomputed == pytest.approx(score, abs=1e-4)  # the saved weights are the best epoch's
    import underspec.pipelines.train as module

    with pytest.MonkeyPatch.context() as patch:  # in shards (tasks): the same predictions
        patch.setattr(module, "PREDICT_SHARD", 7)
        sharded = predict(data, tmp_path / "run")
    assert (sharded["label"] == frame["label"]).all()
    assert np.allclose(sharded[["p_0", "p_1"]], frame[["p_0", "p_1"]], atol=1e-6)
    again, _ = train(data, tmp_path / "run2", TrainOptions(epochs=1, init=str(ckpt), progress=False))
    assert again.is_file()
    with pytest.raises(UnderspecError, match="no such file"):
        train(data, tmp_path / "run3", TrainOptions(epochs=1, init=str(tmp_path / "none.pt"), progress=False))


def test_issue_and_ood_mitigations_use_the_audit_findings(binary_npz, tmp_path):
    data = load_image_set(binary_npz)
    findings = tmp_path / "findings.json"
    items = [{"id": i, "is_issue": i < 10, "score": 0.1, "predicted": "1"} for i in range(len(data.table))]
    findings.write_text(json.dumps({"label_issues": {"summary": {}, "items": items},
                                    "outliers": {"summary": {}, "items": items}}))
    train(data, tmp_path / "base", TrainOptions(epochs=1, progress=False))
    train(data, tmp_path / "drop", TrainOptions(epochs=1, issues=str(findings), progress=False))
    n_base = json.loads((tmp_path / "base" / "run.json").read_text())["train_items"]
    n_drop = json.loads((tmp_path / "drop" / "run.json").read_text())["train_items"]
    valid = set(json.loads((tmp_path / "base" / "run.json").read_text())["valid_ids"])
    assert n_base - n_drop == len(set(range(10)) - valid)
    train(data, tmp_path / "ood", TrainOptions(epochs=1, ood_findings=str(findings), progress=False))
    _, record = load_run(tmp_path / "ood")
    assert record["outputs"] == ["0", "1", "out_of_distribution"]
    assert "p_out_of_distribution" in predict(data, tmp_path / "ood").columns


def test_group_metrics_match_fairlearn_and_hand_computed_values():
    from fairlearn.metrics import (
        MetricFrame,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.8, y, 1 - y)
    table = pd.DataFrame({"sex": rng.integers(0, 2, n), "age": rng.integers(0, 3, n)})
    result = evaluate(y, pred, table, ["sex", "age"], classes=[0, 1], n_boot=50)
    frame = MetricFrame(metrics={"tpr": true_positive_rate, "fpr": false_positive_rate,
                                 "selection_rate": selection_rate},
                        y_true=y, y_pred=pred, sensitive_features=table["sex"].astype(str))
    ours = pd.DataFrame(result["by_group"]["sex"]["groups"]).set_index("group")
    for metric in ("tpr", "fpr", "selection_rate"):
        assert np.allclose(ours[metric], frame.by_group[metric].loc[ours.index])
    assert result["by_group"]["sex"]["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, pred, sensitive_features=table["sex"]))
    assert "sex x age" in result["by_group"] and len(result["by_group"]["sex x age"]["groups"]) == 6
    row = result["by_group"]["sex"]["groups"][0]
    assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"]
    far = np.mean(pred[y == 0] == 1)
    frr = np.mean(pred[y == 1] == 0)
    assert hter(y, pred, 1) == pytest.approx((far + frr) / 2)


def test_thresholds_reduce_a_planted_gap():
    rng = np.random.default_rng(1)
    n = 4000
    g = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n)
    score = np.clip(0.5 * y + 0.25 + rng.normal(0, 0.15, n) + 0.2 * g, 0, 1)  # group 1 scored higher
    fit_half, test_half = np.arange(n) < n // 2, np.arange(n) >= n // 2
    rules = fit_thresholds(score[fit_half], y[fit_half], g[fit_half].astype(str), constraint="equalized_odds")

    def gap(decision):
        yt, gt = y[test_half], g[test_half]
        fpr = [decision[(gt == k) & (yt == 0)].mean() for k in (0, 1)]
        tpr = [decision[(gt == k) & (yt == 1)].mean() for k in (0, 1)]
        return max(abs(fpr[0] - fpr[1]), abs(tpr[0] - tpr[1]))

    plain = (score[test_half] > 0.5).astype(int)
    fair = rules.decide(score[test_half], g[test_half].astype(str))
    assert gap(plain) > 0.2 and gap(fair) < 0.5 * gap(plain)
    assert np.array_equal(fair, rules.decide(score[test_half], g[test_half].astype(str)))  # seeded
    # one object, whichever fitted it: fairlearn's two-threshold rules are a mix of two comparisons
    assert all(isinstance(r, Rule) and len(r.mix) == 2 for r in rules.rules.values())
    again = GroupThresholds.from_dict(json.loads(json.dumps(rules.to_dict())))
    assert np.array_equal(fair, again.decide(score[test_half], g[test_half].astype(str)))


def _rates(mix, score, y):
    """Expected (TPR, FPR) of a mix of thresholds on these items."""
    tpr = sum(p * (score[y == 1] >= float(t)).mean() for t, p in mix)
    fpr = sum(p * (score[y == 0] >= float(t)).mean() for t, p in mix)
    return tpr, fpr


def test_relaxed_equalized_odds_keeps_the_gap_and_trades_less_accuracy():
    rng = np.random.default_rng(2)
    n = 3000
    g = rng.choice(["easy", "hard"], n)
    y = rng.integers(0, 2, n)
    separation = np.where(g == "hard", 0.1, 0.35)  # the hard group's ROC curve is much lower
    score = np.clip(0.5 + separation * (2 * y - 1) + rng.normal(0, 0.15, n), 0, 1)
    gaps, accuracies = [], []
    for tolerance in (0.02, 0.1, 0.3):
        rules, balanced = relaxed_equalized_odds(score, y, g, tolerance)
        rates = [_rates(rules[k], score[g == k], y[g == k]) for k in ("easy", "hard")]
        gaps.append(max(abs(rates[0][0] - rates[1][0]), abs(rates[0][1] - rates[1][1])))
        accuracies.append(balanced)
        assert gaps[-1] <= tolerance + 1e-6
        assert all(abs(sum(p for _, p in mix) - 1) < 1e-9 for mix in rules.values())
    assert accuracies[0] < accuracies[1] < accuracies[2]  # a looser gap buys accuracy
    # with no binding gap it is at least as good as one threshold for everybody
    plain = score >= 0.5
    plain_balanced = 0.5 * (plain[y == 1].mean() + 1 - plain[y == 0].mean())
    assert relaxed_equalized_odds(score, y, g, 0.99)[1] >= plain_balanced - 1e-9
    # fitted and applied through the JSON rules, the decisions follow the mix
    thresholds = fit_thresholds(score, y, g, constraint="equalized_odds", tolerance=0.1)
    assert thresholds.tolerance == 0.1 and {op for op, _, _ in thresholds.rules["hard"].mix} == {">="}
    decision = thresholds.decide(score, g)
    for k in ("easy", "hard"):
        expected = _rates([(t, p) for _, t, p in thresholds.rules[k].mix], score[g == k], y[g == k])
        observed = (decision[(g == k) & (y == 1)].mean(), decision[(g == k) & (y == 0)].mean())
        assert np.allclose(observed, expected, atol=0.05)
    with pytest.raises(UnderspecError, match="tolerance"):
        fit_thresholds(score, y, g, tolerance=1.5)


def test_cli_train_predict_evaluate_postprocess_and_bad_input(binary_npz, tmp_path, capsys):
    run, preds, report = tmp_path / "run", tmp_path / "p.csv", tmp_path / "eval"
    assert main(["train", str(binary_npz), "--out", str(run), "--epochs", "2", "--class-weights",
                 "--reweigh", "sex"]) == 0
    assert main(["predict", str(binary_npz), "--run", str(run), "--out", str(preds)]) == 0
    assert main(["evaluate", str(preds), str(binary_npz), "--groups", "sex", "--out", str(report),
                 "--bootstrap", "20"]) == 0
    result = json.loads((report / "evaluation.json").read_text())
    assert set(result["by_group"]) == {"sex"} and result["overall"]["n"] == len(pd.read_csv(preds))
    assert (report / "evaluation.html").read_text().count("data:image/png;base64,") >= 4
    assert main(["postprocess", str(binary_npz), "--run", str(run), "--groups", "sex"]) == 0
    assert json.loads((run / "thresholds.json").read_text())["constraint"] == "equalized_odds"
    assert main(["postprocess", str(binary_npz), "--run", str(run), "--groups", "sex", "--tolerance", "0.1"]) == 0
    relaxed = json.loads((run / "thresholds.json").read_text())
    assert relaxed["tolerance"] == 0.1 and all(op == ">=" for r in relaxed["rules"].values() for op, _, _ in r["mix"])
    assert main(["predict", str(binary_npz), "--run", str(run), "--out", str(tmp_path / "p2.csv")]) == 0
    bad = tmp_path / "bad.csv"
    pd.read_csv(preds).assign(label=7).to_csv(bad, index=False)
    capsys.readouterr()
    assert main(["evaluate", str(bad), str(binary_npz), "--out", str(tmp_path / "no")]) == 2
    assert "row 1, column 'label': '7' is not one of the classes" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
    assert main(["train", str(binary_npz), "--out", str(tmp_path / "r"), "--group-dro", "age"]) == 2
    capsys.readouterr()
    assert main(["train", str(binary_npz), "--out", str(tmp_path / "r"), "--semi", "fixmatch"]) == 2
    err = capsys.readouterr().err
    assert "--semi fixmatch: " in err and "needs unlabeled items" in err and not (tmp_path / "r").exists()
    z = dict(np.load(binary_npz))
    z["y"] = np.where(np.arange(len(z["y"])) % 3 == 0, z["y"], -1)  # two thirds unlabeled
    np.savez(tmp_path / "few.npz", **z)
    assert main(["train", str(tmp_path / "few.npz"), "--out", str(tmp_path / "semi"), "--epochs", "1",
                 "--semi", "fixmatch", "--pseudo-threshold", "0.9"]) == 0
    record = json.loads((tmp_path / "semi" / "run.json").read_text())
    assert record["options"]["pseudo_threshold"] == 0.9 and record["unlabeled_items"] == int((z["y"] < 0).sum())


def test_groups_with_one_class_share_a_pooled_rule():
    rng = np.random.default_rng(2)
    n = 600
    g = rng.integers(0, 2, n).astype(str)
    y = rng.integers(0, 2, n)
    g[:8], y[:8] = "tiny", 1  # a group with positives only
    score = np.clip(0.5 * y + 0.25 + rng.normal(0, 0.2, n), 0, 1)
    rules = fit_thresholds(score, y, g, constraint="equalized_odds")
    assert rules.pooled == ["tiny"] and "tiny" not in rules.rules
    assert set(rules.decide(score[:8], g[:8])) <= {0, 1}
    with pytest.raises(UnderspecError, match="not seen"):
        rules.decide(score[:3], np.array(["new"] * 3))


def test_small_groups_count_as_in_fairlearn_and_are_named():
    rng = np.random.default_rng(5)
    n = 300
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.9, y, 1 - y)
    site = np.where(np.arange(n) < 4, "rare", rng.choice(["a", "b"], n))
    result = evaluate(y, pred, pd.DataFrame({"site": site}), ["site"], classes=[0, 1], n_boot=20)
    rows = {g["group"]: g for g in result["by_group"]["site"]["groups"]}
    assert rows["rare"]["too_small"] and rows["rare"]["size"] == 4 and np.isnan(rows["rare"]["accuracy_low"])
    assert not rows["a"]["too_small"]
    measured = [rows[g]["tpr"] for g in ("a", "b", "rare")]  # every group counts, as in fairlearn
    grouping = result["by_group"]["site"]
    assert grouping["equal_opportunity_difference"] == pytest.approx(max(measured) - min(measured))
    assert grouping["small_groups"] == ["rare"]


def test_a_group_without_positives_has_tpr_0_and_is_named():
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    pred = np.array([1, 0, 0, 1, 1, 0, 1, 0])
    result = evaluate(y, pred, pd.DataFrame({"g": list("aaaabbcc")}), ["g"], classes=[0, 1], min_count=1, n_boot=5)
    grouping = result["by_group"]["g"]
    rows = {g["group"]: g for g in grouping["groups"]}
    assert rows["c"]["tpr"] == 0.0 and rows["c"]["positives"] == 0  # fairlearn's convention, not NaN
    assert grouping["groups_without_positives"] == ["c"]
    assert grouping["equal_opportunity_difference"] == pytest.approx(1.0)  # b: 1.0, c: 0.0


@pytest.mark.parametrize(("arch", "shape"), [("vgg", (3, 32, 32)), ("resnet18", (3, 64, 64)),
                                             ("auto", (1, 8, 8)), ("auto", (1, 64, 64))])
def test_every_architecture_gives_one_logit_per_class(arch, shape):
    from underspec.models.networks import MultiHeadNet

    net = MultiHeadNet(shape, 3, arch=arch).eval()
    with torch.no_grad():
        out = net(torch.rand(2, *shape))
    assert out.shape == (2, 1, 3) and torch.isfinite(out).all()
    uses_resnet = any(type(m).__name__ == "BasicBlock" for m in net.modules())
    assert uses_resnet == (arch == "resnet18" or (arch == "auto" and shape[1] >= 64))


def test_postprocess_says_which_groups_were_pooled(binary_npz, tmp_path, capsys):
    data = dict(np.load(binary_npz))
    site = np.where(np.arange(len(data["y"])) % 40 == 0, "tiny", "big")  # 'tiny': a few items of each class
    np.savez(tmp_path / "s.npz", **data, site=site)
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "s.npz"), "--out", str(run), "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(["postprocess", str(tmp_path / "s.npz"), "--run", str(run), "--groups", "site"]) == 0
    out = capsys.readouterr().out
    document = json.loads((run / "thresholds.json").read_text())
    assert document["pooled"] == ["tiny"] and "the groups tiny pooled: too few items" in out
    assert f"{run}/thresholds.json" in out and "//" not in out


def test_train_on_a_representation_reads_new_images_through_the_saved_transformer(tmp_path, capsys):
    """``train --representation``: an MLP on patch features fitted on every item; ``predict``
    on other images uses the saved transformer (refitting it on them would move every feature)."""
    from tests.test_representation import stripes

    X, y = stripes(160, side=32)
    pixels = (X.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
    np.savez(tmp_path / "train.npz", x=pixels, y=y)
    np.savez(tmp_path / "new.npz", x=pixels[:40][::-1], y=y[:40][::-1])
    assert main(["train", str(tmp_path / "train.npz"), "--out", str(tmp_path / "run"), "--epochs", "15",
                 "--representation", "patches-fast", "--seed", "0"]) == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["representation"] == "patches-fast" and record["best_valid_balanced_accuracy"] > 0.9
    _, loaded = load_run(tmp_path / "run")
    assert loaded["input_shape"] == [3, 32, 32] and loaded["transformer"].input_shape_ == (3, 32, 32)
    every = predict(load_image_set(tmp_path / "train.npz"), tmp_path / "run")
    new = predict(load_image_set(tmp_path / "new.npz"), tmp_path / "run")
    assert np.allclose(new["p_1"].to_numpy(), every["p_1"].to_numpy()[:40][::-1], atol=1e-5)
    assert (new["label"].to_numpy() == y[:40][::-1]).mean() > 0.9
    np.savez(tmp_path / "small.npz", x=pixels[:10, :16, :16], y=y[:10])
    with pytest.raises(UnderspecError, match="expects"):
        predict(load_image_set(tmp_path / "small.npz", resize=False), tmp_path / "run")
    assert main(["train", str(tmp_path / "train.npz"), "--out", str(tmp_path / "bad"),
                 "--representation", "simclr"]) == 2
    assert not (tmp_path / "bad").exists()


def test_a_linear_network_on_images_is_refused_and_nothing_is_written(binary_npz, tmp_path, capsys):
    assert main(["train", str(binary_npz), "--out", str(tmp_path / "lin"), "--arch", "linear", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "linear is for vectors" in err and str(binary_npz) in err and not (tmp_path / "lin").exists()


def test_predict_averages_the_test_views_of_the_runs_augmentation(binary_npz, tmp_path):
    """A network trained with shifts predicts as its classifier does: the mean over the item and
    its four one-pixel moves (before, ``predict`` read the item alone: on CIFAR-4 with 6,000
    labels a VGG trained with the strong augmentation read 0.8735 that way, 0.8875 with the views)."""
    from underspec.models.augment import prediction_views
    from underspec.models.fit import predict_proba

    data = load_image_set(binary_npz)
    train(data, tmp_path / "run", TrainOptions(epochs=2, augment="shift", progress=False))
    frame = predict(data, tmp_path / "run")
    model, record = load_run(tmp_path / "run")
    assert record["options"]["augment"] == "shift"
    X = data.network_items
    views = prediction_views("shift", X)
    assert len(views) == 5
    alone = predict_proba(model, X)[:, 0]
    averaged = np.mean([predict_proba(model, view(X))[:, 0] for view in views], axis=0)
    assert np.allclose(frame[["p_0", "p_1"]].to_numpy(), averaged, atol=1e-5)
    assert not np.allclose(frame[["p_0", "p_1"]].to_numpy(), alone, atol=1e-3)
