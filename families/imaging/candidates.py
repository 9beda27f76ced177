"""The imaging candidates: the small ResNet with and without augmentation, and the pixel baselines (logistic regression,
gradient boosting on downsampled pixels), each within the training budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from sklearn.model_selection import GridSearchCV, GroupKFold

from blocks.grouping import stratified_subset
from families.imaging.data import Images
from families.imaging.model import ImageModel, downsampled
from families.imaging.settings import ImagingSettings
from medmaas.family import FittedCandidate


class ImagingCandidates:
    """The candidates' part of the family (Imaging): it reads the family's settings and seed."""

    settings: ImagingSettings
    seed: int
    primary_metric: ClassVar[str]  # the family's, with these two methods
    _metric_functions: Callable[[int], dict]
    _positive: Callable[[], int | None]

    def candidate_names(self) -> list[str]:
        return list(self.settings.candidates.enabled())

    def _budget(self, train: Images, limit: int | None) -> Images:
        """A seeded, class-stratified subset of at most ``limit`` training rows (the CPU budget)."""
        rows = stratified_subset(train.codes, limit, self.seed)
        return train if rows is None else train.take(rows)

    def fit(self, candidate: str, train: Images) -> FittedCandidate:
        spec = self.settings.candidates.enabled()[candidate]
        data = self.settings.data
        started = time.perf_counter()
        if candidate.startswith("cnn"):
            from families.imaging.network import ImageCNN

            used = self._budget(train, spec.max_train_images)
            augmentation = self.settings.augmentation if candidate == "cnn" else None
            network = ImageCNN(
                width=spec.width,
                learning_rate=spec.learning_rate,
                weight_decay=spec.weight_decay,
                batch_size=spec.batch_size,
                max_epochs=spec.max_epochs,
                patience=spec.patience,
                augmentation=augmentation,
                validation_fraction=self.settings.split.validation_fraction,
                random_state=self.seed,
            )
            estimator = network.fit(used.pixels, used.codes, used.groups, used.validation)
            chosen = {
                "width": spec.width,
                "learning_rate": spec.learning_rate,
                "augmentation": augmentation is not None,
                "train_images": len(used.codes),
            }
            training = {
                "epochs_run": float(network.epochs_run_),
                "best_epoch": float(network.best_epoch_),
                "seconds_per_epoch": network.seconds_per_epoch_,
            }
            validation = used.take(
                network.validation_rows_
            )  # grouped like the test split; early stopping also watched it (its loss, not this)
            score = float(
                self._metric_functions(len(data.labels))[self.primary_metric](
                    validation.codes, self._model_of(estimator).predict_proba(validation.pixels)
                )
            )
        else:
            estimator, grid = self._baseline(candidate, spec)
            folds = list(GroupKFold(n_splits=3).split(train.pixels, train.codes, train.groups))
            scoring = "roc_auc" if len(data.labels) == 2 else "roc_auc_ovr"
            search = GridSearchCV(estimator, grid, cv=folds, scoring=scoring, n_jobs=1, error_score="raise").fit(
                train.pixels, train.codes
            )
            estimator, score = search.best_estimator_, float(search.best_score_)
            chosen = {"pixels": spec.pixels, **{k.rpartition("__")[2]: v for k, v in search.best_params_.items()}}
            training = {}
        model = self._model_of(estimator)
        return FittedCandidate(candidate, model, chosen, score, time.perf_counter() - started, training)

    def _baseline(self, candidate: str, spec) -> tuple[Any, dict[str, list]]:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        pixels = FunctionTransformer(downsampled, kw_args={"side": spec.pixels})
        if candidate == "pixel_logistic_regression":
            steps = [
                ("pixels", pixels),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(max_iter=3000, class_weight="balanced")),
            ]
            return Pipeline(steps), {"model__C": spec.C}
        boosting = HistGradientBoostingClassifier(
            class_weight="balanced", early_stopping=False, random_state=self.seed
        )  # its own holdout ignores groups
        return Pipeline([("pixels", pixels), ("model", boosting)]), {
            "model__learning_rate": spec.learning_rate,
            "model__max_iter": spec.max_iter,
        }

    def _model_of(self, estimator: Any) -> ImageModel:
        data = self.settings.data
        return ImageModel(
            estimator,
            list(data.labels),
            data.image_size,
            data.channels,
            data.max_pixels,
            self._positive(),
            self.settings.decision_threshold,
        )
