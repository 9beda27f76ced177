"""What a bioactivity version is: SMILES in, probabilities out, with the training set's fingerprints for the
applicability domain."""

from __future__ import annotations

from typing import Any

import numpy as np

from blocks.assembled import AssembledClassifier
from families.bioactivity.chemistry import MoleculeFeaturizer, SimilarityIndex, fingerprint_bits

DOMAIN_RADIUS, DOMAIN_BITS = 2, 2048  # the similarity is always on ECFP4 bits, whatever the model's features


class MoleculeModel(AssembledClassifier):
    """A featuriser and a fitted classifier; ``domain_`` holds the training molecules' packed ECFP4 bits (not their
    SMILES)."""

    def __init__(self, featurizer: MoleculeFeaturizer, estimator: Any, domain: np.ndarray, classes: list[str]):
        self.featurizer = featurizer
        self.estimator = estimator
        self.domain = domain
        self.classes = classes

    def _smiles(self, X) -> list[str]:
        return list(X.iloc[:, 0]) if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2 else list(X)

    def predict_proba(self, X) -> np.ndarray:
        """Columns in ``classes`` order (the estimator was fitted on 0 = classes[0], 1 = classes[1])."""
        return self.estimator.predict_proba(self.featurizer.transform(self._smiles(X)))

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def similarity(self, X) -> np.ndarray:
        """Each molecule's highest Tanimoto similarity (ECFP4 bits) to a training molecule."""
        if getattr(self, "_index", None) is None:
            self._index = SimilarityIndex(self.domain)  # built on first use, never stored with the model
        return self._index.max_tanimoto(fingerprint_bits(self._smiles(X), DOMAIN_RADIUS, DOMAIN_BITS))

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__getstate__().items() if k != "_index"}
