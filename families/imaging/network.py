"""The CNN: a small ResNet for 28-128 px images, batch augmentation in torch, class-weighted training with early
stopping, and Grad-CAM (captum) on its first residual stage. A scikit-learn classifier on the outside, so the family
treats it like the others.

Imported only to train or load a network, so importing the family does not import torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupShuffleSplit
from torch import nn

from blocks.torch_training import one_torch_thread, seeded_device, train_with_early_stopping
from families.imaging.settings import Augmentation

INFERENCE_BATCH = 256


class ResidualBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU(inplace=True),
            nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False),
            nn.BatchNorm2d(outputs),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and inputs == outputs
            else nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class SeededDropout(nn.Module):
    """Dropout whose masks come from the training run's own generator: candidates train side by side in threads, and
    torch's global generator, shared by them, would make each run depend on the other's timing."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None  # set for training only (a generator does not pickle)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, generator=self.generator) >= self.p
        return x * keep.to(x) / (1 - self.p)


class SmallResNet(nn.Module):
    """A strided stem (the image at half size), three residual stages (width, 2x, 4x; the last two halve the size),
    global average pooling, dropout, a linear layer. About 0.1 M parameters at width 16. Weights are drawn from
    ``generator``, so a seed fixes them whatever else runs in the process."""

    def __init__(self, channels: int, classes: int, width: int = 16, generator: torch.Generator | None = None):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        self.stages = nn.Sequential(
            ResidualBlock(width, width, 1), ResidualBlock(width, 2 * width, 2), ResidualBlock(2 * width, 4 * width, 2)
        )
        self.dropout = SeededDropout(0.2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), self.dropout, nn.Linear(4 * width, classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01, generator=generator)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    @property
    def explained_stage(self) -> nn.Module:
        """The first residual stage (half the image's size): on SYNTHETIC lesions at 64 px its Grad-CAM peak fell on the
        lesion for 83% of images, the second's for 36%, the last's (an eighth of the size) for 59%; chance 9%
        (tests/families/test_imaging.py)."""
        return self.stages[0]


def augment(images: torch.Tensor, settings: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """Per image: a random flip, rotation, zoom and shift (one affine warp), then brightness, contrast and noise.
    ``images`` are in [0, 1]; so is the result."""
    n = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    angle = uniform(-settings.rotation_degrees, settings.rotation_degrees) * math.pi / 180
    zoom = uniform(*settings.scale)
    flip_x = (
        torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if settings.flip_horizontal else torch.ones(n)
    )
    flip_y = (
        torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if settings.flip_vertical else torch.ones(n)
    )
    shift_x, shift_y = (
        uniform(-settings.translate, settings.translate) * 2,
        uniform(-settings.translate, settings.translate) * 2,
    )
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos * flip_x, -sin * flip_y, shift_x], 1), torch.stack([sin * flip_x, cos * flip_y, shift_y], 1)],
        1,
    )
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = uniform(1 - settings.contrast, 1 + settings.contrast).view(n, 1, 1, 1).to(images)
    brightness = uniform(-settings.brightness, settings.brightness).view(n, 1, 1, 1).to(images)
    out = (out - mean) * contrast + mean + brightness
    if settings.noise_std > 0:
        out = out + settings.noise_std * torch.randn(out.shape, generator=generator).to(images)
    return out.clamp(0.0, 1.0)


