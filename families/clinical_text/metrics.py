"""The clinical text metrics: macro-F1 first, with accuracy, top-k accuracy, calibration, size and speed; figures and
the per-group table."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from blocks.calibration import ece_if_calibrated, top_label_ece
from families.clinical_text.data import Texts
from families.clinical_text.model import TextModel, ms_per_text
from families.clinical_text.settings import ClinicalTextSettings
from medmaas.family import Evaluation
from medmaas.identity import content_key
from medmaas.stats import Estimate, HeldOutRows, bootstrap_estimates

LATENCY_SAMPLE = 512  # held-out texts timed for ms_per_text


class TextMetrics:
    """The metrics' part of the family (ClinicalText): it reads the family's settings and seed."""

    settings: ClinicalTextSettings
    seed: int
    primary_metric: ClassVar[str]  # the family's

    def _metric_functions(self, classes: int) -> dict:
        everyone, k = list(range(classes)), min(self.settings.top_k, classes)

        def predicted(p):
            return p.argmax(axis=1)

        return {
            "macro_f1": lambda y, p: skm.f1_score(y, predicted(p), labels=everyone, average="macro", zero_division=0.0),
            "accuracy": lambda y, p: skm.accuracy_score(y, predicted(p)),
            "top_k_accuracy": lambda y, p: (
                skm.top_k_accuracy_score(y, p, k=k, labels=everyone)
                if classes > 2
                else skm.accuracy_score(y, predicted(p))
            ),
            "balanced_accuracy": lambda y, p: skm.balanced_accuracy_score(y, predicted(p)),
            "ece": top_label_ece,
        }

    def _scored(self, model: TextModel, test: Texts) -> tuple[dict[str, Estimate], np.ndarray]:
        import warnings

        probability = model.predict_proba(list(test.texts))
        with (
            warnings.catch_warnings()
        ):  # a resample may miss a rare label: balanced accuracy then warns, and is still right
            warnings.simplefilter("ignore", UserWarning)
            estimates = bootstrap_estimates(
                self._metric_functions(len(model.classes)),
                (test.codes, probability),
                self.settings.bootstrap_resamples,
                self.seed,
                clusters=test.groups,
            )  # a group's texts are near-duplicates: resampled together
        sample = list(test.texts[:LATENCY_SAMPLE])
        noise_floor = ece_if_calibrated(probability.max(axis=1), self.seed)
        for name, value in (
            ("ece_if_calibrated", noise_floor),
            ("model_mb", model.size_mb()),
            ("ms_per_text", ms_per_text(model, sample)),
        ):
            estimates[name] = Estimate(value, value, value)
        return estimates, probability

    def evaluate(self, model: TextModel, test: Texts) -> Evaluation:
        estimates, probability = self._scored(model, test)
        variants = {}
        if (
            alternative := getattr(model, "_alternative", None)
        ) is not None:  # the fine-tuned network in its other precision
            variants[alternative[0]] = self._scored(alternative[1], test)[0]
        rows = HeldOutRows(
            self._metric_functions(len(model.classes))[self.primary_metric],
            (test.codes, probability),
            tuple((content_key(text),) for text in test.texts),
            clusters=test.groups,
            unit="group",
        )
        return Evaluation(
            metrics=estimates,
            figures=self._figures(model.classes, test.codes, probability),
            variants=variants,
            rows=rows,
        )

    def _figures(self, classes: list[str], codes: np.ndarray, probability: np.ndarray) -> dict[str, bytes]:
        import matplotlib.pyplot as plt

        from blocks.plots import png

        side = max(5.0, 0.4 * len(classes))
        fig, ax = plt.subplots(figsize=(side + 1, side))
        skm.ConfusionMatrixDisplay.from_predictions(
            codes,
            probability.argmax(axis=1),
            labels=list(range(len(classes))),
            display_labels=classes,
            normalize="true",
            values_format=".2f",
            include_values=len(classes) <= 12,
            ax=ax,
            xticks_rotation="vertical",
            colorbar=False,
        )
        ax.set_title("Held-out confusion matrix (rows: true label, normalised)")
        return {"confusion.png": png(fig)}

    def subgroup_table(self, model: TextModel, test: Texts) -> pd.DataFrame:
        """Per label (chapter for ICD-10-CM): held-out texts and groups, recall and precision with 95% CIs over groups,
        F1; a label with fewer than 30 held-out texts or 10 groups is flagged."""
        predicted = model.predict_proba(list(test.texts)).argmax(axis=1)
        everyone = list(range(len(model.classes)))
        _, _, f1, support = skm.precision_recall_fscore_support(
            test.codes, predicted, labels=everyone, zero_division=0.0
        )
        rows = []
        for code, label in enumerate(model.classes):

            def recall(y, p, code=code):
                return float(np.mean(p[y == code] == code)) if (y == code).any() else float("nan")

            def precision(y, p, code=code):
                return float(np.mean(y[p == code] == code)) if (p == code).any() else float("nan")

            truly = test.codes == code
            estimates = bootstrap_estimates(
                {"recall": recall, "precision": precision},
                (test.codes, predicted),
                self.settings.bootstrap_resamples,
                self.seed,
                clusters=test.groups,
            )
            groups = len(np.unique(test.groups[truly]))
            rows.append(
                {
                    "label": label,
                    "held-out texts": int(support[code]),
                    "groups": groups,
                    "recall": str(estimates["recall"]),
                    "precision": str(estimates["precision"]),
                    "F1": round(float(f1[code]), 3),
                    "note": "few held-out texts or groups: read with care" if support[code] < 30 or groups < 10 else "",
                }
            )
        return pd.DataFrame(rows)
