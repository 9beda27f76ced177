"""Fine-tuning MiniLM end to end: a linear head on the mean-pooled embedding, first fitted alone on the frozen
embeddings (logistic regression: "linear probing, then fine-tuning", Kumar et al., ICLR 2022), then everything trained
with class-weighted cross-entropy, AdamW with linear warm-up and decay, batches padded to their longest text, and early
stopping on the validation split's loss (blocks/torch_training.py)."""

from __future__ import annotations

import numpy as np
import torch
from transformers import PreTrainedModel

from blocks.torch_training import EarlyStopped, seeded_device, train_with_early_stopping
from families.clinical_text.model import (
    FineTunedMiniLM,
    MiniLMEmbedder,
    _offline,
    batches,
    load_tokenizer,
    mean_pooled,
    minilm_folder,
)
from families.clinical_text.settings import FineTuneSettings


class MeanPooledClassifier(torch.nn.Module):
    """MiniLM's encoder, its mean-pooled and normalised embedding (as all-MiniLM-L6-v2 was trained), and a linear
    head."""

    def __init__(self, encoder: PreTrainedModel, labels: int):
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(encoder.config.hidden_size, labels)

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        return self.head(mean_pooled(hidden, attention_mask))


def _probed(
    texts: list[str], codes: np.ndarray, labels: int, settings: FineTuneSettings, seed: int
) -> MeanPooledClassifier:
    """The network with its head set to a logistic regression on the frozen embeddings: fine-tuning starts from a
    classifier already as good as the frozen candidate, so a small learning rate and few steps suffice."""
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModel

    _offline()
    encoder = AutoModel.from_pretrained(minilm_folder(), local_files_only=True)
    probe = LogisticRegression(C=settings.probe_C, max_iter=2000, class_weight="balanced", random_state=seed)
    probe.fit(MiniLMEmbedder(settings.max_length).transform(texts), codes)
    network = MeanPooledClassifier(encoder, labels)
    weights, bias = probe.coef_, probe.intercept_
    if labels == 2:  # a binary regression's one row is the second class's margin over the first
        weights, bias = np.vstack([np.zeros_like(weights), weights]), np.concatenate([[0.0], bias])
    with torch.no_grad():
        network.head.weight.copy_(torch.as_tensor(weights, dtype=torch.float32))
        network.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return network


def fine_tune(
    texts: list[str],
    codes: np.ndarray,
    validation_texts: list[str],
    validation_codes: np.ndarray,
    labels: int,
    settings: FineTuneSettings,
    seed: int,
) -> tuple[FineTunedMiniLM, EarlyStopped]:
    from transformers import get_linear_schedule_with_warmup

    device = seeded_device(seed)
    tokenizer = load_tokenizer()
    network = _probed(texts, codes, labels, settings, seed).to(device)
    counts = np.bincount(codes, minlength=labels).astype(np.float64)
    weights = torch.tensor(
        len(codes) / (labels * np.maximum(counts, 1)), dtype=torch.float32, device=device
    )  # "balanced"
    loss_of = torch.nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    steps_per_epoch = -(-len(texts) // settings.batch_size)
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(0.1 * steps_per_epoch * settings.max_epochs), steps_per_epoch * settings.max_epochs
    )
    generator = torch.Generator().manual_seed(seed)
    targets = torch.as_tensor(codes, dtype=torch.long)

    def train_one_epoch() -> None:
        order = torch.randperm(len(texts), generator=generator).numpy()
        shuffled = batches(tokenizer, [texts[i] for i in order], settings.batch_size, settings.max_length, device)
        for start, batch in zip(range(0, len(order), settings.batch_size), shuffled):
            rows = order[start : start + settings.batch_size]
            loss = loss_of(network(**batch), targets[rows].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            schedule.step()

    def validation_loss() -> float:
        total = 0.0
        for start, batch in zip(
            range(0, len(validation_texts), 64), batches(tokenizer, validation_texts, 64, settings.max_length, device)
        ):
            logits = network(**batch)
            total += float(
                loss_of(logits, torch.as_tensor(validation_codes[start : start + 64], dtype=torch.long, device=device))
            ) * len(logits)
        return total / max(len(validation_texts), 1)

    stopped = train_with_early_stopping(
        network, train_one_epoch, validation_loss, settings.max_epochs, settings.patience
    )
    return FineTunedMiniLM(network.to("cpu").eval(), tokenizer, settings.max_length), stopped
