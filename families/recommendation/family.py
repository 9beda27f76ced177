"""The recommendation family: its data contract, per-patient holdout, recommenders and ranking metrics (described in
__init__.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import ParameterGrid

from blocks.drug_reviews import read_drug_reviews
from blocks.regression import REGRESSION_METRICS, regression_figures
from blocks.sparse import Interactions, PatientRows
from families.recommendation.candidates import CANDIDATES, Recommender
from families.recommendation.settings import (
    BUNDLED_DATA,
    INTERACTIONS,
    MIN_DRUGS_PER_CONDITION,
    PER_PATIENT,
    REVIEW_OUTCOMES,
    TIMESTAMPS,
    RecommendationSettings,
)
from medmaas.family import Evaluation, Family, FittedCandidate, Split, Suite, Tables
from medmaas.settings import NUMERIC_TYPES
from medmaas.stats import HeldOutRows, MetricSpec, bootstrap_estimates


@dataclass
class HeldOut:
    """The test side: each evaluated patient's training outcomes (to fold in) and their held-out outcomes."""

    history: Interactions
    held_out: Interactions


def pair_key(patient: str, treatment: str) -> str:
    return f"{patient}\x1f{treatment}"


def latest_per_patient(patients: np.ndarray, order: np.ndarray, fraction: float) -> np.ndarray:
    """Mask of each patient's last ``fraction`` of rows by ``order`` (at least one; none of a patient with a single
    row)."""
    frame = pd.DataFrame({"patient": patients, "order": order})
    position = frame.groupby("patient")["order"].rank(method="first", ascending=False).to_numpy()
    count = frame.groupby("patient")["patient"].transform("size").to_numpy()
    return position <= np.where(count >= 2, np.maximum(1, np.floor(fraction * count)), 0)


def ranking_metrics(top: np.ndarray, relevant: list[set[int]]) -> dict[str, np.ndarray]:
    """Per patient, with binary relevance: precision@k, recall@k and NDCG@k of a top-k list (-1 pads)."""
    k = top.shape[1]
    hits = np.array(
        [[column in wanted for column in row] for row, wanted in zip(top.tolist(), relevant)], dtype=float
    ).reshape(top.shape)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    n_relevant = np.array([len(r) for r in relevant])
    ideal = np.cumsum(discount)[np.minimum(n_relevant, k) - 1]
    return {
        "precision_at_k": hits.sum(axis=1) / k,
        "recall_at_k": hits.sum(axis=1) / n_relevant,
        "ndcg_at_k": hits @ discount / ideal,
    }


