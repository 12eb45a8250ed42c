import numpy as np
import pytest

from underspec.ambiguity.cuts import best_cut_bimodality, bimodality, cut_bimodality
from underspec.ambiguity.query import HypothesisPosterior


def _crowds(n=200, gap=8.0, seed=0):
    """Two crowds of items in 10 dimensions, ``gap`` apart on the first axis."""
    rng = np.random.default_rng(seed)
    side = np.arange(n) % 2
    X = rng.normal(size=(n, 10))
    X[:, 0] += gap * side
    return X, side


def test_two_humps_score_above_five_ninths_one_hump_below():
    rng = np.random.default_rng(0)
    assert bimodality(np.r_[rng.normal(-3, 1, 300), rng.normal(3, 1, 300)]) > 5 / 9
    assert bimodality(rng.normal(size=600)) < 0.4
    assert np.isnan(bimodality(np.ones(10)))


def test_a_cut_along_a_gap_is_bimodal_a_cut_through_one_crowd_is_not():
    X, side = _crowds()
    assert cut_bimodality(X, side) > 5 / 9  # the hypothesis follows the two crowds
    one_crowd = X[side == 0]
    halves = (one_crowd[:, 1] > 0).astype(int)  # a hypothesis that cuts one crowd in two
    assert cut_bimodality(one_crowd, halves) < 0.5
    assert cut_bimodality(X[:8], side[:8]) is None  # too few items to fit and measure


def test_best_cut_takes_the_most_bimodal_hypothesis_on_the_disputed_items_only():
    X, side = _crowds()
    cut_crowd = (X[:, 1] > 0).astype(int)
    agreed = np.zeros(len(X), bool)
    agreed[:20] = True  # items every hypothesis puts in class 0 are not measured
    preds = np.stack([np.where(agreed, 0, side), np.where(agreed, 0, 1 - side)])
    assert best_cut_bimodality(X, preds) == pytest.approx(cut_bimodality(X[~agreed], side[~agreed]))
    gapless = np.stack([np.where(agreed, 0, cut_crowd), np.where(agreed, 0, 1 - cut_crowd)])
    assert best_cut_bimodality(X[side == 0], gapless[:, side == 0]) < 0.5
    assert best_cut_bimodality(X, np.zeros((2, len(X)), int)) is None  # nothing disputed


def test_posterior_under_another_none_prior_is_bayes_with_that_prior():
    p = np.full((2, 40, 2), 0.01)
    p[:, :, 0] = 0.99
    p[1, 1::2] = [0.01, 0.99]
    answers = {1: 1, 3: 0, 5: 1}
    posts = [HypothesisPosterior(p, none_prior=prior) for prior in (0.2, 0.8)]
    for post in posts:
        for item, answer in answers.items():
            post.update(item, answer)
    np.testing.assert_allclose(posts[0].posterior_under(0.8), posts[1].posterior, atol=1e-12)
    assert posts[0].posterior_under(0.8)[-1] > posts[0].posterior[-1]
