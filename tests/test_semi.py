"""Semi-supervised training (FixMatch): the objective, and what the unlabeled items buy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

from underspec.data.image_sets import ImageSet
from underspec.data.items import ItemTable
from underspec.errors import UnderspecError
from underspec.models.fit import Batch, weighted_ce
from underspec.models.networks import MultiHeadNet
from underspec.models.semi import FixMatch
from underspec.pipelines.train import TrainOptions, predict, train


def _digits(per_class: int, seed: int = 0):
    """Digits with ``per_class`` labels per class among 1,297 items, and 500 test items."""
    d = load_digits()
    X, y = (d.images / 16.0)[:, None].astype(np.float32), d.target
    order = np.random.default_rng(0).permutation(len(y))
    test, rest = order[:500], order[500:]
    rng = np.random.default_rng(seed)
    labels = np.full(len(rest), -1)
    for c in range(10):
        labels[rng.choice(np.flatnonzero(y[rest] == c), per_class, replace=False)] = c
    table = pd.DataFrame({"id": rest.astype(str), "split": "train", "label": labels})
    test_table = pd.DataFrame({"id": test.astype(str), "split": "test", "label": y[test]})
    return (ImageSet(ItemTable(X[rest], table), list(range(10)), source="digits"),
            ImageSet(ItemTable(X[test], test_table), list(range(10)), source="digits test"), y[test])


def test_fixmatch_adds_the_confident_unlabeled_items_and_nothing_else():
    torch.manual_seed(0)
    model = MultiHeadNet((1, 8, 8), 10).eval()  # no dropout: the same views give the same outputs
    x, pool = torch.rand(16, 1, 8, 8), torch.rand(16, 1, 8, 8)
    batch = Batch(x, torch.randint(0, 10, (16,)), torch.ones(16), pool=pool)
    identity = lambda v, g: v  # noqa: E731
    never = FixMatch(identity, identity, threshold=1.01)
    assert float(never(model, batch)) == pytest.approx(float(weighted_ce(model, batch)))
    assert never.mask_rates == [0.0]
    always = FixMatch(identity, identity, threshold=0.0)
    with torch.no_grad():  # the same views: the unlabeled term is -log p(argmax), > 0
        p = torch.softmax(model(pool)[:, 0], -1)
        expected = float(weighted_ce(model, batch)) - float(torch.log(p.max(1).values).mean())
        assert float(always(model, batch)) == pytest.approx(expected, rel=1e-5)
    assert always.mask_rates == [1.0]


def test_unlabeled_items_raise_the_accuracy_of_a_network_with_few_labels(tmp_path):
    data, test, y_test = _digits(per_class=10)
    accuracy = {}
    for semi, epochs in (("none", 300), ("fixmatch", 30)):  # about 600 steps each
        train(data, tmp_path / semi, TrainOptions(epochs=epochs, patience=1000, augment="auto", valid_share=0.2,
                                                  semi_supervised=semi, progress=False))
        accuracy[semi] = float((predict(test, tmp_path / semi)["label"].to_numpy().astype(int) == y_test).mean())
    record = json.loads((tmp_path / "fixmatch" / "run.json").read_text())
    assert record["unlabeled_items"] == int((data.table["label"] < 0).sum())
    assert 0.3 < record["unlabeled_used_last_epoch"] <= 1.0
    assert accuracy["fixmatch"] > accuracy["none"] + 0.03, accuracy


def test_fixmatch_refuses_data_without_unlabeled_items_and_other_settings(tmp_path):
    data, _, _ = _digits(per_class=10)
    labeled = data.rows(data.table["label"].to_numpy() >= 0)
    with pytest.raises(UnderspecError, match="needs unlabeled items"):
        train(labeled, tmp_path / "a", TrainOptions(epochs=1, semi_supervised="fixmatch", progress=False))
    with pytest.raises(UnderspecError, match="expected one of none, fixmatch"):
        train(data, tmp_path / "b", TrainOptions(epochs=1, semi_supervised="mixmatch", progress=False))
    with pytest.raises(UnderspecError, match="pseudo_threshold: expected a number"):
        train(data, tmp_path / "c", TrainOptions(epochs=1, semi_supervised="fixmatch", pseudo_threshold=1.5,
                                                 progress=False))
    assert not any((tmp_path / name).exists() for name in "abc")


def test_a_semi_supervised_embedding_puts_unlabeled_items_nearer_their_class():
    from sklearn.neighbors import KNeighborsClassifier

    from underspec.pipelines.labeling import embeddings

    data, _, _ = _digits(per_class=5)
    labels = data.table["label"].to_numpy()
    truth = load_digits().target[data.table["id"].astype(int).to_numpy()]
    accuracy = {}
    for method in ("supervised", "semi-supervised"):
        emb = embeddings(data, method, None, seed=0)
        knn = KNeighborsClassifier(5).fit(emb[labels >= 0], labels[labels >= 0])
        accuracy[method] = float((knn.predict(emb[labels < 0]) == truth[labels < 0]).mean())
    assert accuracy["semi-supervised"] > accuracy["supervised"] + 0.04, accuracy
