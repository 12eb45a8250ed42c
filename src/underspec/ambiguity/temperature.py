"""A hypothesis's confidence made to match its accuracy on held-out labeled items.

The posterior over hypotheses (:class:`~underspec.ambiguity.query.HypothesisPosterior`) reads
each hypothesis's class probabilities as the chance of each answer. A head trained with the
diversity term is often far less sure than it is right: on the digits calibration runs the
best hypothesis scored 0.974 on the target items with a mean top probability of 0.847. An
answer then moves the posterior little, and the most informative items are where the right
hypothesis says about 0.5, that is, the items it most often gets wrong (digits ``cc``, a frame
shortcut, generation seed 8: the right hypothesis, 0.975 on the target items, said 0.45-0.55
on both items asked to tell it apart from the frame's, got both wrong, and five labels left the
posterior at 0.47 / 0.39 for the frame).

The remedy tried here is the temperature of Guo et al. (2017), fitted so that the mean top
probability on the held-out labeled items equals the accuracy there (Laplace-smoothed: 36 of 36
right reads 37 / 38), the criterion of "average confidence" (Guillory et al. 2021) turned into
a fit. It is **off** by default (``SolveSettings.calibrate_hypotheses``): over the 161 digits
variants it sharpened flat heads 20- to 30-fold, which then decided ties between hypotheses that
agree on every item asked, and made 2 wrong submissions
(``bench/results/settings-ab-calibrated-posterior-variants.md``). What fixed seed 8 is the
choice of the head that speaks for a hypothesis (``find_hypotheses(sharpest_first=True)``).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def with_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities ``p`` turned into ``p ** (1 / T)``, normalised over the last axis."""
    logp = np.log(np.clip(proba, EPS, 1.0)) / temperature
    logp -= logp.max(-1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(-1, keepdims=True)


def fit_temperature(proba: np.ndarray, y: np.ndarray, *, low: float = 0.01, high: float = 20.0,
                    steps: int = 40) -> float:
    """The temperature at which the mean top probability of ``proba`` equals the accuracy.

    Parameters
    ----------
    proba : ndarray (N, C)
        Class probabilities of one hypothesis on held-out labeled items.
    y : ndarray (N,)
        Their class indices.
    low, high : float
        Range searched (below 1 sharpens, above 1 softens).
    steps : int
        Bisection steps (on the logarithm of the temperature).

    Returns
    -------
    float
        1.0 when there are no items.
    """
    if len(y) == 0:
        return 1.0
    target = ((proba.argmax(-1) == y).sum() + 1) / (len(y) + 2)
    lo, hi = np.log(low), np.log(high)
    for _ in range(steps):  # the mean top probability falls as the temperature rises
        mid = (lo + hi) / 2
        if with_temperature(proba, float(np.exp(mid))).max(-1).mean() > target:
            lo = mid
        else:
            hi = mid
    return float(np.exp((lo + hi) / 2))
