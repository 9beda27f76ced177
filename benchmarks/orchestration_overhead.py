"""Orchestration overhead: the diagnosis flow's wall time vs bare training of the same candidates, cold and warm.

    python benchmarks/orchestration_overhead.py [--params params.yaml] [--up]

Runs in a temporary MLflow store and Prefect home (the repo's registry is not touched). With
``--up`` the flows run against the servers of `medmaas up` (started here on free ports in the
temporary state, stopped at the end), so no flow starts a temporary Prefect API. Prints the bare
time of fitting every candidate sequentially outside Prefect and MLflow, the same plus held-out
evaluation, and the flow's wall time twice in one process: cold (the first flow of the process)
and warm (the next one), with their ratios.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_STATE = Path(tempfile.mkdtemp(prefix="medmaas-bench-"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(up: bool) -> None:
    """Before medmaas is imported: a temporary state, and the servers' URLs when ``up``."""
    os.environ |= {
        "MEDMAAS_STATE_DIR": str(_STATE / "state"),
        "MEDMAAS_OUTPUT_DIR": str(_STATE / "out"),
        "PREFECT_HOME": str(_STATE / "prefect"),
    }
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI"):
        os.environ.pop(key, None)
    if not up:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_STATE / 'mlflow.db'}"
        return
    started = time.perf_counter()
    command = [
        str(Path(sys.executable).parent / "medmaas"),
        "up",
        "--prefect-port",
        str(_free_port()),
        "--mlflow-port",
        str(_free_port()),
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, timeout=300)
    print(f"medmaas up: {time.perf_counter() - started:.1f} s (once per machine, not per flow)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default=None)
    parser.add_argument("--family", default="diagnosis")
    parser.add_argument("--up", action="store_true", help="run the flows against `medmaas up` servers")
    args = parser.parse_args()
    _environment(args.up)
    sys.path.insert(0, str(ROOT))
    try:
        measure(args)
    finally:
        if args.up:
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=30)  # the flows' last log lines, before their server goes
            subprocess.run(
                [str(Path(sys.executable).parent / "medmaas"), "down"], cwd=ROOT, capture_output=True, timeout=120
            )


def measure(args: argparse.Namespace) -> None:
    import medmaas  # noqa: F401  (embedded defaults, or the servers just started)
    from families import family_class, load_params
    from flows.train import run_family
    from medmaas.environment import PROJECT_ROOT

    params = load_params(args.params)
    family = family_class(args.family)(params.families[args.family], params.project.seed)
    if not (PROJECT_ROOT / family.bundled_data).is_file():
        family.export_bundled(PROJECT_ROOT / family.bundled_data)

    started = time.perf_counter()
    split = family.split(family.load())
    fitted = [family.fit(name, split.train) for name in family.candidate_names()]
    bare_fit = time.perf_counter() - started
    for model in fitted:
        family.evaluate(model.model, split.test)
    bare_fit_eval = time.perf_counter() - started

    flows = []
    for _ in range(2):
        started = time.perf_counter()
        decision = run_family(args.family, args.params)
        flows.append(time.perf_counter() - started)

    engines = "servers of `medmaas up`" if args.up else "embedded (temporary Prefect API per flow, MLflow on SQLite)"
    print(
        f"\n{args.family}: {len(fitted)} candidates, task runner {params.project.task_runner.kind}, {os.cpu_count()} "
        f"cores, {engines}"
    )
    print(f"{'measure':<44}{'seconds':>9}")
    print(f"{'bare fit (sequential, tuning included)':<44}{bare_fit:>9.1f}")
    print(f"{'bare fit + held-out evaluation':<44}{bare_fit_eval:>9.1f}")
    for label, seconds in zip(("cold", "warm"), flows):
        print(f"{f'flow, {label} (gate, Prefect, MLflow, registry)':<44}{seconds:>9.1f}")
    for label, seconds in zip(("cold", "warm"), flows):
        print(f"{f'ratio flow {label} / bare fit+eval':<44}{seconds / bare_fit_eval:>9.2f}")
    print(decision.summary())


if __name__ == "__main__":
    main()
