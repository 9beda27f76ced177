"""The imaging evaluation's figures: ROC, calibration, confusion, and the most confident errors under their Grad-CAM
map.

Held-out images appear only in the error grid, which is logged to the candidate's MLflow run (like any plot) and never
to a model card or a response.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from blocks.plots import png
from families.imaging.model import ImageModel


def evaluation_figures(
    model: ImageModel,
    pixels: np.ndarray,
    codes: np.ndarray,
    probability: np.ndarray,
    predicted: np.ndarray,
    positive: int | None,
    grid: int,
) -> dict[str, bytes]:
    import matplotlib.pyplot as plt

    names = model.classes
    figures = {}
    if len(names) == 2 and positive is not None:
        from sklearn.calibration import CalibrationDisplay

        fig, ax = plt.subplots(figsize=(5, 5))
        skm.RocCurveDisplay.from_predictions(codes == positive, probability[:, positive], name=names[positive], ax=ax)
        ax.set_title("ROC on held-out images")
        figures["roc.png"] = png(fig)
        fig, ax = plt.subplots(figsize=(5, 5))
        CalibrationDisplay.from_predictions(
            codes == positive, probability[:, positive], n_bins=10, strategy="quantile", name=names[positive], ax=ax
        )
        ax.set_title("Calibration on held-out images")
        figures["calibration.png"] = png(fig)
    fig, ax = plt.subplots(figsize=(5, 5))
    skm.ConfusionMatrixDisplay.from_predictions(
        codes, predicted, labels=list(range(len(names))), display_labels=names, ax=ax, colorbar=False
    )
    ax.set_title("Confusion on held-out images")
    figures["confusion.png"] = png(fig)
    if (errors := confident_errors(codes, probability, predicted, grid)).size:
        figures["confident_errors.png"] = error_grid(
            model, pixels[errors], codes[errors], predicted[errors], probability[errors]
        )
    return figures


def confident_errors(codes: np.ndarray, probability: np.ndarray, predicted: np.ndarray, count: int) -> np.ndarray:
    """Rows of the wrong answers the model was surest of, surest first."""
    wrong = np.flatnonzero(predicted != codes)
    confidence = probability[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:count]]


def overlay(ax, pixels: np.ndarray, heatmap: np.ndarray) -> None:
    """A prepared image (channels, h, w) in grey or colour, with a map in [0, 1] laid over it."""
    image = pixels.transpose(1, 2, 0)
    ax.imshow(image[..., 0] if image.shape[2] == 1 else image, cmap="gray", vmin=0, vmax=255)
    ax.imshow(heatmap, cmap="jet", alpha=0.35, vmin=0, vmax=1)
    ax.axis("off")


def error_grid(
    model: ImageModel, pixels: np.ndarray, codes: np.ndarray, predicted: np.ndarray, probability: np.ndarray
) -> bytes:
    """Each error with the map of where the model looked for the class it said (Grad-CAM, or occlusion for a
    baseline)."""
    import matplotlib.pyplot as plt

    maps = model.explanation_maps(pixels, predicted)
    fig, axes = plt.subplots(1, len(pixels), figsize=(2.2 * len(pixels), 2.6), squeeze=False)
    for i, ax in enumerate(axes[0]):
        overlay(ax, pixels[i], maps[i])
        ax.set_title(
            f"true {model.classes[codes[i]]}\nsaid {model.classes[predicted[i]]} {probability[i, predicted[i]]:.2f}",
            fontsize=8,
        )
    fig.suptitle(
        f"Most confident errors; {model.explanation_method.partition(':')[0].partition(' (')[0]} for the class said",
        fontsize=9,
    )
    return png(fig)
