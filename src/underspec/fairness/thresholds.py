"""Post-processing: per-group decision thresholds on the positive-class score, fitted under a
fairness constraint on validation items (fairlearn's ``ThresholdOptimizer``), kept as plain
JSON with the run and applied by ``underspec predict``.

The fitted thresholds are one object, :class:`GroupThresholds`, whatever fitted them. Each
group's :class:`Rule` is randomised as fairlearn's are: a ``mix`` of threshold comparisons
drawn with their probabilities (fairlearn's two, ``p0`` / ``p1``), and the score ignored with
probability ``p_ignore``; the draw is seeded, so the same items get the same decisions.

Exact equalized odds pulls every group down to the worst group's ROC curve. With a
``tolerance`` (the largest TPR and FPR gap allowed between groups, which fairlearn does not
relax for equalized odds) the thresholds come from :func:`relaxed_equalized_odds`, a linear
programme, whose mix has as many thresholds as the programme needs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from underspec.data.groups import group_labels
from underspec.errors import UnderspecError

CONSTRAINTS = ("equalized_odds", "true_positive_rate_parity", "demographic_parity",
               "false_positive_rate_parity")
ALIASES = {"equal_opportunity": "true_positive_rate_parity"}


class ScoreEstimator(BaseEstimator):
    """A prefit "estimator" whose prediction is the score it is given (fairlearn wants one)."""

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X, y):  # never called: prefit
        return self

    def predict(self, X):
        return np.asarray(X)[:, 0]


def group_keys(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The group of each item (intersection of ``columns``), as an array."""
    return group_labels(table, columns).to_numpy()


POOLED = "(pooled small groups)"


def pool_small_groups(y_binary: np.ndarray, groups: np.ndarray, min_count: int) -> tuple[np.ndarray, list[str]]:
    """Groups with fewer than ``min_count`` items of either class share one rule (a group with
    a single class has no ROC curve to pick a threshold from)."""
    groups = np.asarray(groups).astype(str)
    small = [g for g in np.unique(groups)
             if min(np.sum((groups == g) & (y_binary == 1)), np.sum((groups == g) & (y_binary == 0))) < min_count]
    return np.where(np.isin(groups, small), POOLED, groups), small


