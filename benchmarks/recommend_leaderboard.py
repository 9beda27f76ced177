"""Leaderboard of the recommendation candidates on SYNTHETIC low-rank outcomes (known structure).

    .venv/bin/python benchmarks/recommend_leaderboard.py [--patients 2000 --treatments 200 --per-patient 20]

The candidates and grids of params.yaml's recommendation block, on a 1-5 scale (a hit: outcome >= 4),
per-patient random holdout, the same steps as the flow without the registry. The bundled drug-review
leaderboard is what `make pipeline` writes to reports/recommendation/leaderboard.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import medmaas  # noqa: E402, F401
from families import load_params  # noqa: E402
from families.recommendation.family import Recommendation  # noqa: E402
from families.recommendation.synthetic import synthetic_low_rank_outcomes  # noqa: E402
from medmaas.environment import PROJECT_ROOT  # noqa: E402
from tasks.evaluate import CandidateResult, leaderboard, rank  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--treatments", type=int, default=200)
    parser.add_argument("--per-patient", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synthetic.csv"
        synthetic_low_rank_outcomes(args.patients, args.treatments, args.per_patient, seed=1).to_csv(data, index=False)
        block = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())["recommendation"]
        block["data"] = {"path": str(data), "scale": {"min": 1, "max": 5}}
        block["ranking"] = {"k": 10, "relevant_at_least": 4}
        block["acceptance"] = {}
        params_path = Path(tmp) / "params.yaml"
        params_path.write_text(yaml.safe_dump({"recommendation": block}))
        params = load_params(params_path)
        family = Recommendation(params.families["recommendation"], params.project.seed)
        split = family.split(family.load())
        results = []
        for name in family.candidate_names():
            fitted = family.fit(name, split.train)
            results.append(CandidateResult(fitted, family.evaluate(fitted.model, split.test)))
            print(f"{name}: {fitted.hyperparameters}", file=sys.stderr)
    print(
        f"synthetic: {args.patients} patients x {args.treatments} treatments, {args.per_patient} outcomes each; "
        f"{split.sizes}"
    )
    print(leaderboard(family, rank(family, results)[0]).to_markdown(index=False))


if __name__ == "__main__":
    main()