class Recommendation(Family):
    name = "recommendation"
    Settings = RecommendationSettings
    bundled_data = BUNDLED_DATA
    primary_metric = "ndcg_at_k"
    metrics = (
        MetricSpec(
            "ndcg_at_k",
            "max",
            "NDCG of the top-k list (k = ranking.k): held-out good outcomes ranked high among all untried treatments",
        ),
        MetricSpec("precision_at_k", "max", "share of the top-k list that is a held-out good outcome"),
        MetricSpec("recall_at_k", "max", "share of a patient's held-out good outcomes found in the top-k list"),
        MetricSpec("coverage", "max", "share of the treatments that appear in someone's top-k list"),
        MetricSpec(
            "rmse", "min", "root mean squared error of the predicted outcome of held-out pairs, on the outcome scale"
        ),
        MetricSpec("mae", "min", "mean absolute error of the predicted outcome of held-out pairs"),
    )
    runtime_packages = ("scikit-learn", "pandas", "numpy", "scipy")
    intended_use = (
        "Decision support: a ranked list of untried treatments for a patient (or a condition cohort), with the outcome "
        "patients "
        "like them had and the reason, for a clinician to weigh alongside guidelines, contraindications and the "
        "patient's wishes."
    )
    out_of_scope = (
        "Prescribing; contraindication or interaction checks; patients or treatments absent from the "
        "training data (except by fold-in)."
    )
    settings: RecommendationSettings

    @staticmethod
    def export_bundled(path: Path) -> Path:
        """Write the condition x drug outcome table from the drug-review zip, read by path (never imported)."""
        reviews = read_drug_reviews()
        reviews = reviews[
            reviews["condition"].notna() & ~reviews["condition"].str.contains("</span>", regex=False)
        ]  # scraping debris
        reviews = reviews.assign(
            outcome=reviews["rating"].map(REVIEW_OUTCOMES), date=pd.to_datetime(reviews["date"], format="%B %d, %Y")
        )
        pairs = reviews.groupby(["condition", "drugName"], as_index=False).agg(
            outcome=("outcome", "mean"), first_review=("date", "min"), reviews=("outcome", "size")
        )
        drugs = pairs.groupby("condition")["drugName"].transform("size")
        pairs = pairs[drugs >= MIN_DRUGS_PER_CONDITION].rename(columns={"drugName": "drug"})
        pairs["outcome"] = pairs["outcome"].round(4)
        pairs["first_review"] = pairs["first_review"].dt.strftime("%Y-%m-%d")
        path.parent.mkdir(parents=True, exist_ok=True)
        pairs.sort_values(["condition", "drug"]).to_csv(path, index=False)
        return path

    @classmethod
    def check_settings(cls, settings: RecommendationSettings, prefix: str) -> list[str]:
        problems = super().check_settings(settings, prefix)
        scale, relevant = settings.data.scale, settings.ranking.relevant_at_least
        if not scale.min < relevant <= scale.max:
            problems.append(
                f"  {prefix}.ranking.relevant_at_least: {relevant} is not inside the outcome scale ({scale.min}, "
                f"{scale.max}]"
            )
        if settings.recommend.default_k > settings.recommend.max_k:
            problems.append(
                f"  {prefix}.recommend.default_k: {settings.recommend.default_k} is above recommend.max_k "
                f"({settings.recommend.max_k})"
            )
        return problems

    # --- data and gate ---------------------------------------------------------------------------------
    def load(self) -> Tables:
        """The outcomes as they are in the file, plus derived tables the gate checks (no ids in them)."""
        data = self.settings.data
        frame = data.read(self.name, {data.treatment_column: str})
        tables = {INTERACTIONS: frame}
        if data.id_column in frame.columns:
            tables[PER_PATIENT] = frame.groupby(data.id_column).size().reset_index(drop=True).to_frame("interactions")
        if data.timestamp_column and data.timestamp_column in frame.columns:
            tables[TIMESTAMPS] = pd.DataFrame(
                {"parsed": pd.to_datetime(frame[data.timestamp_column], errors="coerce", format="mixed")}
            )
        return tables

    def expectations(self, tables: Tables) -> dict[str, Suite]:
        import great_expectations.expectations as gxe

        data = self.settings.data
        timed = [data.timestamp_column] if data.timestamp_column else []
        columns = [data.id_column, data.treatment_column, data.outcome_column, *timed]
        pair = [data.id_column, data.treatment_column, *timed]
        suite: Suite = [gxe.ExpectTableRowCountToBeBetween(min_value=data.min_rows)]
        suite += [gxe.ExpectColumnToExist(column=c) for c in columns]
        suite += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in columns]
        suite += [
            gxe.ExpectColumnValuesToBeInTypeList(column=data.outcome_column, type_list=NUMERIC_TYPES),
            gxe.ExpectColumnValuesToBeBetween(
                column=data.outcome_column, min_value=data.scale.min, max_value=data.scale.max
            ),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=pair),  # the same pair twice only at different times
        ]
        suites = {INTERACTIONS: suite}
        if PER_PATIENT in tables:
            suites[PER_PATIENT] = [
                gxe.ExpectColumnValuesToBeBetween(column="interactions", min_value=data.min_interactions_per_patient)
            ]
        if TIMESTAMPS in tables:
            suites[TIMESTAMPS] = [
                gxe.ExpectColumnValuesToNotBeNull(column="parsed")
            ]  # every timestamp readable as a date
        return suites

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        data = self.settings.data
        frame = tables[INTERACTIONS]
        patients, treatments = frame[data.id_column].nunique(), frame[data.treatment_column].nunique()
        per_patient = tables[PER_PATIENT]["interactions"]
        return {
            "patients": patients,
            "treatments": treatments,
            "outcomes": len(frame),
            "density": f"{len(frame) / (patients * treatments):.2%} of the patient x treatment matrix",
            "outcomes per patient": f"median {per_patient.median():g}, range {per_patient.min()}-{per_patient.max()}",
            "outcome scale": f"{data.scale.min:g}-{data.scale.max:g}, mean {frame[data.outcome_column].mean():.2f}",
        }

    def interactions(self, frame: pd.DataFrame) -> Interactions:
        data = self.settings.data
        if data.timestamp_column:  # a repeated pair keeps its latest outcome
            frame = frame.assign(_at=pd.to_datetime(frame[data.timestamp_column], format="mixed")).sort_values(
                "_at", kind="stable"
            )
        return Interactions.of(frame, data.id_column, data.treatment_column, data.outcome_column)

    # --- split ------------------------------------------------------------------------------------------
    def split(self, tables: Tables) -> Split:
        data, holdout = self.settings.data, self.settings.split
        frame = tables[INTERACTIONS]
        held = latest_per_patient(frame[data.id_column].to_numpy(), self._order(frame), holdout.test_fraction)
        train, test = self.interactions(frame[~held]), self.interactions(frame[held])
        how = (
            "by time: each patient's latest outcomes"
            if data.timestamp_column
            else f"at random (seed {self.seed}): outcomes of each patient"
        )
        description = (
            f"Per patient, {how} ({holdout.test_fraction:.0%}, at least one) are held out; the rest trains. Every "
            "patient is on both "
            "sides by design (the task is to rank treatments a known patient has not had), but no held-out outcome is "
            "seen in training. "
            f"Hyperparameters are tuned on {holdout.validation_fraction:.0%} of each patient's training outcomes, held "
            "out the same way."
        )
        seen = pd.Index(test.treatments).isin(train.treatments)
        rankable = seen & (test.outcomes >= self.settings.ranking.relevant_at_least)
        sizes = {
            "patients": int(frame[data.id_column].nunique()),
            "train_outcomes": len(train),
            "test_outcomes": len(test),
            "test_outcomes_unseen_treatment": int((~seen).sum()),
            "test_patients_ranked": len(np.unique(test.patients[rankable])),
        }  # with a good held-out outcome a model could rank
        return Split(
            train, HeldOut(train.subset(pd.Index(train.patients).isin(test.patients)), test), description, sizes
        )

    def _order(self, frame: pd.DataFrame) -> np.ndarray:
        """Time order of the rows where there are timestamps, else a seeded random order."""
        column = self.settings.data.timestamp_column
        if column:
            return pd.to_datetime(frame[column], format="mixed").rank(method="first").to_numpy()
        return np.random.default_rng(self.seed).permutation(len(frame)).astype(float)

    # --- candidates -------------------------------------------------------------------------------------
    def candidate_names(self) -> list[str]:
        return list(self.settings.candidates.enabled())

    def build(self, candidate: str, **hyperparameters: Any) -> Recommender:
        scale = self.settings.data.scale
        return CANDIDATES[candidate]((scale.min, scale.max), seed=self.seed, **hyperparameters)

    def fit(self, candidate: str, train: Interactions) -> FittedCandidate:
        """Every combination of the grid fits on part of each patient's outcomes and is scored (NDCG@k) on the rest."""
        started = time.perf_counter()
        grid = self.settings.candidates.enabled()[candidate].model_dump()
        # training outcomes are in time order where there are timestamps (see `interactions`)
        order = (
            np.arange(len(train))
            if self.settings.data.timestamp_column
            else np.random.default_rng(self.seed + 1).permutation(len(train))
        )
        validation = latest_per_patient(train.patients, order, self.settings.split.validation_fraction)
        fitting, checking = train.subset(~validation), train.subset(validation)
        scored = []
        for hyperparameters in ParameterGrid(grid):
            model = self.build(candidate, **hyperparameters).fit(fitting)
            held_out = HeldOut(fitting.subset(pd.Index(fitting.patients).isin(checking.patients)), checking)
            top, relevant, _ = self._top_lists(model, held_out, *self._fold_in(model, held_out))
            ndcg = float(ranking_metrics(top, relevant)["ndcg_at_k"].mean()) if len(top) else float("nan")
            scored.append((ndcg, hyperparameters))
        best_score, best = max(scored, key=lambda item: np.nan_to_num(item[0], nan=-1.0))  # ties: the first in the grid
        model = self.build(candidate, **best).fit(train)
        return FittedCandidate(candidate, model, best, best_score, time.perf_counter() - started)

    # --- evaluation ---------------------------------------------------------------------------------------
    @staticmethod
    def _fold_in(model: Recommender, test: HeldOut) -> tuple[PatientRows, np.ndarray]:
        """The evaluated patients as rows built from their training outcomes, and the row of each held-out outcome."""
        patients = np.unique(test.held_out.patients)
        return model.rows_from(test.history, patients), np.searchsorted(patients, test.held_out.patients)

    def _top_lists(
        self, model: Recommender, test: HeldOut, rows: PatientRows, position: np.ndarray
    ) -> tuple[np.ndarray, list[set[int]], np.ndarray]:
        """Top-k per folded-in patient with at least one relevant held-out outcome, those outcomes' columns, and which
        patients they are."""
        columns = model.treatment_column(test.held_out.treatments)
        good = (test.held_out.outcomes >= self.settings.ranking.relevant_at_least) & (columns >= 0)
        good[good] = np.asarray(rows.taken[position[good], columns[good]]).ravel() == 0  # had before: not a discovery
        relevant: list[set[int]] = [set() for _ in range(len(rows))]
        for row, column in zip(position[good], columns[good]):
            relevant[row].add(int(column))
        if not any(relevant):
            return np.zeros((0, self.settings.ranking.k), int), [], np.zeros(0, int)
        top, _, _ = model.recommend(rows, self.settings.ranking.k)
        scored = np.array([bool(r) for r in relevant])
        return top[scored], [r for r in relevant if r], np.flatnonzero(scored)

    def evaluate(self, model: Recommender, test: HeldOut) -> Evaluation:
        n, seed = self.settings.bootstrap_resamples, self.seed
        rows, position = self._fold_in(model, test)
        top, relevant, scored = self._top_lists(model, test, rows, position)
        if not relevant:
            raise ValueError(
                f"no held-out outcome >= ranking.relevant_at_least ({self.settings.ranking.relevant_at_least}) "
                "of a treatment seen in training: ranking cannot be evaluated on this split"
            )
        per_patient = ranking_metrics(top, relevant)
        ranking = {name: (lambda *arrays, i=i: float(arrays[i].mean())) for i, name in enumerate(per_patient)}
        ranking["coverage"] = lambda *arrays: len(np.unique(arrays[-1][arrays[-1] >= 0])) / model.n_treatments
        estimates = bootstrap_estimates(ranking, [*per_patient.values(), top], n, seed)
        predicted = model.predict_outcomes(rows, position, model.treatment_column(test.held_out.treatments))
        observed = test.held_out.outcomes
        rating = {name: REGRESSION_METRICS[name] for name in ("rmse", "mae")}
        estimates |= bootstrap_estimates(rating, (observed, predicted), n, seed, clusters=position)
        return Evaluation(
            metrics=estimates,
            figures=regression_figures(observed, predicted),
            rows=self._rows(test, scored, per_patient[self.primary_metric]),
        )

    def _rows(self, test: HeldOut, scored: np.ndarray, ndcg: np.ndarray) -> HeldOutRows:
        """One row per held-out patient (NaN where the model could not rank: no relevant held-out outcome of a treatment
        it knows), so two models pair row by row on the patients both could rank; a row's keys are the patient's
        held-out (patient, treatment) pairs: a model trained on any of them has seen the row. Two versions trained on
        different data know different treatments, so the relevant outcomes each is graded on can differ: the pairing is
        exact only between models of one training set."""
        patients = np.unique(test.held_out.patients)
        per_patient = np.full(len(patients), np.nan)
        per_patient[scored] = ndcg
        pairs: dict[Any, list[str]] = {p: [] for p in patients}
        for patient, treatment in zip(test.held_out.patients, test.held_out.treatments):
            pairs[patient].append(pair_key(patient, treatment))
        return HeldOutRows(
            lambda _, scores: float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan"),
            (np.arange(len(patients)), per_patient),
            tuple(tuple(pairs[p]) for p in patients),
            unit="patient",
            scorable=np.isfinite(per_patient),
        )

    def training_keys(self, train: Interactions) -> list[str]:
        return [pair_key(p, t) for p, t in zip(train.patients, train.treatments)]

    def input_example(self, test: Any) -> None:
        return None  # a request names a patient or reports outcomes; the service documents both

    def serving_artifacts(self, model: Recommender, train: Interactions) -> dict[str, Any]:
        return {"treatments": int(model.n_treatments), "patients": int(model.n_patients), "kind": model.kind}

    def limitations(self) -> list[str]:
        extra = [
            "Collaborative filtering ranks by what similar patients had, not by cause: confounding by indication is "
            "not removed, "
            "and treatments rarely given (or given to few patients like this one) are rarely recommended.",
            "The model stores each training patient's outcomes, keyed by a hash of their id: treat the artifact as "
            "pseudonymised patient data.",
            "Treatments never seen in training cannot be recommended; their held-out outcomes are predicted as the "
            "patient's mean.",
        ]
        if self.settings.data.path == BUNDLED_DATA:
            extra.append(
                "Drug-review data: the rows are conditions, not patients (reviews carry no patient id); outcomes are "
                "self-reported review sentiment (negative/neutral/positive) from a 979-review subset, 2008-2017."
            )
        return [*super().limitations(), *extra]

    def predict_frame(self, model: Recommender, frame: pd.DataFrame) -> pd.DataFrame:
        """Predicted outcome of each (patient, treatment) row, for patients in the training data (empty otherwise)."""
        data = self.settings.data
        missing = [c for c in (data.id_column, data.treatment_column) if c not in frame.columns]
        if missing:
            raise ValueError(f"input lacks columns the model needs: {', '.join(missing)}")
        predicted = model.predict(frame[[data.id_column, data.treatment_column]])
        return pd.DataFrame({f"predicted_{data.outcome_column}": predicted}, index=frame.index)
