"""The clinical text candidates: TF-IDF with a linear model (tuned on a grouped validation share), frozen MiniLM
embeddings with logistic regression, and MiniLM fine-tuned (int8 when the rule allows); each within the training
budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from sklearn import metrics as skm

from blocks.grouping import stratified_subset
from families.clinical_text.data import Texts
from families.clinical_text.model import TextModel
from families.clinical_text.settings import ClinicalTextSettings
from medmaas.family import FittedCandidate


class TextCandidates:
    """The candidates' part of the family (ClinicalText): it reads the family's settings and seed."""

    settings: ClinicalTextSettings
    seed: int
    primary_metric: ClassVar[str]  # the family's, with its metrics (TextMetrics)
    _metric_functions: Callable[[int], dict]

    def candidate_names(self) -> list[str]:
        return list(self.settings.candidates.enabled())

    def _budget(self, train: Texts, limit: int | None) -> Texts:
        """A seeded, class-stratified subset of at most ``limit`` training rows (the CPU budget)."""
        rows = stratified_subset(train.codes, limit, self.seed)
        return train if rows is None else train.take(rows)

    def _linear(self, candidate: str, C: float, min_df: int, folds: list) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, make_pipeline
        from sklearn.svm import LinearSVC

        features = FeatureUnion(
            [
                (
                    "words",
                    TfidfVectorizer(ngram_range=(1, 2), min_df=min_df, sublinear_tf=True, strip_accents="unicode"),
                ),
                (
                    "characters",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(2, 5),
                        min_df=min_df,
                        sublinear_tf=True,
                        strip_accents="unicode",
                    ),
                ),
            ]
        )
        if candidate == "tfidf_logistic_regression":
            model = LogisticRegression(C=C, max_iter=300, class_weight="balanced")
        else:  # the SVM's margins become probabilities by sigmoid calibration on folds grouped like the split
            model = CalibratedClassifierCV(LinearSVC(C=C, class_weight="balanced"), method="sigmoid", cv=folds)
        return make_pipeline(features, model)

    def _grouped_folds(self, side: Texts, k: int = 3) -> list:
        from sklearn.model_selection import GroupKFold

        return list(GroupKFold(n_splits=k).split(side.texts, side.codes, side.groups))

    @staticmethod
    def _validation_f1(codes: np.ndarray, predicted: np.ndarray, labels: list[str]) -> float:
        """Macro-F1 over every label, as the held-out figure counts it (a label missing from the validation split scores
        0, not nothing)."""
        return float(
            skm.f1_score(codes, predicted, labels=list(range(len(labels))), average="macro", zero_division=0.0)
        )

    def _tuned(self, make, grid: list[float], fit: Texts, validation: Texts) -> tuple[float, float]:
        """The grid value with the best validation macro-F1, and that score."""
        scores: dict[float, float] = {}
        for value in grid:
            predicted = make(value, fit).fit(list(fit.texts), fit.codes).predict(list(validation.texts))
            scores[value] = self._validation_f1(validation.codes, predicted, validation.labels)
        best = max(scores, key=scores.__getitem__)
        return best, float(scores[best])

    def fit(self, candidate: str, train: Texts) -> FittedCandidate:
        spec = self.settings.candidates.enabled()[candidate]
        started = time.perf_counter()
        fit_rows, validation_rows = train.validation_rows()
        fit_side, validation = train.take(fit_rows), train.take(validation_rows)
        if candidate == "minilm_finetuned":
            model, chosen, score, training = self._fine_tuned(spec, fit_side, validation)
        elif candidate == "minilm_embeddings":
            model, chosen, score, training = self._embeddings(spec, train)
        else:
            best, score = self._tuned(
                lambda C, side: self._linear(candidate, C, spec.min_df, self._grouped_folds(side)),
                spec.C,
                fit_side,
                validation,
            )
            estimator = self._linear(candidate, best, spec.min_df, self._grouped_folds(train)).fit(
                list(train.texts), train.codes
            )
            model, chosen, training = TextModel(estimator, train.labels), {"C": best, "min_df": spec.min_df}, {}
        return FittedCandidate(candidate, model, chosen, score, time.perf_counter() - started, training)

    def _fine_tuned(self, spec, fit_side: Texts, validation: Texts) -> tuple[TextModel, dict, float, dict[str, float]]:
        from blocks.torch_training import one_torch_thread
        from families.clinical_text.finetune import fine_tune

        used, validation = (
            self._budget(fit_side, spec.max_train_examples),
            self._budget(validation, spec.max_validation_examples),
        )
        training: dict[str, float] = {}
        with one_torch_thread():
            network, stopped = fine_tune(
                list(used.texts),
                used.codes,
                list(validation.texts),
                validation.codes,
                len(used.labels),
                spec,
                self.seed,
            )
            served, other, chosen = self._quantisation_rule(network, validation, spec, training)
        chosen |= {
            "learning_rate": spec.learning_rate,
            "batch_size": spec.batch_size,
            "max_length": spec.max_length,
            "train_texts": len(used.codes),
        }
        training |= {
            "epochs_run": float(stopped.epochs_run),
            "best_epoch": float(stopped.best_epoch),
            "seconds_per_epoch": stopped.seconds_per_epoch,
        }
        model = TextModel(served, used.labels)
        if (
            other is not None
        ):  # scored beside it on the held-out set (the leaderboard's variant row); never stored with the model
            model._alternative = (
                f"{'int8' if other.quantized else 'float32'}, not served",
                TextModel(other, used.labels),
            )
        on_validation = self._metric_functions(len(used.labels))[self.primary_metric](
            validation.codes, model.predict_proba(list(validation.texts))
        )
        return model, chosen, float(on_validation), training

    def _embeddings(self, spec, train: Texts) -> tuple[TextModel, dict, float, dict[str, float]]:
        """Every training text embedded once; C tuned on the validation split, then the head refitted on all of them."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        from blocks.torch_training import one_torch_thread
        from families.clinical_text.model import MiniLMEmbedder

        embedder = MiniLMEmbedder(spec.max_length, spec.batch_size)
        with one_torch_thread():
            vectors = embedder.transform(list(train.texts))
        fit_rows, validation_rows = train.validation_rows()
        scores: dict[float, float] = {}
        for C in spec.C:
            head = LogisticRegression(C=C, max_iter=2000, class_weight="balanced").fit(
                vectors[fit_rows], train.codes[fit_rows]
            )
            scores[C] = self._validation_f1(
                train.codes[validation_rows], head.predict(vectors[validation_rows]), train.labels
            )
        best = max(scores, key=scores.__getitem__)
        head = LogisticRegression(C=best, max_iter=2000, class_weight="balanced").fit(vectors, train.codes)
        return TextModel(make_pipeline(embedder, head), train.labels), {"C": best}, float(scores[best]), {}

    @staticmethod
    def _quantisation_rule(network, validation: Texts, spec, training: dict[str, float]):
        """(served, the other network or None, what was chosen): int8 when its validation accuracy is at most
        ``max_accuracy_loss`` below the float network's; else the float one."""
        float_accuracy = float(
            (network.predict_proba(list(validation.texts)).argmax(axis=1) == validation.codes).mean()
        )
        training |= {"validation_accuracy_float": float_accuracy, "validation_accuracy_served": float_accuracy}
        if not spec.quantize:
            return network, None, {"served": "float32"}
        int8 = network.int8()
        int8_accuracy = float((int8.predict_proba(list(validation.texts)).argmax(axis=1) == validation.codes).mean())
        training["validation_accuracy_int8"] = int8_accuracy
        if int8_accuracy >= float_accuracy - spec.max_accuracy_loss:
            training["validation_accuracy_served"] = int8_accuracy
            return int8, network, {"served": "int8"}
        return (
            network,
            int8,
            {"served": f"float32 (int8 lost {float_accuracy - int8_accuracy:.3f} validation accuracy)"},
        )
