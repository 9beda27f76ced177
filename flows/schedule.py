"""Scheduled retraining: one Prefect deployment per family whose params block has a `schedule:`, served until stopped.

    python -m flows.schedule [--params params.yaml]          (or: medmaas schedule)

Needs the Prefect server of `medmaas up`: the temporary API cannot run schedules. A scheduled run is the
manual flow itself (gate, candidates, promotion rule), so it promotes only inside the family's declared
acceptance criteria, and its model card says which schedule started it. Stopping this process pauses
the schedules.
"""

from __future__ import annotations

import medmaas  # noqa: F401, I001  (embedded defaults, the servers of `medmaas up`)

# isort: split
import argparse
import sys

from families import load_params
from flows.train import train_family
from medmaas.settings import ConfigError, Params


def deployment_name(family_name: str) -> str:
    return f"retrain-{family_name}"


def deployments(params: Params) -> list:
    """The deployments of every scheduled family in ``params`` (none is an empty list)."""
    from prefect.schedules import Cron

    return [
        train_family.to_deployment(
            name=deployment_name(name), schedule=Cron(block.schedule.cron, timezone=block.schedule.timezone),
            parameters={"family_name": name, "params_path": str(params.path), "started_by": block.schedule.description()},
            tags=["medmaas", "retraining", name], description=f"retrain {name}: {block.schedule.description()}",
        )
        for name, block in params.families.items() if block.schedule is not None
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the retraining schedules of the params file.")
    parser.add_argument("--params", default=None)
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    scheduled = deployments(params)
    if not scheduled:
        print(f"error: no family in {params.path} has a `schedule:` block (e.g. schedule: {{cron: \"0 3 * * 1\", timezone: UTC}})", file=sys.stderr)
        return 2
    from prefect import serve

    serve(*scheduled)
    return 0


if __name__ == "__main__":  # flow runs start by spawn and re-import this file: serving must not run again then
    sys.exit(main())
