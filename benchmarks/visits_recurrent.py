"""The visit-history recurrent network: epochs, time per epoch, and held-out RMSE against LOCF.

    python benchmarks/visits_recurrent.py [--params params.yaml] [--splits 5]

For each of several patient splits (seeds 0..n-1) it trains the `recurrent` candidate as the flow does (early stopping
on validation patients) and last observation carried forward, and prints both RMSEs on the same held-out patients. It
runs on a GPU when torch sees one, else on the CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import medmaas  # noqa: E402,F401
from families import load_params  # noqa: E402
from families.progression_visits.family import ProgressionVisits  # noqa: E402
from medmaas.environment import PROJECT_ROOT  # noqa: E402


def main() -> None:
    import torch
    from tabulate import tabulate

    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default=None)
    parser.add_argument("--splits", type=int, default=5)
    args = parser.parse_args()
    settings = load_params(args.params).families["progression_visits"]
    if not (PROJECT_ROOT / ProgressionVisits.bundled_data).is_file():
        ProgressionVisits.export_bundled(PROJECT_ROOT / ProgressionVisits.bundled_data)
    tables = ProgressionVisits(settings, 0).load()
    rows = []
    for seed in range(args.splits):
        family = ProgressionVisits(settings, seed)
        split = family.split(tables)
        started = time.perf_counter()
        recurrent = family.fit("recurrent", split.train)
        seconds = time.perf_counter() - started
        baseline = family.fit("last_observation", split.train)
        rmse = {
            name: family.evaluate(f.model, split.test).metrics["rmse"]
            for name, f in (("recurrent", recurrent), ("locf", baseline))
        }
        rows.append(
            [
                seed,
                split.sizes["test_patients"],
                int(recurrent.training["train_epochs"]),
                f"{recurrent.training['seconds_per_epoch'] * 1000:.0f}",
                f"{seconds:.1f}",
                str(rmse["recurrent"]),
                str(rmse["locf"]),
            ]
        )
    device = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else f"CPU ({torch.get_num_threads()} threads available, 1 used)"
    )
    print(f"device: {device}")
    print(
        tabulate(
            rows,
            headers=[
                "split seed",
                "test patients",
                "best epoch",
                "ms / epoch",
                "fit s",
                "RMSE recurrent [95% CI]",
                "RMSE LOCF [95% CI]",
            ],
        )
    )


if __name__ == "__main__":
    main()
