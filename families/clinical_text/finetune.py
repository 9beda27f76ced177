"""Fine-tuning MiniLM end to end: class-weighted cross-entropy, AdamW with linear warm-up and decay, batches padded to
their longest text, early stopping on the validation split's loss (blocks/torch_training.py)."""

from __future__ import annotations

import numpy as np
import torch

from blocks.torch_training import EarlyStopped, seeded_device, train_with_early_stopping
from families.clinical_text.model import FineTunedMiniLM, _offline, load_tokenizer, minilm_folder
from families.clinical_text.settings import FineTuneSettings


def _network(labels: int, seed: int) -> torch.nn.Module:
    _offline()
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the new head's "newly initialized" report is expected
    network = AutoModelForSequenceClassification.from_pretrained(minilm_folder(), local_files_only=True, num_labels=labels)
    generator = torch.Generator().manual_seed(seed)  # the head from the run's own generator: threads share torch's global one
    with torch.no_grad():
        network.classifier.weight.normal_(0.0, 0.02, generator=generator)
        network.classifier.bias.zero_()
    return network


def fine_tune(texts: list[str], codes: np.ndarray, validation_texts: list[str], validation_codes: np.ndarray, labels: int,
              settings: FineTuneSettings, seed: int) -> tuple[FineTunedMiniLM, EarlyStopped]:
    from transformers import get_linear_schedule_with_warmup

    device = seeded_device(seed)
    tokenizer = load_tokenizer()
    network = _network(labels, seed).to(device)
    counts = np.bincount(codes, minlength=labels).astype(np.float64)
    weights = torch.tensor(len(codes) / (labels * np.maximum(counts, 1)), dtype=torch.float32, device=device)  # "balanced"
    loss_of = torch.nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    steps_per_epoch = -(-len(texts) // settings.batch_size)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps_per_epoch * settings.max_epochs), steps_per_epoch * settings.max_epochs)
    generator = torch.Generator().manual_seed(seed)
    targets = torch.as_tensor(codes, dtype=torch.long)

    def batch(chunk: list[str]) -> dict[str, torch.Tensor]:
        encoded = tokenizer(chunk, padding=True, truncation=True, max_length=settings.max_length, return_tensors="pt")
        return {k: v.to(device) for k, v in encoded.items()}

    def train_one_epoch() -> None:
        order = torch.randperm(len(texts), generator=generator).numpy()
        for start in range(0, len(order), settings.batch_size):
            rows = order[start:start + settings.batch_size]
            loss = loss_of(network(**batch([texts[i] for i in rows])).logits, targets[rows].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            schedule.step()

    def validation_loss() -> float:
        total = 0.0
        for start in range(0, len(validation_texts), 64):
            logits = network(**batch(validation_texts[start:start + 64])).logits
            total += float(loss_of(logits, torch.as_tensor(validation_codes[start:start + 64], dtype=torch.long, device=device))) * len(logits)
        return total / max(len(validation_texts), 1)

    stopped = train_with_early_stopping(network, train_one_epoch, validation_loss, settings.max_epochs, settings.patience)
    return FineTunedMiniLM(network.to("cpu").eval(), tokenizer, settings.max_length), stopped
