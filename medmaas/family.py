"""The contract between a family (what a model *is*) and the generic steps (what is done to it).

Generic code sees only this interface: named tables in, a leak-free split, named candidates,
a fitted model per candidate, and an Evaluation whose metrics carry a direction. Split and
model objects are opaque to it, so a classifier, a survival model, a recommender and a
recurrent network all fit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

import pandas as pd
from great_expectations.expectations import Expectation

from medmaas.settings import FamilySettings
from medmaas.stats import Estimate, HeldOutRows, MetricSpec

Tables = dict[str, pd.DataFrame]
Suite = list[Expectation]  # one table's Great Expectations


@dataclass
class Evaluation:
    metrics: dict[str, Estimate]
    figures: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG bytes
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # the same fitted candidate in another form, scored on the same held-out set (the float32 network beside the int8
    # one served): a leaderboard row of its own, never registered
    variants: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    # the primary metric row by row, for the paired gate and the selection-corrected estimate (medmaas/stats.py)
    rows: HeldOutRows | None = None


@dataclass
class Split:
    train: Any
    test: Any
    description: str  # how it was made and why it cannot leak, for the model card
    sizes: Mapping[str, float]  # counts, and shares such as the test side's positive share


@dataclass
class FittedCandidate:
    candidate: str
    model: Any
    hyperparameters: dict[str, Any]
    # The primary metric measured on the training side only (the CV mean where tuned by CV, else a validation split
    # grouped like the family's split), in the metric's own units and direction: the champion is chosen on it, never on
    # the test set.
    tuning_score: float | None
    fit_seconds: float
    training: dict[str, float] = field(default_factory=dict)  # e.g. epochs run, seconds per epoch
    curves: dict[str, list[float]] = field(default_factory=dict)  # per epoch, logged by step: e.g. a validation loss


@dataclass
class Registered:
    """The chosen model as its version stores it, with what it carries beside its predictions (imaging: an
    out-of-distribution detector) and what measured that: tables, figures and per-epoch curves for the run."""

    model: Any
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)  # metric name -> value per step (epoch)


SettingsT = TypeVar("SettingsT", bound=FamilySettings)


class Family(ABC, Generic[SettingsT]):
    """One kind of clinical model. Subclasses set the class attributes and implement the steps; ``Family[S]`` says the
    settings are an ``S`` (a family's own FamilySettings), so its code reads them typed."""

    name: ClassVar[str]
    Settings: ClassVar[type[FamilySettings]]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    primary_metric: ClassVar[str]
    flavor: ClassVar[Literal["sklearn", "pytorch", "pyfunc"]] = "sklearn"
    runtime_packages: ClassVar[tuple[str, ...]] = ("scikit-learn", "pandas", "numpy", "scipy")
    experiment_kind: ClassVar[str] = (
        "custom_model_development"  # the MLflow UI's kind: classification, regression, forecasting, ...
    )
    row_key_scheme: ClassVar[str] = (
        "1"  # bump when ``training_keys`` / held-out row keys change: older digests then match nothing
    )
    bundled_data: ClassVar[Path]  # where `medmaas ingest` writes the packaged data set (never a user's file)
    service_module: ClassVar[str | None] = None  # serving/<module>.py; None: the family's own name
    predict_chunk_rows: ClassVar[int | None] = (
        10_000  # `medmaas predict` scores this many rows at a time; None: all at once
    )
    intended_use: ClassVar[str] = ""
    out_of_scope: ClassVar[str] = ""

    def __init__(self, settings: SettingsT, seed: int) -> None:
        self.settings: SettingsT = settings
        self.seed = seed

    @classmethod
    def check_settings(cls, settings: SettingsT, prefix: str) -> list[str]:
        """Cross-field checks pydantic cannot do alone; returns problems naming their key."""
        known = {m.name for m in cls.metrics}
        problems = []
        for bound in ("minimums", "maximums"):
            for metric in getattr(settings.acceptance, bound):
                if metric not in known:
                    problems.append(
                        f"  {prefix}.acceptance.{bound}.{metric}: unknown metric; known: {', '.join(sorted(known))}"
                    )
        return problems

    @property
    def registered_model(self) -> str:
        return self.settings.registered_model or self.name

    @classmethod
    def service(cls) -> str:
        """The serving module this family's champion is served from (several families may share one)."""
        return cls.service_module or cls.name

    def flavor_of(self, model: Any) -> str:
        """How MLflow stores this model: what the model says of itself (``mlflow_flavor``), else the family's
        default."""
        return getattr(model, "mlflow_flavor", self.flavor)

    def direction(self, metric: str) -> str:
        return next(m.direction for m in self.metrics if m.name == metric)

    def better(self) -> int:
        """+1 where a higher primary metric is better, -1 where lower is: a difference times this is positive when it
        improves."""
        return 1 if self.direction(self.primary_metric) == "max" else -1

    @staticmethod
    @abstractmethod
    def export_bundled(path: Path) -> Path:
        """Write the data set that ships in a package to ``path`` (the DVC ingest stage)."""

    # --- the steps -------------------------------------------------------------------------
    def data_files(self) -> list[Path]:
        """Files the run reads (for provenance hashes and clear missing-file errors): the block's data file."""
        return [self.settings.data.resolved_path()]

    @abstractmethod
    def load(self) -> Tables:
        """Read the raw tables; no cleaning here, so the gate sees the data as it is."""

    @abstractmethod
    def expectations(self, tables: Tables) -> dict[str, Suite]:
        """The data contract: Great Expectations expectations per table name."""

    def identifier_columns(self) -> set[str]:
        """Columns whose values must never reach a report, a log or an artifact: the data file's id column."""
        return {c for c in (self.settings.data.id_column,) if c is not None}

    def gate_notes(self, tables: Tables) -> list[str]:
        """What the family inferred about the data (e.g. column kinds), for the gate's report."""
        return []

    @abstractmethod
    def split(self, tables: Tables) -> Split:
        """A leak-free split (by patient, scaffold or time)."""

    @abstractmethod
    def candidate_names(self) -> list[str]: ...

    @abstractmethod
    def fit(self, candidate: str, train: Any) -> FittedCandidate:
        """Tune and fit one candidate on the training split only."""

    @abstractmethod
    def evaluate(self, model: Any, test: Any) -> Evaluation:
        """Metrics (with CIs) and plots on held-out data."""

    def gated_metrics(self) -> list[str]:
        """The primary metric and every metric with a floor or a ceiling: what a subgroup table must show."""
        acceptance = self.settings.acceptance
        return list(dict.fromkeys([self.primary_metric, *acceptance.minimums, *acceptance.maximums]))

    def subgroup_table(self, model: Any, test: Any) -> pd.DataFrame | None:
        """Held-out metrics per declared subgroup, for the model card of the version registered; None: none declared."""
        return None

    def training_keys(self, train: Any) -> list[str]:
        """The identity of every training row (the same kind of key as ``Evaluation.rows.keys``), kept as digests with
        the version so that a later test set can leave out what this model saw. Empty: rows cannot be told apart."""
        return []

    @abstractmethod
    def input_example(self, test: Any) -> pd.DataFrame | None:
        """A few rows of model input (no identifiers) for the registered signature; None where input is not a table."""

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        """Facts about the data for the model card (sizes, class balance, ...)."""
        return {name: {"rows": len(frame), "columns": frame.shape[1]} for name, frame in tables.items()}

    def limitations(self) -> list[str]:
        """Known limits for the model card; families add what is specific to their data."""
        return [
            "Held-out figures come from one split of one data set; the CIs show sampling spread, not shift to another "
            "site.",
            "Not validated prospectively; monitor performance on local data before clinical use.",
        ]

    def registered_form(self, model: Any, split: Split) -> Registered:
        """The chosen model as registered: trained companions (fitted on ``split.train`` only) added to it, measured on
        ``split.test``. The test set measures them and chooses nothing; the default adds none."""
        return Registered(model)

    def serving_artifacts(self, model: Any, train: Any) -> dict[str, Any]:
        """JSON-able material the service needs beside the model (e.g. an explainer's background)."""
        return {}

    def drift_reference(self, model: Any, split: Split) -> dict[str, Any] | None:
        """What `medmaas monitor` compares batches with, stored with the version: profiles (medmaas/drift.py, no patient
        rows) of the training features and of the model's held-out predictions. None: the family is not monitored."""
        return None

    def predict_frame(self, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for a user's table (the CLI's ``predict``); families return readable columns."""
        return pd.DataFrame({"prediction": model.predict(frame)}, index=frame.index)

    def predict_in_chunks(
        self,
        model: Any,
        frame: pd.DataFrame,
        progress: Callable[[list[pd.DataFrame]], Iterable[pd.DataFrame]] = lambda chunks: chunks,
    ) -> pd.DataFrame:
        """``predict_frame`` over ``predict_chunk_rows`` rows at a time (a large file never holds all its features at
        once);
        ``progress`` wraps the chunks."""
        size = self.predict_chunk_rows or max(len(frame), 1)
        chunks = [frame.iloc[i : i + size] for i in range(0, len(frame), size)] or [frame]
        return pd.concat([self.predict_frame(model, chunk) for chunk in progress(chunks)])
