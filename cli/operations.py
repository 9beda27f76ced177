"""Operations: the servers of `medmaas up`, schedules, and drift monitoring."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.common import ParamsOption, app, fail, family_from, params_from
from medmaas.environment import PROJECT_ROOT

PANEL = "Operations"  # --help groups commands by audience


@app.command(rich_help_panel=PANEL)
def up(
    prefect_port: Annotated[int, typer.Option(help="Prefect server port on 127.0.0.1")] = 4200,
    mlflow_port: Annotated[int, typer.Option(help="MLflow tracking server port on 127.0.0.1")] = 5000,
) -> None:
    """Start a Prefect server and an MLflow tracking server in the background; every command then uses them."""
    from medmaas.servers import ServersError, start

    try:
        servers = start(prefect_port, mlflow_port, progress=lambda line: typer.secho(line, dim=True))
    except ServersError as error:
        fail(str(error), 1)
    for server in servers:
        typer.echo(f"{server.name}: {server.url}")
    typer.echo("commands and flows in this project use them now; `medmaas down` stops them")
    _echo_training_views(servers)


def _echo_training_views(servers) -> None:
    """Each trained family's runs in the MLflow UI's model-training view (its default is the GenAI view)."""
    from mlflow.tracking import MlflowClient

    from families import family_class, load_params
    from medmaas.settings import ConfigError
    from tasks.registry import training_view_url

    tracking = next((s for s in servers if s.name == "mlflow"), None)
    try:
        loaded = load_params(None)
    except ConfigError:
        return
    if tracking is None or not tracking.healthy():
        return
    client = MlflowClient(tracking_uri=tracking.url)
    for name, block in loaded.families.items():
        family = family_class(name)(block, loaded.project.seed)
        if (experiment := client.get_experiment_by_name(family.registered_model)) is not None:
            higher = family.direction(family.primary_metric) == "max"
            typer.echo(f"  {name} runs: {training_view_url(tracking.url, experiment.experiment_id, higher)}")


@app.command(rich_help_panel=PANEL)
def down() -> None:
    """Stop the servers `medmaas up` started (exactly those processes) and go back to the embedded defaults."""
    from medmaas.servers import stop

    stopped = stop()
    typer.echo("\n".join(f"stopped {s.name} (pid {s.pid})" for s in stopped) or "no servers were running")


@app.command(rich_help_panel=PANEL)
def status() -> None:
    """What runs: the servers of `medmaas up`, or the embedded defaults."""
    from medmaas.servers import recorded

    servers = recorded()
    if not servers:
        typer.echo("no servers: embedded defaults (MLflow on SQLite in-process, a temporary Prefect API per flow)")
    for server in servers:
        state = (
            "healthy"
            if server.healthy()
            else "running, not answering"
            if server.alive()
            else "gone (run `medmaas down`, then `up`)"
        )
        typer.echo(f"{server.name}: {server.url}  pid {server.pid}  {state}  log {server.log}")
    _echo_training_views(servers)


@app.command(rich_help_panel=PANEL)
def schedule(params: ParamsOption = None) -> None:
    """Serve retraining and monitoring deployments (`schedule:`, `monitoring.schedule:`, drift triggers) on the Prefect
    server of `medmaas up`, until stopped."""
    from medmaas.servers import answers

    loaded = params_from(params)
    scheduled = [
        name
        for name, block in loaded.families.items()
        if block.schedule is not None or block.monitoring.schedule is not None
    ]
    if not scheduled:
        fail(
            f'no family in {loaded.path} has a `schedule:` or `monitoring.schedule:` block, e.g. `schedule: {{cron: "0 '
            '3 * * 1", timezone: Europe/Berlin}`'
        )
    api = os.environ.get("PREFECT_API_URL")
    if not api or not answers(f"{api}/health", timeout_s=5):
        fail(
            "schedules need a running Prefect server: start one with `medmaas up` (the temporary API cannot run "
            "schedules)"
        )
    for name in scheduled:
        block = loaded.families[name]
        plans = [
            f"retrain on {block.schedule.description()}" if block.schedule else "",
            "retrain on drift" if block.monitoring.retrain_on_drift else "",
            f"monitor on {block.monitoring.schedule.description()}" if block.monitoring.schedule else "",
        ]
        typer.echo(f"{name}: {', '.join(p for p in plans if p)}")
    command = [sys.executable, "-m", "flows.schedule", *(["--params", str(Path(params).resolve())] if params else [])]
    os.chdir(PROJECT_ROOT)
    sys.stdout.flush()
    os.execv(
        sys.executable, command
    )  # the serving process itself: Ctrl-C or SIGTERM stops it (and pauses the schedules)


@app.command(rich_help_panel=PANEL)
def monitor(
    family: str,
    batch: Annotated[
        Optional[Path],
        typer.Argument(
            exists=True,
            help="rows to check (CSV or Parquet), or for imaging a folder of images; default: the prediction log "
            "since the last check",
        ),
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Check a batch against the champion's training reference: drift per feature and of the prediction, performance if
    labelled.

    Exit status: 0 no drift (or nothing to judge), 1 drift (an event asks for one retraining), 2 the batch failed the
    gate or an error."""
    from flows.monitor import monitor_family
    from medmaas.champions import NoChampion
    from medmaas.settings import ConfigError, UnreadableData
    from tasks.monitor import NotMonitored

    family_from(family, params)  # a clear error for a bad params file or an unknown family before Prefect starts
    try:
        report = monitor_family(
            family, str(batch.resolve()) if batch else None, str(Path(params).resolve()) if params else None
        )
    except (ConfigError, NoChampion, NotMonitored, FileNotFoundError, UnreadableData) as error:
        fail(str(error))
    typer.echo(report.to_markdown())
    colour = {"drift": typer.colors.RED, "gate failed": typer.colors.RED, "no drift": typer.colors.GREEN}.get(
        report.status, typer.colors.YELLOW
    )
    typer.secho(report.summary(), fg=colour, bold=True, err=True)
    if report.status == "gate failed":
        raise typer.Exit(2)
    if report.drifted:
        raise typer.Exit(1)
