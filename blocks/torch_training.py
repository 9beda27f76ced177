"""What every torch candidate's training shares."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def one_torch_thread():
    """Small batches gain nothing from more threads, and candidates train side by side (oversubscription costs 20x)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
