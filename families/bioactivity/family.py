"""The bioactivity family: SMILES gate, scaffold split, fingerprint classifiers, applicability domain (described in
__init__.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from blocks.grouping import grouped_folds, rows_by_position
from blocks.plots import png
from families.bioactivity.candidates import BioactivityCandidates
from families.bioactivity.chemistry import canonical, scaffold
from families.bioactivity.data import Molecules
from families.bioactivity.model import MoleculeModel
from families.bioactivity.settings import BUNDLED_DATA, BioactivitySettings
from medmaas.family import Evaluation, Family, Split, Suite, Tables
from medmaas.stats import Estimate, HeldOutRows, MetricSpec, bootstrap_estimates

TABLE, CHECKED = "molecules", "checked"
PUBLIC_EXAMPLE = "CN1CCC[C@H]1c1cccnc1"  # nicotine


def _binary_metrics(threshold: float) -> dict:
    def predicted(p):
        return (p >= threshold).astype(int)

    return {
        "roc_auc": lambda y, p: skm.roc_auc_score(y, p),
        "pr_auc": lambda y, p: skm.average_precision_score(y, p),
        "balanced_accuracy": lambda y, p: skm.balanced_accuracy_score(y, predicted(p)),
        "mcc": lambda y, p: skm.matthews_corrcoef(y, predicted(p)),
        "brier": lambda y, p: skm.brier_score_loss(y, p),
    }


class Bioactivity(BioactivityCandidates, Family):
    name = "bioactivity"
    Settings = BioactivitySettings
    bundled_data = BUNDLED_DATA
    primary_metric = "roc_auc"
    experiment_kind = "classification"
    runtime_packages = ("scikit-learn", "pandas", "numpy", "scipy", "rdkit", "torch")
    predict_chunk_rows = 5_000
    metrics = (
        MetricSpec(
            "roc_auc",
            "max",
            "area under the ROC curve on the held-out molecules (split.method: the MoleculeNet scaffold split by "
            "default)",
        ),
        MetricSpec("pr_auc", "max", "average precision for the positive label"),
        MetricSpec("balanced_accuracy", "max", "mean recall of the two labels at the decision threshold"),
        MetricSpec("mcc", "max", "Matthews correlation at the decision threshold"),
        MetricSpec("brier", "min", "mean squared error of the predicted probabilities"),
        MetricSpec(
            "roc_auc_scaffold_sorted",
            "max",
            "ROC-AUC of the same candidate refitted under the MoleculeNet scaffold split",
        ),
        MetricSpec(
            "roc_auc_scaffold_grouped",
            "max",
            "mean ROC-AUC of the same candidate refitted on each fold of a randomly grouped scaffold "
            "split (its SD in the card's table)",
        ),
        MetricSpec(
            "roc_auc_random",
            "max",
            "ROC-AUC of the same candidate refitted under a random split: the gap is the optimism of a random split",
        ),
    )
    intended_use = (
        "Early drug discovery: rank candidate compounds by their predicted blood-brain-barrier permeability, "
        "for a medicinal chemist's review, with a flag on molecules unlike the training set."
    )
    out_of_scope = (
        "Decisions about patients; molecules flagged outside the applicability domain; quantitative brain "
        "exposure (logBB)."
    )
    settings: BioactivitySettings

    # --- data ------------------------------------------------------------------------------
    @staticmethod
    def export_bundled(path: Path) -> Path:
        """B3DB's classification table from the qc-b3db wheel, read by path; its logBB, threshold, group and reference
        columns are left out (group A's labels derive from logBB), and rows whose SMILES RDKit cannot parse are
        dropped."""
        spec = importlib.util.find_spec("B3DB")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the qc-b3db package is not installed (pip install -e .)")
        table = pd.read_csv(Path(spec.submodule_search_locations[0]) / "B3DB_classification.tsv", sep="\t")
        frame = pd.DataFrame(
            {
                "compound_id": [f"B3DB-{n:05d}" for n in table["NO."]],
                "smiles": table["SMILES"],
                "bbb": table["BBB+/BBB-"],
            }
        )
        frame = frame[[canonical(s) is not None for s in frame["smiles"]]]
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path

    def load(self) -> Tables:
        """The file as it is, and per row its canonical SMILES (empty when it does not parse) for the gate."""
        frame = self.settings.data.read(
            self.name, {self.settings.data.smiles_column: str, self.settings.data.label_column: str}
        )
        return {TABLE: frame, CHECKED: self._checked(frame)}

    def _checked(self, frame: pd.DataFrame) -> pd.DataFrame:
        data = self.settings.data
        if data.smiles_column not in frame.columns:
            return pd.DataFrame({"row": [], "canonical": []})
        texts = frame[data.smiles_column]
        return pd.DataFrame(
            {
                "row": np.arange(len(frame)),
                "canonical": [
                    canonical(s) if isinstance(s, str) and len(s) <= data.max_smiles_length else None for s in texts
                ],
            }
        )

    def identifier_columns(self) -> set[str]:
        """A private set's molecules are its secret: no SMILES reaches a report, a log or an artifact either (the model
        does carry the training molecules' ECFP4 fingerprints, for its applicability domain; see limitations)."""
        return super().identifier_columns() | {self.settings.data.smiles_column, "canonical"}

    def expectations(self, tables: Tables) -> dict[str, Suite]:
        import great_expectations.expectations as gxe

        data, frame, checked = self.settings.data, tables[TABLE], tables[CHECKED]
        suite: Suite = [gxe.ExpectTableRowCountToBeBetween(min_value=data.min_rows)]
        suite += [
            gxe.ExpectColumnToExist(column=c)
            for c in ([data.id_column] if data.id_column else []) + [data.smiles_column, data.label_column]
        ]
        if data.id_column:
            suite += [
                gxe.ExpectColumnValuesToNotBeNull(column=data.id_column),
                gxe.ExpectColumnValuesToBeUnique(column=data.id_column),
            ]
        suite += [
            gxe.ExpectColumnValuesToNotBeNull(column=data.label_column),
            gxe.ExpectColumnValuesToBeInSet(
                column=data.label_column, value_set=data.labels, description=f"labels must be one of {data.labels}"
            ),
            gxe.ExpectColumnDistinctValuesToContainSet(
                column=data.label_column, value_set=data.labels, description="both labels must occur"
            ),
        ]
        checks: Suite = []
        if len(checked):
            unparsed = checked["canonical"].isna().to_numpy()
            duplicated = checked["canonical"].duplicated(keep=False).to_numpy() & ~unparsed
            conflicting = self._conflicts(frame, checked)
            checks = [
                gxe.ExpectColumnValuesToNotBeNull(
                    column="canonical",
                    description=(
                        f"every SMILES parses and sanitises with RDKit and has at most {data.max_smiles_length} "
                        "characters: " + rows_by_position(unparsed)
                    ),
                ),
                gxe.ExpectColumnValuesToBeUnique(
                    column="canonical",
                    description=(
                        f"each molecule once (canonical SMILES): {rows_by_position(duplicated)}; with different "
                        f"labels: {int(conflicting)} molecules"
                    ),
                ),
            ]
        return {TABLE: suite, CHECKED: checks}

    def _conflicts(self, frame: pd.DataFrame, checked: pd.DataFrame) -> int:
        labels = (
            frame[self.settings.data.label_column].to_numpy()
            if self.settings.data.label_column in frame.columns
            else np.zeros(len(frame))
        )
        both = pd.DataFrame({"molecule": checked["canonical"].to_numpy(), "label": labels}).dropna()
        return int((both.groupby("molecule")["label"].nunique() > 1).sum())

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        labels = tables[TABLE][self.settings.data.label_column]
        return {"molecules": len(labels), "label counts": {str(k): int(v) for k, v in labels.value_counts().items()}}

    # --- split ------------------------------------------------------------------------------
    def _molecules(self, tables: Tables) -> Molecules:
        data = self.settings.data
        smiles = tables[CHECKED]["canonical"].to_numpy(dtype=object)
        labels = (tables[TABLE][data.label_column].to_numpy() == data.positive_label).astype(int)
        return Molecules(smiles, labels, np.array([scaffold(s) for s in smiles], dtype=object))

    def _scaffold_sorted(self, molecules: Molecules) -> tuple[np.ndarray, np.ndarray]:
        """MoleculeNet's scaffold split, as DeepChem's ScaffoldSplitter makes it (Wu et al. 2018): scaffold sets sorted
        by (size, first row) from the largest, each to training while it fits the training share, else to the test side;
        the rarest scaffolds end up held out. Deterministic: the seed plays no part."""
        sets: dict[str, list[int]] = {}
        for row, key in enumerate(molecules.scaffolds):
            sets.setdefault(key, []).append(row)
        cutoff = (1 - self.settings.split.test_fraction) * len(molecules.labels)
        train: list[int] = []
        test: list[int] = []
        for rows in sorted(sets.values(), key=lambda rows: (len(rows), rows[0]), reverse=True):
            (test if len(train) + len(rows) > cutoff else train).extend(rows)
        if not train or not test:
            raise ValueError(
                f"the sorted scaffold split left one side empty ({len(train)} training, {len(test)} held-out "
                "molecules): one scaffold "
                f"holds more than the training share; use split.method: scaffold_grouped"
            )
        return np.array(sorted(train)), np.array(sorted(test))

    def _scaffold_grouped_folds(self, molecules: Molecules, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return grouped_folds(molecules.labels, molecules.scaffolds, folds, self.seed)

    def _random_split(self, molecules: Molecules) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(molecules.labels))
        return train_test_split(
            rows, test_size=self.settings.split.test_fraction, stratify=molecules.labels, random_state=self.seed
        )

    def _sides(self, molecules: Molecules, method: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The train/test sides of a method: one for sorted and random; the folds of the grouped split (its first is its
        primary)."""
        if method == "scaffold_sorted":
            return [self._scaffold_sorted(molecules)]
        if method == "random":
            return [self._random_split(molecules)]
        folds = (
            round(1 / self.settings.split.test_fraction)
            if method == self.settings.split.method
            else self.settings.split.grouped_folds
        )
        return self._scaffold_grouped_folds(molecules, folds)

    def split(self, tables: Tables) -> Split:
        """The primary method's split for tuning, the champion and the card; the other methods' sides travel with the
        test side, only to report the same candidate refitted under them (each figure named by its split)."""
        molecules = self._molecules(tables)
        method = self.settings.split.method
        train_rows, test_rows = self._sides(molecules, method)[0]
        train, test = molecules.take(train_rows), molecules.take(test_rows)
        others = {
            other: [(molecules.take(a), molecules.take(b)) for a, b in self._sides(molecules, other)]
            for other in ("scaffold_sorted", "scaffold_grouped", "random")
            if other != method
        }
        shared = len(set(train.scaffolds) & set(test.scaffolds))
        method_text = {
            "scaffold_sorted": "MoleculeNet scaffold split (Bemis-Murcko scaffold sets by size, the largest to "
            "training, the rarest held out)",
            "scaffold_grouped": "scaffold groups drawn at random (scikit-learn's StratifiedGroupKFold on scaffolds, "
            "seeded, class-stratified)",
            "random": "random split, stratified by label",
        }[method]
        share = len(test.labels) / len(molecules.labels)
        description = (
            f"{method_text}: {shared} scaffolds on both sides; {1 - share:.0%}/{share:.0%} of {len(molecules.labels)} "
            f"molecules, seed {self.seed}. "
            "Each molecule once (canonical SMILES, enforced by the gate). Hyperparameters tuned by "
            f"{self.settings.split.cv_folds}-fold "
            "CV grouped by scaffold inside the training side. Held-out share of the positive label: "
            f"{test.labels.mean():.1%} (training side {train.labels.mean():.1%}). Each candidate is refitted under "
            + " and ".join(f"{o} ({len(v)} fold{'s' if len(v) > 1 else ''})" for o, v in others.items())
            + " for comparison."
        )
        sizes = {
            "train": len(train.labels),
            "test": len(test.labels),
            "test_positive_share": round(float(test.labels.mean()), 4),
            "scaffolds_train": len(set(train.scaffolds)),
            "scaffolds_test": len(set(test.scaffolds)),
        }
        return Split(train, (test, others), description, sizes)

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(
        self, model: MoleculeModel, test: tuple[Molecules, dict[str, list[tuple[Molecules, Molecules]]]]
    ) -> Evaluation:
        held_out, others = test
        probability = model.predict_proba(held_out.smiles)[:, 1]
        fns = _binary_metrics(self.settings.decision_threshold)
        n, seed = self.settings.bootstrap_resamples, self.seed
        estimates = bootstrap_estimates(
            fns, (held_out.labels, probability), n, seed, clusters=held_out.scaffolds
        )  # a scaffold's molecules together
        other_splits = self._other_splits(model, others)
        estimates[f"roc_auc_{self.settings.split.method}"] = estimates[
            "roc_auc"
        ]  # the primary is one of the three named splits
        for method, row in other_splits.set_index("split").iterrows():
            estimates[f"roc_auc_{method}"] = Estimate(
                row["mean ROC-AUC"], row["mean ROC-AUC"], row["mean ROC-AUC"]
            )  # a point: its SD is in the table
        rows = HeldOutRows(
            fns[self.primary_metric],
            (held_out.labels, probability),
            tuple((smiles,) for smiles in held_out.smiles),
            clusters=held_out.scaffolds,
            unit="scaffold",
        )
        tables = {
            f"refitted under the other splits ({self.settings.split.method} is the primary)": other_splits,
            "held-out ROC-AUC by similarity to the training molecules": self._by_similarity(
                model, held_out, probability
            ),
        }
        return Evaluation(
            metrics=estimates, figures=self._figures(held_out.labels, probability), rows=rows, tables=tables
        )

    def training_keys(self, train: Molecules) -> list[str]:
        return list(train.smiles)  # canonical: the same molecule written another way is the same row

    def _other_splits(self, model: MoleculeModel, others: dict[str, list[tuple[Molecules, Molecules]]]) -> pd.DataFrame:
        """The same candidate (its chosen hyperparameters) refitted on each other split's training side and scored on
        its test side."""
        table = []
        for method, sides in others.items():
            scores = []
            for train, test in sides:
                refit = clone(model.estimator).fit(model.featurizer.transform(train.smiles), train.labels)
                scores.append(
                    skm.roc_auc_score(test.labels, refit.predict_proba(model.featurizer.transform(test.smiles))[:, 1])
                )
            table.append(
                {
                    "split": method,
                    "folds": len(scores),
                    "mean ROC-AUC": round(float(np.mean(scores)), 3),
                    "SD": round(float(np.std(scores, ddof=1)), 3) if len(scores) > 1 else "",
                    "min": round(float(np.min(scores)), 3),
                    "max": round(float(np.max(scores)), 3),
                }
            )
        return pd.DataFrame(table)

    def _by_similarity(self, model: MoleculeModel, held_out: Molecules, probability: np.ndarray) -> pd.DataFrame:
        """ROC-AUC by the nearest training molecule's Tanimoto similarity (ECFP4): how the figure holds away from known
        chemistry."""
        similarity = model.similarity(held_out.smiles)
        edges, table = [0.0, 0.3, 0.5, 0.7, 1.01], []
        for low, high in zip(edges[:-1], edges[1:]):
            members = (similarity >= low) & (similarity < high)
            labels = held_out.labels[members]
            auc = skm.roc_auc_score(labels, probability[members]) if len(set(labels)) == 2 else float("nan")
            table.append(
                {
                    "similarity": f"{low:.1f}-{min(high, 1.0):.1f}" if high <= 1 else f">= {low:.1f}",
                    "molecules": int(members.sum()),
                    "share": round(float(members.mean()), 3),
                    "positives": int(labels.sum()),
                    "ROC-AUC": round(float(auc), 3),
                    "note": "n < 30: read with care" if members.sum() < 30 else "",
                }
            )
        outside = float((similarity < self.settings.applicability.min_similarity).mean())
        table.append(
            {
                "similarity": f"outside the domain (< {self.settings.applicability.min_similarity})",
                "molecules": int(round(outside * len(similarity))),
                "share": round(outside, 3),
                "positives": "",
                "ROC-AUC": "",
                "note": "",
            }
        )
        return pd.DataFrame(table).astype(object)

    def _figures(self, labels: np.ndarray, probability: np.ndarray) -> dict[str, bytes]:
        import matplotlib.pyplot as plt
        from sklearn.calibration import CalibrationDisplay

        positive = self.settings.data.positive_label
        fig, ax = plt.subplots(figsize=(5, 5))
        skm.RocCurveDisplay.from_predictions(labels, probability, name=positive, ax=ax)
        ax.set_title("ROC on held-out molecules")
        roc = png(fig)
        fig, ax = plt.subplots(figsize=(5, 5))
        CalibrationDisplay.from_predictions(labels, probability, n_bins=10, strategy="quantile", name=positive, ax=ax)
        ax.set_title("Calibration on held-out molecules")
        return {"roc.png": roc, "calibration.png": png(fig)}

    def input_example(self, test: Any) -> pd.DataFrame:
        """A public molecule (nicotine), never one of the data's: a private set's molecules are its secret."""
        return pd.DataFrame({self.settings.data.smiles_column: [PUBLIC_EXAMPLE]})

    def limitations(self) -> list[str]:
        notes = [
            "A scaffold split tests new chemotypes, not new assays or sites; the random-split figure beside it shows "
            "how much "
            "a random split would flatter the model.",
            "Molecules whose nearest training neighbour has ECFP4 Tanimoto below "
            f"{self.settings.applicability.min_similarity} are "
            "flagged as outside the applicability domain: read their probabilities as extrapolations.",
            "The model carries the training molecules' ECFP4 fingerprints (2,048 bits each, for the applicability "
            "domain). "
            "Fingerprints can be partly inverted to structures: share a model trained on a private set as you would "
            "the set.",
        ]
        if self.settings.data.path == BUNDLED_DATA:
            notes.append(
                "B3DB merges 50 published sources; labels of its group A come from a logBB threshold, the others from "
                "the "
                "sources' categories. Two SMILES of qc-b3db 1.1.1 do not parse with RDKit and are dropped at export."
            )
        return [*super().limitations(), *notes]

    def predict_frame(self, model: MoleculeModel, frame: pd.DataFrame) -> pd.DataFrame:
        data = self.settings.data
        if data.smiles_column not in frame.columns:
            raise ValueError(f"input lacks the SMILES column {data.smiles_column!r} ({self.name}.data.smiles_column)")
        checked = self._checked(frame)
        if (bad := checked["canonical"].isna().to_numpy()).any():
            raise ValueError(f"SMILES that do not parse or are too long: {rows_by_position(bad)}")
        smiles = checked["canonical"].tolist()
        similarity = model.similarity(smiles)
        out = pd.DataFrame({f"probability_{data.positive_label}": model.predict_proba(smiles)[:, 1]}, index=frame.index)
        out["predicted"] = np.where(
            out.iloc[:, 0] >= self.settings.decision_threshold, data.positive_label, model.classes[0]
        )
        out["max_similarity"] = similarity
        out["in_domain"] = similarity >= self.settings.applicability.min_similarity
        return out
