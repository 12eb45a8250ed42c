"""Submit or abstain: estimate the target accuracy of the predictions with an interval.

The target items fall in two parts. Where the hypotheses agree (a share ``1 - d``), the items
look like the labeled distribution, so the accuracy there is measured on held-out labeled
items. Where they disagree (a share ``d``), only bought labels speak, and only those of items
drawn at random among the disputed ones (the *checks*, held out of training): the queries that
told the hypotheses apart went to the items where they are most sure of themselves, where the
chosen one is right far more often than on the disputed part as a whole (on vehicle_animal, 5
of 5 such answers and 0.49 on the disputed part).

The accuracy on the disputed part gets a two-component prior. Either the hypothesis is a real
explanation, and the final model is wrong on about half the disputed items where it differs
from the hypothesis (two estimators of one function that differ on a share ``e`` of items are
wrong on ``e/2`` of them on average, at least), and on a few more (the prior mean is at most
``ceiling``); or the disputed labels are a coin toss (the ``sum`` task, where the two digits
are added and cannot be told apart). Every answer weighs the two, through the posterior of
"none" against the chosen hypothesis (:mod:`underspec.ambiguity.query`); the checks then update
each (beta-binomial). The decision is to submit when the probability that the accuracy beats the
default score reaches ``confidence`` (a bad submission is final, abstaining is not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Decision:
    """Estimated accuracy, its interval, P(accuracy > default) and the decision."""

    estimate: float
    low: float
    high: float
    p_better: float
    decision: str
    disputed_share: float = 0.0
    p_coin: float = 0.0
    checks: tuple[int, int] = (0, 0)
    """Hits of the final model on the disputed checks, and their number."""

    def as_dict(self) -> dict:
        return {"estimated_accuracy": round(self.estimate, 4),
                "interval_90": [round(self.low, 4), round(self.high, 4)],
                "p_better_than_default": round(self.p_better, 4), "decision": self.decision,
                "disputed_share": round(self.disputed_share, 4),
                "p_disputed_labels_random": round(self.p_coin, 4),
                "checks": {"count": self.checks[1], "hits": self.checks[0]}}


def decide(final_proba: np.ndarray, proba: np.ndarray, chosen: int, default_score: float, *,
           checks: dict[int, int] | None = None, holdout: tuple[int, int] = (0, 0),
           coin: float = 0.2, confidence: float = 0.9, strength: float = 4.0,
           ceiling: float = 0.95, seed: int = 0) -> Decision:
    """Estimate the target accuracy of the final predictions and decide whether to submit.

    Parameters
    ----------
    final_proba : ndarray (N, C)
        Probabilities of the final model on the target items (predictions are the argmax),
        including the checked items, which it was not trained on.
    proba : ndarray (n, N, C)
        Class probabilities of each hypothesis on the target items (before any answer).
    chosen : int
        Index of the hypothesis the final model was trained from.
    default_score : float
        Score of the task if nothing is submitted.
    checks : dict, optional
        Target row -> revealed class index, for disputed items drawn uniformly at random and
        held out of the final model's training. Other answers must not be passed: they are not
        a random sample.
    holdout : (int, int)
        Held-out labeled items on which the hypotheses agree: how many the chosen one got
        right, and their number (``(0, 0)``: nothing known, a uniform prior).
    confidence : float
        Required probability that the submission beats the default.
    coin : float
        Probability that the disputed labels are random, from every answer: the posterior
        of "none" against the chosen hypothesis (:class:`HypothesisPosterior`). Under a coin
        toss any disputed label is random, however its item was chosen, so the answers that
        told the hypotheses apart count here, unlike for the accuracy.
    strength : float
        Pseudo-counts of each prior component of the disputed accuracy: low, so that a few
        checks outweigh it.
    ceiling : float
        Largest prior mean of the disputed accuracy when the hypothesis is real: even a real
        explanation misses some disputed items, and a prior piled up near 1 would leave a few
        checks no say.
    seed : int
        Seed of the Monte Carlo draws.

    Returns
    -------
    Decision
    """
    checks = checks or {}
    _, N, C = proba.shape
    pred = final_proba.argmax(1)
    hyp_pred = proba.argmax(-1)
    disputed = (hyp_pred != hyp_pred[:1]).any(0)
    d = float(disputed.mean())
    rng = np.random.default_rng(seed)
    draws = 20000

    right, n_hold = holdout
    agreed = rng.beta(1 + right, 1 + n_hold - right, draws)  # uniform prior

    p_coin, hits, misses = 0.0, 0, 0
    if d > 0:
        asked = [i for i in checks if disputed[i]]
        hits = sum(int(pred[i] == checks[i]) for i in asked)
        misses = len(asked) - hits
        share = float((pred == hyp_pred[chosen])[disputed].mean())
        c = float(np.clip(1 - (1 - share) / 2, 1.0 / C + 0.01, ceiling))
        a = np.array([strength * c, strength / C])
        b = np.array([strength * (1 - c), strength * (1 - 1.0 / C)])
        p_coin = float(np.clip(coin, 0.0, 1.0))
        comp = (rng.random(draws) < p_coin).astype(int)
        on_disputed = rng.beta(a[comp] + hits, b[comp] + misses)
    else:
        on_disputed = np.zeros(draws)
    mean = (1 - d) * agreed + d * on_disputed
    se = np.sqrt(np.clip(mean * (1 - mean), 1e-6, None) / N)
    samples = np.clip(rng.normal(mean, se), 0, 1)
    estimate = float(samples.mean())
    p_better = float((samples > default_score).mean())
    low, high = np.quantile(samples, [0.05, 0.95])
    return Decision(estimate, float(low), float(high), p_better,
                    "submit" if p_better >= confidence else "abstain", d, p_coin, (hits, hits + misses))
