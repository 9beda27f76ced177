"""The bioactivity family on B3DB: the SMILES gate, the scaffold split, the applicability domain, and a quality
floor."""

import re

import numpy as np
import pandas as pd
import pytest
from support import Replace

from families import family_class, load_params
from families.bioactivity.chemistry import SimilarityIndex, canonical, fingerprint_bits, scaffold
from families.bioactivity.model import DOMAIN_BITS, DOMAIN_RADIUS
from tasks.gate import run_gate


@pytest.fixture(scope="module")
def b3db(b3db_csv) -> pd.DataFrame:
    return pd.read_csv(b3db_csv)


def family_for(write_params, path=None, data=None, **overrides):
    block = {"bioactivity": {**({"data": {"path": str(path), **(data or {})}} if path else {}), **overrides}}
    params = load_params(write_params(block, keep_families=("bioactivity",)))
    return family_class("bioactivity")(params.families["bioactivity"], params.project.seed)


def gate(family):
    tables = family.load()
    return run_gate(family.registered_model, tables, family.expectations(tables), family.identifier_columns())


def test_the_export_keeps_id_smiles_and_label_only_and_drops_what_rdkit_cannot_parse(b3db):
    assert list(b3db.columns) == ["compound_id", "smiles", "bbb"]  # never logBB, threshold, group or references
    assert len(b3db) == 7805 and set(b3db["bbb"]) == {"BBB+", "BBB-"}
    assert 0.6 < (b3db["bbb"] == "BBB+").mean() < 0.67  # about 2:1


def test_bundled_b3db_passes_the_gate(write_params):
    report = gate(family_for(write_params))
    assert report.passed, report.to_markdown()


def test_unparsable_smiles_and_conflicting_duplicates_fail_the_gate_by_position_never_by_molecule(
    write_params, b3db, tmp_path
):
    bad = b3db.head(600).copy()
    bad.loc[[3, 17], "smiles"] = ["C1CC(", "not a molecule"]
    bad.loc[40, "smiles"] = bad.loc[41, "smiles"]  # the same molecule twice ...
    bad.loc[40, "bbb"] = "BBB-" if bad.loc[41, "bbb"] == "BBB+" else "BBB+"  # ... with different labels
    bad.loc[50, "bbb"] = "maybe"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    report = gate(family_for(write_params, tmp_path / "bad.csv"))
    failed = {(f.column, f.expectation): f for f in report.failures}
    parse = failed[("canonical", "expect_column_values_to_not_be_null")]
    assert "2 rows; the first by position (0-based): 3, 17" in parse.problem
    duplicate = failed[("canonical", "expect_column_values_to_be_unique")]
    assert (
        "2 rows; the first by position (0-based): 40, 41" in duplicate.problem
        and "with different labels: 1 molecules" in duplicate.problem
    )
    assert ("bbb", "expect_column_values_to_be_in_set") in failed
    text = report.to_markdown()
    assert bad.loc[41, "smiles"] not in text and "not a molecule" not in text


def test_the_sorted_scaffold_split_trains_on_the_largest_scaffold_sets_and_holds_out_the_rarest(write_params):
    family = family_for(write_params)
    split = family.split(family.load())
    train, (test, others) = split.train, split.test
    assert not set(train.scaffolds) & set(test.scaffolds) and "0 scaffolds on both sides" in split.description
    sizes = pd.Series(np.concatenate([train.scaffolds, test.scaffolds])).value_counts()
    assert set(sizes.index[:10]) <= set(train.scaffolds)  # the ten largest scaffold sets (benzene's first) train
    assert (
        sizes[list(set(test.scaffolds))].mean() < sizes[list(set(train.scaffolds))].mean()
    )  # the rarer chemistry is held out
    assert family.training_keys(train) == list(
        train.smiles
    )  # what the registry keeps (as digests) to spot a reused molecule later
    assert 0.17 < len(test.labels) / (len(train.labels) + len(test.labels)) < 0.23
    assert split.sizes["test_positive_share"] == pytest.approx(test.labels.mean(), abs=1e-4)
    # the other two methods travel with the test side, by name: five grouped folds (no scaffold shared) and one random
    # split (shared)
    assert set(others) == {"scaffold_grouped", "random"} and len(others["scaffold_grouped"]) == 5
    assert all(not set(a.scaffolds) & set(b.scaffolds) for a, b in others["scaffold_grouped"])
    assert set(others["random"][0][0].scaffolds) & set(others["random"][0][1].scaffolds)
    assert set(map(canonical, test.smiles[:50])) == set(test.smiles[:50])  # canonical already
    assert scaffold(canonical("c1ccccc1CCN")) == "c1ccccc1" and scaffold("CCO") == ""


def test_the_old_method_name_scaffold_reads_as_the_grouped_split(write_params):
    family = family_for(write_params, split={"method": "scaffold"})
    assert family.settings.split.method == "scaffold_grouped"


