"""Is an upload like the images the champion learned from? Two out-of-distribution scores, fitted on the training side.

- ``reconstruction``: a small convolutional autoencoder's mean squared error per image (high: it could not rebuild it);
- ``mahalanobis``: the distance of the classifier's penultimate features to the nearest class mean under one shared,
  shrunk covariance (Lee et al., NeurIPS 2018); the required baseline, since autoencoders are known to rebuild some
  foreign images (dark, smooth, simple ones) well. A pixel baseline has no penultimate layer: its 16x16 area-averaged
  pixels stand in.

The autoencoder trains on the training side's fitting rows; its validation rows (held out from it, grouped like the
family's split) stop it early, set the threshold (a percentile of the served score on them) and choose which score is
served, against shifted copies of themselves and far-off images made here. The test set only measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from blocks.torch_training import EarlyStopped, seeded_device, train_with_early_stopping
from families.imaging.model import ImageModel, downsampled

Score = Literal["reconstruction", "mahalanobis"]
SCORES: tuple[Score, ...] = ("reconstruction", "mahalanobis")
BATCH = 256


class ConvAutoencoder(nn.Module):
    """Three strided convolutions down to a 32-number code, three transposed ones back; pixels in [0, 1]. The narrow
    code is the point: it cannot copy an image, only rebuild what images like the training ones share."""

    def __init__(self, channels: int, side: int, code: int = 32, width: int = 16):
        super().__init__()
        self.side = side
        cells = side // 8
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * width * cells * cells, code),
        )
        self.decoder = nn.Sequential(
            nn.Linear(code, 4 * width * cells * cells),
            nn.ReLU(),
            nn.Unflatten(1, (4 * width, cells, cells)),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def inputs(self, pixels: np.ndarray) -> torch.Tensor:
        """(n, c, size, size) uint8 -> floats in [0, 1] at the autoencoder's side (a multiple of 8)."""
        images = torch.from_numpy(np.asarray(pixels, dtype=np.float32) / 255.0)
        if images.shape[-1] != self.side:
            images = nn.functional.interpolate(images, size=(self.side, self.side), mode="bilinear", antialias=True)
        return images

    def errors(self, pixels: np.ndarray) -> np.ndarray:
        """Mean squared reconstruction error per image."""
        self.eval()
        with torch.no_grad():
            chunks = [((self(x) - x) ** 2).mean(dim=(1, 2, 3)) for x in self.inputs(pixels).split(BATCH)]
        return torch.cat(chunks).numpy().astype(np.float64)


@dataclass
class AutoencoderFit:
    network: ConvAutoencoder
    stopped: EarlyStopped
    validation_losses: list[float]  # per epoch: the loss curve logged with the version


def train_autoencoder(
    fit: np.ndarray, validation: np.ndarray, seed: int, max_epochs: int = 40, patience: int = 4
) -> AutoencoderFit:
    """Adam on mean squared error, early stopping on the validation images (blocks/torch_training.py)."""
    side = max(8, int(np.ceil(fit.shape[-1] / 8)) * 8)
    device = seeded_device(seed)
    generator = torch.Generator().manual_seed(seed)
    network = ConvAutoencoder(fit.shape[1], side).to(device)
    optimiser = torch.optim.Adam(network.parameters(), lr=2e-3)
    fit_images, held_images = network.inputs(fit), network.inputs(validation).to(device)
    losses: list[float] = []

    def one_epoch() -> None:
        for batch in torch.randperm(len(fit_images), generator=generator).split(64):
            x = fit_images[batch].to(device)
            optimiser.zero_grad()
            nn.functional.mse_loss(network(x), x).backward()
            optimiser.step()

    def validation_loss() -> float:
        loss = float(torch.cat([((network(x) - x) ** 2).flatten() for x in held_images.split(BATCH)]).mean())
        losses.append(loss)
        return loss

    stopped = train_with_early_stopping(network, one_epoch, validation_loss, max_epochs, patience)
    return AutoencoderFit(network.cpu().eval(), stopped, losses)


