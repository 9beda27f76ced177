"""What every one-row-per-patient family shares: data contract, split, tuning, serving schema.

Not a family itself (no ``FAMILY``); diagnosis (classification) and progression (regression)
build on it, each adding its outcome, candidates and metrics.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
    model_validator,
)
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from blocks.encoding import BOOLEAN_TOKENS, ColumnEncoder, as_boolean, looks_boolean
from blocks.subgroups import DeclaredSubgroups, subgroup_table
from medmaas.family import Evaluation, Family, FittedCandidate, Suite, Tables
from medmaas.settings import (
    LEARNED_FROM_TRAINING,
    NUMERIC_TYPES,
    CandidateGrids,
    ColumnRange,
    DataFile,
    FamilySettings,
    Frozen,
    UnreadableData,
)
from medmaas.stats import HeldOutRows, MetricFn

TABLE = "patients"
MAX_LEARNED_CATEGORIES = 50


Kind = Literal["numeric", "categorical", "boolean"]
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr  # a YAML scalar, matched against the file's values as read


def range_expectations(column: str, bounds: ColumnRange | None) -> Suite:
    """A numeric column's declared bounds as expectations; an integer column's as the set of whole numbers in them."""
    import great_expectations.expectations as gxe

    if bounds is None or (bounds.min is None and bounds.max is None):
        return []
    if bounds.integer:
        return [
            gxe.ExpectColumnValuesToBeInSet(
                column=column,
                value_set=bounds.allowed_integers(),
                description=f"{column} is declared integer: whole numbers from {bounds.min:g} to {bounds.max:g}",
            )
        ]
    return [gxe.ExpectColumnValuesToBeBetween(column=column, min_value=bounds.min, max_value=bounds.max)]


class TabularData(DataFile, DeclaredSubgroups):
    """Where the patients are and what their feature columns mean (the declared schema)."""

    feature_columns: list[str] | Literal["all"] = "all"
    categorical: list[str] = Field(
        default_factory=list, description="text or coded columns; one-hot encoded inside the model"
    )
    boolean: list[str] = Field(default_factory=list, description="TRUE/FALSE, yes/no, 1/0 columns")
    categories: dict[str, list[Scalar]] = Field(
        default_factory=dict, description="allowed values of a categorical column; else learned from training"
    )
    ranges: dict[str, ColumnRange] = Field(
        default_factory=dict, description='per feature; "*" applies to every feature'
    )
    max_missing_fraction: float | dict[str, float] = Field(
        0.05, description='one fraction, or per column with "*" as the default'
    )
    min_rows: PositiveInt = 50

    @model_validator(mode="after")
    def _kinds_agree(self) -> TabularData:
        if both := set(self.categorical) & set(self.boolean):
            raise ValueError(f"columns {sorted(both)} are declared both categorical and boolean")
        if undeclared := set(self.categories) - set(self.categorical):
            raise ValueError(f"categories given for {sorted(undeclared)}: list them in categorical too")
        fractions = (
            self.max_missing_fraction.values()
            if isinstance(self.max_missing_fraction, dict)
            else [self.max_missing_fraction]
        )
        if any(not 0.0 <= f <= 1.0 for f in fractions):
            raise ValueError("max_missing_fraction must be between 0 and 1")
        return self

    @property
    def outcome_column(self) -> str:
        raise NotImplementedError

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        return (self.outcome_column,)

    def range_of(self, column: str) -> ColumnRange | None:
        return self.ranges.get(column) or self.ranges.get("*")

    def missing_allowed(self, column: str) -> float:
        if isinstance(self.max_missing_fraction, float):
            return self.max_missing_fraction
        return self.max_missing_fraction.get(column, self.max_missing_fraction.get("*", 0.05))


class SplitSettings(Frozen):
    test_fraction: float = Field(0.25, gt=0.05, lt=0.5)
    cv_folds: int = Field(5, ge=2, le=20)


class Grid(Frozen):
    """A candidate: its fields are the estimator's hyperparameters, each a list of values to search."""

    param_prefix: ClassVar[str] = "model__"

    def pipeline(self, seed: int) -> Pipeline:
        raise NotImplementedError

    def build(self, seed: int) -> tuple[Pipeline, dict[str, list[Any]]]:
        return self.pipeline(seed), {f"{self.param_prefix}{name}": values for name, values in self}


