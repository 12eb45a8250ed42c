"""Submit or abstain: estimate the target accuracy of the predictions with an interval.

If the chosen hypothesis is right, the expected accuracy of the final predictions is the final
model's mean confidence; if another hypothesis k is right, it is the share of items where the
predictions agree with k; under "none" it is the final model's confidence on the items where all
hypotheses agree and chance (1/C) on the disputed ones. The estimate mixes these by the
posterior, each with its binomial sampling error. The decision is to submit when the probability
that the accuracy beats the default score reaches ``confidence`` (a bad submission is final,
abstaining is not).
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

    def as_dict(self) -> dict:
        return {"estimated_accuracy": round(self.estimate, 4),
                "interval_90": [round(self.low, 4), round(self.high, 4)],
                "p_better_than_default": round(self.p_better, 4), "decision": self.decision}


def decide(final_proba: np.ndarray, proba: np.ndarray, posterior: np.ndarray, chosen: int,
           default_score: float, *, confidence: float = 0.9, seed: int = 0) -> Decision:
    """Estimate target accuracy of ``pred`` and decide whether to submit.

    Parameters
    ----------
    final_proba : ndarray (N, C)
        Probabilities of the final model on the target items (predictions are the argmax).
    proba : ndarray (n, N, C)
        Class probabilities of each hypothesis on the target items.
    posterior : ndarray (n + 1,)
        Posterior over the hypotheses and "none" (last).
    chosen : int
        Index of the hypothesis the final model was trained from.
    default_score : float
        Score of the task if nothing is submitted.
    confidence : float
        Required probability that the submission beats the default.
    """
    _, N, C = proba.shape
    pred = final_proba.argmax(1)
    conf = final_proba.max(1)
    per_hyp = (proba.argmax(-1) == pred[None]).mean(1)
    per_hyp[chosen] = conf.mean()
    agree = (proba.argmax(-1) == pred[None]).all(0)
    none_acc = float(np.where(agree, conf, 1.0 / C).mean())
    means = np.append(per_hyp, none_acc)
    rng = np.random.default_rng(seed)
    draws = 20000
    comp = rng.choice(len(means), size=draws, p=posterior / posterior.sum())
    se = np.sqrt(np.clip(means * (1 - means), 1e-6, None) / N) + 0.005
    samples = np.clip(rng.normal(means[comp], se[comp]), 0, 1)
    estimate = float((posterior * means).sum() / posterior.sum())
    p_better = float((samples > default_score).mean())
    low, high = np.quantile(samples, [0.05, 0.95])
    return Decision(estimate, float(low), float(high), p_better,
                    "submit" if p_better >= confidence else "abstain")
