"""The promotion rule: acceptance floors and ceilings (the paired comparison with the champion:
test_selection_and_paired_gate.py)."""

from families import load_params
from families.diagnosis.family import Diagnosis
from medmaas.settings import AcceptanceSettings
from medmaas.stats import Estimate
from tasks.promotion import Comparison, checks_for


def family_with(write_params, acceptance):
    settings = load_params(write_params()).families["diagnosis"]
    return Diagnosis(settings.model_copy(update={"acceptance": AcceptanceSettings(**acceptance)}), 0)


def metrics(auc, sensitivity=0.95, brier=0.03):
    return {
        "roc_auc": Estimate(auc, auc - 0.01, auc),
        "sensitivity": Estimate(sensitivity, 0.9, 1.0),
        "brier": Estimate(brier, 0.02, 0.04),
    }


def passed(checks):
    return all(c.passed for c in checks)


def test_first_model_is_promoted_when_it_meets_the_floors(write_params):
    family = family_with(write_params, {"minimums": {"roc_auc": 0.9, "sensitivity": 0.9}, "maximums": {"brier": 0.05}})
    assert passed(checks_for(family, metrics(0.95), []))


def test_floor_and_ceiling_failures_block_promotion(write_params):
    family = family_with(write_params, {"minimums": {"sensitivity": 0.96}, "maximums": {"brier": 0.02}})
    checks = checks_for(family, metrics(0.99), [])
    assert not passed(checks)
    assert {c.name for c in checks if not c.passed} == {"min sensitivity", "max brier"}


def test_champion_that_cannot_be_scored_blocks_promotion(write_params):
    family = family_with(write_params, {"minimums": {}, "maximums": {}})
    unscorable = Comparison(
        "champion",
        "1",
        None,
        0,
        143,
        0,
        "row",
        refused="it could not be scored on this test set: KeyError: 'mean_area'",
    )
    checks = checks_for(family, metrics(0.99), [unscorable])
    assert not passed(checks)
    assert [c.detail for c in checks if not c.passed] == [
        "vs champion v1: no comparison (it could not be scored on this test set: KeyError: 'mean_area')"
    ]


def test_artifact_keys_are_valid_for_any_registered_model_name():
    import re

    from tasks import artifact_key

    for name in ("diagnosis", "wine_cultivar", "Heart.v2", "a-b_c.D"):
        assert re.fullmatch(r"[a-z0-9-]+", artifact_key(name, "model-card"))