class BoostingGrid(Grid):
    """Gradient boosting's search space, for the classifier and the regressor alike."""

    learning_rate: list[PositiveFloat] = [0.05, 0.1]
    n_estimators: list[PositiveInt] = [100]
    max_depth: list[PositiveInt] = [2, 3]
    subsample: list[PositiveFloat] = [0.8]


def scaled(model: Any) -> Pipeline:
    return Pipeline([("prepare", ColumnEncoder(scale=True)), ("model", model)])


def unscaled(model: Any) -> Pipeline:
    return Pipeline([("prepare", ColumnEncoder(scale=False)), ("model", model)])


def final_estimator_params(pipeline: Pipeline) -> set[str]:
    model = pipeline.named_steps["model"]
    return set(getattr(model, "estimator", model).get_params())


def snake_case(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


class TabularSettings(FamilySettings):
    """What every tabular family's block has: a table, a split and candidate grids (each family narrows the three)."""

    data: TabularData
    split: SplitSettings = SplitSettings()
    candidates: CandidateGrids
    cds_assesses: ClassVar[Literal["probability", "survival", "value"]] = "probability"  # what a CDS card shows

    @model_validator(mode="after")
    def _cds_block_fits_the_family(self) -> Self:
        cds = self.serving.cds_hooks
        if cds is not None:
            cds.check_for(self.cds_assesses)
            declared = self.data.feature_columns
            if declared != "all" and (mismatch := cds.mismatch_with(list(declared))):
                raise ValueError(f"{mismatch} (data.feature_columns)")
        return self


class TabularFamily(Family[TabularSettings]):
    """One row per patient: an optional id, an outcome, numeric, categorical and boolean features."""

    def load(self) -> Tables:
        return {TABLE: self.settings.data.read(self.name, self.outcome_dtype())}

    def outcome_dtype(self) -> dict[str, Any]:
        return {}

    def feature_columns(self, frame: pd.DataFrame) -> list[str]:
        data = self.settings.data
        if data.feature_columns == "all":
            return [c for c in frame.columns if c not in (data.id_column, *data.outcome_columns)]
        return list(data.feature_columns)

    def feature_kinds(self, frame: pd.DataFrame) -> dict[str, Kind]:
        """Declared kinds first; with ``feature_columns: all`` a non-numeric column is boolean if it reads as one, else
        categorical."""
        data = self.settings.data
        kinds: dict[str, Kind] = {}
        for column in self.feature_columns(frame):
            if column in data.categorical:
                kinds[column] = "categorical"
            elif column in data.boolean:
                kinds[column] = "boolean"
            elif (
                data.feature_columns == "all"
                and column in frame.columns
                and (pd.api.types.is_bool_dtype(frame[column]) or not pd.api.types.is_numeric_dtype(frame[column]))
            ):
                kinds[column] = "boolean" if looks_boolean(frame[column]) else "categorical"
            else:
                kinds[column] = "numeric"
        return kinds

    def gate_notes(self, tables: Tables) -> list[str]:
        data = self.settings.data
        frame = tables[TABLE]
        kinds = self.feature_kinds(frame)
        notes = []
        for kind in ("categorical", "boolean"):
            inferred = [c for c, k in kinds.items() if k == kind and c not in getattr(data, kind)]
            if inferred:
                notes.append(f"inferred as {kind}: {', '.join(inferred)}")
        if data.id_column is None:
            notes.append("no id column: rows are keyed by their number, so duplicated patients could not be checked")
        return notes

    def one_row_per_patient(self) -> str:
        """For the split's description (the model card)."""
        if self.settings.data.id_column:
            return (
                f"One row per patient (unique {self.settings.data.id_column!r}, enforced by the gate), so a "
                "patient is in exactly one side."
            )
        return "One row per patient assumed: there is no id column, so duplicated patients could not be checked."

    def outcome_expectations(self) -> Suite:
        """The family's checks on its outcome column."""
        return []

    def expectations(self, tables: Tables) -> dict[str, Suite]:
        import great_expectations.expectations as gxe

        data = self.settings.data
        frame = tables[TABLE]
        kinds = self.feature_kinds(frame)
        suite: Suite = [gxe.ExpectTableRowCountToBeBetween(min_value=data.min_rows)]
        suite += [
            gxe.ExpectColumnToExist(column=c)
            for c in ([data.id_column] if data.id_column else []) + [data.outcome_column, *kinds]
        ]
        if data.id_column:
            suite += [
                gxe.ExpectColumnValuesToNotBeNull(column=data.id_column),
                gxe.ExpectColumnValuesToBeUnique(column=data.id_column),
            ]
        suite += [gxe.ExpectColumnValuesToNotBeNull(column=data.outcome_column), *self.outcome_expectations()]
        for column, kind in kinds.items():
            suite.append(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1.0 - data.missing_allowed(column)))
            if kind == "numeric":
                suite.append(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_TYPES))
                suite += range_expectations(column, data.range_of(column))
            elif kind == "boolean" and column in frame.columns and frame[column].dtype != bool:
                tokens = sorted(
                    {*BOOLEAN_TOKENS, *(k.upper() for k in BOOLEAN_TOKENS), *(k.title() for k in BOOLEAN_TOKENS)}
                )
                suite.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[*tokens, 0, 1, 0.0, 1.0]))
            elif kind == "categorical" and column in data.categories:
                suite.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=data.categories[column]))
            elif (
                kind == "categorical"
            ):  # learned values go into the model, its schema and its errors: never free text or ids
                suite.append(
                    gxe.ExpectColumnUniqueValueCountToBeBetween(
                        column=column,
                        max_value=MAX_LEARNED_CATEGORIES,
                        description=f"a category learned from the data may have at most {MAX_LEARNED_CATEGORIES} "
                        "values (free text or an "
                        f"identifier must not become one): declare its categories, or leave the column out",
                    )
                )
        return {TABLE: suite}

    def features_and_outcome(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        return frame[self.feature_columns(frame)], frame[self.settings.data.outcome_column]

    def candidate_names(self) -> list[str]:
        return list(self.settings.candidates.enabled())

    # hooks for fit: how to cross-validate and score the tuning, what to pass to fit
    def tuning_folds(self, outcome: pd.Series) -> Any:
        raise NotImplementedError

    def tuning_scoring(self, outcome: pd.Series) -> str:
        raise NotImplementedError

    def fit_params(self, pipeline: Pipeline, outcome: pd.Series) -> dict[str, Any]:
        return {}

    def encoder_params(self, features: pd.DataFrame) -> dict[str, Any]:
        """The columns of each kind, for the pipeline's ColumnEncoder (the kinds come from the training side)."""
        kinds = self.feature_kinds(features)
        by_kind = {
            kind: tuple(c for c, k in kinds.items() if k == kind) for kind in ("numeric", "categorical", "boolean")
        }
        return {f"prepare__{kind}": columns for kind, columns in by_kind.items()} | {
            "prepare__categories": dict(self.settings.data.categories)
        }

    def fit(self, candidate: str, train: Any) -> FittedCandidate:
        features, outcome = train
        pipeline, grid = self.settings.candidates.enabled()[candidate].build(self.seed)
        pipeline.set_params(**self.encoder_params(features))
        search = GridSearchCV(
            pipeline,
            grid,
            cv=self.tuning_folds(outcome),
            scoring=self.tuning_scoring(outcome),
            n_jobs=1,
            refit=True,
            error_score="raise",
        )
        started = time.perf_counter()
        search.fit(features, outcome, **self.fit_params(pipeline, outcome))
        return FittedCandidate(
            candidate=candidate,
            model=search.best_estimator_,
            hyperparameters={k.split("__")[-1]: v for k, v in search.best_params_.items()},
            tuning_score=float(search.best_score_),
            fit_seconds=time.perf_counter() - started,
            curves={  # a network step's loss per epoch (the representation candidates' autoencoder)
                f"{name}_validation_loss": list(step.validation_losses_)
                for name, step in search.best_estimator_.named_steps.items()
                if hasattr(step, "validation_losses_")
            },
        )

    def serving_artifacts(self, model: Any, train: Any) -> dict[str, Any]:
        """The request schema and the explainer's background: k-means centroids of the numeric training features,
        each with the most frequent category and boolean of its cluster (no patient's own row)."""
        from sklearn.cluster import KMeans

        features, _ = train
        encoder = model.named_steps["prepare"]
        kinds = {
            c: ("categorical" if c in encoder.categorical else "boolean" if c in encoder.boolean else "numeric")
            for c in features.columns
        }
        numeric = [c for c, k in kinds.items() if k == "numeric"]
        k = max(1, min(20, len(features) // 10))
        if numeric:
            filled = features[numeric].fillna(features[numeric].median()).fillna(0.0)
            clusters = KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit(filled)
            sizes = np.bincount(clusters.labels_, minlength=k)
            kept = np.flatnonzero(
                sizes >= min(5, sizes.max())
            )  # a cluster of one or two would be those patients' own values
            labels, centres = clusters.labels_, clusters.cluster_centers_[kept]
            labels = np.where(np.isin(labels, kept), np.searchsorted(kept, labels), -1)
        else:
            labels, centres = np.arange(len(features)) % k, np.zeros((k, 0))
        booleans = as_boolean(features[[c for c, kind in kinds.items() if kind == "boolean"]])
        background = []
        for cluster in range(len(centres)):
            members = labels == cluster
            row: dict[str, Any] = dict(zip(numeric, centres[cluster].round(6).tolist()))
            for column, kind in kinds.items():
                if kind == "categorical":
                    row[column] = _most_frequent(features.loc[members, column], fallback=encoder.categories_[column][0])
                elif kind == "boolean":
                    row[column] = bool(_most_frequent(booleans.loc[members, column], fallback=0.0))
            background.append([row[c] for c in features.columns])
        return {
            "feature_names": list(features.columns),
            "kinds": kinds,
            "categories": encoder.categories_,
            "background": background,
        }

    def patient_model(self, serving: dict[str, Any]) -> type[BaseModel]:
        """The typed request body for one patient: numbers finite and in range, booleans, categories from the allowed
        set.

        ``serving`` is what ``serving_artifacts`` stored with the model; its first background row (a centroid, not a
        patient) is the documented example.
        """
        kinds, categories = serving.get("kinds", {}), serving.get("categories", {})
        fields: dict[str, Any] = {}
        for name, value in zip(serving["feature_names"], serving["background"][0], strict=True):
            kind = kinds.get(name, "numeric")
            learned: dict[str, Any] = {"json_schema_extra": {LEARNED_FROM_TRAINING: True}}
            if kind == "categorical":
                fields[name] = (
                    Literal[tuple(categories[name])],
                    Field(
                        examples=[value],
                        description="a category of the training data (model_info lists them)",
                        **learned,
                    ),
                )
            elif kind == "boolean":
                fields[name] = (StrictBool, Field(examples=[bool(value)], **learned))
            else:
                bounds = self.settings.data.range_of(name) or ColumnRange()
                fields[name] = bounds.request_field(examples=[round(value) if bounds.integer else value], **learned)
        patient: type[BaseModel] = create_model("Patient", __config__=ConfigDict(extra="forbid"), **fields)
        return patient

    def checked_features(self, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's feature columns of a user's table, or an error naming a missing column or an unknown category."""
        expected = list(model.feature_names_in_)
        if missing := [c for c in expected if c not in frame.columns]:
            raise ValueError(f"input lacks feature columns the model needs: {', '.join(missing)}")
        for column, allowed in getattr(model.named_steps.get("prepare"), "categories_", {}).items():
            values = frame[column].dropna()
            if len(unknown := values[~values.isin(allowed)]):
                raise ValueError(
                    f"{column}: {len(unknown)} rows have a value the model was not trained on; allowed: {allowed}"
                )
        return frame[expected]

    def input_example(self, test: Any) -> pd.DataFrame:
        features, _ = test
        return features.head(3)

    # --- monitoring: the reference a version carries, and a batch made comparable with it ---------------
    def monitored_prediction(self, model: Any, features: pd.DataFrame) -> pd.Series:
        """One value per patient whose distribution is watched: the model's prediction (families refine it)."""
        return pd.Series(model.predict(features), index=features.index, name="prediction")

    def monitored_features(self, model: Any, checked: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Kind]]:
        """Features already checked (``checked_features``) with their kinds, booleans read as 0/1 (a file's "yes" and a
        request's true alike)."""
        encoder = model.named_steps["prepare"]
        features = checked.copy()
        if booleans := list(encoder.boolean):
            features[booleans] = as_boolean(features[booleans])
        kinds: dict[str, Kind] = {
            c: "categorical" if c in encoder.categorical else "boolean" if c in encoder.boolean else "numeric"
            for c in features.columns
        }
        return features, kinds

    def drift_reference(self, model: Any, split: Any) -> dict[str, Any]:
        from medmaas.drift import column_profile, profile

        features, kinds = self.monitored_features(model, self.checked_features(model, split.train[0]))
        held_out = split.test[0]
        return {
            "features": profile(features, kinds),
            "prediction": column_profile(self.monitored_prediction(model, held_out), "numeric"),
        }

    def read_monitoring_batch(self, path: Path) -> pd.DataFrame:
        """A batch to monitor: a CSV or Parquet file read as the training file is."""
        if path.is_dir():
            raise UnreadableData(f"{path.name} is a folder; {self.name} monitors a CSV or Parquet file")
        return self.settings.data.read_file(path, self.name, self.outcome_dtype())

    def batch_expectations(self, frame: pd.DataFrame) -> Suite:
        """The gate's suite for a batch to monitor: the feature checks, and the outcome's only when the batch has one;
        no size or event-count floor (monitoring has its own ``min_rows``) and nothing on an id column (it is
        dropped)."""
        data = self.settings.data
        skipped = {data.id_column} | (set() if self.is_labelled(frame) else set(data.outcome_columns))
        size_checks = ("ExpectTableRowCountToBeBetween", "ExpectColumnSumToBeBetween")
        return [
            e
            for e in self.expectations({TABLE: frame})[TABLE]
            if type(e).__name__ not in size_checks and getattr(e, "column", None) not in skipped
        ]

    def is_labelled(self, frame: pd.DataFrame) -> bool:
        return all(c in frame.columns for c in self.settings.data.outcome_columns)

    # --- evaluation: the family's held-out metrics, and the same per declared subgroup ------------------
    def held_out(self, model: Any, test: Any, figures: bool = True) -> Evaluation:
        raise NotImplementedError

    def evaluate(self, model: Any, test: Any) -> Evaluation:
        return self.held_out(model, test)

    @staticmethod
    def row_keys(features: pd.DataFrame, outcome: pd.Series | pd.DataFrame) -> tuple[tuple[str], ...]:
        """A patient's row by its content (features and outcome): the same row in a grown file is the same row, with no
        id needed."""
        both = pd.concat([features.reset_index(drop=True), pd.DataFrame(outcome).reset_index(drop=True)], axis=1)
        # numbers as floats first: a column read as 60 in one file and 60.0 in the grown one is the same value
        both = both.apply(
            lambda column: column.astype(float) if pd.api.types.is_numeric_dtype(column) else column
        ).astype(str)
        return tuple((f"{h:016x}",) for h in pd.util.hash_pandas_object(both, index=False).to_numpy())

    def training_keys(self, train: Any) -> list[str]:
        return [key for (key,) in self.row_keys(*train)]

    def held_out_rows(
        self, metrics: dict[str, MetricFn], arrays: tuple[np.ndarray, ...], test: Any, strata: np.ndarray | None = None
    ) -> HeldOutRows:
        """The primary metric per patient row, for the paired gate (one row per patient: patients are the resampling
        unit)."""
        return HeldOutRows(
            metrics[self.primary_metric], tuple(arrays), self.row_keys(*test), strata=strata, unit="patient"
        )

    def subgroup_table(self, model: Any, test: Any) -> pd.DataFrame | None:
        features, outcome = test
        return subgroup_table(
            self.settings.data.subgroups,
            self.settings.data.bands,
            self.gated_metrics(),
            values_of=lambda column: features[column] if column in features.columns else None,
            metrics_of=lambda members: (
                self.held_out(model, (features[members], outcome[members]), figures=False).metrics
            ),
            informative_count=lambda members: self.informative_count(outcome[members]),
        )

    def informative_count(self, outcome: Any) -> tuple[int, str]:
        """What limits a subgroup's precision, and its name: the rows here; the smaller class or the events in families
        that say so."""
        return len(outcome), "n"


def _most_frequent(values: pd.Series, fallback: Any) -> Any:
    counts = values.dropna().value_counts()
    value = counts.index[0] if len(counts) else fallback
    return value.item() if hasattr(value, "item") else value
