"""How many model evaluations a CDS card's explanation needs: permutation SHAP with one, two and four permutations
against shap's default 500 evaluations, on held-out patients of the bundled data.

    python benchmarks/card_explanations.py [--patients 60]

A card shows the top three contributions and an EHR waits on it, so what matters is whether the cheaper explanation
names the same top three (and the same first) as the default, and what it costs per card on this machine. Models as
the bundled champions are: a random survival forest on GBSG2 (risk by 3 years), gradient boosting on the diabetes data
(predicted progression); background: 20 k-means centroids of the training side, as the services store it. Seed 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]


def gbsg2(folder: Path) -> tuple[pd.DataFrame, Callable[[np.ndarray], np.ndarray], str]:
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.util import Surv

    from families.prognosis.family import Prognosis

    data = pd.read_csv(Prognosis.export_bundled(folder / "gbsg2.csv"))
    features = data.drop(columns=["patient_id", "days", "event"])
    outcome = Surv.from_arrays(data["event"].astype(bool), data["days"])
    forest = RandomSurvivalForest(n_estimators=200, min_samples_leaf=10, max_features="sqrt", random_state=0)
    training = len(data) * 3 // 4
    forest.fit(features.iloc[:training], outcome[:training])
    at = np.searchsorted(forest.unique_times_, 1095.0, side="right") - 1

    def risk(rows: np.ndarray) -> np.ndarray:
        curves = forest.predict_survival_function(pd.DataFrame(rows, columns=features.columns), return_array=True)
        return np.asarray(1.0 - curves[:, at])

    return features, risk, "GBSG2, random survival forest, risk by 3 years"


def diabetes(folder: Path) -> tuple[pd.DataFrame, Callable[[np.ndarray], np.ndarray], str]:
    from sklearn.ensemble import GradientBoostingRegressor

    from families.progression.family import Progression

    data = pd.read_csv(Progression.export_bundled(folder / "diabetes.csv"))
    features = data.drop(columns=["patient_id", "progression"])
    training = len(data) * 4 // 5
    model = GradientBoostingRegressor(n_estimators=150, max_depth=2, learning_rate=0.03, subsample=0.8, random_state=0)
    model.fit(features.iloc[:training], data["progression"].iloc[:training])
    return (
        features,
        lambda rows: model.predict(pd.DataFrame(rows, columns=features.columns)),
        "diabetes, gradient boosting, predicted progression",
    )


def compare(features: pd.DataFrame, output: Callable[[np.ndarray], np.ndarray], name: str, patients: int) -> None:
    import shap
    from sklearn.cluster import KMeans

    training = features.iloc[: len(features) * 3 // 4].to_numpy(float)
    held_out = features.iloc[len(features) * 3 // 4 :].iloc[:patients].to_numpy(float)
    background = KMeans(n_clusters=20, n_init=4, random_state=0).fit(training).cluster_centers_
    explainer = shap.PermutationExplainer(output, shap.maskers.Independent(background, max_samples=20), seed=0)
    reference = explainer(held_out, max_evals=500, silent=True).values
    width = features.shape[1]

    def top(values: np.ndarray, k: int) -> set[int]:
        return set(np.argsort(-np.abs(values))[:k].tolist())

    print(f"\n{name} ({width} features, {len(held_out)} held-out patients)\n")
    print("| permutations | evaluations | ms per card | same top 3 | same top 1 | mean largest abs difference |")
    print("|---|---|---|---|---|---|")
    for permutations in (1, 2, 4):
        evaluations = permutations * (2 * width + 1)
        started = time.perf_counter()
        values = explainer(held_out, max_evals=evaluations, silent=True).values
        per_card = (time.perf_counter() - started) / len(held_out) * 1000
        same3 = np.mean([top(a, 3) == top(b, 3) for a, b in zip(values, reference)])
        same1 = np.mean([top(a, 1) == top(b, 1) for a, b in zip(values, reference)])
        gap = np.abs(values - reference).max(axis=1).mean()
        print(f"| {permutations} | {evaluations} | {per_card:.0f} | {same3:.2f} | {same1:.2f} | {gap:.4f} |")


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for make in (gbsg2, diabetes):
            compare(*make(Path(folder)), patients=args.patients)


if __name__ == "__main__":
    main()
