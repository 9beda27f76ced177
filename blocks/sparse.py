"""Sparse patient x treatment matrices: outcomes as rows, and the row operations the recommenders share.

Nothing here builds a dense patients x treatments array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

CHUNK_CELLS = 4_000_000  # rows x treatments scored at once (32 MB of float64)


@dataclass
class Interactions:
    """Outcomes of (patient, treatment) pairs: the long table, with its ids."""

    patients: np.ndarray  # id per pair
    treatments: np.ndarray
    outcomes: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, patient: str, treatment: str, outcome: str) -> Interactions:
        return cls(
            frame[patient].astype(str).to_numpy(),
            frame[treatment].astype(str).to_numpy(),
            frame[outcome].to_numpy(dtype=float),
        )

    def __len__(self) -> int:
        return len(self.outcomes)

    def subset(self, mask: np.ndarray) -> Interactions:
        return Interactions(self.patients[mask], self.treatments[mask], self.outcomes[mask])


@dataclass
class PatientRows:
    """A batch of patients as sparse rows over the model's treatments.

    ``taken`` holds 1 for every observed pair and ``outcomes`` the outcome in the same structure
    (explicit zeros kept, so an outcome of 0 is not mistaken for "not taken"). ``self_rows`` is
    the patient's own training row, or -1, so that a patient is never their own neighbour.
    """

    taken: sp.csr_matrix
    outcomes: sp.csr_matrix
    self_rows: np.ndarray
    as_trained: bool = False  # the rows are the patients' training rows, unchanged

    def __len__(self) -> int:
        return int(self.taken.shape[0])

    def chunk(self, start: int, stop: int) -> PatientRows:
        return PatientRows(
            self.taken[start:stop], self.outcomes[start:stop], self.self_rows[start:stop], self.as_trained
        )

    def means(self, fallback: float) -> np.ndarray:
        counts = np.diff(self.taken.indptr)
        return np.where(counts > 0, row_sums(self.outcomes) / np.maximum(counts, 1), fallback)

    def with_data(self, data: np.ndarray) -> sp.csr_matrix:
        """A matrix with the rows' structure and new values (e.g. centred outcomes)."""
        return sp.csr_matrix((data, self.taken.indices, self.taken.indptr), shape=self.taken.shape)

    def centred(self, patient_term: np.ndarray, treatment_term: np.ndarray | None = None) -> sp.csr_matrix:
        """Each stored outcome minus its centre: a per-patient term, plus a per-treatment term if given."""
        centres = np.repeat(patient_term, np.diff(self.taken.indptr))
        if treatment_term is not None:
            centres = centres + treatment_term[self.taken.indices]
        return self.with_data(self.outcomes.data - centres)


def row_sums(matrix: sp.csr_matrix) -> np.ndarray:
    """Sum of each row's stored values (0 for an empty row)."""
    return np.bincount(rows_of(matrix.indptr), weights=matrix.data, minlength=matrix.shape[0])


def sparse_rows(
    rows: np.ndarray, columns: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(taken, outcomes) with one explicit entry per pair; a repeated pair keeps its last outcome."""
    order = np.lexsort((np.arange(len(rows)), columns, rows))
    rows, columns, values = rows[order], columns[order], values[order]
    last = np.r_[(rows[1:] != rows[:-1]) | (columns[1:] != columns[:-1]), True] if len(rows) else np.zeros(0, bool)
    rows, columns, values = rows[last], columns[last], values[last]
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=shape[0]))]
    taken = sp.csr_matrix((np.ones(len(rows)), columns, indptr), shape=shape)
    return taken, sp.csr_matrix((values.astype(float), columns, indptr), shape=shape)


def top_per_row(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """The ``keep`` largest positive entries of every row (ties: the lower column first)."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    rows, columns, values = [], [], []
    for row in range(matrix.shape[0]):  # a partial sort per row beats one global sort by ~8x
        span = slice(matrix.indptr[row], matrix.indptr[row + 1])
        value, column = matrix.data[span], matrix.indices[span]
        positive = value > 0
        value, column = value[positive], column[positive]
        if len(value) > keep:
            within = value >= value[np.argpartition(-value, keep - 1)[keep - 1]]  # every tie of the k-th value
            value, column = value[within], column[within]
        order = np.lexsort((column, -value))[:keep]
        rows.append(np.full(len(order), row))
        columns.append(column[order])
        values.append(value[order])
    if not rows:
        return sp.csr_matrix(matrix.shape)
    return sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=matrix.shape)


def row_norms(matrix: sp.csr_matrix) -> np.ndarray:
    return np.asarray(np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()))


def normalised_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = row_norms(matrix)
    return sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ matrix


def shrunk(similarity: sp.csr_matrix, common: sp.csr_matrix, shrinkage: float) -> sp.csr_matrix:
    """Similarity x n/(n + shrinkage), n the co-rated count: a similarity built on few pairs counts less."""
    if shrinkage <= 0:
        return similarity
    common = common.tocsr(copy=True)
    common.data = common.data / (common.data + shrinkage)
    return similarity.multiply(common).tocsr()


def rows_of(keys: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(keys) - 1), np.diff(keys))
