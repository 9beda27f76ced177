"""What every torch candidate's training shares: threads, seed and device, and early stopping on a validation loss.

Imported only by the modules that train a network, so importing a family does not import torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Small batches gain nothing from more threads, and candidates train side by side (oversubscription costs 20x)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def seeded_device(seed: int) -> torch.device:
    """Seed torch's generators; the GPU when torch sees one, else the CPU (no code change between them)."""
    torch.manual_seed(seed)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class EarlyStopped:
    best_loss: float
    best_epoch: int
    epochs_run: int
    seconds_per_epoch: float


def train_with_early_stopping(
    model: torch.nn.Module,
    train_one_epoch: Callable[[], None],
    validation_loss: Callable[[], float],
    max_epochs: int,
    patience: int,
    min_improvement: float = 1e-5,
) -> EarlyStopped:
    """Epochs until ``patience`` of them bring no better validation loss; the model is left with its best epoch's
    weights."""
    best_loss, best_state, best_epoch, waited = float("inf"), None, 0, 0
    started = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        model.train()
        train_one_epoch()
        model.eval()
        with torch.no_grad():
            loss = validation_loss()
        if loss < best_loss - min_improvement:
            best_loss, best_epoch, waited = loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return EarlyStopped(best_loss, best_epoch, epoch, (time.perf_counter() - started) / epoch)