def relaxed_equalized_odds(score: np.ndarray, y_binary: np.ndarray, groups: np.ndarray,
                           tolerance: float, *, constrained: np.ndarray | None = None
                           ) -> tuple[dict[str, list[tuple[float, float]]], float]:
    """Per-group randomised thresholds with the best balanced accuracy under a TPR and FPR gap
    of at most ``tolerance`` between groups (Hardt et al. 2016, relaxed), on these items.

    A linear programme (HiGHS): each group's (FPR, TPR) is a convex mix of the points of its
    ROC curve (one per distinct score, plus "never" and "always"); every constrained group's
    TPR lies in [t, t + tolerance] and its FPR in [f, f + tolerance], t and f free.

    Parameters
    ----------
    score : ndarray (N,)
        Positive-class scores; an item is positive under threshold c when ``score >= c``.
    y_binary : ndarray (N,)
        True labels, 0 or 1.
    groups : ndarray (N,)
        Group of each item.
    tolerance : float
        Largest TPR gap and largest FPR gap allowed between constrained groups.
    constrained : ndarray of bool, optional
        Per group of ``np.unique(groups)``, whether the gaps bind it (default: all).

    Returns
    -------
    rules : dict
        Group -> list of (threshold, probability), the probabilities summing to 1.
    balanced_accuracy : float
        The expected balanced accuracy of the rules on these items.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    y_binary = np.asarray(y_binary)
    P, N = max(int((y_binary == 1).sum()), 1), max(int((y_binary == 0).sum()), 1)
    names = np.unique(groups)
    constrained = np.ones(len(names), bool) if constrained is None else np.asarray(constrained)
    def share_at_or_above(values: np.ndarray, c: np.ndarray) -> np.ndarray:
        ordered = np.sort(values)
        return (len(ordered) - np.searchsorted(ordered, c, side="left")) / max(len(ordered), 1)

    cost, cuts, tprs, fprs, owner, counts = [], [], [], [], [], []
    for g, name in enumerate(names):
        inside = groups == name
        pos, neg = score[inside & (y_binary == 1)], score[inside & (y_binary == 0)]
        c = np.r_[np.inf, np.unique(score[inside])[::-1], -np.inf]
        tpr, fpr = share_at_or_above(pos, c), share_at_or_above(neg, c)
        cost.append(-0.5 * (len(pos) * tpr / P - len(neg) * fpr / N))
        cuts.append(c)
        tprs.append(tpr)
        fprs.append(fpr)
        owner.append(np.full(len(c), g))
        counts.append((len(pos), len(neg)))
    cost, cut, tpr, fpr, owner = map(np.concatenate, (cost, cuts, tprs, fprs, owner))
    n = len(cost)  # then the two free lower bounds t and f
    rows, cols, vals, rhs = [], [], [], []
    for g in np.flatnonzero(constrained):
        mine = np.flatnonzero(owner == g)
        for rate, low, present in ((tpr, n, counts[g][0]), (fpr, n + 1, counts[g][1])):
            for sign, bound in ((1, tolerance), (-1, 0.0)) if present else ():
                rows += [len(rhs)] * (len(mine) + 1)  # sign * (rate - low) <= bound
                cols += [*mine, low]
                vals += [*(sign * rate[mine]), -sign]
                rhs.append(bound)
    result = linprog(np.r_[cost, 0.0, 0.0],
                     A_ub=coo_matrix((vals, (rows, cols)), shape=(len(rhs), n + 2)) if rhs else None,
                     b_ub=rhs or None,
                     A_eq=coo_matrix((np.ones(n), (owner, np.arange(n))), shape=(len(names), n + 2)),
                     b_eq=np.ones(len(names)), bounds=[(0, None)] * n + [(0, 1), (0, 1)], method="highs")
    if not result.success:
        raise UnderspecError(f"relaxed equalized odds: the linear programme failed ({result.message})")
    weight = result.x[:n]
    rules = {}
    for g, name in enumerate(names):
        mine = np.flatnonzero((owner == g) & (weight > 1e-9))
        total = weight[mine].sum()
        rules[str(name)] = [(float(cut[i]), float(weight[i] / total)) for i in mine]
    return rules, 0.5 + float(-result.fun)


def fit_thresholds(score: np.ndarray, y_binary: np.ndarray, groups: np.ndarray, *,
                   constraint: str = "equalized_odds", seed: int = 0, min_count: int = 5,
                   tolerance: float = 0.0) -> GroupThresholds:
    """Fit the per-group rules. Groups with fewer than
    ``min_count`` validation items of a class are pooled into one rule (listed as ``pooled``;
    if even the pool is that small, they follow the largest group's rule: ``pooled_rule``).
    ``tolerance`` relaxes the constraint: the largest gap allowed between groups (0: exact)."""
    from fairlearn.postprocessing import ThresholdOptimizer

    constraint = ALIASES.get(constraint, constraint)
    if constraint not in CONSTRAINTS:
        raise UnderspecError(f"constraint: expected one of {', '.join(CONSTRAINTS)} or equal_opportunity, "
                             f"got {constraint!r}")
    if not 0 <= tolerance < 1:
        raise UnderspecError(f"tolerance: expected a gap in [0, 1), got {tolerance}")
    groups, pooled = pool_small_groups(y_binary, groups, min_count)
    shared = POOLED
    in_pool = groups == POOLED
    if in_pool.any() and min(np.sum(y_binary[in_pool] == 1), np.sum(y_binary[in_pool] == 0)) < min_count:
        # even together the small groups cannot be fitted: they follow the largest group
        keep = ~in_pool
        values, counts = np.unique(groups[keep], return_counts=True)
        shared = str(values[counts.argmax()])
        score, y_binary, groups = score[keep], y_binary[keep], groups[keep]
    if constraint == "equalized_odds" and tolerance > 0:
        mixes, _ = relaxed_equalized_odds(np.asarray(score, float), y_binary, groups, tolerance)
        rules = {g: Rule([(">=", t, p) for t, p in mix]) for g, mix in mixes.items()}
    else:
        optimiser = ThresholdOptimizer(estimator=ScoreEstimator(), constraints=constraint, prefit=True,
                                       predict_method="predict", objective="balanced_accuracy_score",
                                       tol=tolerance or None)
        optimiser.fit(np.asarray(score, float)[:, None], y_binary, sensitive_features=groups)
        rules = {str(group): Rule([(b.operation0.operator, float(b.operation0.threshold), float(b.p0)),
                                   (b.operation1.operator, float(b.operation1.threshold), float(b.p1))],
                                  float(b.get("p_ignore", 0.0)), float(b.get("prediction_constant", 0.0)))
                 for group, b in optimiser.interpolated_thresholder_.interpolation_dict.items()}
    return GroupThresholds(constraint, tolerance, seed, rules, pooled, shared)


def _finite(threshold: float) -> float | str:
    """Thresholds as JSON numbers; the infinite ones (always / never) as the strings "inf"."""
    t = float(threshold)
    return t if np.isfinite(t) else ("inf" if t > 0 else "-inf")


@dataclass
class Rule:
    """One group's randomised decision for the positive class: comparison ``k`` of ``mix``
    (``operator``, ``threshold``, ``probability``; operators ``>``, ``>=``, ``<``) drawn with
    its probability; with probability ``p_ignore`` the score is ignored and the decision is
    positive with probability ``constant``."""

    mix: list[tuple[str, float, float]]
    p_ignore: float = 0.0
    constant: float = 0.0

    def decide(self, score: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """0/1 decisions of items with ``score``, given three uniform draws per item (3, n)."""
        operators = [op for op, _, _ in self.mix]
        cuts = np.array([float(t) for _, t, _ in self.mix])
        chosen = np.minimum(np.searchsorted(np.cumsum([p for _, _, p in self.mix]), draws[0], side="right"),
                            len(cuts) - 1)
        cut = cuts[chosen]
        above = np.select([np.array(operators)[chosen] == ">", np.array(operators)[chosen] == ">="],
                          [score > cut, score >= cut], score < cut)
        return np.where(draws[1] < self.p_ignore, draws[2] < self.constant, above).astype(int)


@dataclass
class GroupThresholds:
    """Fitted per-group rules (:func:`fit_thresholds`); ``pooled`` groups follow the rule
    ``pooled_rule``. ``groups``, ``positive_index``, ``negative_index`` and ``fitted_on`` say
    what a run's post-processing was fitted for (set by ``underspec postprocess``)."""

    constraint: str
    tolerance: float
    seed: int
    rules: dict[str, Rule]
    pooled: list[str] = field(default_factory=list)
    pooled_rule: str = POOLED
    groups: list[str] = field(default_factory=list)
    positive_index: int = 1
    negative_index: int = 0
    fitted_on: int = 0

    def decide(self, score: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """0/1 decisions for the positive class (seeded draws)."""
        draws = np.random.default_rng(self.seed).random((3, len(score)))
        out = np.zeros(len(score), int)
        for group in np.unique(groups):
            rule = self.rules.get(str(group))
            if rule is None and str(group) in self.pooled:
                rule = self.rules[self.pooled_rule]
            if rule is None:
                raise UnderspecError(f"group {group!r} was not seen when the thresholds were fitted; "
                                     f"known: {', '.join(self.rules)}")
            m = groups == group
            out[m] = rule.decide(np.asarray(score)[m], draws[:, m])
        return out

    def apply(self, proba: np.ndarray, table: pd.DataFrame) -> np.ndarray:
        """Class indices after post-processing: the positive class where the rule says so,
        else the negative class (binary runs)."""
        decision = self.decide(proba[:, self.positive_index], group_keys(table, self.groups))
        return np.where(decision == 1, self.positive_index, self.negative_index)

    def to_dict(self) -> dict:
        """The JSON document of ``thresholds.json`` (infinite thresholds as "inf" / "-inf")."""
        document = asdict(self)
        document["rules"] = {g: {"mix": [[op, _finite(t), p] for op, t, p in r.mix], "p_ignore": r.p_ignore,
                                 "constant": r.constant} for g, r in self.rules.items()}
        return document

    @classmethod
    def from_dict(cls, document: dict) -> GroupThresholds:
        """A ``thresholds.json`` read back."""
        try:
            rules = {g: Rule([(op, float(t), float(p)) for op, t, p in r["mix"]], float(r["p_ignore"]),
                             float(r["constant"])) for g, r in document["rules"].items()}
            fields_ = {k: document[k] for k in cls.__dataclass_fields__ if k in document and k != "rules"}
            return cls(rules=rules, **fields_)
        except (KeyError, TypeError, ValueError) as exc:
            raise UnderspecError(f"thresholds: not a document of underspec postprocess ({exc!r}); "
                                 "run it again") from exc


def decide(thresholds: GroupThresholds | dict, score: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """0/1 decisions for the positive class under fitted thresholds (a :class:`GroupThresholds`
    or its ``thresholds.json`` document); :meth:`GroupThresholds.decide` as a function."""
    if isinstance(thresholds, dict):
        thresholds = GroupThresholds.from_dict(thresholds)
    return thresholds.decide(np.asarray(score), np.asarray(groups))
