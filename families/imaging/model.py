"""What an imaging version is: a fixed preparation (size, channels) and a classifier on prepared pixels."""

from __future__ import annotations

from typing import Any

import numpy as np

from blocks.assembled import AssembledClassifier
from families.imaging.loaders import Decoded, decode_file

OCCLUSION = "occlusion: the fall in the class's probability when a patch of the image is blacked out (captum Occlusion)"


def downsampled(pixels: np.ndarray, side: int) -> np.ndarray:
    """(n, c, h, w) uint8 -> (n, c * side * side) floats in [0, 1], by area averaging: the baselines' features."""
    import torch

    tensor = torch.from_numpy(np.asarray(pixels, dtype=np.float32) / 255.0)
    return torch.nn.functional.adaptive_avg_pool2d(tensor, side).reshape(len(pixels), -1).numpy()


class ImageModel(AssembledClassifier):
    """Prepared pixels (n, channels, size, size) uint8 in, class probabilities out (columns in ``classes`` order)."""

    def __init__(
        self,
        estimator: Any,
        classes: list[str],
        size: int,
        channels: int,
        max_pixels: int,
        positive: int | None = None,
        threshold: float = 0.5,
    ):
        self.estimator = estimator
        self.classes = classes
        self.size = size
        self.channels = channels
        self.max_pixels = max_pixels
        self.positive = positive
        self.threshold = threshold
        self.ood: Any = None  # its OutOfDistribution detector, added at registration (families/imaging/ood.py)

    def prepare(self, data: bytes) -> Decoded:
        """A file's bytes (PNG, JPEG or DICOM) prepared as the training images were; UnreadableImage if it cannot be."""
        return decode_file(data, self.size, self.channels, self.max_pixels)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        probability = self.estimator.predict_proba(X)
        if probability.shape[1] != len(self.classes):  # the split guarantees every class on the training side
            raise RuntimeError(
                f"the classifier gives {probability.shape[1]} probabilities for {len(self.classes)} classes"
            )
        return probability

    def predicted_codes(self, probability: np.ndarray) -> np.ndarray:
        """Binary: the positive class at or above the decision threshold; otherwise the most probable class."""
        if len(self.classes) == 2 and self.positive is not None:
            return np.where(probability[:, self.positive] >= self.threshold, self.positive, 1 - self.positive)
        return probability.argmax(axis=1)

    def watched_probability(self, probability: np.ndarray) -> np.ndarray:
        """What drift monitoring watches of an answer: the positive class's probability, else the top class's."""
        return probability[:, self.positive] if self.positive is not None else probability.max(axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predicted_codes(self.predict_proba(X))]

    @property
    def explanation_method(self) -> str:
        return (
            "Grad-CAM on the first residual stage (captum LayerGradCam)"
            if hasattr(self.estimator, "grad_cam")
            else OCCLUSION
        )

    def explanation_maps(self, X: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Where the model looked for class index ``target``: (n, size, size) in [0, 1] per image. Grad-CAM for the CNN;
        occlusion (the fall in the class's probability when a patch is blacked out) for a model without convolutions."""
        if hasattr(self.estimator, "grad_cam"):
            return self.estimator.grad_cam(X, target)
        import torch
        from captum.attr import Occlusion

        def probabilities(batch: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(self.estimator.predict_proba(batch.numpy().astype(np.uint8)))

        side = max(self.size // 8, 2)
        window, stride = (X.shape[1], side, side), (X.shape[1], max(side // 2, 1), max(side // 2, 1))
        maps = Occlusion(probabilities).attribute(
            torch.from_numpy(np.asarray(X, dtype=np.float32)),
            sliding_window_shapes=window,
            strides=stride,
            baselines=0.0,
            target=torch.as_tensor(np.asarray(target), dtype=torch.long),
        )
        maps = np.clip(maps.sum(dim=1).numpy(), 0, None)
        peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
        return np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0)
