"""Diverse hypotheses: heads that all fit the labeled set but disagree on the unlabeled pool.

The objective is that of "Diversify and Disambiguate" (Lee et al., 2022): cross-entropy of every
head on labeled items, plus the mutual information between the predictions of each pair of heads
on unlabeled items (driven to zero: the heads become independent functions), plus a KL term that
keeps each head's average prediction on the pool near the labeled class prior (so that no head
escapes the mutual-information term by predicting one class everywhere).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from underspec.constraints import COUNT, NON_NEGATIVE, POSITIVE, SEED, Number, validate
from underspec.errors import UnderspecError
from underspec.models.classifier import checked_items
from underspec.models.fit import Batch, fit, predict_proba, weighted_ce
from underspec.models.networks import MultiHeadNet

EPS = 1e-8


def pairwise_mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Mean mutual information between the predictions of every pair of heads.

    Parameters
    ----------
    probs : Tensor (B, H, C)
        Class probabilities of H heads on a batch of B items.

    Returns
    -------
    Tensor
        Scalar: the mean over pairs i < j of I(head_i; head_j), estimated on the batch.
    """
    B, H, _ = probs.shape
    if H < 2:
        return probs.sum() * 0.0
    joint = torch.einsum("bhc,bgd->hgcd", probs, probs) / B  # (H, H, C, C)
    marg = probs.mean(0)  # (H, C)
    indep = torch.einsum("hc,gd->hgcd", marg, marg)
    mi = (joint * (torch.log(joint + EPS) - torch.log(indep + EPS))).sum((-1, -2))  # (H, H)
    i, j = torch.triu_indices(H, H, offset=1)
    return mi[i, j].mean()


