"""The bioactivity candidates: logistic regression, a random forest and histogram gradient boosting on Morgan count
fingerprints and RDKit descriptors, and a torch MLP on the same, each tuned by CV grouped by scaffold."""

from __future__ import annotations

import time

from sklearn.model_selection import GridSearchCV

from blocks.grouping import grouped_folds
from families.bioactivity.chemistry import MoleculeFeaturizer, fingerprint_bits
from families.bioactivity.data import Molecules
from families.bioactivity.model import DOMAIN_BITS, DOMAIN_RADIUS, MoleculeModel
from families.bioactivity.settings import BioactivitySettings
from medmaas.family import FittedCandidate


class BioactivityCandidates:
    """The candidates' part of the family (Bioactivity): it reads the family's settings and seed."""

    settings: BioactivitySettings
    seed: int

    def candidate_names(self) -> list[str]:
        return list(self.settings.candidates.enabled())

    def featurizer(self) -> MoleculeFeaturizer:
        f = self.settings.features
        return MoleculeFeaturizer(radius=f.radius, n_bits=f.n_bits, descriptors=f.descriptors)

    def _estimator(self, candidate: str):
        from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if candidate == "logistic_regression":
            return make_pipeline(
                StandardScaler(), LogisticRegression(max_iter=3000, class_weight="balanced")
            ), "logisticregression__"
        if candidate == "random_forest":
            return RandomForestClassifier(class_weight="balanced_subsample", n_jobs=1, random_state=self.seed), ""
        if candidate == "hist_gradient_boosting":
            return HistGradientBoostingClassifier(
                class_weight="balanced", early_stopping=True, random_state=self.seed
            ), ""
        from families.bioactivity.mlp import FingerprintMLP

        return FingerprintMLP(random_state=self.seed), ""

    def fit(self, candidate: str, train: Molecules) -> FittedCandidate:
        spec = self.settings.candidates.enabled()[candidate]
        estimator, prefix = self._estimator(candidate)
        fixed = {name: value for name, value in spec if not isinstance(value, list)}
        if fixed:
            estimator.set_params(**{f"{prefix}{k}": v for k, v in fixed.items()})
        grid = {f"{prefix}{name}": values for name, values in spec if isinstance(values, list)}
        featurizer = self.featurizer()
        started = time.perf_counter()
        X = featurizer.transform(train.smiles)
        folds = grouped_folds(train.labels, train.scaffolds, self.settings.split.cv_folds, self.seed)
        search = GridSearchCV(
            estimator, grid, cv=folds, scoring="roc_auc", n_jobs=1, refit=True, error_score="raise"
        ).fit(X, train.labels)
        data = self.settings.data
        negative = next(label for label in data.labels if label != data.positive_label)
        domain = fingerprint_bits(list(train.smiles), DOMAIN_RADIUS, DOMAIN_BITS)
        model = MoleculeModel(featurizer, search.best_estimator_, domain, [negative, data.positive_label])
        training = (
            {"epochs_run": float(search.best_estimator_.epochs_run_)}
            if hasattr(search.best_estimator_, "epochs_run_")
            else {}
        )
        return FittedCandidate(
            candidate,
            model,
            {k.removeprefix(prefix): v for k, v in search.best_params_.items()},
            float(search.best_score_),
            time.perf_counter() - started,
            training,
        )
