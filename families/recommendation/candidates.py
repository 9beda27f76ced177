"""Collaborative filtering on a sparse patient x treatment outcome matrix (the recommendation
family's candidates; a building block, not a family).

Every candidate scores patients given as sparse rows of outcomes (`PatientRows`): a training
patient's own row, or the outcomes a new patient reports (the fold-in), so evaluation, the
service and a new patient all take one path. For a batch of rows a candidate gives
- ranking scores: how strongly to recommend each treatment (taken ones are never recommended);
- predicted outcomes, on the outcome scale;
- the reason behind one recommendation (similar patients, as counts only, or the patient's own
  treatments).
Rows are scored a chunk at a time: nothing builds a dense patients x treatments array.

Patient ids are stored only as keyed hashes (a random key per model), so a model artifact names no patient; whoever
holds the artifact and an id can still test whether that id was trained on.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from blocks.sparse import (
    CHUNK_CELLS,
    Interactions,
    PatientRows,
    normalised_rows,
    row_sums,
    rows_of,
    shrunk,
    sparse_rows,
    top_per_row,
)

BASELINE_DAMPING = 5.0  # pseudo-outcomes that shrink item kNN's baseline biases towards 0


@dataclass(frozen=True)
class Scale:
    low: float
    high: float

    def goodness(self, outcomes: np.ndarray) -> np.ndarray:
        """Outcome rescaled to [0, 1]: the worst outcome adds nothing to a recommendation."""
        return (outcomes - self.low) / (self.high - self.low)


class Recommender:
    """What every candidate shares: the training matrix, the id index, top-k, fold-in, predict."""

    kind = "base"

    def __init__(self, scale: tuple[float, float], seed: int = 0, **hyperparameters: Any) -> None:
        self.scale = Scale(*scale)
        self.seed = seed
        self.hyperparameters = hyperparameters

    # --- fitting -------------------------------------------------------------------------------------
    def fit(self, train: Interactions) -> Recommender:
        self.treatments = np.unique(train.treatments)
        self._treatment_index = {t: i for i, t in enumerate(self.treatments)}
        patients, rows = np.unique(train.patients, return_inverse=True)
        self._id_key = secrets.token_bytes(16)
        self._patient_index = {self._hash(p): i for i, p in enumerate(patients)}
        columns = np.searchsorted(self.treatments, train.treatments)
        self.taken, self.outcomes = sparse_rows(rows, columns, train.outcomes, (len(patients), len(self.treatments)))
        everyone = self.training_rows()
        self.global_mean = float(self.outcomes.data.mean())
        self.patient_means = everyone.means(self.global_mean)
        self.treatment_counts = np.asarray(self.taken.sum(axis=0)).ravel()
        self.treatment_means = np.asarray(self.outcomes.sum(axis=0)).ravel() / np.maximum(self.treatment_counts, 1)
        self.goodness = everyone.with_data(self.scale.goodness(self.outcomes.data))
        self.popularity = np.asarray(self.goodness.sum(axis=0)).ravel()  # patients' good outcomes per treatment
        self._fit()
        return self

    def _fit(self) -> None:
        """The candidate's own training, on self.taken / self.outcomes."""

    def baseline_terms(self, rows: PatientRows, damping: float) -> tuple[np.ndarray, np.ndarray]:
        """The baseline μ + b(u) + b(i) as a per-patient term μ + b(u) and a per-treatment term b(i); each bias
        is a mean deviation shrunk towards 0 by ``damping`` pseudo-outcomes, so a bias from few outcomes counts less."""
        treatment_bias = (
            (self.treatment_means - self.global_mean)
            * self.treatment_counts
            / (self.treatment_counts + damping + 1e-12)
        )
        patient_bias = row_sums(rows.centred(np.full(len(rows), self.global_mean), treatment_bias)) / (
            np.diff(rows.taken.indptr) + damping + 1e-12
        )
        return self.global_mean + patient_bias, treatment_bias

    def _hash(self, patient_id: str) -> str:
        return hashlib.blake2b(str(patient_id).encode(), key=self._id_key, digest_size=16).hexdigest()

    @property
    def n_patients(self) -> int:
        return self.taken.shape[0]

    @property
    def n_treatments(self) -> int:
        return len(self.treatments)

    @property
    def chunk_rows(self) -> int:
        """Rows scored at once, so that a dense chunk over every treatment stays within CHUNK_CELLS."""
        return max(1, CHUNK_CELLS // max(1, self.n_treatments))

    # --- patients as rows ------------------------------------------------------------------------------
    def row_of(self, patient_id: str) -> int | None:
        return self._patient_index.get(self._hash(patient_id))

    def training_rows(self, rows: np.ndarray | None = None) -> PatientRows:
        """Training patients as rows; all of them (the default) without copying the matrices."""
        if rows is None:
            return PatientRows(self.taken, self.outcomes, np.arange(self.n_patients), as_trained=True)
        rows = np.asarray(rows)
        return PatientRows(self.taken[rows], self.outcomes[rows], rows.copy(), as_trained=True)

    def treatment_column(self, treatments: np.ndarray) -> np.ndarray:
        """Column of each treatment; -1 for one the model never saw."""
        return np.array([self._treatment_index.get(str(t), -1) for t in treatments], dtype=int)

    def rows_from(self, interactions: Interactions, patients: np.ndarray) -> PatientRows:
        """Rows for ``patients`` built from their outcomes (treatments the model never saw are dropped)."""
        position = {p: i for i, p in enumerate(patients)}
        rows = np.array([position.get(p, -1) for p in interactions.patients], dtype=int)
        columns = self.treatment_column(interactions.treatments)
        usable = (rows >= 0) & (columns >= 0)
        taken, outcomes = sparse_rows(
            rows[usable], columns[usable], interactions.outcomes[usable], (len(patients), self.n_treatments)
        )
        return PatientRows(taken, outcomes, self.known_rows(patients))

    def known_rows(self, patients: np.ndarray) -> np.ndarray:
        """Training row of each patient id; -1 for one the model was not trained on."""
        return np.array([-1 if (row := self.row_of(p)) is None else row for p in patients], dtype=int)

    def new_patient(self, outcomes: dict[str, float]) -> PatientRows:
        """A patient outside the training data, from the outcomes they report (may be none)."""
        reported = Interactions(
            np.zeros(len(outcomes)),
            np.array(list(outcomes), dtype=object),
            np.array(list(outcomes.values()), dtype=float),
        )
        rows = self.rows_from(reported, np.zeros(1))
        rows.self_rows[:] = -1  # whatever the hash of "0" matches, this is nobody in the training data
        return rows

    # --- what a candidate computes for a chunk of rows ---------------------------------------------------
    def _scores_and_predictions(self, rows: PatientRows) -> tuple[np.ndarray, np.ndarray]:
        """Dense (rows x treatments) ranking scores and predicted outcomes."""
        raise NotImplementedError

    def _reason(self, rows: PatientRows, column: int) -> dict[str, Any] | None:
        """None: nothing of the patient's drove it (the list's tie-break, popularity, did)."""
        raise NotImplementedError

    # --- answers -----------------------------------------------------------------------------------------
    def _chunks(self, rows: PatientRows):
        """Scores and predictions a chunk of rows at a time; a patient with no outcome gets the popularity list."""
        for start in range(0, len(rows), self.chunk_rows):
            chunk = rows.chunk(start, start + self.chunk_rows)
            scores, predicted = self._scores_and_predictions(chunk)
            cold = np.diff(chunk.taken.indptr) == 0
            if cold.any():
                predicted = predicted.copy() if predicted is scores else predicted  # SVD ranks by its prediction
                scores[cold], predicted[cold] = self.popularity, self.treatment_means
            yield start, chunk, scores, predicted

    def recommend(self, rows: PatientRows, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k treatment columns per row (best first; -1 pads a row with fewer untaken treatments),
        their ranking scores and their predicted outcomes. Taken treatments are never in the list.

        One total order per patient: score, then popularity, then column. So the top k are always the first k
        of the top 50 (ties at the cut would otherwise fall to whatever argpartition picked)."""
        k = min(k, self.n_treatments)
        columns = np.full((len(rows), k), -1, dtype=int)
        scores = np.full((len(rows), k), np.nan)
        predicted = np.full((len(rows), k), np.nan)
        for start, chunk, score, prediction in self._chunks(rows):
            score = np.asarray(score, dtype=float)
            score = np.where(np.isnan(score), -np.inf, score)  # a NaN would make the order arbitrary
            score[chunk.taken.nonzero()] = -np.inf
            top = self._top_k(score, k)
            top_scores = np.take_along_axis(score, top, axis=1)
            valid = np.isfinite(top_scores)
            stop = start + len(chunk)
            columns[start:stop] = np.where(valid, top, -1)
            scores[start:stop] = np.where(valid, top_scores, np.nan)
            predicted[start:stop] = np.where(
                valid, np.clip(np.take_along_axis(prediction, top, axis=1), self.scale.low, self.scale.high), np.nan
            )
        return columns, scores, predicted

    @cached_property
    def _tie_rank(self) -> np.ndarray:
        """Each treatment's place by popularity (then column): fixed at fit, so sorted once, not per request."""
        rank = np.empty(self.n_treatments)
        rank[np.lexsort((np.arange(self.n_treatments), -self.popularity))] = np.arange(self.n_treatments)
        return rank

    def _top_k(self, score: np.ndarray, k: int) -> np.ndarray:
        """Columns of the k best per row in the total order (score desc, popularity desc, column), in linear time:
        everything strictly above the k-th score is in; of those tied with it, the most popular fill the rest."""
        tie_rank = self._tie_rank
        if k < self.n_treatments:
            kth = -np.partition(-score, k - 1, axis=1)[:, k - 1 : k]
            key = np.where(score > kth, -1.0, np.where(score == kth, tie_rank, np.inf))
            chosen = np.argpartition(key, k - 1, axis=1)[:, :k]
        else:
            chosen = np.tile(np.arange(self.n_treatments), (len(score), 1))
        order = np.lexsort((tie_rank[chosen], -np.take_along_axis(score, chosen, axis=1)), axis=1)
        return np.take_along_axis(chosen, order, axis=1)

    def predict_outcomes(self, rows: PatientRows, row_of_pair: np.ndarray, column_of_pair: np.ndarray) -> np.ndarray:
        """Predicted outcome of each (row, treatment column) pair; the patient's mean for a treatment the model never
        saw."""
        predicted = np.full(len(row_of_pair), np.nan)
        fallback = rows.means(self.global_mean)
        for start, chunk, _, prediction in self._chunks(rows):
            pairs = np.flatnonzero((row_of_pair >= start) & (row_of_pair < start + len(chunk)))
            seen = pairs[column_of_pair[pairs] >= 0]
            predicted[seen] = prediction[row_of_pair[seen] - start, column_of_pair[seen]]
            unseen = pairs[column_of_pair[pairs] < 0]
            predicted[unseen] = fallback[row_of_pair[unseen]]
        return np.clip(predicted, self.scale.low, self.scale.high)

    def reasons(self, rows: PatientRows, columns: np.ndarray) -> list[dict[str, Any]]:
        """Why each treatment in ``columns`` was recommended to the single patient in ``rows``: what the candidate found
        in the patient's own outcomes, or, when nothing of theirs pointed at it, its popularity (the tie-break)."""
        if not rows.taken.nnz:
            return [self._popularity_reason(int(c)) for c in columns]
        return [reason or self._popularity_reason(int(c)) for c, reason in zip(columns, self._reasons(rows, columns))]

    def _reasons(self, rows: PatientRows, columns: np.ndarray) -> list[dict[str, Any] | None]:
        return [self._reason(rows, int(c)) for c in columns]

    def _popularity_reason(self, column: int) -> dict[str, Any]:
        n, mean = int(self.treatment_counts[column]), float(self.treatment_means[column])
        return {
            "based_on": "popularity",
            "summary": f"popular among all patients: taken by {n} in the training data, mean outcome {mean:.2f}",
            "similar_patients": n,
            "their_mean_outcome": round(mean, 4),
        }

    def _own_treatments(
        self, rows: PatientRows, weights: np.ndarray, label: str, top: int = 3
    ) -> dict[str, Any] | None:
        """The patient's treatments that pushed a recommendation most (weights: one per taken treatment); None when none
        did."""
        taken = rows.taken.indices
        outcomes = rows.outcomes.data
        order = np.lexsort((taken, -weights))[:top]
        drivers = [
            {
                "treatment": str(self.treatments[taken[i]]),
                "your_outcome": float(outcomes[i]),
                "similarity": round(float(weights[i]), 4),
            }
            for i in order
            if weights[i] > 0
        ]
        if not drivers:
            return None
        return {
            "based_on": "similar_treatments",
            "summary": f"{label}: {', '.join(str(d['treatment']) for d in drivers)}",
            "treatments": drivers,
        }

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """Predicted outcome per row of (patient id, treatment id) pairs for training patients (NaN for others);
        what MLflow's pyfunc and `medmaas predict` call."""
        known = self.known_rows(pairs.iloc[:, 0].astype(str).to_numpy())
        unique_rows, row_of_pair = np.unique(known[known >= 0], return_inverse=True)
        predicted = np.full(len(pairs), np.nan)
        if len(unique_rows):
            columns = self.treatment_column(pairs.iloc[:, 1].astype(str).to_numpy()[known >= 0])
            predicted[known >= 0] = self.predict_outcomes(self.training_rows(unique_rows), row_of_pair, columns)
        return predicted


class Popularity(Recommender):
    """The baseline: treatments ranked by how many patients report a good outcome on them (the sum of
    goodness), the same list for everyone; outcome predicted by the treatment's mean, shrunk towards
    the overall mean by ``shrinkage`` pseudo-patients."""

    kind = "popularity"

    def _fit(self) -> None:
        shrinkage = float(self.hyperparameters.get("shrinkage", 0.0))
        sums = self.treatment_means * self.treatment_counts
        self.shrunk_means = (sums + shrinkage * self.global_mean) / np.maximum(self.treatment_counts + shrinkage, 1e-12)

    def _scores_and_predictions(self, rows: PatientRows) -> tuple[np.ndarray, np.ndarray]:
        n = len(rows)
        return np.tile(self.popularity, (n, 1)), np.tile(self.shrunk_means, (n, 1))

    def _reason(self, rows: PatientRows, column: int) -> dict[str, Any]:
        return self._popularity_reason(column)


class UserNeighbours(Recommender):
    """User-based kNN with mean-centring (seed 000's neighbourhood formula, weighted by similarity):

        r̂(u, i) = r̄(u) + Σ_v s(u, v) (r(v, i) − r̄(v)) / Σ_v |s(u, v)|,  v among u's neighbours who took i,

    s the cosine of mean-centred outcome rows, shrunk by the co-rated count. The seed weighs every
    neighbour by 1/sqrt(|N(u)| |N(v)|), which does not keep r̂ on the scale; the similarity weights
    (Resnick et al., 1994) do. Ranking: Σ_v s(u, v) · goodness(r(v, i)), i.e. how strongly the most
    similar patients' good outcomes point at the treatment.
    """

    kind = "user_knn"

    def _fit(self) -> None:
        self.centred = self.training_rows().centred(self.patient_means)
        self._unit_t = normalised_rows(self.centred).T.tocsr()
        self._taken_t = self.taken.T.tocsr()
        everyone, size = self.training_rows(), self.chunk_rows
        self.nearest = sp.vstack(
            [self._search(everyone.chunk(start, start + size)) for start in range(0, self.n_patients, size)]
        ).tocsr()

    def _search(self, rows: PatientRows) -> sp.csr_matrix:
        centred = rows.centred(rows.means(self.global_mean))
        similarity = shrunk(
            (normalised_rows(centred) @ self._unit_t).tocsr(),
            rows.taken @ self._taken_t,
            float(self.hyperparameters.get("shrinkage", 0.0)),
        )
        owner = rows_of(similarity.indptr)
        similarity.data[similarity.indices == rows.self_rows[owner]] = 0.0
        return top_per_row(similarity, int(self.hyperparameters.get("neighbours", 50)))

    def neighbours(self, rows: PatientRows) -> sp.csr_matrix:
        """Each row's most similar training patients (positive similarities only, never itself); found at fit for
        training rows."""
        return self.nearest[rows.self_rows] if rows.as_trained else self._search(rows)

    def _scores_and_predictions(self, rows: PatientRows) -> tuple[np.ndarray, np.ndarray]:
        near = self.neighbours(rows)
        weight = (near @ self.taken).toarray()
        deviation = (near @ self.centred).toarray()
        means = rows.means(self.global_mean)[:, None]
        predicted = means + np.divide(deviation, weight, out=np.zeros_like(deviation), where=weight > 0)
        return (near @ self.goodness).toarray(), predicted

    def _reasons(self, rows: PatientRows, columns: np.ndarray) -> list[dict[str, Any] | None]:
        near = self.neighbours(rows)  # searched once for the whole list (a new patient's search is the costly part)
        return [self._neighbours_reason(near, int(c)) for c in columns]

    def _neighbours_reason(self, near: sp.csr_matrix, column: int) -> dict[str, Any] | None:
        who, similarity = near.indices, near.data
        took = self.taken[who, column].toarray().ravel() > 0
        n = int(took.sum())
        if not n:
            return None
        outcomes = self.outcomes[who[took], column].toarray().ravel()
        return {
            "based_on": "similar_patients",
            "summary": f"{n} of your {len(who)} most similar patients took it, mean outcome {outcomes.mean():.2f}",
            "similar_patients": n,
            "mean_similarity": round(float(similarity[took].mean()), 4),
            "their_mean_outcome": round(float(outcomes.mean()), 4),
        }


class ItemNeighbours(Recommender):
    """Item-based kNN: cosine similarity of treatments' outcome columns (outcomes rescaled to [1, 2],
    so every observation counts and a better outcome counts more), shrunk by the co-rated count; each
    treatment keeps its ``neighbours`` most similar. Ranking: Σ_j s(i, j) · goodness(r(u, j)) over the
    patient's treatments j among i's neighbours. Outcome: b(u, i) + Σ_j s(i, j)(r(u, j) − b(u, j)) / Σ_j s(i, j),
    b the baseline μ + b(u) + b(i) (Koren, 2008): centring on the patient's mean alone ignores that some
    treatments do better than others, and patients' recorded treatments are chosen ones (RMSE 1.07 -> 0.84
    on the synthetic benchmark)."""

    kind = "item_knn"

    def _fit(self) -> None:
        columns = self.training_rows().with_data(1.0 + self.scale.goodness(self.outcomes.data)).T.tocsr()
        unit = normalised_rows(columns)
        taken_t = self.taken.T.tocsr()
        shrinkage = float(self.hyperparameters.get("shrinkage", 0.0))
        keep = int(self.hyperparameters.get("neighbours", 50))
        size = self.chunk_rows  # treatments at a time: a block of similarities is treatments x treatments
        blocks = []
        for start in range(0, self.n_treatments, size):
            similarity = shrunk(
                (unit[start : start + size] @ unit.T).tocsr(), taken_t[start : start + size] @ self.taken, shrinkage
            ).tocsr()
            owner = rows_of(similarity.indptr) + start
            similarity.data[similarity.indices == owner] = 0.0
            blocks.append(top_per_row(similarity, keep))
        self.similar = sp.vstack(blocks).tocsr()  # row i: treatment i's neighbours
        self._similar_t = self.similar.T.tocsr()

    def _scores_and_predictions(self, rows: PatientRows) -> tuple[np.ndarray, np.ndarray]:
        patient_term, treatment_term = self.baseline_terms(rows, BASELINE_DAMPING)
        goodness = rows.with_data(self.scale.goodness(rows.outcomes.data))
        weight = (rows.taken @ self._similar_t).toarray()
        deviation = (rows.centred(patient_term, treatment_term) @ self._similar_t).toarray()
        baseline = patient_term[:, None] + treatment_term[None, :]
        predicted = baseline + np.divide(deviation, weight, out=np.zeros_like(deviation), where=weight > 0)
        return (goodness @ self._similar_t).toarray(), predicted

    def _reason(self, rows: PatientRows, column: int) -> dict[str, Any] | None:
        similarity = self.similar[column].toarray().ravel()[rows.taken.indices]
        return self._own_treatments(rows, similarity, "similar to treatments you took")


class TruncatedSVD(Recommender):
    """Truncated SVD (``scipy.sparse.linalg.svds``, k factors) of the mean-centred sparse matrix, unobserved cells at
    the centre. The centre (a hyperparameter) is each patient's mean, the overall mean (which keeps "which treatments a
    patient took" in the matrix), or the baseline μ + b(u) + b(i) with biases shrunk by ``shrinkage``. A patient's
    centred row x is scored as α x V Vᵀ: for a training patient x V Vᵀ is exactly their row of UΣVᵀ, and a new patient
    folds in the same way; treatment j contributes x_j (v_j · v_i) to treatment i. Unobserved cells pull the
    reconstruction towards the centre; α, fitted by least squares on the training cells, undoes that.
    """

    kind = "svd"

    def _fit(self) -> None:
        from scipy.sparse.linalg import svds

        centred = self._centred(self.training_rows())
        k = max(1, min(int(self.hyperparameters.get("k", 10)), min(self.taken.shape) - 1))
        v0 = np.random.default_rng(self.seed).uniform(-1, 1, min(centred.shape))
        _, singular, vt = svds(centred, k=k, v0=v0)
        self.factors = np.ascontiguousarray(vt[np.argsort(-singular)].T)  # treatments x k
        fitted = _cells(centred @ self.factors, self.factors, centred)
        self.alpha = float(fitted @ centred.data / (fitted @ fitted)) if fitted @ fitted > 0 else 1.0

    def _centre_terms(self, rows: PatientRows) -> tuple[np.ndarray, np.ndarray]:
        """The centre of cell (u, i) as a per-patient term plus a per-treatment term."""
        centre = self.hyperparameters.get("centre", "patient")
        no_treatment_term = np.zeros(self.n_treatments)
        if centre == "overall":
            return np.full(len(rows), self.global_mean), no_treatment_term
        if centre == "patient":
            return rows.means(self.global_mean), no_treatment_term
        return self.baseline_terms(rows, float(self.hyperparameters.get("shrinkage", 0.0)))

    def _centred(self, rows: PatientRows) -> sp.csr_matrix:
        return rows.centred(*self._centre_terms(rows))

    def _scores_and_predictions(self, rows: PatientRows) -> tuple[np.ndarray, np.ndarray]:
        patient_term, treatment_term = self._centre_terms(rows)
        reconstructed = (self._centred(rows) @ self.factors) @ self.factors.T
        predicted = patient_term[:, None] + treatment_term[None, :] + self.alpha * reconstructed
        return predicted, predicted

    def _reason(self, rows: PatientRows, column: int) -> dict[str, Any] | None:
        contribution = self._centred(rows).data * (self.factors[rows.taken.indices] @ self.factors[column])
        return self._own_treatments(rows, contribution, "your outcomes on these treatments point to it")


def _cells(projected: np.ndarray, factors: np.ndarray, pattern: sp.csr_matrix) -> np.ndarray:
    """(projected @ factorsᵀ) at the stored cells of ``pattern`` only."""
    rows = rows_of(pattern.indptr)
    return np.einsum("ij,ij->i", projected[rows], factors[pattern.indices])


CANDIDATES: dict[str, type[Recommender]] = {
    c.kind: c for c in (Popularity, UserNeighbours, ItemNeighbours, TruncatedSVD)
}
