"""One ECE for every classifier (equal-count bins), its floor under perfect calibration, and subgroup flags by
information."""

import numpy as np
import pandas as pd

from blocks.calibration import ece_if_calibrated, expected_calibration_error, top_label_ece


def test_the_ece_of_a_calibrated_model_is_its_noise_floor_and_the_floor_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.uniform(0.05, 0.95, 100), rng.uniform(0.05, 0.95, 10_000)
    floor_small, floor_large = ece_if_calibrated(small, seed=1), ece_if_calibrated(large, seed=1)
    assert floor_small > 3 * floor_large  # about sqrt(100) times more noise per bin
    observed = np.mean([expected_calibration_error(rng.random(100) < small, small) for _ in range(200)])
    assert abs(observed - floor_small) < 0.01  # a calibrated model's ECE is the floor, not zero
    overconfident = np.where(
        small > 0.5, 0.99, 0.01
    )  # right about the direction, far too sure: well above its own floor
    assert expected_calibration_error(rng.random(100) < small, overconfident) > 5 * ece_if_calibrated(
        overconfident, seed=1
    )


def test_the_top_label_ece_asks_whether_the_top_label_is_right_as_often_as_its_probability_says():
    probability = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    codes = np.array([0, 1, 1, 2])
    assert top_label_ece(codes, probability) == expected_calibration_error(
        np.array([True, True, False, True]), np.array([0.9, 0.7, 0.6, 0.8])
    )


def test_subgroups_are_flagged_by_their_smaller_class_or_their_events(write_params):
    from families import load_params
    from families.diagnosis.family import Diagnosis
    from families.prognosis.family import Prognosis
    from families.prognosis.metrics import _structured

    params = load_params(write_params(keep_families=("diagnosis", "prognosis")))
    diagnosis = Diagnosis(params.families["diagnosis"], 0)
    assert diagnosis.informative_count(pd.Series(["benign"] * 95 + ["malignant"] * 5)) == (5, "smaller class")
    prognosis = Prognosis(params.families["prognosis"], 0)
    outcome = _structured(np.array([1] * 12 + [0] * 188), np.arange(200) + 1.0)
    assert prognosis.informative_count(outcome) == (12, "events")
