"""SYNTHETIC images with a known lesion, for fast tests and for measuring where Grad-CAM looks. Not medical data.

Each image is a smooth random background with an elliptical "organ"; a "lesion" image also has a bright round blob at a
random place inside it, whose centre and radius are returned, so an explanation can be scored against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SYNTHETIC_LABELS = ("lesion", "normal")


@dataclass(frozen=True)
class SyntheticLesions:
    """SYNTHETIC: pixels (n, 1, size, size) uint8, labels, and per lesion image its centre (row, column) and radius (NaN
    otherwise)."""

    pixels: np.ndarray
    labels: np.ndarray
    centres: np.ndarray
    radius: float


def synthetic_lesions(n: int, size: int = 32, seed: int = 0, lesion_share: float = 0.5) -> SyntheticLesions:
    """SYNTHETIC lesion / normal images with known lesion locations (seeded)."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float64)
    radius = size / 9
    pixels = np.empty((n, 1, size, size), dtype=np.uint8)
    labels = np.where(rng.random(n) < lesion_share, SYNTHETIC_LABELS[0], SYNTHETIC_LABELS[1])
    centres = np.full((n, 2), np.nan)
    for i in range(n):
        coarse = rng.normal(0, 1, (4, 4))
        background = np.asarray(
            Image.fromarray(coarse.astype(np.float32), "F").resize((size, size), Image.Resampling.BICUBIC)
        )
        organ = ((rows - size / 2) / (0.42 * size)) ** 2 + ((columns - size / 2) / (0.36 * size)) ** 2 <= 1
        image = 0.25 + 0.05 * background + 0.25 * organ + rng.normal(0, 0.04, (size, size))
        if labels[i] == SYNTHETIC_LABELS[0]:
            angle, reach = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.25 * size)
            centre = (size / 2 + reach * np.sin(angle), size / 2 + reach * np.cos(angle))
            image += 0.35 * np.exp(-((rows - centre[0]) ** 2 + (columns - centre[1]) ** 2) / (2 * (radius / 1.5) ** 2))
            centres[i] = centre
        pixels[i, 0] = np.clip(image * 255, 0, 255).astype(np.uint8)
    return SyntheticLesions(pixels, labels, centres, radius)


def write_synthetic_folder(folder: Path, n: int, size: int = 32, seed: int = 0) -> SyntheticLesions:
    """The same SYNTHETIC images as PNG files in one sub-folder per class (the ``folder`` layout), named by position."""
    images = synthetic_lesions(n, size, seed)
    for i, (array, label) in enumerate(zip(images.pixels, images.labels)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(array[0]).save(folder / label / f"synthetic-{i:05d}.png")
    return images
