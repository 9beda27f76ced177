"""A classifier a family assembles from parts fitted one by one (a featuriser, a network, a similarity index)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class AssembledClassifier(ClassifierMixin, BaseEstimator):
    """Never refit as a whole (its family fits the parts); ``classes`` names the probability columns, in order."""

    classes: list[str]

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.classes)

    def fit(self, X: Any, y: Any = None) -> AssembledClassifier:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True
