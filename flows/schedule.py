"""Scheduled retraining and monitoring: Prefect deployments for every family with a `schedule:` or a
`monitoring.schedule:`, served until stopped.

    python -m flows.schedule [--params params.yaml]          (or: medmaas schedule)

Needs the Prefect server of `medmaas up`: the temporary API cannot run schedules. A scheduled run is the
manual flow itself (gate, candidates, promotion rule), so it promotes only inside the family's declared
acceptance criteria, and its model card says which schedule started it. The retraining deployment also
listens for the drift event of `medmaas monitor` (one run per event). Stopping this process pauses the
schedules and the trigger.
"""

from __future__ import annotations

import medmaas  # noqa: F401, I001  (embedded defaults, the servers of `medmaas up`)

# isort: split
import argparse
import sys

from families import load_params
from flows.monitor import monitor_family
from flows.train import train_family
from medmaas.settings import ConfigError, FamilySettings, Params
from tasks.monitor import DRIFT_EVENT, model_resource


def deployment_name(family_name: str) -> str:
    return f"retrain-{family_name}"


def monitoring_deployment_name(family_name: str) -> str:
    return f"monitor-{family_name}"


def drift_trigger(name: str, block: FamilySettings, params: Params):
    """One retraining run per drift event about this family's registered model (posture reactive, threshold 1)."""
    from prefect.events import DeploymentEventTrigger

    registered = block.registered_model or name
    return DeploymentEventTrigger(
        name=f"retrain {registered} on drift",
        expect={DRIFT_EVENT},
        match={"prefect.resource.id": model_resource(registered)},
        parameters={"family_name": name, "params_path": str(params.path), "started_by": "drift event {{ event.id }}"},
    )


def deployments(params: Params) -> list:
    """For every family with a `schedule:` or a `monitoring.schedule:`: its retraining deployment (on its cron if it has
    one, and triggered by drift unless `monitoring.retrain_on_drift` is false), and its monitoring deployment."""
    from prefect.schedules import Cron

    served = []
    for name, block in params.families.items():
        watched = block.monitoring.schedule
        if block.schedule is None and watched is None:
            continue
        schedule = block.schedule
        served.append(
            train_family.to_deployment(
                name=deployment_name(name),
                schedule=Cron(schedule.cron, timezone=schedule.timezone) if schedule else None,
                parameters={
                    "family_name": name,
                    "params_path": str(params.path),
                    "started_by": schedule.description() if schedule else "manual",
                },
                triggers=[drift_trigger(name, block, params)] if block.monitoring.retrain_on_drift else [],
                tags=["medmaas", "retraining", name],
                description=f"retrain {name}: {schedule.description() if schedule else 'on drift'}",
            )
        )
        if watched is not None:
            served.append(
                monitor_family.to_deployment(
                    name=monitoring_deployment_name(name),
                    schedule=Cron(watched.cron, timezone=watched.timezone),
                    parameters={
                        "family_name": name,
                        "params_path": str(params.path),
                        "started_by": f"monitoring {watched.description()}",
                    },
                    tags=["medmaas", "monitoring", name],
                    description=f"check {name}'s prediction log for drift: {watched.description()}",
                )
            )
    return served


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
        print(
            f"error: no family in {params.path} has a `schedule:` or `monitoring.schedule:` block (e.g. schedule: "
            '{cron: "0 3 * * 1", timezone: UTC})',
            file=sys.stderr,
        )
        return 2
    from prefect import serve

    serve(*scheduled)
    return 0


if __name__ == "__main__":  # flow runs start by spawn and re-import this file: serving must not run again then
    sys.exit(main())
