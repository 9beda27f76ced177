"""A parametric accelerated-failure-time model, and survival curves from any candidate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats
from sklearn.base import BaseEstimator

# --- a parametric AFT model (no maintained AFT library installs beside pandas 3: lifelines pins pandas<3) -------


class ParametricAFT(BaseEstimator):
    """Accelerated failure time: log T = x·β + σ·ε, ε standard Gumbel (Weibull), normal or logistic.

    Fitted by maximum likelihood with right censoring (scipy L-BFGS), with a ridge penalty ``alpha``
    on β. The scikit-survival interface: ``predict`` is a risk score (higher = earlier event),
    ``predict_survival_function`` returns callables, ``score`` is Harrell's C.
    """

    _DISTRIBUTIONS = {"weibull": stats.gumbel_l, "lognormal": stats.norm, "loglogistic": stats.logistic}

    def __init__(self, distribution: str = "weibull", alpha: float = 0.01) -> None:
        self.distribution = distribution
        self.alpha = alpha

    def _negative_log_likelihood(
        self, params: np.ndarray, X: np.ndarray, log_t: np.ndarray, event: np.ndarray
    ) -> float:
        dist = self._DISTRIBUTIONS[self.distribution]
        beta, intercept, log_sigma = params[:-2], params[-2], params[-1]
        sigma = np.exp(log_sigma)
        z = (log_t - intercept - X @ beta) / sigma
        log_density = dist.logpdf(z) - log_sigma
        log_survival = dist.logsf(z)
        return -(np.sum(np.where(event, log_density, log_survival))) / len(z) + self.alpha * np.sum(beta**2) / (
            2 * len(z)
        )

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        event, time = _event_time(y)
        log_t = np.log(time)
        start = np.r_[np.zeros(X.shape[1]), log_t.mean(), np.log(log_t.std() + 1e-3)]
        result = optimize.minimize(self._negative_log_likelihood, start, args=(X, log_t, event), method="L-BFGS-B")
        self.coef_, self.intercept_, self.scale_ = result.x[:-2], result.x[-2], float(np.exp(result.x[-1]))
        self.n_features_in_ = X.shape[1]
        self.unique_times_ = np.unique(time)
        return self

    def predict(self, X) -> np.ndarray:
        return -(np.asarray(X, dtype=float) @ self.coef_)  # shorter expected survival = higher risk

    def survival_at(self, X, times: np.ndarray) -> np.ndarray:
        location = self.intercept_ + np.asarray(X, dtype=float) @ self.coef_
        z = (np.log(np.asarray(times, dtype=float))[None, :] - location[:, None]) / self.scale_
        return self._DISTRIBUTIONS[self.distribution].sf(z)

    def predict_survival_function(self, X, return_array: bool = False):
        from sksurv.functions import StepFunction

        values = self.survival_at(X, self.unique_times_)
        if return_array:
            return values
        return np.array([StepFunction(self.unique_times_, row) for row in values])

    def score(self, X, y) -> float:
        from sksurv.metrics import concordance_index_censored

        event, time = _event_time(y)
        return concordance_index_censored(event, time, self.predict(X))[0]


def _event_time(y) -> tuple[np.ndarray, np.ndarray]:
    names = y.dtype.names
    return y[names[0]].astype(bool), y[names[1]].astype(float)


def survival_matrix(model, features: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """S(t) for every patient at every time: rows patients, columns times.

    Step functions end at the last training time; past it the curve is held at its last value
    (what is known), and callers flag those times as extrapolations.
    """
    functions = model.predict_survival_function(features)
    return np.vstack([fn(np.clip(times, *fn.domain)) if hasattr(fn, "domain") else fn(times) for fn in functions])
