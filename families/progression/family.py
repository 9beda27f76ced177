"""The tabular progression family: its data contract, split, regressors and metrics (described in __init__.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.model_selection import KFold, train_test_split

from blocks.regression import REGRESSION_METRICS, regression_figures, regression_metric_specs
from blocks.tabular import TABLE, TabularFamily
from families.progression.settings import BUNDLED_DATA, SERUM_NAMES, ProgressionSettings
from medmaas.family import Evaluation, Split, Suite, Tables
from medmaas.settings import NUMERIC_TYPES
from medmaas.stats import bootstrap_estimates


class Progression(TabularFamily):
    name = "progression"
    Settings = ProgressionSettings
    bundled_data = BUNDLED_DATA
    primary_metric = "r2"
    experiment_kind = "regression"
    metrics = regression_metric_specs("the outcome's units")
    intended_use = (
        "Risk stratification: an estimate of how far the disease will progress over the follow-up "
        "period, to prioritise review and follow-up, read by a clinician with its error in mind."
    )
    out_of_scope = (
        "Individual treatment decisions on the point estimate alone; populations or horizons other than "
        "the training data's."
    )
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

    def outcome_expectations(self) -> Suite:
        import great_expectations.expectations as gxe

        data = self.settings.data
        bounds = data.target_range
        suite: Suite = [gxe.ExpectColumnValuesToBeInTypeList(column=data.target_column, type_list=NUMERIC_TYPES)]
        if bounds.min is not None or bounds.max is not None:
            suite.append(
                gxe.ExpectColumnValuesToBeBetween(column=data.target_column, min_value=bounds.min, max_value=bounds.max)
            )
        return suite

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        frame = tables[TABLE]
        outcome = frame[self.settings.data.target_column]
        return {
            "patients": len(frame),
            "features": len(self.feature_columns(frame)),
            "outcome": f"mean {outcome.mean():.1f}, sd {outcome.std():.1f}, range {outcome.min():g}-{outcome.max():g}",
        }

    def split(self, tables: Tables) -> Split:
        frame = tables[TABLE]
        data = self.settings.data
        # stratify on outcome quintiles so both sides span its range
        bins = pd.qcut(frame[data.target_column], q=5, labels=False, duplicates="drop")
        train, test = train_test_split(
            frame, test_size=self.settings.split.test_fraction, stratify=bins, random_state=self.seed
        )
        description = (
            f"{self.one_row_per_patient()} "
            f"{1 - self.settings.split.test_fraction:.0%}/{self.settings.split.test_fraction:.0%} stratified by "
            "outcome quintile, "
            f"seed {self.seed}; hyperparameters tuned by {self.settings.split.cv_folds}-fold CV inside the training "
            "side only."
        )
        return Split(
            self.features_and_outcome(train),
            self.features_and_outcome(test),
            description,
            {"train": len(train), "test": len(test)},
        )

    def tuning_folds(self, outcome: pd.Series):
        return KFold(self.settings.split.cv_folds, shuffle=True, random_state=self.seed)

    def tuning_scoring(self, outcome: pd.Series) -> str:
        return "r2"

    def held_out(self, model: Any, test: Any, figures: bool = True) -> Evaluation:
        features, outcome = test
        observed = outcome.to_numpy(dtype=float)
        predicted = model.predict(features)
        estimates = bootstrap_estimates(
            REGRESSION_METRICS, (observed, predicted), self.settings.bootstrap_resamples, self.seed
        )
        return Evaluation(
            metrics=estimates,
            figures=regression_figures(observed, predicted) if figures else {},
            rows=self.held_out_rows(REGRESSION_METRICS, (observed, predicted), test),
        )

    def limitations(self) -> list[str]:
        extra = []
        if self.settings.data.path == BUNDLED_DATA:
            extra.append(
                "Diabetes data: 442 patients from one study (Efron et al., 2004); the outcome scale is study-specific "
                "and the horizon is one year."
            )
        return [*super().limitations(), *extra]

    def predict_frame(self, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {"predicted_progression": model.predict(self.checked_features(model, frame))}, index=frame.index
        )
