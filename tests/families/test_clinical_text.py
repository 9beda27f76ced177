"""The clinical text family: the ICD-10-CM export, de-identification before the gate, the gate, a split with no category
(and no identical text) on both sides, the quantisation rule, the fine-tuned network, and quality floors."""

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import yaml
from support import merged

from families.clinical_text.family import DEIDENTIFIED, TEXTS, ClinicalText, Texts
from families.clinical_text.model import TextModel
from families.clinical_text.settings import ClinicalTextSettings, FineTuneSettings
from medmaas.environment import PROJECT_ROOT
from medmaas.settings import ConfigError
from tasks.gate import run_gate

REPO_BLOCK = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())[
    "clinical_text"
]  # (importing conftest would re-run it: new state dirs)


def family(overrides: dict | None = None) -> ClinicalText:
    return ClinicalText(ClinicalTextSettings.model_validate(merged(REPO_BLOCK, overrides or {})), seed=42)


def as_tables(frame: pd.DataFrame) -> dict:
    return {
        TEXTS: frame.assign(characters=frame["description"].str.len()),
        DEIDENTIFIED: pd.DataFrame({"identifier": [], "count": []}),
    }


@pytest.fixture(scope="module")
def icd(icd10cm_csv) -> pd.DataFrame:
    return pd.read_csv(icd10cm_csv, dtype=str)


def test_export_keeps_the_leaves_without_their_encounter_variants_in_21_chapters(icd):
    assert 35_000 < len(icd) < 37_000 and icd["code"].is_unique
    assert icd["chapter"].nunique() == 21 and not icd["chapter"].str.startswith("U").any()
    assert not icd["description"].str.contains(r", (?:initial|subsequent) encounter|, sequela$", regex=True).any()
    assert (icd["code"].str[:3] == icd["category"]).all()
    assert icd.groupby("description")["chapter"].nunique().max() == 1  # no description under two chapters
    assert {"S52.521", "E11.22", "C50.911"} <= set(icd["code"])


def test_the_drug_reviews_are_exported_beside_it_with_three_sentiments(icd10cm_csv):
    reviews = pd.read_csv(icd10cm_csv.parent / "drug_review_texts.csv")
    assert len(reviews) == 979 and set(reviews["sentiment"]) == {"negative", "neutral", "positive"}
    assert not reviews["review"].str.contains("&#039;", regex=False).any()  # HTML entities decoded


def test_split_keeps_every_category_and_every_identical_text_on_one_side(icd):
    split = family().split(as_tables(icd))
    train, test = split.train, split.test
    assert set(train.groups).isdisjoint(test.groups) and set(train.texts).isdisjoint(test.texts)
    category_of_group = pd.DataFrame({"category": icd["category"], "group": family().split_groups(icd)})
    assert (category_of_group.groupby("category")["group"].nunique() == 1).all()  # a category is never split
    assert (
        set(train.codes[~train.validation]) == set(train.codes[train.validation]) == set(test.codes) == set(range(21))
    )
    assert 0.17 < len(test.codes) / len(icd) < 0.23 and 0.07 < train.validation.mean() < 0.13
    assert "0 shared" in split.description


@pytest.mark.slow
def test_a_random_split_flatters_tfidf_the_gap_is_leakage(icd):
    # given the same 8,000 descriptions and the same model, when split at random rather than by category
    from sklearn.metrics import f1_score

    sample = icd.sample(8000, random_state=0).reset_index(drop=True)
    fam = family({"candidates": {"tfidf_linear_svm": {"C": [0.3]}}})
    grouped = fam.split(as_tables(sample))
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(len(sample))
    random_test = np.isin(np.arange(len(sample)), shuffled[: len(grouped.test.codes)])
    everything = Texts(
        sample["description"].to_numpy(dtype=object),
        sample["chapter"].map(grouped.train.labels.index).to_numpy(),
        np.arange(len(sample)),
        grouped.train.labels,
    )

    def macro_f1(train: Texts, test: Texts) -> float:
        estimator = fam._linear("tfidf_linear_svm", 0.3, 2, fam._grouped_folds(train)).fit(
            list(train.texts), train.codes
        )
        return f1_score(test.codes, estimator.predict(list(test.texts)), average="macro")

    by_category = macro_f1(grouped.train, grouped.test)
    at_random = macro_f1(everything.take(np.flatnonzero(~random_test)), everything.take(np.flatnonzero(random_test)))
    # then the random split scores far higher: sibling codes on both sides are near-duplicates
    assert at_random > by_category + 0.1, (at_random, by_category)


def test_deidentification_runs_before_the_gate_and_nothing_raw_reaches_the_tables_or_the_report(tmp_path, icd):
    # given a user's CSV where some texts hold a name and a record number, one is blank and one is too long
    rows = icd.sample(300, random_state=1)[["code", "description", "chapter", "category"]].reset_index(drop=True)
    rows.loc[3, "description"] = "Seen by Dr. Jolene Abernathy-Quist, MRN 4471823: " + rows.loc[3, "description"]
    rows.loc[5, "description"] = "   "
    rows.loc[8, "description"] = "x " * 150
    path = tmp_path / "notes.csv"
    rows.to_csv(path, index=False)
    fam = family({"data": {"path": str(path), "min_rows": 100, "min_texts_per_label": 1, "max_characters": 250}})
    # when loaded and gated
    tables = fam.load()
    report = run_gate(fam.name, tables, fam.expectations(tables), fam.identifier_columns())
    report.notes = fam.gate_notes(tables)
    text = report.to_markdown() + report.to_json() + tables[TEXTS].to_csv()
    # then the identifiers are gone everywhere, the failures name rows by position, and the note counts what was
    # replaced
    assert "Abernathy" not in text and "4471823" not in text and "Jolene" not in text
    assert "Seen by Dr. [NAME], MRN [MRN]" in tables[TEXTS].loc[3, "description"]
    problems = " ".join(f.problem for f in report.failures)
    assert "non-blank text: 1 rows; the first by position (0-based): 5" in problems
    assert "at most 250 characters (max_characters): 1 rows; the first by position (0-based): 8" in problems
    assert "PERSON 1" in report.notes[0] and "MRN 1" in report.notes[0]


