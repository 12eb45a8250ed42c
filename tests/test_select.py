"""Selection of the items worth labeling: easy items are labeled automatically, ambiguous ones
are sent, within the budget."""

from __future__ import annotations

import numpy as np
import pytest

from underspec.errors import UnderspecError
from underspec.labeling.select import SelectOptions, holdout_accuracy, select


def blobs(seed=0):
    """Two classes in well separated blobs of an 8-D, positive (ReLU-like) embedding: 10
    labeled items each, 400 easy unlabeled items near the blob centres and 20 ambiguous ones
    half-way between them."""
    rng = np.random.default_rng(seed)
    centres = 4.0 + 6.0 * np.eye(8)[:2]
    labeled = np.concatenate([centres[c] + rng.normal(0, 0.7, (10, 8)) for c in (0, 1)])
    easy_y = rng.integers(0, 2, 400)
    easy = centres[easy_y] + rng.normal(0, 0.7, (400, 8))
    ambiguous = centres.mean(0) + rng.normal(0, 0.4, (20, 8))
    emb = np.concatenate([labeled, easy, ambiguous])
    labels = np.concatenate([np.repeat([0, 1], 10), np.full(420, -1)])
    return emb, labels, easy_y


def test_easy_items_are_labeled_and_ambiguous_ones_sent():
    emb, labels, easy_y = blobs()
    result = select(emb, labels, budget=20, n_classes=2)
    rows = result.set_index("row")
    ambiguous = np.arange(420, 440)
    easy = np.arange(20, 420)
    sent = rows.index[rows["status"] == "send"]
    assert len(sent) == 20
    assert len(set(sent) & set(ambiguous)) >= 15  # the budget goes to the ambiguous middle
    auto = rows.loc[easy][rows.loc[easy, "status"] == "auto"]
    assert len(auto) > 300
    assert (auto["auto_label"].to_numpy() == easy_y[auto.index - 20]).mean() > 0.99
    assert (rows.loc[ambiguous, "status"] != "auto").all()


def test_holdout_estimates_the_accuracy_of_automatic_labels():
    emb, labels, easy_y = blobs(seed=1)
    full = labels.copy()
    full[20:420] = easy_y  # more known labels to hide
    estimate = holdout_accuracy(emb, full, 2, share=0.3)
    assert estimate["hidden"] == round(0.3 * 420) and estimate["auto_labeled"] > 50
    assert estimate["accuracy"] > 0.95


def test_a_budget_larger_than_the_pool_is_refused():
    emb, labels, _ = blobs()
    with pytest.raises(UnderspecError, match="budget 500: expected 0 to 420"):
        select(emb, labels, budget=500, n_classes=2)


def test_extra_clusters_without_labels_mark_an_uncovered_region():
    from underspec.labeling.select import SelectOptions

    emb, labels, _ = blobs()
    far = 4.0 + 6.0 * np.eye(8)[2] + np.random.default_rng(3).normal(0, 0.5, (30, 8))  # no label here
    emb = np.concatenate([emb, far])
    labels = np.concatenate([labels, np.full(30, -1)])
    rows = select(emb, labels, 0, 2, SelectOptions(clusters=25)).set_index("row")
    new = rows.loc[np.arange(440, 470)]
    assert (new["kmeans_label"] == -1).mean() > 0.9 and (new["status"] != "auto").all()


