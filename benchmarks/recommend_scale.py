"""Scale of the recommendation candidates: fit on 1,000,000 SYNTHETIC ratings, then top-10 for every patient.

    .venv/bin/python benchmarks/recommend_scale.py [--patients 100000 --treatments 5000 --per-patient 10]

Each candidate runs in its own process (peak memory = that process's maximum resident set, which
includes the data). Prints a table: fit seconds, recommend seconds (top-10 for all patients,
taken treatments excluded), peak memory. Goal on 2 cores: each under 60 s, under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HYPERPARAMETERS = {
    "popularity": {"shrinkage": 5},
    "user_knn": {"neighbours": 50, "shrinkage": 10},
    "item_knn": {"neighbours": 50, "shrinkage": 10},
    "svd": {"k": 10, "centre": "baseline", "shrinkage": 5},
}


def measure(candidate: str, patients: int, treatments: int, per_patient: int) -> dict:
    from threadpoolctl import threadpool_limits

    from blocks.sparse import Interactions
    from families.recommendation.candidates import CANDIDATES
    from families.recommendation.synthetic import synthetic_low_rank_outcomes

    frame = synthetic_low_rank_outcomes(patients, treatments, per_patient, seed=0)
    train = Interactions.of(frame, "patient_id", "treatment_id", "outcome")
    del frame
    with threadpool_limits(2):
        started = time.perf_counter()
        model = CANDIDATES[candidate]((1, 5), seed=0, **HYPERPARAMETERS[candidate]).fit(train)
        fitted = time.perf_counter()
        columns, _, _ = model.recommend(model.training_rows(), 10)
        done = time.perf_counter()
    rows, picked = np.repeat(np.arange(len(columns)), columns.shape[1]), columns.ravel()
    assert model.taken[rows[picked >= 0], picked[picked >= 0]].sum() == 0, "a taken treatment was recommended"
    return {
        "candidate": candidate,
        "ratings": len(train),
        "fit_s": round(fitted - started, 1),
        "recommend_s": round(done - fitted, 1),
        "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--treatments", type=int, default=5_000)
    parser.add_argument("--per-patient", type=int, default=10)
    parser.add_argument("--candidate", help=argparse.SUPPRESS)  # the child process's one candidate
    args = parser.parse_args()
    if args.candidate:
        print(json.dumps(measure(args.candidate, args.patients, args.treatments, args.per_patient)))
        return
    from tabulate import tabulate

    rows = []
    for candidate in HYPERPARAMETERS:
        command = [
            sys.executable,
            __file__,
            "--candidate",
            candidate,
            "--patients",
            str(args.patients),
            "--treatments",
            str(args.treatments),
            "--per-patient",
            str(args.per_patient),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
        print(f"{candidate}: done", file=sys.stderr)
    print(
        f"{args.patients:,} synthetic patients x {args.treatments:,} treatments, {args.per_patient} ratings each; "
        "top-10 for every patient"
    )
    print(tabulate(rows, headers="keys", tablefmt="github"))


if __name__ == "__main__":
    main()
