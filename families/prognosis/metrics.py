"""Censored-survival metrics as functions of (time, event, risk, survival, times), for the bootstrap."""

from __future__ import annotations

import warnings

import numpy as np

# --- metrics -----------------------------------------------------------------------------------------


def _structured(event, time):
    from sksurv.util import Surv

    return Surv.from_arrays(event.astype(bool), time.astype(float))


def _in_follow_up(times: np.ndarray, time: np.ndarray) -> np.ndarray:
    return times[(times > time.min()) & (times < time.max())]


def harrell_c(time, event, risk, survival, times):
    from sksurv.metrics import concordance_index_censored

    return concordance_index_censored(event.astype(bool), time, risk)[0]


def uno_c(time, event, risk, survival, times):
    from sksurv.metrics import concordance_index_ipcw

    y = _structured(event, time)
    return concordance_index_ipcw(y, y, risk, tau=times[-1])[0]


def mean_time_dependent_auc(time, event, risk, survival, times):
    from sksurv.metrics import cumulative_dynamic_auc

    y = _structured(event, time)
    keep = np.isin(times, _in_follow_up(times, time))
    return cumulative_dynamic_auc(y, y, risk, times[keep])[1]


def integrated_brier(time, event, risk, survival, times):
    from sksurv.metrics import integrated_brier_score

    y = _structured(event, time)
    keep = np.isin(times, _in_follow_up(times, time))
    return integrated_brier_score(y, y, survival[:, keep], times[keep])


def kaplan_meier_brier(time, event, risk, survival, times):
    """The no-covariate reference: every patient gets the held-out Kaplan-Meier curve."""
    from sksurv.nonparametric import kaplan_meier_estimator

    grid, curve = kaplan_meier_estimator(event.astype(bool), time)
    population = np.interp(times, grid, curve)
    return integrated_brier(time, event, risk, np.tile(population, (len(time), 1)), times)


def brier_skill(time, event, risk, survival, times):
    return 1.0 - integrated_brier(time, event, risk, survival, times) / kaplan_meier_brier(time, event, risk, survival, times)


def _safe(fn):
    def wrapped(*args):
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return float(fn(*args))
        except ValueError:  # a resample whose follow-up does not cover the grid: left out of the CI
            return float("nan")

    return wrapped


SURVIVAL_METRICS = {
    "c_index": harrell_c, "uno_c_index": uno_c, "td_auc": mean_time_dependent_auc,
    "ibs": integrated_brier, "ibs_kaplan_meier": kaplan_meier_brier, "brier_skill": brier_skill,
}