def test_label_select_command_writes_the_selection_and_report(tmp_path, capsys):
    import json

    import pandas as pd
    from sklearn.datasets import load_digits

    from underspec.cli import main

    d = load_digits()
    keep = d.target < 3
    x, y = d.images[keep] / 16.0, d.target[keep].copy()
    y[60:] = -1  # 60 labeled items, the rest to label
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = tmp_path / "sel"
    args = ["label", "select", str(tmp_path / "d.npz"), "--budget", "40", "--out", str(out),
            "--embedding", "pixels", "--cache", str(tmp_path / "cache")]
    assert main(args) == 0
    table = pd.read_csv(out / "selection.csv")
    assert len(table) == keep.sum() - 60 and (table["status"] == "send").sum() == 40
    summary = json.loads((out / "selection.json").read_text())
    assert summary["auto"] + summary["send"] + summary["problematic_over_budget"] == len(table)
    auto = table[table["status"] == "auto"]
    truth = d.target[keep][auto["id"].to_numpy()]
    assert len(auto) > 100 and (auto["auto_label"].to_numpy() == truth).mean() > 0.95
    report = (out / "report.html").read_text()
    assert "data:image/png;base64," in report
    assert f"{keep.sum()} items, 60 labeled; budget 40: <b>40</b> to send" in " ".join(report.split())
    assert len(list((tmp_path / "cache").glob("embedding-pixels-*.npy"))) == 1
    capsys.readouterr()
    assert main([*args[:3], "--budget", "10000", "--out", str(tmp_path / "no")]) == 2
    assert "--budget 10000: expected 0 to" in capsys.readouterr().err and not (tmp_path / "no").exists()


def test_diversity_spreads_the_budget_over_doubtful_regions():
    from underspec.labeling.select import diverse_order

    rng = np.random.default_rng(0)
    # two tight regions of 30 equally doubtful items; region a is a little more valuable
    emb = np.concatenate([rng.normal(0, 0.1, (30, 2)), 10 + rng.normal(0, 0.1, (30, 2))])
    value = np.concatenate([np.full(30, 1.0), np.full(30, 0.9)]) + rng.uniform(0, 1e-3, 60)
    from sklearn.neighbors import NearestNeighbors

    near = NearestNeighbors(n_neighbors=6).fit(emb).kneighbors(emb, return_distance=False)[:, 1:]
    plain = diverse_order(value, near, np.arange(60), factor=1.0)[:10]
    spread = diverse_order(value, near, np.arange(60), factor=0.5)[:10]
    assert (plain < 30).all()  # without the diversity term, one region takes the whole budget
    assert 2 <= (spread >= 30).sum() <= 8
    assert sorted(diverse_order(value, near, np.arange(60), 0.5)) == list(range(60))  # each ranked once


def test_linear_rank_values_the_items_on_the_propagators_boundary_most():
    from underspec.labeling.select import label_value

    rng = np.random.default_rng(0)
    labeled = np.concatenate([rng.normal(-3, 0.5, (10, 2)), rng.normal(3, 0.5, (10, 2))])
    y = np.repeat([0, 1], 10)
    line = np.linspace(-3, 3, 61)
    pool = np.stack([line, line], 1)  # crosses the boundary at 0
    near = np.zeros((61, 1), dtype=int)
    value = label_value(labeled, y, pool, near, np.zeros(61), 2, rank="linear")
    assert abs(line[value.argmax()]) < 0.5
    order = np.argsort(-value)
    assert (np.abs(line[order[:10]]) < np.abs(line[order[-10:]]).min()).all()  # nearer the boundary, sent first
    with pytest.raises(UnderspecError, match="rank"):
        select(*blobs()[:2], budget=5, n_classes=2, options=SelectOptions(rank="margin"))


def test_linear_propagator_chooses_its_regularisation_by_cross_validation():
    from sklearn.datasets import load_digits

    from underspec.labeling.select import linear_proba

    d = load_digits()
    keep = d.target < 3
    X, y = d.data[keep], d.target[keep]  # 60 labels of 64 pixels: C = 0.01 underfits
    fixed = (linear_proba(X[:60], y[:60], X[60:], 3, C=0.01).argmax(1) == y[60:]).mean()
    chosen = (linear_proba(X[:60], y[:60], X[60:], 3).argmax(1) == y[60:]).mean()
    assert chosen > 0.88 and chosen > fixed + 0.05


