"""Buying labels one at a time: a posterior over hypotheses and the most informative query.

The hypotheses are the competing explanations found by the diverse heads, plus one more,
"none": the labels are not a function any hypothesis captures: where the hypotheses agree they
are right, where they disagree the label looks random (the ``sum`` task, where the two digits
are added and cannot be told apart). Each answer updates the posterior by its likelihood under each
hypothesis, ``(1 - noise) p_h(y|x) + noise / C``; the next query is the unasked target item with
the largest expected information about which hypothesis is right (the mutual information
between its answer and the hypothesis identity).

Those queries tell the hypotheses apart, and for that reason they cannot measure accuracy: they
go to the items where the hypotheses are most sure of themselves. Once one hypothesis is
identified, the labels left are spent on disputed items drawn at random (:meth:`draw_check`),
whose answers are an unbiased sample for the estimate of :func:`~underspec.ambiguity.decide.decide`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

EPS = 1e-12


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    return -(p * np.log(p + EPS)).sum(axis)


def reweigh_none(posterior: np.ndarray, old_prior: float, new_prior: float) -> np.ndarray:
    """A posterior over hypotheses and "none" (last) recomputed as if "none" had started at
    ``new_prior`` instead of ``old_prior`` (the hypotheses sharing the rest equally).

    Bayes' rule rescales each component by its new prior over its old one; the answers'
    likelihoods are unchanged.
    """
    ratio = np.full(len(posterior), (1 - new_prior) / (1 - old_prior))
    ratio[-1] = new_prior / old_prior
    p = np.asarray(posterior, float) * ratio
    return p / p.sum()


def with_noise(proba: np.ndarray, noise: float | np.ndarray) -> np.ndarray:
    """Probabilities of an answer under a reading ``proba`` (last axis: the classes) whose
    answers are wrong with chance ``noise`` whatever it says: ``(1 - noise) p + noise / C``.
    ``noise`` is one number, or one per row of ``proba``'s first axis."""
    noise = np.asarray(noise, float)
    noise = noise.reshape(noise.shape + (1,) * (proba.ndim - noise.ndim))
    return (1 - noise) * proba + noise / proba.shape[-1]


@dataclass
class HypothesisPosterior:
    """Posterior over ``n`` hypotheses and "none", updated by revealed labels.

    Parameters
    ----------
    proba : ndarray (n, N, C)
        Each hypothesis's class probabilities on the N target items.
    none_prior : float
        Prior mass of "none of the hypotheses"; the rest is shared by the hypotheses (equally,
        or in proportion to ``weights``).
    noise : float or ndarray (n,)
        Chance that a revealed label is wrong whatever the hypothesis (labeling noise), or one
        chance per hypothesis (e.g. how often its heads miss held-out labeled items: a hypothesis
        that reads its feature on 87% of the items is not refuted by one answer it was sure of).
    """

    proba: np.ndarray
    none_prior: float = 0.2
    noise: float | np.ndarray = 0.01
    weights: np.ndarray | None = None
    """Prior weight of each hypothesis (default equal); they share ``1 - none_prior``."""
    log_post: np.ndarray = field(init=False)
    asked: list[int] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.proba.shape[0]
        w = np.ones(n) if self.weights is None else np.asarray(self.weights, float)
        prior = np.append((1 - self.none_prior) * w / w.sum(), self.none_prior)
        self.log_post = np.log(prior)

    @property
    def n_classes(self) -> int:
        return self.proba.shape[-1]

    def likelihoods(self) -> np.ndarray:
        """p(answer | x, k) for every hypothesis k (the last is "none"): (n + 1, N, C)."""
        C = self.n_classes
        hyp = with_noise(self.proba, self.noise)
        pred = self.proba.argmax(-1)
        agree = (pred == pred[:1]).all(0)
        none = np.where(agree[:, None], hyp.mean(0), 1.0 / C)[None]
        return np.concatenate([hyp, none])

    @property
    def posterior(self) -> np.ndarray:
        """Posterior probabilities, hypotheses first and "none" last."""
        p = np.exp(self.log_post - self.log_post.max())
        return p / p.sum()

    def posterior_under(self, none_prior: float) -> np.ndarray:
        """The posterior the same answers give when "none" starts at ``none_prior``
        (:func:`reweigh_none`)."""
        return reweigh_none(self.posterior, self.none_prior, none_prior)

    def information(self) -> np.ndarray:
        """Expected information (nats) about the hypothesis from each target item's answer."""
        lik = self.likelihoods()
        post = self.posterior[:, None, None]
        mixture = (post * lik).sum(0)
        info = _entropy(mixture) - (post[:, :, 0] * _entropy(lik)).sum(0)
        info[self.asked] = -np.inf
        return info

    def _turns(self, among: list[int], min_share: float = 0.05, agreed: bool = False) -> list[np.ndarray]:
        """Disputed target rows grouped by disagreement pattern, the pattern whose turn it is first.

        A pattern is the tuple of classes the hypotheses predict (e.g. "A says 3, B says 0" vs
        "A says 0, B says 3"). Turns go to the patterns in proportion to their frequency,
        counting the items of ``among`` already asked; the rare patterns (each under
        ``min_share``) are one pattern together, which gets turns if it is not rare itself (with
        eight hypotheses of four classes nearly every disputed item has a pattern of its own: a
        4-class digits run whose every pattern was rare had no item to check, and stopped after
        two labels). ``agreed``: the items every hypothesis agrees on are one more pattern (every
        target item can then be drawn).
        """
        pred = self.proba.argmax(-1)  # (n, N)
        disputed = (pred != pred[:1]).any(0)
        codes = np.ravel_multi_index(pred, (self.n_classes,) * pred.shape[0])
        if agreed:
            codes = np.where(disputed, codes, -1)
            disputed = np.ones_like(disputed)
        patterns, counts = np.unique(codes[disputed], return_counts=True)
        rare = patterns[counts < min_share * counts.sum()]
        if len(rare) > 1:
            codes = np.where(np.isin(codes, rare), -2, codes)
            patterns, counts = np.unique(codes[disputed], return_counts=True)
        share = counts / counts.sum()
        keep = share >= min_share
        patterns, share = patterns[keep], share[keep] / share[keep].sum()
        done = np.array([np.isin(codes[among], p).sum() for p in patterns])
        order = np.argsort(-(share * (len(among) + 1) - done), kind="stable")
        unasked = np.ones(len(codes), dtype=bool)
        unasked[self.asked] = False
        return [np.flatnonzero(disputed & unasked & (codes == patterns[k])) for k in order]

    def next_query(self) -> int:
        """The unasked target item that best tells the hypotheses apart.

        Queries are spread over the disagreement patterns (:meth:`_turns`), and within the
        pattern whose turn it is the most informative item is asked: a hypothesis that is right
        in one direction only (the ``sum`` task) is then caught rather than confirmed five times.
        """
        info = self.information()
        if self.proba.shape[0] >= 2:
            for candidates in self._turns(self.asked):
                if len(candidates):
                    return int(candidates[np.argmax(info[candidates])])
        return int(np.argmax(info))

    def draw_check(self, rng: np.random.Generator, checked: list[int], agreed: bool = False) -> int | None:
        """A disputed target item drawn at random among the unasked ones (None if none is left).

        The draws are stratified: the pattern whose turn it is among the ``checked`` items
        (:meth:`_turns`), then an item uniformly within it. Proportional allocation keeps the
        sample representative of the disputed part, and a hypothesis that is wrong in one
        direction is checked in that direction. ``agreed``: the items the hypotheses agree on
        are a stratum too (a check there weighs the held-out estimate of that part).
        """
        for candidates in self._turns(checked, agreed=agreed):
            if len(candidates):
                return int(rng.choice(candidates))
        return None

    def update(self, item: int, answer_index: int) -> None:
        """Take the revealed class index of target item ``item`` into account."""
        self.log_post = self.log_post + np.log(self.likelihoods()[:, item, answer_index])
        self.asked.append(int(item))
        self.answers.append(int(answer_index))

    def identified(self, level: float = 0.95) -> bool:
        """True when one hypothesis has posterior ``level`` among the hypotheses alone.

        "None" is left out: which explanation to keep is settled, whether it explains the
        disputed items is what the checks then measure.
        """
        p = self.posterior[:-1]
        return bool(p.max() >= level * p.sum())

    def certain(self, level: float = 0.99) -> bool:
        """True when one hypothesis (not "none") has posterior at least ``level``."""
        return bool(self.posterior[:-1].max() >= level)


