"""A denoising autoencoder as a scikit-learn transformer: rows of numbers in, a short code per row out.

The representation step of Deep Patient (Miotto et al., Sci Rep 2016): corrupt the input (masking noise: a share of
each row's values set to zero), learn to rebuild the clean row through a narrow code, and hand the code to a simple
model. It learns from features alone, so it can use rows whose outcome is unknown. Trained through
blocks/torch_training.py (seeded, early stopping on a held-out share of the rows, the GPU when torch sees one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class DenoisingAutoencoder(TransformerMixin, BaseEstimator):
    """``code`` numbers per row from a ``hidden``-wide encoder; inputs scaled to zero mean and unit variance first."""

    def __init__(
        self,
        code: int = 16,
        hidden: int = 64,
        masking: float = 0.2,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 10,
        validation_fraction: float = 0.15,
        random_state: int = 0,
    ):
        self.code = code
        self.hidden = hidden
        self.masking = masking
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> DenoisingAutoencoder:
        import torch
        from torch import nn

        from blocks.torch_training import seeded_device, train_with_early_stopping

        values = np.asarray(X, dtype=np.float32)
        self.mean_ = values.mean(axis=0)
        self.scale_ = values.std(axis=0) + 1e-6
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(len(values))
        held = order[: max(1, int(round(self.validation_fraction * len(values))))]
        fit_rows = order[len(held) :]
        device = seeded_device(self.random_state)
        generator = torch.Generator().manual_seed(self.random_state)
        width = values.shape[1]
        self.encoder_ = nn.Sequential(nn.Linear(width, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.code))
        self.decoder_ = nn.Sequential(nn.Linear(self.code, self.hidden), nn.ReLU(), nn.Linear(self.hidden, width))
        network = nn.Sequential(self.encoder_, self.decoder_).to(device)
        optimiser = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        scaled = torch.from_numpy((values - self.mean_) / self.scale_)
        train, validation = scaled[fit_rows], scaled[held].to(device)
        self.validation_losses_: list[float] = []

        def one_epoch() -> None:
            for batch in torch.randperm(len(train), generator=generator).split(self.batch_size):
                clean = train[batch].to(device)
                kept = (torch.rand(clean.shape, generator=generator) >= self.masking).to(device)
                optimiser.zero_grad()
                nn.functional.mse_loss(network(clean * kept), clean).backward()
                optimiser.step()

        def validation_loss() -> float:
            loss = float(nn.functional.mse_loss(network(validation), validation))
            self.validation_losses_.append(loss)
            return loss

        stopped = train_with_early_stopping(network, one_epoch, validation_loss, self.max_epochs, self.patience)
        network.cpu().eval()
        self.epochs_run_, self.best_epoch_ = stopped.epochs_run, stopped.best_epoch
        return self

    def transform(self, X: Any) -> np.ndarray:
        import torch

        scaled = (np.asarray(X, dtype=np.float32) - self.mean_) / self.scale_
        with torch.no_grad():
            code = self.encoder_(torch.from_numpy(scaled.astype(np.float32)))
        return np.asarray(code.numpy(), dtype=np.float64)