def marginal_kl(probs: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Sum over heads of KL(mean prediction on the batch || prior)."""
    marg = probs.mean(0)  # (H, C)
    return (marg * (torch.log(marg + EPS) - torch.log(prior + EPS))).sum()


def diversity_objective(prior: np.ndarray, diversity_weight: float, prior_weight: float):
    """The DivDis objective as a callable for :func:`underspec.models.fit.fit`."""
    prior_t = torch.as_tensor(prior, dtype=torch.float32)

    def objective(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        loss = weighted_ce(model, batch)
        probs = torch.softmax(model(batch.pool), -1)
        return (loss + diversity_weight * pairwise_mutual_information(probs)
                + prior_weight * marginal_kl(probs, prior_t.to(probs.device)))

    return objective


def holdout_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The labeled items :class:`DiverseHeads` holds out (about ``share`` of ``n``, at least 30
    and at most a third) and those it trains on, as sorted indices."""
    n_hold = min(n // 3, max(30, int(round(share * n))))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_hold]), np.sort(order[n_hold:])


def align_heads(votes: np.ndarray, reference: np.ndarray) -> list[int]:
    """The order of ``votes``' heads that best matches the heads of ``reference``.

    Parameters
    ----------
    votes, reference : ndarray (N, H)
        Predicted class indices of H heads of two trainings on the same items.

    Returns
    -------
    list of int
        ``perm`` such that head ``perm[k]`` of ``votes`` is the counterpart of head ``k`` of
        ``reference`` (the permutation with the most agreement, summed over heads).
    """
    agree = (votes[:, :, None] == reference[:, None, :]).mean(0)  # (H own, H reference)
    own, ref = linear_sum_assignment(agree, maximize=True)
    return [int(o) for _, o in sorted(zip(ref, own, strict=True))]


class DiverseHeads(BaseEstimator):
    """Several hypotheses that fit the labeled set and disagree as much as possible elsewhere.

    A scikit-learn estimator: ``fit(X, y, X_unlabeled)``, then
    ``predict_proba(X)`` gives one probability table per head, shape (N, n_heads, n_classes).

    Parameters
    ----------
    n_heads : int
        Number of heads (hypotheses) trained jointly on a shared trunk.
    diversity_weight : float
        Weight of the pairwise mutual information on the pool.
    prior_weight : float
        Weight of the KL between each head's mean pool prediction and the labeled class prior.
    epochs : float
        Passes over the pool.
    batch_size, lr, weight_decay : optimiser settings (a larger weight decay keeps a head
        from memorising the labeled items, which small MLPs on vectors otherwise do).
    holdout : float
        Share of labeled items kept out of the cross-entropy and put into the pool; the heads'
        disagreement there measures how much they disagree on the labeled distribution itself.
    n_restarts : int
        Independent trainings, combined: one run often leaves one head half-learnt (it
        memorises the labeled items instead), and the average of matched heads over runs is
        better than any single run. The heads of every run are matched to those of the most
        central run (the one that agrees most with the others on the pool); runs that agree with
        it ``restart_tolerance`` less than the best other run does (failed runs, with blended
        heads) are dropped, and the rest are averaged.
    restart_tolerance : float
        See ``n_restarts``.
    arch : str
        The network (:func:`~underspec.models.networks.make_trunk`): for images a CNN layout; for
        vectors the MLP, or ``linear``.
    seed : int
    progress : bool or str
    """

    CONSTRAINTS: ClassVar[dict[str, Number]] = {
        "n_heads": COUNT, "diversity_weight": NON_NEGATIVE, "prior_weight": NON_NEGATIVE, "epochs": POSITIVE,
        "batch_size": COUNT, "lr": POSITIVE, "weight_decay": NON_NEGATIVE,
        "holdout": Number(float, low=0, high=1, high_open=True), "n_restarts": COUNT,
        "restart_tolerance": NON_NEGATIVE, "seed": SEED}

    def __init__(self, *, n_heads: int = 2, diversity_weight: float = 10.0,
                 prior_weight: float = 10.0, epochs: float = 10, batch_size: int = 64,
                 lr: float = 2e-3, weight_decay: float = 1e-4, holdout: float = 0.15,
                 n_restarts: int = 1, restart_tolerance: float = 0.1, arch: str = "cnn", seed: int = 0,
                 progress: bool | str = False):
        self.n_heads = n_heads
        self.diversity_weight = diversity_weight
        self.prior_weight = prior_weight
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.holdout = holdout
        self.n_restarts = n_restarts
        self.restart_tolerance = restart_tolerance
        self.arch = arch
        self.seed = seed
        self.progress = progress

    def fit(self, X, y, X_unlabeled=None) -> DiverseHeads:
        """Train the heads on labeled items (vectors or images) and a pool of unlabeled ones
        (without ``X_unlabeled`` the pool is the held-out labeled items alone); sets
        ``classes_``, ``n_features_in_``, ``models_``, ``perms_``, ``kept_``, ``histories_``,
        ``holdout_index_``.

        Raises
        ------
        UnderspecError
            A parameter out of its range, ``X`` and ``y`` of other lengths,
            NaN or infinite values, fewer than two classes, an empty ``X_unlabeled``, or items
            of another shape there.
        """
        validate(self)
        X_labeled, y_labeled = checked_items(self, X), np.asarray(y)
        if y_labeled.ndim != 1 or len(y_labeled) != len(X_labeled):
            raise UnderspecError(f"y: shape {y_labeled.shape}; expected ({len(X_labeled)},), one label per item of X")
        check_classification_targets(y_labeled)
        if X_unlabeled is None:
            X_unlabeled = X_labeled[:0]
        else:
            X_unlabeled = checked_items(self, X_unlabeled, reset=False, name="X_unlabeled")
            if len(X_unlabeled) == 0 or X_unlabeled.shape[1:] != X_labeled.shape[1:]:
                raise UnderspecError(f"X_unlabeled: shape {X_unlabeled.shape}; expected at least one item of shape "
                                     f"{X_labeled.shape[1:]}, as in X")
        if len(np.unique(y_labeled)) < 2:
            raise UnderspecError("y: one class only; expected labeled items of at least two classes")
        self.classes_, y_idx = np.unique(y_labeled, return_inverse=True)
        self.holdout_index_, train = holdout_split(len(y_idx), self.holdout, self.seed)
        prior = np.bincount(y_idx[train], minlength=len(self.classes_)) / len(train)
        pool = np.concatenate([X_unlabeled, X_labeled[self.holdout_index_]])
        objective = diversity_objective(prior, self.diversity_weight, self.prior_weight)
        models, votes, self.histories_ = [], [], []
        for restart in range(self.n_restarts):
            seed = self.seed + 1000 * restart
            torch.manual_seed(seed)
            # Images share one CNN trunk (cheap); vectors get one small MLP per head, so that
            # the heads do not fight over one set of features.
            model = MultiHeadNet(X_labeled.shape[1:], len(self.classes_), self.n_heads,
                                 shared=X_labeled.ndim > 2, arch=self.arch)
            label = self.progress and (f"{self.progress} {restart + 1}/{self.n_restarts}"
                                       if self.n_restarts > 1 else self.progress)
            self.histories_.append(fit(
                model, objective, X_labeled[train], y_idx[train], pool=pool, epochs=self.epochs,
                batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                seed=seed, progress=label))
            models.append(model)
            votes.append(predict_proba(model, pool).argmax(-1))  # (N, H)
        self._combine(models, votes)
        return self

    def _combine(self, models: list, votes: list[np.ndarray]) -> None:
        """Keep the restarts that agree with the most central one, heads matched to it."""
        R = len(models)
        perms = [[align_heads(votes[s], votes[r]) for s in range(R)] for r in range(R)]
        agreement = np.array([[(votes[s][:, perms[r][s]] == votes[r]).mean() for s in range(R)]
                              for r in range(R)])
        ref = int(np.argmax(agreement.sum(1)))
        others = np.delete(agreement[ref], ref)
        best = others.max() if len(others) else 1.0
        keep = [s for s in range(R) if s == ref or agreement[ref, s] >= best - self.restart_tolerance]
        self.agreement_, self.kept_ = agreement, keep
        self.models_ = [models[s] for s in keep]
        self.perms_ = [perms[ref][s] for s in keep]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities of every head, (N, n_heads, n_classes), averaged over the restarts."""
        check_is_fitted(self, "models_")
        X = checked_items(self, X, reset=False)
        return np.mean([predict_proba(model, X)[:, perm]
                        for model, perm in zip(self.models_, self.perms_, strict=True)], 0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw class values predicted by every head, (N, n_heads)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(-1)]
