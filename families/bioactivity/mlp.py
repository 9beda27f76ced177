"""A torch MLP on fingerprints and descriptors, as a scikit-learn classifier (so grid search and clone treat it like the
others).

Imported only to train or load it, so importing the family does not import torch.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split

from blocks.torch_training import one_torch_thread, seeded_device, train_with_early_stopping


class FingerprintMLP(ClassifierMixin, BaseEstimator):
    """Standardised inputs -> hidden layer (ReLU, dropout) -> logit; class imbalance through BCE's positive weight;
    early stopping on a stratified 10% of the training side."""

    def __init__(
        self,
        hidden: int = 256,
        dropout: float = 0.2,
        learning_rate: float = 1e-3,
        max_epochs: int = 60,
        patience: int = 6,
        batch_size: int = 128,
        random_state: int = 0,
    ):
        self.hidden = hidden
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X, y):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        X = np.asarray(X, dtype=np.float32)
        self.mean_, self.scale_ = X.mean(axis=0), X.std(axis=0) + 1e-6
        fit_X, val_X, fit_y, val_y = train_test_split(
            self._standardised(X),
            (y == self.classes_[1]).astype(np.float32),
            test_size=0.1,
            stratify=y,
            random_state=self.random_state,
        )
        with one_torch_thread():
            device = seeded_device(self.random_state)
            self.network_ = torch.nn.Sequential(
                torch.nn.Linear(X.shape[1], self.hidden),
                torch.nn.ReLU(),
                torch.nn.Dropout(self.dropout),
                torch.nn.Linear(self.hidden, 1),
            ).to(device)
            positives = max(float(fit_y.sum()), 1.0)
            loss_fn = torch.nn.BCEWithLogitsLoss(
                pos_weight=torch.tensor([(len(fit_y) - positives) / positives], device=device)
            )
            optimiser = torch.optim.Adam(self.network_.parameters(), lr=self.learning_rate, weight_decay=1e-5)
            inputs, targets = torch.from_numpy(fit_X).to(device), torch.from_numpy(fit_y).to(device)
            held_X, held_y = torch.from_numpy(val_X).to(device), torch.from_numpy(val_y).to(device)
            generator = torch.Generator().manual_seed(self.random_state)

            def one_epoch() -> None:
                for batch in torch.randperm(len(inputs), generator=generator).split(self.batch_size):
                    optimiser.zero_grad()
                    loss_fn(self.network_(inputs[batch]).squeeze(1), targets[batch]).backward()
                    optimiser.step()

            stopped = train_with_early_stopping(
                self.network_,
                one_epoch,
                lambda: float(loss_fn(self.network_(held_X).squeeze(1), held_y)),
                self.max_epochs,
                self.patience,
            )
        self.network_.cpu().eval()
        self.epochs_run_ = stopped.epochs_run
        return self

    def _standardised(self, X) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float32) - self.mean_) / self.scale_).astype(np.float32)

    def predict_proba(self, X) -> np.ndarray:
        with torch.no_grad(), one_torch_thread():
            positive = (
                torch.sigmoid(self.network_(torch.from_numpy(self._standardised(X))).squeeze(1))
                .numpy()
                .astype(np.float64)
            )
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]
