"""Metrics and plots every family that predicts a continuous value shares (not a family itself)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from blocks.plots import png
from medmaas.stats import MetricSpec

REGRESSION_METRICS = {
    "r2": lambda y, p: skm.r2_score(y, p),
    "rmse": lambda y, p: skm.root_mean_squared_error(y, p),
    "mae": lambda y, p: skm.mean_absolute_error(y, p),
}


def regression_metric_specs(units: str) -> tuple[MetricSpec, ...]:
    return (
        MetricSpec("r2", "max", "share of the outcome's variance explained"),
        MetricSpec("rmse", "min", f"root mean squared error, in {units}"),
        MetricSpec("mae", "min", f"mean absolute error, in {units}"),
    )


def regression_figures(observed: np.ndarray, predicted: np.ndarray) -> dict[str, bytes]:
    """Predicted vs observed, and residuals against the prediction, on held-out data."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    skm.PredictionErrorDisplay.from_predictions(observed, predicted, kind="actual_vs_predicted", ax=ax)
    ax.set_title("Predicted vs observed (held-out)")
    versus = png(fig)
    fig, ax = plt.subplots(figsize=(5, 4))
    skm.PredictionErrorDisplay.from_predictions(observed, predicted, kind="residual_vs_predicted", ax=ax)
    ax.set_title("Residuals (held-out)")
    return {"predicted_vs_observed.png": versus, "residuals.png": png(fig)}