class ImageCNN(ClassifierMixin, BaseEstimator):
    """SmallResNet on uint8 images (n, channels, h, w); class-weighted cross-entropy; early stopping on a validation
    share of the training side split by group (a patient's or a near-duplicate's images never on both sides)."""

    def __init__(
        self,
        width: int = 16,
        learning_rate: float = 2e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        max_epochs: int = 20,
        patience: int = 4,
        augmentation: Augmentation | None = None,
        validation_fraction: float = 0.15,
        random_state: int = 0,
    ):
        self.width = width
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.augmentation = augmentation
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _scaled(self, X: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(X, dtype=np.float32) / 255.0)

    def _normalised(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean_) / self.std_

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, validation: np.ndarray | None = None):
        """``validation``: which rows are the early-stopping set (an npz file's official val); else a group split of the
        rest."""
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        codes = np.searchsorted(self.classes_, y)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        if validation is not None and validation.any():
            fit_rows, val_rows = np.flatnonzero(~validation), np.flatnonzero(validation)
        else:
            splitter = GroupShuffleSplit(1, test_size=self.validation_fraction, random_state=self.random_state)
            fit_rows, val_rows = next(splitter.split(X, codes, groups))
        self.validation_rows_ = (
            val_rows  # the family scores the network there: its training-side figure, the one it is chosen on
        )
        images = self._scaled(X)
        self.mean_ = images[fit_rows].mean(dim=(0, 2, 3), keepdim=True)[0]
        self.std_ = images[fit_rows].std(dim=(0, 2, 3), keepdim=True)[0] + 1e-6
        counts = np.bincount(codes[fit_rows], minlength=len(self.classes_)).astype(np.float32)
        weights = torch.from_numpy(len(fit_rows) / (len(self.classes_) * np.maximum(counts, 1.0)))
        with one_torch_thread():
            device = seeded_device(self.random_state)
            generator = torch.Generator().manual_seed(self.random_state)
            self.network_ = SmallResNet(X.shape[1], len(self.classes_), self.width, generator).to(device)
            self.network_.dropout.generator = generator
            loss_fn = nn.CrossEntropyLoss(weight=weights.to(device))
            optimiser = torch.optim.AdamW(
                self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
            targets = torch.from_numpy(codes)
            train_images, train_targets = images[fit_rows], targets[fit_rows]
            held_images, held_targets = self._normalised(images[val_rows]).to(device), targets[val_rows].to(device)

            def one_epoch() -> None:
                for batch in torch.randperm(len(train_images), generator=generator).split(self.batch_size):
                    if len(batch) < 2:  # batch norm needs two images
                        continue
                    inputs = train_images[batch]
                    if self.augmentation is not None:
                        inputs = augment(inputs, self.augmentation, generator)
                    optimiser.zero_grad()
                    loss_fn(
                        self.network_(self._normalised(inputs).to(device)), train_targets[batch].to(device)
                    ).backward()
                    optimiser.step()

            def validation_loss() -> float:
                logits = torch.cat([self.network_(chunk) for chunk in held_images.split(INFERENCE_BATCH)])
                return float(loss_fn(logits, held_targets))

            stopped = train_with_early_stopping(
                self.network_, one_epoch, validation_loss, self.max_epochs, self.patience
            )
        self.network_.dropout.generator = None
        self.network_.cpu().eval()
        self.mean_, self.std_ = self.mean_.cpu(), self.std_.cpu()
        self.epochs_run_, self.best_epoch_, self.seconds_per_epoch_ = (
            stopped.epochs_run,
            stopped.best_epoch,
            stopped.seconds_per_epoch,
        )
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        inputs = self._normalised(self._scaled(X))
        with torch.no_grad():
            return (
                torch.cat([torch.softmax(self.network_(chunk), dim=1) for chunk in inputs.split(INFERENCE_BATCH)])
                .numpy()
                .astype(np.float64)
            )

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def embed(self, X: np.ndarray) -> np.ndarray:
        """The penultimate features (globally pooled, before dropout and the linear layer): what the out-of-distribution
        baseline measures distances in (families/imaging/ood.py)."""
        inputs = self._normalised(self._scaled(X))
        pooled = self.network_.head[:2]  # AdaptiveAvgPool2d, Flatten
        with torch.no_grad():
            return torch.cat(
                [pooled(self.network_.stages(self.network_.stem(chunk))) for chunk in inputs.split(INFERENCE_BATCH)]
            ).numpy()

    def grad_cam(self, X: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Grad-CAM (Selvaraju et al., 2017; captum's LayerGradCam) for class code ``target`` of each image, on the
        explained stage, upsampled to the image's size and scaled to [0, 1] per image: (n, h, w)."""
        from captum.attr import LayerAttribution, LayerGradCam

        inputs = self._normalised(self._scaled(X)).requires_grad_(True)
        cam = LayerGradCam(self.network_, self.network_.explained_stage)
        maps = cam.attribute(
            inputs, target=torch.as_tensor(np.asarray(target), dtype=torch.long), relu_attributions=True
        )
        maps = (
            LayerAttribution.interpolate(maps, tuple(X.shape[2:]), interpolate_mode="bilinear")[:, 0].detach().numpy()
        )
        peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
        return np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0)