def test_the_applicability_domain_flags_molecules_unlike_the_training_set():
    training = [canonical(s) for s in ["c1ccccc1CCN", "c1ccccc1CCNC", "c1ccc(O)cc1CCN", "CN1CCC[C@H]1c1cccnc1"]]
    domain = fingerprint_bits(training, DOMAIN_RADIUS, DOMAIN_BITS)
    similar, same, unlike = (
        canonical(s) for s in ["c1ccccc1CCNCC", "CN1CCC[C@H]1c1cccnc1", "FC(F)(F)C(F)(F)C(F)(F)C(F)(F)S(=O)(=O)O"]
    )
    best = SimilarityIndex(domain).max_tanimoto(fingerprint_bits([similar, same, unlike], DOMAIN_RADIUS, DOMAIN_BITS))
    assert best[1] == pytest.approx(1.0) and 0.3 < best[0] < 1.0 and best[2] < 0.1


def test_leaving_an_atom_out_removes_exactly_the_fingerprint_environments_that_include_it():
    from families.bioactivity.chemistry import MoleculeFeaturizer

    featurizer = MoleculeFeaturizer(n_bits=2048, descriptors=True)
    paracetamol = canonical("CC(=O)Nc1ccc(O)cc1")
    full, without = featurizer.transform([paracetamol])[0], featurizer.without_each_atom(paracetamol)
    assert without.shape == (11, full.shape[0]) and (without >= 0).all() and (without <= full).all()
    removed = (full - without)[:, :2048].sum(axis=1)
    assert (removed > 0).all()  # every atom takes part in at least its own radius-0 environment
    assert removed[2] < removed[1]  # the carbonyl O (one neighbour) sits in fewer environments than its carbon (three)
    assert (without[:, 2048:] == full[2048:]).all()  # descriptors kept


@pytest.mark.slow
def test_random_forest_on_the_scaffold_split_clears_the_floor_and_easier_splits_are_more_optimistic(write_params):
    family = family_for(
        write_params,
        candidates=Replace({"random_forest": {"n_estimators": [200]}}),
        bootstrap_resamples=50,
        split={"grouped_folds": 2},
    )
    split = family.split(family.load())
    fitted = family.fit("random_forest", split.train)
    evaluation = family.evaluate(fitted.model, split.test)
    metrics = evaluation.metrics
    assert metrics["roc_auc"].value >= 0.80 and metrics["roc_auc_scaffold_sorted"] == metrics["roc_auc"]
    assert metrics["roc_auc"].value < metrics["roc_auc_scaffold_grouped"].value < metrics["roc_auc_random"].value
    by_similarity = next(t for name, t in evaluation.tables.items() if "similarity" in name)
    assert by_similarity["molecules"].iloc[:4].sum() == len(split.test[0].labels)  # every held-out molecule in one bin
    frame = pd.DataFrame({"smiles": ["CN1CCC[C@H]1c1cccnc1", "[Fe+3].[Cl-].[Cl-].[Cl-]"]})
    scored = family.predict_frame(fitted.model, frame)
    assert list(scored["in_domain"]) == [True, False] and scored["probability_BBB+"].between(0, 1).all()
    with pytest.raises(ValueError, match=re.escape("1 rows; the first by position (0-based): 1")):
        family.predict_frame(fitted.model, pd.DataFrame({"smiles": ["CCO", "C1CC("]}))
    assert not np.isnan(scored["max_similarity"]).any()
    novel = canonical("CC(C)(C)c1ccc(cc1)C(=O)NCCN1CCOCC1")
    weights = (
        fitted.model.predict_proba([novel])[0, 1]
        - fitted.model.estimator.predict_proba(fitted.model.featurizer.without_each_atom(novel))[:, 1]
    )
    assert np.count_nonzero(weights) > len(weights) // 2  # the explanation says something about most atoms


def test_a_users_own_csv_with_its_own_columns_and_labels_trains_and_scores(write_params, b3db, tmp_path):
    own = (
        b3db.sample(800, random_state=2)
        .rename(columns={"smiles": "SMILES", "bbb": "class"})
        .drop(columns=["compound_id"])
    )
    own["class"] = own["class"].map({"BBB+": "crosses", "BBB-": "stays out"})
    own.to_csv(tmp_path / "own.csv", index=False)
    columns = {
        "id_column": None,
        "smiles_column": "SMILES",
        "label_column": "class",
        "labels": ["crosses", "stays out"],
        "positive_label": "crosses",
    }
    family = family_for(
        write_params,
        tmp_path / "own.csv",
        data=columns,
        candidates=Replace({"logistic_regression": {"C": [0.1]}}),
        bootstrap_resamples=50,
    )
    report = gate(family)
    assert report.passed, report.to_markdown()
    split = family.split(family.load())
    fitted = family.fit("logistic_regression", split.train)
    metrics = family.evaluate(fitted.model, split.test).metrics
    assert metrics["roc_auc"].value > 0.7 and list(fitted.model.classes) == ["stays out", "crosses"]
    scored = family.predict_frame(fitted.model, own.head(5))
    assert list(scored.columns) == ["probability_crosses", "predicted", "max_similarity", "in_domain"]
    assert set(scored["predicted"]) <= {"crosses", "stays out"}


def test_a_regression_task_is_refused_by_name_until_it_exists(write_params):
    from medmaas.settings import ConfigError

    with pytest.raises(ConfigError, match=r"bioactivity\.data\.task"):
        load_params(write_params({"bioactivity": {"data": {"task": "regression"}}}, keep_families=("bioactivity",)))
