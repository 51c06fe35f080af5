"""Variational Bayesian mixture of multivariate Bernoullis, fitted on *weighted* distinct bit-patterns.

Why weighted patterns: a year of failed sign-ins is millions of rows but only a few hundred distinct
"which fields are anomalous" bit-patterns. Every term of the variational updates is a sum over rows
of a function of the row's bits, so summing over distinct patterns times their counts is *exact*,
not an approximation — and it makes the fit independent of the row count.

Model (the one MSTIC's notebook builds in bayespy)::

    pi      ~ Dirichlet(alpha0, ..., alpha0)         # alpha0 = 1e-5 lets unused clusters die
    theta_kd ~ Beta(a0, b0)                          # a0 = b0 = 0.5 (Jeffreys)
    z_n     ~ Categorical(pi)
    x_nd    ~ Bernoulli(theta_{z_n, d})

Mean-field coordinate ascent: each iteration updates q(pi), q(theta) from the responsibilities, then
the responsibilities from q(pi), q(theta), and evaluates the evidence lower bound (ELBO) at that
point. Each step maximises the ELBO in its block, so the recorded trace never decreases (a test
checks it). Restarts (``n_init``) are seeded by weighted k-means++ on Hamming distance and the best
ELBO wins; everything is deterministic under ``random_state``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import betaln, digamma, gammaln, logsumexp

from ..errors import ConfigError, NotFittedError


class ConvergenceWarning(UserWarning):
    """The mixture hit ``max_iter`` before its ELBO stopped changing; the result is still usable."""


class BernoulliMixture:
    """Variational Bernoulli mixture (scikit-learn style: constructor stores parameters only).

    Parameters
    ----------
    n_components: upper bound on clusters (K); the Dirichlet prior switches off the ones not needed.
    weight_concentration: symmetric Dirichlet prior on the mixing weights (1e-5 as published).
    beta_prior: ``(a0, b0)`` of the Beta prior on each cluster's per-field probability.
    n_init: random restarts; the one with the highest final ELBO is kept.
    max_iter, tol: stop when the ELBO improves by less than ``tol * max(1, |ELBO|)``.
    random_state: seed (int) or ``numpy.random.Generator``; same seed, same clusters.
    """

    def __init__(self, n_components: int = 10, *, weight_concentration: float = 1e-5,
                 beta_prior: tuple[float, float] = (0.5, 0.5), n_init: int = 5, max_iter: int = 1000,
                 tol: float = 1e-6, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.weight_concentration = weight_concentration
        self.beta_prior = beta_prior
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    # -- public API ------------------------------------------------------------------------------
    def fit(self, X, sample_weight=None) -> "BernoulliMixture":
        """Fit on binary patterns ``X`` (rows) with counts ``sample_weight`` (default 1 each)."""
        X, w = self._check(X, sample_weight)
        self._check_params()
        rng = np.random.default_rng(self.random_state)
        K = min(self.n_components, X.shape[0])
        best = None
        for _ in range(self.n_init):
            run = self._fit_once(X, w, K, rng)
            if best is None or run["elbo"] > best["elbo"]:
                best = run
        for key in ("alpha", "a", "b", "elbo_trace", "n_iter", "converged"):
            setattr(self, key + "_", best[key])
        self.elbo_ = best["elbo"]
        self.weights_ = self.alpha_ / self.alpha_.sum()
        self.theta_ = self.a_ / (self.a_ + self.b_)
        self.n_features_in_ = X.shape[1]
        if not self.converged_:
            warnings.warn(
                f"Bernoulli mixture did not converge in {self.max_iter} iterations "
                f"(last ELBO change {np.diff(self.elbo_trace_[-2:])}); results are usable but may "
                "improve with a larger max_iter", ConvergenceWarning, stacklevel=2)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Posterior cluster probabilities of each pattern under the fitted q(pi), q(theta)."""
        self._check_fitted()
        X, _ = self._check(X, None)
        if X.shape[1] != self.n_features_in_:
            raise ConfigError(f"patterns have {X.shape[1]} fields; the mixture was fitted on "
                              f"{self.n_features_in_}")
        log_rho = self._log_rho(X, self.alpha_, self.a_, self.b_)
        return np.exp(log_rho - logsumexp(log_rho, axis=1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        """Most probable cluster of each pattern."""
        return self.predict_proba(X).argmax(axis=1)

    # -- internals -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if not (isinstance(self.n_components, (int, np.integer)) and self.n_components >= 1):
            raise ConfigError(f"n_components must be a positive integer, got {self.n_components!r}")
        if self.n_init < 1 or self.max_iter < 1:
            raise ConfigError("n_init and max_iter must be at least 1")
        if self.weight_concentration <= 0 or min(self.beta_prior) <= 0:
            raise ConfigError("prior parameters must be positive")

    @staticmethod
    def _check(X, w) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ConfigError(f"expected a non-empty 2-D array of bit-patterns, got shape {X.shape}")
        if not np.isin(X, (0.0, 1.0)).all():
            raise ConfigError("bit-patterns must contain only 0 and 1")
        w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=float)
        if w.shape != (X.shape[0],) or (w < 0).any() or w.sum() <= 0:
            raise ConfigError("sample_weight must be one non-negative count per pattern, not all 0")
        return X, w

    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise NotFittedError("this BernoulliMixture is not fitted yet; call fit() first")

    @staticmethod
    def _log_rho(X, alpha, a, b) -> np.ndarray:
        """Unnormalised log responsibilities, shape (patterns, K)."""
        e_log_pi = digamma(alpha) - digamma(alpha.sum())
        dab = digamma(a + b)
        e_log_t = digamma(a) - dab          # (K, D)
        e_log_1mt = digamma(b) - dab
        return e_log_pi + X @ e_log_t.T + (1.0 - X) @ e_log_1mt.T

    def _m_step(self, X, w, resp):
        a0, b0 = self.beta_prior
        wr = resp * w[:, None]                       # (M, K)
        alpha = self.weight_concentration + wr.sum(axis=0)
        ones = wr.T @ X                              # (K, D): weighted count of bit = 1
        return alpha, a0 + ones, b0 + (wr.sum(axis=0)[:, None] - ones)

    def _elbo(self, log_rho, w, alpha, a, b) -> float:
        """ELBO at responsibilities optimal for (alpha, a, b): E[log p(X,Z)] - E[log q(Z)] - KLs."""
        a0, b0 = self.beta_prior
        alpha0 = np.full_like(alpha, self.weight_concentration)
        data_term = float(w @ logsumexp(log_rho, axis=1))
        kl_pi = (gammaln(alpha.sum()) - gammaln(alpha).sum() - gammaln(alpha0.sum())
                 + gammaln(alpha0).sum()
                 + ((alpha - alpha0) * (digamma(alpha) - digamma(alpha.sum()))).sum())
        kl_theta = (betaln(a0, b0) - betaln(a, b) + (a - a0) * digamma(a) + (b - b0) * digamma(b)
                    + (a0 - a + b0 - b) * digamma(a + b)).sum()
        return data_term - float(kl_pi) - float(kl_theta)

    def _init_resp(self, X, w, K, rng) -> np.ndarray:
        """Hard assignment to K seeds picked by weighted k-means++ on Hamming distance."""
        M = X.shape[0]
        p = w / w.sum()
        seeds = [rng.choice(M, p=p)]
        dist = np.abs(X - X[seeds[0]]).sum(axis=1)
        for _ in range(1, K):
            score = w * dist ** 2
            if score.sum() <= 0:          # every pattern already a seed's copy: pick uniformly
                candidates = np.setdiff1d(np.arange(M), seeds)
                seeds.append(rng.choice(candidates))
            else:
                seeds.append(rng.choice(M, p=score / score.sum()))
            dist = np.minimum(dist, np.abs(X - X[seeds[-1]]).sum(axis=1))
        d = np.stack([np.abs(X - X[s]).sum(axis=1) for s in seeds], axis=1)  # (M, K)
        d = d + rng.uniform(0, 1e-3, size=d.shape)                           # random tie-break
        resp = np.zeros((M, K))
        resp[np.arange(M), d.argmin(axis=1)] = 1.0
        return resp

    def _fit_once(self, X, w, K, rng) -> dict:
        resp = self._init_resp(X, w, K, rng)
        trace: list[float] = []
        converged = False
        for it in range(1, self.max_iter + 1):
            alpha, a, b = self._m_step(X, w, resp)
            log_rho = self._log_rho(X, alpha, a, b)
            resp = np.exp(log_rho - logsumexp(log_rho, axis=1, keepdims=True))
            trace.append(self._elbo(log_rho, w, alpha, a, b))
            if len(trace) > 1 and abs(trace[-1] - trace[-2]) <= self.tol * max(1.0, abs(trace[-1])):
                converged = True
                break
        return {"alpha": alpha, "a": a, "b": b, "elbo": trace[-1], "elbo_trace": np.array(trace),
                "n_iter": it, "converged": converged}


def component_groups(mixture: BernoulliMixture, tol: float = 0.05) -> np.ndarray:
    """Map each mixture component to a representative: components with (nearly) the same per-field
    probabilities are one cluster.

    Variational fits sometimes stop with one cluster shared by two components (each taking half of its
    patterns' posterior); counted apart, neither would reach a confidence threshold.
    """
    theta, weights = mixture.theta_, mixture.weights_
    order = np.argsort(-weights, kind="stable")
    rep = np.arange(len(weights))
    for pos, k in enumerate(order):
        for j in order[:pos]:
            if rep[j] == j and np.abs(theta[k] - theta[j]).max() < tol:
                rep[k] = j
                break
    return rep


def cluster_posterior(mixture: BernoulliMixture, components: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Posterior per cluster, duplicate components (see :func:`component_groups`) summed onto their
    representative, so a pattern's cluster is ``argmax`` of this row."""
    resp = mixture.predict_proba(X)
    out = np.zeros_like(resp)
    np.add.at(out.T, components, resp.T)
    return out
