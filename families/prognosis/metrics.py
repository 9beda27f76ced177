"""Censored-survival metrics as functions of (time, event, risk, survival, at_calibration, reference), for the
bootstrap.

Every metric that needs a censoring distribution or a population curve takes it from the *training side*
(``SurvivalReference``), not from the held-out patients being scored: the held-out set measures, it does not re-weight
itself (Uno et al. 2011 fit the censoring weights on the training data for the same reason).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np


def _structured(event, time):
    from sksurv.util import Surv

    return Surv.from_arrays(event.astype(bool), time.astype(float))


@dataclass(frozen=True)
class SurvivalReference:
    """What the training side fixes for every held-out figure: its outcomes, the time grid and the calibration
    horizon."""

    training: np.ndarray  # structured (event, time) of the training side
    times: np.ndarray
    calibration_at: float

    @property
    def horizon(self) -> float:
        return float(self.times[-1])

    @cached_property
    def population(self) -> np.ndarray:
        """The training side's Kaplan-Meier curve on the time grid: fitted once, not once per bootstrap resample."""
        from sksurv.nonparametric import kaplan_meier_estimator

        from families.prognosis.aft import _event_time

        grid, curve = kaplan_meier_estimator(*_event_time(self.training))
        return np.interp(self.times, grid, curve)


def _in_follow_up(times: np.ndarray, time: np.ndarray) -> np.ndarray:
    return times[(times > time.min()) & (times < time.max())]


def _within_training_follow_up(event, time, reference: SurvivalReference) -> np.ndarray:
    """Held-out outcomes censored at the training side's last time: its censoring curve is undefined past it.

    The time grid ends well before (the 90th percentile at most), so no figure on the grid changes.
    """
    _, time_field = reference.training.dtype.names or ("", "")
    last = reference.training[time_field].max()
    return _structured(event.astype(bool) & (time <= last), np.minimum(time, last))


def harrell_c(time, event, risk, survival, at_calibration, reference: SurvivalReference):
    from sksurv.metrics import concordance_index_censored

    return concordance_index_censored(event.astype(bool), time, risk)[0]


def uno_c(time, event, risk, survival, at_calibration, reference: SurvivalReference):
    """Uno's C up to the horizon, inverse-probability-of-censoring weighted by the training side's censoring curve."""
    from sksurv.metrics import concordance_index_ipcw

    return concordance_index_ipcw(reference.training, _structured(event, time), risk, tau=reference.horizon)[0]


def mean_time_dependent_auc(time, event, risk, survival, at_calibration, reference: SurvivalReference):
    from sksurv.metrics import cumulative_dynamic_auc

    keep = np.isin(reference.times, _in_follow_up(reference.times, time))
    held_out = _within_training_follow_up(event, time, reference)
    return cumulative_dynamic_auc(reference.training, held_out, risk, reference.times[keep])[1]


def integrated_brier(time, event, risk, survival, at_calibration, reference: SurvivalReference):
    from sksurv.metrics import integrated_brier_score

    keep = np.isin(reference.times, _in_follow_up(reference.times, time))
    held_out = _within_training_follow_up(event, time, reference)
    return integrated_brier_score(reference.training, held_out, survival[:, keep], reference.times[keep])


def kaplan_meier_brier(time, event, risk, survival, at_calibration, reference: SurvivalReference):
    """The no-covariate reference: every held-out patient gets the *training side's* Kaplan-Meier curve."""
    return integrated_brier(time, event, risk, np.tile(reference.population, (len(time), 1)), at_calibration, reference)


def brier_skill(*arrays):
    return 1.0 - integrated_brier(*arrays) / kaplan_meier_brier(*arrays)


def calibration_slope(time, event, risk, survival, at_calibration, reference: SurvivalReference):
    """Slope of a Cox model of the held-out outcome, censored at the horizon, on log(-log S(t)) predicted there.

    1: predicted risks spread as observed; below 1: too extreme (overfit); above 1: too timid (Royston and Altman 2013).
    """
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    at = reference.calibration_at
    log_cumulative_hazard = np.log(-np.log(np.clip(at_calibration, 1e-9, 1 - 1e-9)))
    within = _structured(event.astype(bool) & (time <= at), np.minimum(time, at))
    return CoxPHSurvivalAnalysis(alpha=0.0, ties="efron").fit(log_cumulative_hazard.reshape(-1, 1), within).coef_[0]


def against(fn, reference: SurvivalReference):
    """``fn`` as a bootstrap metric of the held-out arrays alone, with the training side's reference fixed."""

    def wrapped(*arrays):
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return float(fn(*arrays, reference))
        except (
            ValueError,
            ArithmeticError,
            np.linalg.LinAlgError,
        ):  # a resample the metric is undefined on: left out of the CI
            return float("nan")

    return wrapped


SURVIVAL_METRICS = {
    "c_index": harrell_c,
    "uno_c_index": uno_c,
    "td_auc": mean_time_dependent_auc,
    "ibs": integrated_brier,
    "ibs_kaplan_meier": kaplan_meier_brier,
    "brier_skill": brier_skill,
    "calibration_slope": calibration_slope,
}


def uno_scorer(training: np.ndarray, tau: float):
    """Uno's C as a scikit-learn scorer for tuning inside the training side (censoring weights from that side)."""
    from sksurv.metrics import concordance_index_ipcw

    def score(estimator, features, outcome) -> float:
        return concordance_index_ipcw(training, outcome, estimator.predict(features), tau=tau)[0]

    return score