def test_the_knn_grid_from_one_search_per_metric_is_scikit_learns_grid():
    """One neighbour search per metric for the whole grid gives the probabilities and votes of
    the 12 scikit-learn classifiers, distance weights and exact duplicates included."""
    from sklearn.neighbors import KNeighborsClassifier

    from underspec.labeling.select import KNN_GRID, knn_ensemble

    rng = np.random.default_rng(0)
    emb_labeled, y = rng.normal(size=(60, 6)), rng.integers(0, 3, 60)
    emb = np.concatenate([rng.normal(size=(200, 6)), emb_labeled[:5]])  # 5 at distance 0 of a labeled item
    votes, proba = knn_ensemble(emb_labeled, y, emb, 4)
    smallest = np.bincount(y).min()
    expected, expected_votes = np.zeros((len(emb), 4)), np.zeros((len(emb), 4))
    for k, metric, weights in KNN_GRID:
        model = KNeighborsClassifier(n_neighbors=min(k, smallest), metric=metric, weights=weights).fit(emb_labeled, y)
        p = model.predict_proba(emb)
        expected[:, :3] += p
        expected_votes[np.arange(len(emb)), p.argmax(1)] += 1
    assert np.allclose(proba, expected / len(KNN_GRID))
    assert np.array_equal(votes, expected_votes / len(KNN_GRID))


def test_kmeans_clusters_are_capped_where_many_items_are_labeled(monkeypatch):
    """One cluster per labeled item made the k-means grow with the square of the items; past
    MAX_CLUSTERS labeled items, that many clusters, seeded by a draw of them."""
    import underspec.labeling.select as module

    made = []

    class Spy(module.KMeans):
        def fit_predict(self, X, y=None, sample_weight=None):
            made.append(self.n_clusters)
            return super().fit_predict(X)

    monkeypatch.setattr(module, "KMeans", Spy)
    monkeypatch.setattr(module, "MAX_CLUSTERS", 6)
    emb, labels, easy_y = blobs()
    result = select(emb, labels, budget=5, n_classes=2)
    assert made == [6]
    auto = result["status"] == "auto"
    assert (result.loc[auto, "auto_label"].to_numpy() == easy_y[result.loc[auto, "row"].to_numpy()[
        result.loc[auto, "row"].to_numpy() < 420] - 20]).mean() > 0.95


def test_a_large_wide_embedding_is_selected_on_its_principal_components(monkeypatch):
    import underspec.labeling.select as module
    from underspec.labeling.select import neighbourhood_space

    rng = np.random.default_rng(0)
    emb = (rng.normal(size=(300, 3)) @ rng.normal(size=(3, 20)) + 0.01 * rng.normal(size=(300, 20))).astype(np.float32)
    assert neighbourhood_space(emb) is emb  # small sets are left as they are
    monkeypatch.setattr(module, "REDUCE_FROM_ITEMS", 100)
    monkeypatch.setattr(module, "NEIGHBOURHOOD_DIMENSIONS", 3)
    reduced = neighbourhood_space(emb)
    assert reduced.shape == (300, 3) and reduced.dtype == np.float32
    centred = emb - emb.mean(0)
    distances = np.linalg.norm(centred[:, None] - centred[None], axis=2)
    kept = np.linalg.norm(reduced[:, None] - reduced[None], axis=2)
    assert np.corrcoef(distances.ravel(), kept.ravel())[0, 1] > 0.999


def test_label_select_of_images_from_files_never_makes_their_float32_copy(tmp_path, monkeypatch):
    """The embedding's cache key and the patch representation read the uint8 pixels in blocks:
    at 100,000 images of 64 px the float32 copy alone is 4.9 GB."""
    from PIL import Image

    from underspec.cli import main
    from underspec.data.image_sets import ImageSet

    rng = np.random.default_rng(0)
    (tmp_path / "set").mkdir()
    rows = []
    for k in range(60):
        label = k % 2
        Image.fromarray(rng.integers(0, 80, (16, 16, 3), dtype=np.uint8) + np.uint8(120 * label)).save(
            tmp_path / "set" / f"im{k}.png")
        rows.append(f"im{k}.png,{label if k < 20 else ''}\n")
    (tmp_path / "set" / "labels.csv").write_text("path,label\n" + "".join(rows))

    def refused(self):
        raise AssertionError("the whole float32 copy was made")

    monkeypatch.setattr(ImageSet, "X", property(refused))
    assert main(["label", "select", str(tmp_path / "set"), "--budget", "5", "--out", str(tmp_path / "out"),
                 "--cache", str(tmp_path / "cache")]) == 0
    assert len((tmp_path / "out" / "selection.csv").read_text().splitlines()) == 41
