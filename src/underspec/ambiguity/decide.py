"""Submit or abstain: estimate the target accuracy of the predictions with an interval.

The target items fall in two parts. Where the hypotheses agree (a share ``1 - d``), the items
look like the labeled distribution, so the accuracy there is measured on held-out labeled
items. Where they disagree (a share ``d``), only the bought labels speak: each queried item is
a disputed one, and the chosen hypothesis either predicted its answer or not. The accuracy on
the disputed part gets a two-component prior. Either the hypothesis is a real explanation,
and the final model is wrong on about half the disputed items where it differs from the
hypothesis (two estimators of one function that differ on a share ``e`` of items are wrong on
``e/2`` of them on average, at least); or the disputed labels are a coin toss (the ``sum``
task, where the two digits are added and cannot be told apart). The answers weigh the two
(beta-binomial evidence) and update each. The decision is to submit when the probability that the accuracy
beats the default score reaches ``confidence`` (a bad submission is final, abstaining is not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln


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

    def as_dict(self) -> dict:
        return {"estimated_accuracy": round(self.estimate, 4),
                "interval_90": [round(self.low, 4), round(self.high, 4)],
                "p_better_than_default": round(self.p_better, 4), "decision": self.decision,
                "disputed_share": round(self.disputed_share, 4),
                "p_disputed_labels_random": round(self.p_coin, 4)}


def decide(final_proba: np.ndarray, proba: np.ndarray, chosen: int, default_score: float, *,
           queries: dict[int, int] | None = None, holdout: tuple[int, int] = (0, 0),
           confidence: float = 0.9, coin_prior: float = 0.2, strength: float = 10.0,
           seed: int = 0) -> Decision:
    """Estimate the target accuracy of the final predictions and decide whether to submit.

    Parameters
    ----------
    final_proba : ndarray (N, C)
        Probabilities of the final model on the target items (predictions are the argmax).
    proba : ndarray (n, N, C)
        Class probabilities of each hypothesis on the target items (before any answer).
    chosen : int
        Index of the hypothesis the final model was trained from.
    default_score : float
        Score of the task if nothing is submitted.
    queries : dict, optional
        Target row -> revealed class index.
    holdout : (int, int)
        Held-out labeled items on which the hypotheses agree: how many the chosen one got
        right, and their number (``(0, 0)``: nothing known, a uniform prior).
    confidence : float
        Required probability that the submission beats the default.
    coin_prior : float
        Prior probability that the disputed labels are random.
    strength : float
        Pseudo-counts of each prior component of the disputed accuracy.
    seed : int
        Seed of the Monte Carlo draws.

    Returns
    -------
    Decision
    """
    queries = queries or {}
    _, N, C = proba.shape
    pred = final_proba.argmax(1)
    hyp_pred = proba.argmax(-1)
    disputed = (hyp_pred != hyp_pred[:1]).any(0)
    d = float(disputed.mean())
    rng = np.random.default_rng(seed)
    draws = 20000

    right, n_hold = holdout
    agreed = rng.beta(1 + right, 1 + n_hold - right, draws)  # uniform prior

    p_coin = 0.0
    if d > 0:
        asked = [i for i in queries if disputed[i]]
        hits = sum(int(hyp_pred[chosen, i] == queries[i]) for i in asked)
        misses = len(asked) - hits
        share = float((pred == hyp_pred[chosen])[disputed].mean())
        c = float(np.clip(1 - (1 - share) / 2, 1.0 / C + 0.01, 0.999))
        a = np.array([strength * c, strength / C])
        b = np.array([strength * (1 - c), strength * (1 - 1.0 / C)])
        log_w = (np.log([1 - coin_prior, coin_prior]) + betaln(a + hits, b + misses)
                 - betaln(a, b))
        w = np.exp(log_w - log_w.max())
        w /= w.sum()
        p_coin = float(w[1])
        comp = rng.choice(2, size=draws, p=w)
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
                    "submit" if p_better >= confidence else "abstain", d, p_coin)