def buy_labels(post: HypothesisPosterior, reveal: Callable[[int], int | None], budget: int,
               rng: np.random.Generator, *, ambiguous: bool, checks: bool = True,
               verify: bool = True, min_checks: int = 1, check_agreed: bool = False,
               tell_apart: bool = True) -> dict[int, int]:
    """Spend up to ``budget`` labels; return the *checks* (target row -> class index).

    Ambiguous task: queries that tell the hypotheses apart until one is identified, then checks
    (:meth:`HypothesisPosterior.draw_check`); the last ``min_checks`` labels are checks whatever
    the posterior, so that the estimate never rests on its prior alone (constant_image,
    generation seed 2: all five labels told apart two blended hypotheses, the estimate said
    0.92, the truth was 0.50).
    Unambiguous task (``verify``): every label checks a target item drawn uniformly at random,
    since a shortcut every head took hides from the hypotheses, not from random checks.

    Parameters
    ----------
    post : HypothesisPosterior
        Updated with every answer.
    reveal : callable
        Target row -> revealed class index, or None once the budget is spent.
    budget : int
        Labels available.
    rng : Generator
        Draws the checks.
    ambiguous : bool
        Whether more than one hypothesis fits the labeled data.
    checks : bool
        Draw checks once a hypothesis is identified (False: stop when one is certain).
    verify : bool
        Check random target items when the task is not ambiguous (False: buy nothing).
    min_checks : int
        Labels kept for checks however the telling apart goes.
    check_agreed : bool
        Draw the checks of an ambiguous task over every target item, the agreed ones included
        (an experiment: see ``SolveSettings.check_agreed``).
    tell_apart : bool
        Ask the most informative items until one hypothesis is identified (False: every label
        is a check from the start, and the checks alone tell the hypotheses apart; an
        experiment: see ``SolveSettings.tell_apart``).
    """
    drawn: dict[int, int] = {}
    n_target = post.proba.shape[1]
    spent = 0
    while spent < budget:
        if not ambiguous:
            check, item = True, (int(rng.choice(np.setdiff1d(np.arange(n_target), post.asked)))
                                 if verify and len(post.asked) < n_target else None)
        elif checks or not post.certain():
            check = checks and (not tell_apart or post.identified() or budget - spent <= min_checks - len(drawn))
            item = post.draw_check(rng, list(drawn), check_agreed) if check else post.next_query()
        else:
            break
        answer = None if item is None else reveal(item)
        if answer is None:
            break
        spent += 1
        post.update(item, answer)
        if check:
            drawn[item] = answer
    return drawn
