"""Orchestration overhead: the diagnosis flow's wall time vs bare training of the same candidates.

    python benchmarks/orchestration_overhead.py [--params params.yaml]

Runs in a temporary MLflow store and Prefect home (the repo's registry is not touched). Prints
the flow's wall time (Prefect temporary API start included, as a user sees it), the bare time
of fitting every candidate sequentially outside Prefect/MLflow, the same plus held-out
evaluation, and their ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

_STATE = Path(tempfile.mkdtemp(prefix="medmaas-bench-"))
os.environ |= {"MEDMAAS_STATE_DIR": str(_STATE / "state"), "MEDMAAS_OUTPUT_DIR": str(_STATE / "out"),
               "MLFLOW_TRACKING_URI": f"sqlite:///{_STATE / 'mlflow.db'}", "PREFECT_HOME": str(_STATE / "prefect")}
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import medmaas  # noqa: E402,F401
from families import (
    family_class,  # noqa: E402
    load_params,  # noqa: E402
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default=None)
    parser.add_argument("--family", default="diagnosis")
    args = parser.parse_args()
    params = load_params(args.params)
    family = family_class(args.family)(params.families[args.family], params.project.seed)
    from medmaas.environment import PROJECT_ROOT

    if not (PROJECT_ROOT / family.bundled_data).is_file():
        family.export_bundled(PROJECT_ROOT / family.bundled_data)

    started = time.perf_counter()
    split = family.split(family.load())
    fitted = [family.fit(name, split.train) for name in family.candidate_names()]
    bare_fit = time.perf_counter() - started
    for model in fitted:
        family.evaluate(model.model, split.test)
    bare_fit_eval = time.perf_counter() - started

    from flows.train import run_family

    started = time.perf_counter()
    decision = run_family(args.family, args.params)
    flow = time.perf_counter() - started

    print(f"\n{args.family}: {len(fitted)} candidates, task runner {params.project.task_runner.kind}, {os.cpu_count()} cores")
    print(f"{'measure':<44}{'seconds':>9}")
    print(f"{'bare fit (sequential, tuning included)':<44}{bare_fit:>9.1f}")
    print(f"{'bare fit + held-out evaluation':<44}{bare_fit_eval:>9.1f}")
    print(f"{'flow (gate, Prefect, MLflow, registry)':<44}{flow:>9.1f}")
    print(f"{'overhead ratio flow / bare fit':<44}{flow / bare_fit:>9.2f}")
    print(f"{'overhead ratio flow / bare fit+eval':<44}{flow / bare_fit_eval:>9.2f}")
    print(decision.summary())


if __name__ == "__main__":
    main()