@dataclass
class Mahalanobis:
    """Class means and one shared precision matrix (Ledoit-Wolf shrinkage: features outnumber what a few hundred images
    pin down); the score is the distance to the nearest class mean."""

    means: np.ndarray  # (classes, features)
    precision: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, codes: np.ndarray) -> Mahalanobis:
        from sklearn.covariance import LedoitWolf

        means = np.stack([features[codes == k].mean(axis=0) for k in np.unique(codes)])
        centred = features - means[np.searchsorted(np.unique(codes), codes)]
        return cls(means, LedoitWolf().fit(centred).precision_)

    def score(self, features: np.ndarray) -> np.ndarray:
        gaps = features[:, None, :] - self.means[None, :, :]
        return np.sqrt(np.einsum("nkf,fg,nkg->nk", gaps, self.precision, gaps).min(axis=1))


def penultimate(model: ImageModel, pixels: np.ndarray) -> np.ndarray:
    """The classifier's penultimate features, or 16x16 area-averaged pixels for a model without layers."""
    embed = getattr(model.estimator, "embed", None)
    return np.asarray(embed(pixels) if embed is not None else downsampled(pixels, 16), dtype=np.float64)


EMBEDDING_COMPONENTS = 8


@dataclass
class OutOfDistribution:
    """What the service adds to each answer: the served score, and whether it is at or below the threshold; and the
    summary of an image that drift monitoring compares (never the image)."""

    autoencoder: ConvAutoencoder
    mahalanobis: Mahalanobis
    served: Score
    threshold: float
    percentile: float
    validation_images: int
    chosen_by: dict[str, float] = field(default_factory=dict)  # validation ROC-AUC per score (far and near shifts)
    embedding: Any = None  # PCA of the penultimate features (training side): the summary's first columns

    def scores(self, model: ImageModel, pixels: np.ndarray, score: Score | None = None) -> np.ndarray:
        if (score or self.served) == "reconstruction":
            return self.autoencoder.errors(pixels)
        return self.mahalanobis.score(penultimate(model, pixels))

    def summary_columns(self) -> list[str]:
        return [
            *(f"embedding_{i + 1}" for i in range(self.embedding.n_components_)),
            "ood_score",
            "mean_intensity",
            "contrast",
        ]

    def summary(self, model: ImageModel, pixels: np.ndarray) -> pd.DataFrame:
        """Per image, what drift monitoring compares: the first principal components of the penultimate features, the
        served score, and the mean and spread of the pixels (a darker or flatter scanner shows there first). Chosen
        over the autoencoder's code by measurement (benchmarks/imaging_drift.py)."""
        features = penultimate(model, pixels)
        frame = pd.DataFrame(self.embedding.transform(features), columns=self.summary_columns()[:-3])
        served = self.mahalanobis.score(features) if self.served == "mahalanobis" else self.autoencoder.errors(pixels)
        frame["ood_score"] = served
        scaled = np.asarray(pixels, dtype=np.float64) / 255.0
        frame["mean_intensity"] = scaled.mean(axis=(1, 2, 3))
        frame["contrast"] = scaled.std(axis=(1, 2, 3))
        return frame

    def describe(self) -> dict[str, object]:
        return {
            "score": self.served,
            "threshold": self.threshold,
            "how": (
                f"the {self.percentile:g}th percentile of the {self.served} score on {self.validation_images} "
                "validation images of the training side (none of them trained the detector); the score served was "
                "chosen there, against shifted copies of those images and far-off images"
            ),
            "validation_roc_auc": self.chosen_by,
        }


def fit_detector(
    model: ImageModel,
    pixels: np.ndarray,
    codes: np.ndarray,
    validation: np.ndarray,
    seed: int,
    percentile: float = 99.0,
) -> tuple[OutOfDistribution, AutoencoderFit]:
    """Both scores on the training side's pixels; ``validation``: which rows are held out from the detector."""
    fit_rows, held_rows = np.flatnonzero(~validation), np.flatnonzero(validation)
    trained = train_autoencoder(pixels[fit_rows], pixels[held_rows], seed)
    from sklearn.decomposition import PCA

    features = penultimate(model, pixels[fit_rows])
    mahalanobis = Mahalanobis.fit(features, codes[fit_rows])
    embedding = PCA(min(EMBEDDING_COMPONENTS, *features.shape), random_state=seed).fit(features)
    detector = OutOfDistribution(
        trained.network, mahalanobis, "reconstruction", np.inf, percentile, len(held_rows), embedding=embedding
    )
    held = pixels[held_rows]
    table = measure(detector, model, held, seed + 1)
    detector.chosen_by = {
        f"{row.score} {row.kind}": round(float(row.roc_auc), 4) for row in table[table["shift"] == "all"].itertuples()
    }
    overall = table[table["shift"] == "all"].groupby("score")["roc_auc"].mean()
    detector.served = "reconstruction" if overall["reconstruction"] >= overall["mahalanobis"] else "mahalanobis"
    detector.threshold = float(np.percentile(detector.scores(model, held), percentile))
    return detector, trained


