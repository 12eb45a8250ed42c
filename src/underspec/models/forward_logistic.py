"""A multinomial logistic regression fitted through a label-noise transition (forward loss
correction, Patrini et al. 2017).

Given ``T[i, j]``, the chance that an item of true class ``i`` carries the label ``j``, the model's
clean class probabilities ``p(x)`` are pushed through ``T`` before the loss: it maximises the
likelihood of the given labels under ``p(x) @ T``. Where labels flip in one direction (c -> c+1),
a plain model bends its boundary toward the flips; the corrected one learns the clean boundary
and leaves the noise to ``T``. Like scikit-learn's ``LogisticRegression`` it is fitted by
L-BFGS (scipy) with an L2 penalty of ``1 / C`` on the weights, not by the project's network
fit loop: it is a convex linear model, not a network.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from underspec.errors import UnderspecError


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def check_transition(transition) -> np.ndarray:
    """``transition`` as a float array (K, K) of non-negative rows summing to 1, or an
    ``UnderspecError`` naming what is wrong."""
    T = np.asarray(transition, dtype=float)
    if T.ndim != 2 or T.shape[0] != T.shape[1] or T.shape[0] < 2:
        raise UnderspecError(f"transition: shape {T.shape}; expected a square (K, K) matrix, K >= 2")
    if not np.isfinite(T).all() or (T < 0).any() or not np.allclose(T.sum(1), 1.0, atol=1e-6):
        raise UnderspecError("transition: expected non-negative finite rows that each sum to 1 "
                             "(row i: the chances that an item of true class i carries each label)")
    return T


class ForwardLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression on labels that passed through the noise ``transition``.

    Parameters
    ----------
    transition : array (K, K)
        ``transition[i, j]``: chance that an item of true class ``i`` is labeled ``j``. The
        classes are ``0 .. K-1``; a class may be absent from the labels.
    C : float
        Inverse strength of the L2 penalty, as in scikit-learn: the objective is
        ``0.5 * ||W||^2 + C * sum of the items' losses``.
    max_iter : int
        L-BFGS iterations at most.

    Attributes
    ----------
    classes_ : ndarray (K,)
    coef_ : ndarray (K, D)
    intercept_ : ndarray (K,)

    Notes
    -----
    ``predict_proba`` returns the clean class probabilities ``p(x)``, not ``p(x) @ T``.
    """

    def __init__(self, transition=None, C: float = 1.0, max_iter: int = 300):
        self.transition = transition
        self.C = C
        self.max_iter = max_iter

    def fit(self, X, y):
        """Fit on items ``X`` (N, D) and their given labels ``y`` (integers in ``0 .. K-1``)."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        if self.transition is None:
            raise UnderspecError("transition: missing; expected the (K, K) label-noise matrix")
        T = check_transition(self.transition)
        K = len(T)
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= K:
            raise UnderspecError(f"y: labels {np.unique(y)[:5].tolist()}...; expected integers in 0..{K - 1}, "
                                 "one per row of the transition")
        if not self.C > 0:
            raise UnderspecError(f"C: {self.C}; expected a positive number")
        n, d = X.shape
        onehot_T = T[:, y].T  # (N, K): T[k, y_i], the chance of the given label under each true class
        penalty = 1.0 / (self.C * n)  # the objective divided by C * n: mean loss + penalty/2 ||W||^2

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, b = theta[:d * K].reshape(d, K), theta[d * K:]
            p = _softmax((X @ W.astype(X.dtype)).astype(np.float64) + b)
            given = np.maximum((p * onehot_T).sum(1), 1e-300)  # chance of the given label
            loss = -np.log(given).mean() + 0.5 * penalty * (W ** 2).sum()
            g = -onehot_T / given[:, None] / n  # d loss / d p
            dz = p * (g - (p * g).sum(1, keepdims=True))  # through the softmax
            grad = np.concatenate([((X.T @ dz.astype(X.dtype)) + penalty * W).ravel(), dz.sum(0)])
            return loss, grad

        result = minimize(objective, np.zeros(d * K + K), jac=True, method="L-BFGS-B",
                          options={"maxiter": self.max_iter})
        self.coef_ = result.x[:d * K].reshape(d, K).T.copy()
        self.intercept_ = result.x[d * K:].copy()
        self.classes_ = np.arange(K)
        self.n_iter_ = int(result.nit)
        return self

    def decision_function(self, X) -> np.ndarray:
        """The clean classes' logits (N, K)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return X @ self.coef_.T + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """The clean class probabilities ``p(x)`` (N, K)."""
        return _softmax(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        """The most likely clean class of each item."""
        return self.classes_[self.decision_function(X).argmax(1)]