def test_the_gate_names_unknown_and_rare_labels_and_conflicting_duplicates(icd):
    frame = icd.sample(400, random_state=2).reset_index(drop=True)
    frame.loc[0, "chapter"] = "Z99-Z99"  # a label outside the declared set
    frame.loc[1, "description"], frame.loc[1, "chapter"] = frame.loc[2, "description"], "C00-D49"
    frame.loc[2, "chapter"] = "A00-B99"  # the same text under two labels
    fam = family({"data": {"labels": sorted(icd["chapter"].unique()), "min_texts_per_label": 5, "min_rows": 100}})
    report = run_gate(fam.name, as_tables(frame), fam.expectations(as_tables(frame)), fam.identifier_columns())
    problems = " ".join(f.problem for f in report.failures)
    assert (
        "too rare:" in problems
        and "identical text never carries two labels: 2 rows; the first by position (0-based): 1, 2" in problems
    )
    assert any(f.column == "chapter" and f.expectation == "expect_column_values_to_be_in_set" for f in report.failures)


def test_a_misspelled_key_names_itself(tmp_path):
    from families import load_params

    path = tmp_path / "params.yaml"
    path.write_text("clinical_text:\n  candidates:\n    minilm_finetuned: {learning_rat: 0.001}\n")
    with pytest.raises(ConfigError, match=r"clinical_text\.candidates\.minilm_finetuned\.learning_rat"):
        load_params(path)


class Scripted:
    """A stand-in network whose predictions are set: the rule is tested without training one."""

    def __init__(self, predictions: np.ndarray, int8_predictions: np.ndarray | None = None):
        self.predictions, self.int8_predictions = predictions, int8_predictions

    def predict_proba(self, texts):
        return np.eye(3)[self.predictions[: len(texts)]]

    def int8(self):
        return Scripted(self.int8_predictions)


def test_int8_is_served_only_within_the_declared_accuracy_loss():
    validation = Texts(np.array(["t"] * 200, dtype=object), np.zeros(200, dtype=int), np.arange(200), ["a", "b", "c"])
    right = np.zeros(200, dtype=int)
    two_wrong = right.copy()
    two_wrong[:2] = 1  # 1 point of accuracy lost
    rule = ClinicalText._quantisation_rule
    for int8, loss, served in ((right, 0.005, "int8"), (two_wrong, 0.005, "float32"), (two_wrong, 0.01, "int8")):
        network, training = Scripted(right, int8), {}
        chosen_network, other, chosen = rule(network, validation, FineTuneSettings(max_accuracy_loss=loss), training)
        assert chosen["served"].startswith(served), (loss, chosen)
        assert (chosen_network is network) == (served == "float32") and (other is network) == (served == "int8")
        assert (
            training["validation_accuracy_float"] == 1.0
            and training["validation_accuracy_int8"] == int8.tolist().count(0) / 200
        )
    _, other, chosen = rule(Scripted(right, right), validation, FineTuneSettings(quantize=False), {})
    assert chosen == {"served": "float32"} and other is None


@pytest.mark.slow
def test_fine_tuned_minilm_learns_three_chapters_and_its_int8_twin_agrees_and_is_smaller(icd):
    # given 600 descriptions of three chapters, split by category
    import torch

    from families.clinical_text.finetune import fine_tune

    chosen = icd[icd["chapter"].isin(["C00-D49", "H00-H59", "O00-O9A"])]
    fam = family()
    split = fam.split(as_tables(chosen.sample(900, random_state=3).reset_index(drop=True)))
    train = fam._budget(split.train.take(np.flatnonzero(~split.train.validation)), 600)
    validation = split.train.take(np.flatnonzero(split.train.validation))
    labels = split.train.labels
    # when fine-tuned for two epochs (a higher rate than the default, for a short run)
    settings = FineTuneSettings(learning_rate=1e-4, max_epochs=2, batch_size=16)
    torch.set_num_threads(1)
    network, stopped = fine_tune(
        list(train.texts), train.codes, list(validation.texts), validation.codes, len(labels), settings, seed=42
    )
    float_probability = network.predict_proba(list(split.test.texts))
    # then it beats chance by far on held-out categories
    accuracy = (float_probability.argmax(axis=1) == split.test.codes).mean()
    assert accuracy >= 0.8 and stopped.epochs_run == 2, accuracy
    # and its int8 twin quantises every linear layer, is smaller, and agrees on almost every text
    int8 = network.int8()
    assert not any(type(m) is torch.nn.Linear for m in int8.network.modules())
    assert int8.size_mb() < 0.8 * network.size_mb()
    agreement = (int8.predict_proba(list(split.test.texts)).argmax(axis=1) == float_probability.argmax(axis=1)).mean()
    assert agreement >= 0.95, agreement
    # and the served model pickles without the float network beside it, and predicts the same after the round trip
    model = TextModel(int8, labels)
    model._alternative = ("float32, not served", TextModel(network, labels))
    restored = cloudpickle.loads(cloudpickle.dumps(model))
    assert not hasattr(restored, "_alternative")
    assert np.allclose(
        restored.predict_proba(list(split.test.texts[:20])), model.predict_proba(list(split.test.texts[:20])), atol=1e-6
    )