# --- what it is measured against ------------------------------------------------------------------------------------
def near_shifts(pixels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The same images, changed as a wrong upload or a broken scanner would change them."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)

    def blurred(image: np.ndarray) -> np.ndarray:
        return np.stack([np.asarray(Image.fromarray(c).filter(ImageFilter.GaussianBlur(radius=2.5))) for c in image])

    return {
        "blurred": np.stack([blurred(image) for image in pixels]),
        "inverted": 255 - pixels,
        "rotated 90 degrees": np.rot90(pixels, k=1, axes=(2, 3)).copy(),
        "strong noise": np.clip(pixels + rng.normal(0, 64, pixels.shape), 0, 255).astype(np.uint8),
    }


def far_images(n: int, size: int, channels: int, seed: int) -> dict[str, np.ndarray]:
    """Images that are not brain MRI at all: pydicom's own CT and MR test slices (every flip and quarter turn), blank
    frames, uniform noise, and crops of scikit-learn's two sample photographs. Nothing is downloaded."""
    import pydicom.data
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from families.imaging.loaders import decode_file

    rng = np.random.default_rng(seed)

    def prepared(image: Image.Image) -> np.ndarray:
        image = image.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        return array[None] if channels == 1 else array.transpose(2, 0, 1)

    slices = []
    for name in ("CT_small.dcm", "MR_small.dcm"):
        path = pydicom.data.get_testdata_file(name, download=False)
        if isinstance(path, str):
            pixels = decode_file(open(path, "rb").read(), size, channels, 10**8).pixels
            slices += [np.rot90(p, k, axes=(1, 2)) for p in (pixels, pixels[:, :, ::-1]) for k in range(4)]
    photos = load_sample_images().images
    crops = []
    for _ in range(n):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(64, min(photo.shape[:2])))
        top, left = (int(rng.integers(photo.shape[i] - side)) for i in (0, 1))
        crops.append(prepared(Image.fromarray(photo[top : top + side, left : left + side])))
    shape = (channels, size, size)
    return {
        "CT and MR slices (pydicom)": np.stack(slices).astype(np.uint8),
        "blank frames": np.stack([np.full(shape, value, dtype=np.uint8) for value in (0, 128, 255)]),
        "uniform noise": rng.integers(0, 256, (n, *shape), dtype=np.uint8),
        "photographs (scikit-learn samples)": np.stack(crops),
    }


def measure(
    detector: OutOfDistribution, model: ImageModel, normal: np.ndarray, seed: int, n_far: int = 50
) -> pd.DataFrame:
    """ROC-AUC of each score for telling ``normal`` images from each shift (positive: out of distribution), per shift
    and over all far-off and all near shifts, with percentile 95% CIs (200 resamples within each side)."""
    from sklearn.metrics import roc_auc_score

    from medmaas.stats import bootstrap_estimates

    size, channels = normal.shape[-1], normal.shape[1]
    sets = {
        "far": far_images(n_far, size, channels, seed),
        "near": near_shifts(normal, seed),
    }
    rows = []
    for score in SCORES:
        inside = detector.scores(model, normal, score)
        for kind, shifts in sets.items():
            outside = {name: detector.scores(model, images, score) for name, images in shifts.items()}
            for name, values in [*outside.items(), ("all", np.concatenate(list(outside.values())))]:
                truth = np.r_[np.zeros(len(inside)), np.ones(len(values))]
                auc = bootstrap_estimates({"auc": roc_auc_score}, (truth, np.r_[inside, values]), 200, seed, truth)
                estimate = auc["auc"]
                rows.append(
                    {
                        "score": score,
                        "kind": kind,
                        "shift": name,
                        "images": len(values),
                        "roc_auc": estimate.value,
                        "ci_low": estimate.low,
                        "ci_high": estimate.high,
                    }
                )
    return pd.DataFrame(rows)
