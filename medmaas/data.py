"""A family's declared input file: where it is, its id column, and value ranges (the gate reads them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from medmaas.environment import PROJECT_ROOT
from medmaas.settings import Frozen

NUMERIC_TYPES = ["int", "int8", "int16", "int32", "int64", "float", "float16", "float32", "float64", "Int64", "Float64"]


class ColumnRange(Frozen):
    min: float | None = None
    max: float | None = None


class DataFile(Frozen):
    """A family's input file and its identifier column (relative paths are from the repository root)."""

    path: Path
    id_column: str = "patient_id"

    def resolved_path(self) -> Path:
        return self.path if self.path.is_absolute() else PROJECT_ROOT / self.path

    def read(self, family: str, dtype: dict[str, Any] | None = None) -> pd.DataFrame:
        """The file as it is (ids as text), or an error naming the file and the key that sets it."""
        path = self.resolved_path()
        if not path.is_file():
            raise FileNotFoundError(f"{family}: data file not found: {path} (set {family}.data.path in params.yaml)")
        return pd.read_csv(path, dtype={self.id_column: str, **(dtype or {})})
