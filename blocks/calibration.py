"""One expected calibration error for every classifier family: equal-count bins, and what it would be by chance alone.

ECE is biased upwards at small n: even a perfectly calibrated model shows a gap in every bin from sampling noise.
``ece_if_calibrated`` measures that floor for the same predictions, so a card can say whether an ECE is more than noise.
"""

from __future__ import annotations

import numpy as np

BINS = 10
ECE_FLOOR = (
    "the ECE a perfectly calibrated model would show on these predictions at this n (sampling noise alone): "
    "an ECE near it is noise"
)


def expected_calibration_error(hit: np.ndarray, confidence: np.ndarray, bins: int = BINS) -> float:
    """Mean |observed rate - predicted probability| over equal-count bins, weighted by their size."""
    order = np.argsort(confidence, kind="stable")
    return float(
        sum(len(b) * abs(hit[b].mean() - confidence[b].mean()) for b in np.array_split(order, bins) if len(b))
        / len(hit)
    )


def top_label_ece(codes: np.ndarray, probability: np.ndarray) -> float:
    """ECE of a multi-class model's top label: is it right as often as its probability says?"""
    return expected_calibration_error(probability.argmax(axis=1) == codes, probability.max(axis=1))


def ece_if_calibrated(confidence: np.ndarray, seed: int, draws: int = 200, bins: int = BINS) -> float:
    """The ECE a perfectly calibrated model would show on these predictions: outcomes drawn from the probabilities
    themselves."""
    rng = np.random.default_rng(seed)
    return float(
        np.mean(
            [
                expected_calibration_error(rng.random(len(confidence)) < confidence, confidence, bins)
                for _ in range(draws)
            ]
        )
    )
