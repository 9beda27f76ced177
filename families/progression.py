"""Disease progression (tabular): predict how far a disease progresses from baseline measurements (seeds 003, 004).

Bundled data: scikit-learn's diabetes set in raw clinical units (442 patients, 10 baseline
variables; target = a quantitative measure of progression one year after baseline). Any CSV
with one row per patient, an id, a numeric outcome and numeric features trains the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import PositiveFloat, PositiveInt
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Lasso, Ridge
from sklearn.model_selection import KFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.svm import SVR

from families.base import Evaluation, Split, Tables
from families.regression import REGRESSION_METRICS, regression_figures, regression_metric_specs
from families.tabular import NUMERIC_TYPES, TABLE, BoostingGrid, CandidateGrids, Grid, ColumnRange, SplitSettings, TabularData, TabularFamily, scaled, unscaled
from medmaas.settings import FamilySettings
from medmaas.stats import bootstrap_estimates

BUNDLED_DATA = Path("data/raw/diabetes.csv")
# scikit-learn's s1..s6, named by what they measure (its documentation)
SERUM_NAMES = {"s1": "total_cholesterol", "s2": "ldl", "s3": "hdl", "s4": "cholesterol_hdl_ratio", "s5": "log_triglycerides", "s6": "glucose"}


class RegressionData(TabularData):
    path: Path = BUNDLED_DATA
    target_column: str = "progression"
    target_range: ColumnRange = ColumnRange()

    @property
    def outcome_column(self) -> str:
        return self.target_column


class RidgeGrid(Grid):
    alpha: list[PositiveFloat] = [0.1, 1.0, 10.0, 100.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(Ridge())


class LassoGrid(Grid):
    alpha: list[PositiveFloat] = [0.01, 0.1, 1.0, 5.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(Lasso(max_iter=20_000, random_state=seed))


class SvrGrid(Grid):
    C: list[PositiveFloat] = [10.0, 100.0]
    epsilon: list[PositiveFloat] = [5.0]
    gamma: list[PositiveFloat | Literal["scale", "auto"]] = ["scale"]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(SVR(kernel="rbf"))


class RandomForestGrid(Grid):
    n_estimators: list[PositiveInt] = [300]
    min_samples_leaf: list[PositiveInt] = [5, 10]
    max_features: list[PositiveFloat | Literal["sqrt", "log2"]] = [0.5]

    def pipeline(self, seed: int) -> Pipeline:
        return unscaled(RandomForestRegressor(n_jobs=1, random_state=seed))


class GradientBoostingGrid(BoostingGrid):
    def pipeline(self, seed: int) -> Pipeline:
        return unscaled(GradientBoostingRegressor(random_state=seed))


class RegressorGrids(CandidateGrids):
    ridge: RidgeGrid | None = None
    lasso: LassoGrid | None = None
    svr: SvrGrid | None = None
    random_forest: RandomForestGrid | None = None
    gradient_boosting: GradientBoostingGrid | None = None


class ProgressionSettings(FamilySettings):
    data: RegressionData = RegressionData()
    split: SplitSettings = SplitSettings(test_fraction=0.2)
    candidates: RegressorGrids


class Progression(TabularFamily):
    name = "progression"
    Settings = ProgressionSettings
    bundled_data = BUNDLED_DATA
    primary_metric = "r2"
    metrics = regression_metric_specs("the outcome's units")
    intended_use = (
        "Risk stratification: an estimate of how far the disease will progress over the follow-up "
        "period, to prioritise review and follow-up, read by a clinician with its error in mind."
    )
    out_of_scope = "Individual treatment decisions on the point estimate alone; populations or horizons other than the training data's."
    settings: ProgressionSettings

    @staticmethod
    def export_bundled(path: Path) -> Path:
        """Write scikit-learn's diabetes data in raw units, with a pseudonymous patient id."""
        from sklearn.datasets import load_diabetes

        bunch = load_diabetes(as_frame=True, scaled=False)
        frame = bunch.data.rename(columns=SERUM_NAMES)
        frame.insert(0, "patient_id", [f"D{i:05d}" for i in range(1, len(frame) + 1)])
        frame["progression"] = bunch.target
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path

    def outcome_expectations(self) -> list:
        import great_expectations.expectations as gxe

        data = self.settings.data
        bounds = data.target_range
        suite = [gxe.ExpectColumnValuesToBeInTypeList(column=data.target_column, type_list=NUMERIC_TYPES)]
        if bounds.min is not None or bounds.max is not None:
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=data.target_column, min_value=bounds.min, max_value=bounds.max))
        return suite

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        frame = tables[TABLE]
        outcome = frame[self.settings.data.target_column]
        return {"patients": len(frame), "features": len(self.feature_columns(frame)),
                "outcome": f"mean {outcome.mean():.1f}, sd {outcome.std():.1f}, range {outcome.min():g}-{outcome.max():g}"}

    def split(self, tables: Tables) -> Split:
        frame = tables[TABLE]
        data = self.settings.data
        # stratify on outcome quintiles so both sides span its range
        bins = pd.qcut(frame[data.target_column], q=5, labels=False, duplicates="drop")
        train, test = train_test_split(frame, test_size=self.settings.split.test_fraction, stratify=bins, random_state=self.seed)
        description = (
            f"One row per patient (unique {data.id_column!r}, enforced by the gate), so a patient is in exactly one side. "
            f"{1 - self.settings.split.test_fraction:.0%}/{self.settings.split.test_fraction:.0%} stratified by outcome quintile, "
            f"seed {self.seed}; hyperparameters tuned by {self.settings.split.cv_folds}-fold CV inside the training side only."
        )
        return Split(self.features_and_outcome(train), self.features_and_outcome(test), description, {"train": len(train), "test": len(test)})

    def tuning_folds(self, outcome: pd.Series):
        return KFold(self.settings.split.cv_folds, shuffle=True, random_state=self.seed)

    def tuning_scoring(self, outcome: pd.Series) -> str:
        return "r2"

    def evaluate(self, model: Any, test: Any) -> Evaluation:
        features, outcome = test
        observed = outcome.to_numpy(dtype=float)
        predicted = model.predict(features)
        estimates = bootstrap_estimates(REGRESSION_METRICS, (observed, predicted), self.settings.bootstrap_resamples, self.seed)
        return Evaluation(metrics=estimates, figures=regression_figures(observed, predicted))

    def limitations(self) -> list[str]:
        extra = []
        if self.settings.data.path == BUNDLED_DATA:
            extra.append("Diabetes data: 442 patients from one study (Efron et al., 2004); the outcome scale is study-specific and the horizon is one year.")
        return [*super().limitations(), *extra]

    def predict_frame(self, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
        expected = list(model.feature_names_in_)
        missing = [c for c in expected if c not in frame.columns]
        if missing:
            raise ValueError(f"input lacks feature columns the model needs: {', '.join(missing)}")
        return pd.DataFrame({"predicted_progression": model.predict(frame[expected])}, index=frame.index)


FAMILY = Progression
