"""The molecules of a split's side: canonical SMILES, labels and Bemis-Murcko scaffolds, as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Molecules:
    """One side of a split: canonical SMILES, labels (1 = positive) and scaffolds."""

    smiles: np.ndarray
    labels: np.ndarray
    scaffolds: np.ndarray

    def take(self, index: np.ndarray) -> Molecules:
        return Molecules(self.smiles[index], self.labels[index], self.scaffolds[index])
