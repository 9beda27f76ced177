"""Bring-your-own-table scale: the diagnosis family's default candidates on a SYNTHETIC mixed table.

    .venv/bin/python benchmarks/byo_scale.py [--patients 100000 --candidates logistic_regression,...]

The table is generated (no real patient behind it): 30 numeric features with 5% missing at random, 10
categorical ones with 5 to 50 levels, a binary outcome from a known logistic model of both. Each candidate
is tuned (its default grid, 5-fold CV) and evaluated in its own process, so peak memory is that process's
maximum resident set (data included). Prints wall seconds, peak GB and held-out ROC-AUC per candidate.
Goal on 2 cores: under 10 minutes in all and 4 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_CANDIDATES = (
    "logistic_regression",
    "linear_svm",
    "rbf_svm",
    "decision_tree",
    "random_forest",
    "gradient_boosting",
)


def synthetic_mixed_table(patients: int, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC: numeric and categorical features with a known logistic effect each, 5% of numbers missing."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(patients, 30))
    logit = numeric[:, :10] @ rng.normal(0, 0.4, 10)
    frame = pd.DataFrame(numeric, columns=[f"lab_{i:02d}" for i in range(30)])
    for i, levels in enumerate(np.linspace(5, 50, 10).astype(int)):
        codes = rng.integers(0, levels, patients)
        logit += rng.normal(0, 0.5, levels)[codes]
        frame[f"category_{i}"] = np.char.add(f"c{i}_", codes.astype(str))
    frame[frame.columns[:30]] = frame[frame.columns[:30]].mask(rng.random((patients, 30)) < 0.05)
    frame.insert(0, "patient_id", [f"S{i:07d}" for i in range(patients)])
    frame["outcome"] = (rng.random(patients) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def measure(candidate: str, table: Path) -> dict:
    from threadpoolctl import threadpool_limits

    from families.diagnosis.family import Diagnosis
    from families.diagnosis.settings import DiagnosisSettings

    settings = DiagnosisSettings.model_validate(
        {
            "data": {
                "path": str(table),
                "label_column": "outcome",
                "labels": [0, 1],
                "positive_label": 1,
                "max_missing_fraction": 0.1,
                "min_rows": 100,
            },
            "candidates": {candidate: {}},
            "bootstrap_resamples": 100,
        }
    )
    family = Diagnosis(settings, seed=0)
    started = time.perf_counter()
    with threadpool_limits(2):
        split = family.split(family.load())
        fitted = family.fit(candidate, split.train)
        auc = family.evaluate(fitted.model, split.test).metrics["roc_auc"].value
    return {
        "candidate": candidate,
        "seconds": round(time.perf_counter() - started, 1),
        "fit_s": round(fitted.fit_seconds, 1),
        "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "roc_auc": round(auc, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES))
    parser.add_argument("--measure", nargs=2, metavar=("CANDIDATE", "TABLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "mixed.parquet"
        synthetic_mixed_table(args.patients).to_parquet(table)
        rows, started = [], time.perf_counter()
        for candidate in args.candidates.split(","):
            done = subprocess.run(
                [sys.executable, __file__, "--measure", candidate, str(table)], capture_output=True, text=True
            )
            rows.append(
                json.loads(done.stdout.strip().splitlines()[-1])
                if done.returncode == 0
                else {"candidate": candidate, "failed": (done.stderr.strip().splitlines() or ["?"])[-1]}
            )
            print(rows[-1], flush=True)
    print(
        f"\n{args.patients:,} SYNTHETIC patients x 40 features, 2 cores; {time.perf_counter() - started:.0f} s in all\n"
    )
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
