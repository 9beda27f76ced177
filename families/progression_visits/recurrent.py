"""A recurrent network over visit histories, and its training loop.

Imported only when a recurrent candidate is trained or loaded, so importing the family does not import torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from blocks.torch_training import seeded_device, train_with_early_stopping
from families.progression_visits.candidates import NextVisitPredictor
from families.progression_visits.encoding import VisitEncoding, VisitSet
from families.progression_visits.settings import DAYS_PER_YEAR, RecurrentSettings


class VisitRecurrentNet(NextVisitPredictor, nn.Module):
    """A GRU/LSTM over visits; each step sees the visit, which markers are missing, and the time since the last one.

    After visit i the head adds the gap to the next visit and predicts the change of the target from its value at visit
    i. The network is causal, so one pass scores every prefix of a history.
    """

    mean: torch.Tensor  # buffers (register_buffer): they travel with the state dict and the device
    scale: torch.Tensor

    mlflow_flavor = "pytorch"

    def __init__(
        self, encoding: VisitEncoding, mean: np.ndarray, scale: np.ndarray, hidden_size: int, cell: str
    ) -> None:
        super().__init__()
        self.encoding = encoding
        n = len(mean)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        recurrent = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = recurrent(2 * n + 1, hidden_size, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden_size + 1, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1))

    def forward(self, features, since_previous, ahead, last_target):
        """(batch, visits, ...) tensors -> the predicted target after each visit."""
        missing = torch.isnan(features)
        standard = torch.where(missing, torch.zeros_like(features), (features - self.mean) / self.scale)
        steps, _ = self.rnn(torch.cat([standard, missing.float(), since_previous.unsqueeze(-1)], dim=-1))
        return last_target + self.head(torch.cat([steps, ahead.unsqueeze(-1)], dim=-1)).squeeze(-1)

    def tensors(self, histories: list[pd.DataFrame], ahead: list[np.ndarray]) -> tuple:
        """Pad histories to one batch (padding at the end, so a causal network never sees it)."""
        encoded = [self.encoding.encode(h) for h in histories]
        longest = max(len(days) for days, _ in encoded)
        n = len(self.mean)
        features = np.zeros((len(encoded), longest, n), dtype=np.float32)
        since = np.zeros((len(encoded), longest), dtype=np.float32)
        gaps = np.zeros((len(encoded), longest), dtype=np.float32)
        for row, ((days, values), next_gaps) in enumerate(zip(encoded, ahead)):
            features[row, : len(days)] = values
            since[row, 1 : len(days)] = np.diff(days) / DAYS_PER_YEAR
            gaps[row, : len(next_gaps)] = np.asarray(next_gaps) / DAYS_PER_YEAR
        device = self.mean.device
        last_target = torch.as_tensor(np.nan_to_num(features[:, :, self.encoding.target_index]), device=device)
        return (
            torch.as_tensor(features, device=device),
            torch.as_tensor(since, device=device),
            torch.as_tensor(gaps, device=device),
            last_target,
        )

    @torch.no_grad()
    def predict_next(self, histories: list[pd.DataFrame], days_ahead: np.ndarray) -> np.ndarray:
        self.eval()
        ahead = [np.r_[np.zeros(len(h) - 1), d] for h, d in zip(histories, days_ahead)]  # the gap after the last visit
        predicted = self(*self.tensors(histories, ahead))
        last = torch.as_tensor([len(h) - 1 for h in histories], device=predicted.device)
        return predicted[torch.arange(len(histories), device=predicted.device), last].cpu().numpy().astype(float)


def train_recurrent(
    encoding: VisitEncoding,
    fitting: VisitSet,
    validation: VisitSet,
    settings: RecurrentSettings,
    hidden: int,
    seed: int,
):
    """Adam with early stopping on validation RMSE; a GPU when present, else the CPU; returns the best epoch's
    weights."""
    device = seeded_device(seed)
    patients = fitting.patients()
    stacked = np.vstack([encoding.encode(p)[1] for p in patients])
    mean = np.nanmean(stacked, axis=0)
    scale = np.nan_to_num(np.nanstd(stacked, axis=0), nan=1.0)
    scale[scale == 0] = 1.0
    model = VisitRecurrentNet(encoding, np.nan_to_num(mean), scale, hidden, settings.cell).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)

    def batch(sequences: list[pd.DataFrame]):
        """Inputs, and the next visit's target after each visit (masked where there is none)."""
        gaps = [np.diff(s[encoding.day_column].to_numpy(dtype=float)) for s in sequences]
        inputs = model.tensors(sequences, gaps)
        targets = np.zeros(inputs[0].shape[:2], dtype=np.float32)
        mask = np.zeros_like(targets, dtype=bool)
        for row, s in enumerate(sequences):
            values = encoding.target(s[encoding.target_marker].to_numpy(dtype=float))
            targets[row, : len(values) - 1] = values[1:]
            mask[row, : len(values) - 1] = True
        return inputs, torch.as_tensor(targets, device=device), torch.as_tensor(mask, device=device)

    inputs, targets, mask = batch(patients)  # built once; an epoch indexes it in shuffled chunks
    held_inputs, held_targets, held_mask = batch(validation.patients())
    order = torch.Generator().manual_seed(seed)

    def epoch() -> None:
        for chunk in torch.randperm(len(patients), generator=order).split(settings.batch_size):
            chunk = chunk.to(device)
            if not mask[chunk].any():
                continue
            optimiser.zero_grad()
            loss = ((model(*(t[chunk] for t in inputs)) - targets[chunk])[mask[chunk]] ** 2).mean()
            loss.backward()
            optimiser.step()

    def validation_rmse() -> float:
        return float(((model(*held_inputs) - held_targets)[held_mask] ** 2).mean().sqrt())

    run = train_with_early_stopping(model, epoch, validation_rmse, settings.max_epochs, settings.patience)
    return model.cpu().eval(), run.best_loss, run.best_epoch, run.seconds_per_epoch
