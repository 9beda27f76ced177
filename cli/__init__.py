"""`medmaas`: what users do daily. The top layer: it wires everything and nothing imports it.

Heavy imports happen inside commands, so --help is instant.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

import medmaas  # noqa: F401  (embedded defaults)
from medmaas.environment import PROJECT_ROOT

app = typer.Typer(help="medmaas: validated, versioned, explained clinical models.", no_args_is_help=True, add_completion=False)

ParamsOption = Annotated[Optional[Path], typer.Option("--params", help="params file (default: params.yaml in the repo)")]


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _families(family: str | None, params_path: Path | None) -> list[str]:
    from families import load_params

    names = list(load_params(params_path).families)
    if family is None:
        return names
    if family not in names:
        _fail(f"no family {family!r} in the params file; it has: {', '.join(names)}")
    return [family]


def _family(name: str, params_path: Path | None):
    """The named family, built from the params file, or an error naming what the file has."""
    from families import family_class, load_params
    from medmaas.settings import ConfigError

    try:
        loaded = load_params(params_path)
    except ConfigError as error:
        _fail(str(error))
    if name not in loaded.families:
        _fail(f"no family {name!r} in the params file; it has: {', '.join(loaded.families)}")
    return family_class(name)(loaded.families[name], loaded.project.seed)


def _champion(family):
    """The family's registered champion, or an error that says how to train one."""
    from medmaas.champions import NoChampion, resolve_from_registry

    try:
        return resolve_from_registry(family)
    except NoChampion as error:
        _fail(str(error), 1)


def _print_summary(name: str) -> None:
    from tasks.reports import read_summary

    summary = read_summary(name)
    if summary is None:
        typer.echo(f"{name}: no run recorded yet")
        return
    board, decision = summary
    typer.secho(f"\n== {name}: leaderboard (held-out, bootstrap 95% CI) ==", bold=True)
    typer.echo(board)
    colour = typer.colors.GREEN if decision["promoted"] else typer.colors.YELLOW
    typer.secho(decision["summary"], fg=colour)


@app.command()
def pipeline(params: ParamsOption = None, force: Annotated[bool, typer.Option(help="retrain even if nothing changed")] = False) -> None:
    """The main job: `dvc repro` (export data, gate, train, register, promote) for every family."""
    from families import load_params
    from medmaas.settings import ConfigError

    try:
        loaded = load_params(params)
    except ConfigError as error:
        _fail(str(error))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = ["dvc", "repro", *(["--force"] if force else [])]
    typer.secho(f"$ {' '.join(command)}", dim=True)
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env)
    for name in loaded.families:
        _print_summary(loaded.families[name].registered_model or name)
    if result.returncode != 0:
        _fail("the pipeline stopped; the champion is unchanged (see the messages above)", result.returncode)


@app.command()
def train(
    family: Annotated[Optional[str], typer.Argument(help="family to train; all families in the params file if omitted")] = None,
    params: ParamsOption = None,
) -> None:
    """Train one family (or all) now, without DVC: gate, candidates, registry, promotion."""
    from flows.train import run_family
    from medmaas.settings import ConfigError
    from tasks.evaluate import NoCandidateTrained
    from tasks.gate import DataGateFailed

    try:
        names = _families(family, params)
        for name in names:
            typer.secho(f"training {name} ...", bold=True)
            decision = run_family(name, params)
            _print_summary(decision.registered_model)
    except DataGateFailed as error:
        _fail(f"data gate failed; nothing was trained or registered\n{error.report.to_markdown()}")
    except (ConfigError, FileNotFoundError, ValueError, NoCandidateTrained) as error:
        _fail(str(error))


@app.command()
def ingest(family: str) -> None:
    """Export a family's bundled data set to data/raw/ (what the DVC stage runs; never touches your own data)."""
    from families import export_bundled

    typer.echo(f"wrote {export_bundled(family).relative_to(PROJECT_ROOT)}")


@app.command()
def champion(family: str, params: ParamsOption = None, card: Annotated[bool, typer.Option(help="print the model card")] = False) -> None:
    """Show a family's champion: version, candidate, held-out metrics, provenance."""
    current = _champion(_family(family, params))
    info = current.info
    typer.secho(f"{current.registered_model} champion: version {current.version} ({info['candidate']})", bold=True)
    for key in ("git_commit", "data_md5", "params_hash"):
        typer.echo(f"  {key}: {info[key]}")
    metrics = info["metrics"]
    for metric in sorted(m for m in metrics if not m.endswith(("_ci_low", "_ci_high"))):
        typer.echo(f"  {metric}: {metrics[metric]:.4f} [{metrics[f'{metric}_ci_low']:.4f}, {metrics[f'{metric}_ci_high']:.4f}]")
    if card:
        import mlflow

        typer.echo(mlflow.artifacts.load_text(info["model_card"]))


@app.command()
def serve(
    family: str,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 3000,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    params: ParamsOption = None,
) -> None:
    """Serve the champion of the registered model the params name (`bentoml serve serving.<module>:<Module>Service`).

    The command becomes the server (exec), so a supervisor's SIGTERM or Ctrl-C stops every process it started.
    With keys required (the default) and none yet, it creates a first key, `first`, and prints it once."""
    from medmaas.access import KeyRing, KeyStore
    from tasks.package import service_path

    instance = _family(family, params)
    _champion(instance)  # a clear error before a server starts
    if instance.settings.serving.auth == "api_keys" and not KeyRing().active_count():
        secret = KeyStore().create("first")
        typer.secho(f"created the first API key (shown only now; `medmaas keys create NAME` makes more):\n  {secret}\n"
                    f"  curl -H 'Authorization: Bearer {secret}' ...", fg=typer.colors.GREEN, err=True)
    command = [str(Path(sys.executable).parent / "bentoml"), "serve", service_path(family), "--host", host, "--port", str(port)]
    typer.secho(f"$ {' '.join(command[1:])}", dim=True, err=True)
    env = {**os.environ, **({"MEDMAAS_PARAMS": str(Path(params).resolve())} if params else {})}
    os.chdir(PROJECT_ROOT)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)


keys = typer.Typer(help="API keys of the services: shown once at creation, stored as hashes, revoked at once.", no_args_is_help=True)
app.add_typer(keys, name="keys")


@contextmanager
def _key_errors():
    from medmaas.access import KeyStoreError

    try:
        yield
    except KeyStoreError as error:
        _fail(str(error))


@keys.command("create")
def keys_create(name: Annotated[str, typer.Argument(help="who or what uses it (the audit log names it)")]) -> None:
    """Create a key and print it (the only time it is shown)."""
    from medmaas.access import KeyStore

    with _key_errors():
        secret = KeyStore().create(name)
    typer.echo(secret)
    typer.secho(f"key {name!r} created; send it as `Authorization: Bearer <key>`. It is stored only as a hash: keep it now.", err=True, dim=True)


@keys.command("list")
def keys_list() -> None:
    """Names, creation and revocation times (never the keys)."""
    from medmaas.access import KeyStore

    with _key_errors():
        stored = KeyStore().read()
    if not stored:
        typer.echo("no keys yet: `medmaas keys create NAME`")
    for key in stored:
        typer.echo(f"{key.name:<24} created {key.created}  " + (f"revoked {key.revoked}" if key.revoked else "active"))


@keys.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke a key: running services refuse it from their next request."""
    from medmaas.access import KeyStore

    with _key_errors():
        KeyStore().revoke(name)
    typer.echo(f"revoked {name}")


@app.command()
def up(
    prefect_port: Annotated[int, typer.Option(help="Prefect server port on 127.0.0.1")] = 4200,
    mlflow_port: Annotated[int, typer.Option(help="MLflow tracking server port on 127.0.0.1")] = 5000,
) -> None:
    """Start a Prefect server and an MLflow tracking server in the background; every command then uses them."""
    from medmaas.servers import ServersError, start

    try:
        servers = start(prefect_port, mlflow_port, progress=lambda line: typer.secho(line, dim=True))
    except ServersError as error:
        _fail(str(error), 1)
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


@app.command()
def down() -> None:
    """Stop the servers `medmaas up` started (exactly those processes) and go back to the embedded defaults."""
    from medmaas.servers import stop

    stopped = stop()
    typer.echo("\n".join(f"stopped {s.name} (pid {s.pid})" for s in stopped) or "no servers were running")


@app.command()
def status() -> None:
    """What runs: the servers of `medmaas up`, or the embedded defaults."""
    from medmaas.servers import recorded

    servers = recorded()
    if not servers:
        typer.echo("no servers: embedded defaults (MLflow on SQLite in-process, a temporary Prefect API per flow)")
    for server in servers:
        state = "healthy" if server.healthy() else "running, not answering" if server.alive() else "gone (run `medmaas down`, then `up`)"
        typer.echo(f"{server.name}: {server.url}  pid {server.pid}  {state}  log {server.log}")
    _echo_training_views(servers)


@app.command()
def schedule(params: ParamsOption = None) -> None:
    """Serve retraining and monitoring deployments (`schedule:`, `monitoring.schedule:`, drift triggers) on the Prefect server of `medmaas up`, until stopped."""
    from families import load_params
    from medmaas.servers import answers
    from medmaas.settings import ConfigError

    try:
        loaded = load_params(params)
    except ConfigError as error:
        _fail(str(error))
    scheduled = [name for name, block in loaded.families.items() if block.schedule is not None or block.monitoring.schedule is not None]
    if not scheduled:
        _fail(f"no family in {loaded.path} has a `schedule:` or `monitoring.schedule:` block, e.g. `schedule: {{cron: \"0 3 * * 1\", timezone: Europe/Berlin}}`")
    api = os.environ.get("PREFECT_API_URL")
    if not api or not answers(f"{api}/health", timeout_s=5):
        _fail("schedules need a running Prefect server: start one with `medmaas up` (the temporary API cannot run schedules)")
    for name in scheduled:
        block = loaded.families[name]
        plans = [f"retrain on {block.schedule.description()}" if block.schedule else "",
                 "retrain on drift" if block.monitoring.retrain_on_drift else "",
                 f"monitor on {block.monitoring.schedule.description()}" if block.monitoring.schedule else ""]
        typer.echo(f"{name}: {', '.join(p for p in plans if p)}")
    command = [sys.executable, "-m", "flows.schedule", *(["--params", str(Path(params).resolve())] if params else [])]
    os.chdir(PROJECT_ROOT)
    sys.stdout.flush()
    os.execv(sys.executable, command)  # the serving process itself: Ctrl-C or SIGTERM stops it (and pauses the schedules)


@app.command()
def monitor(
    family: str,
    batch: Annotated[Optional[Path], typer.Argument(exists=True, dir_okay=False, help="rows to check (CSV or Parquet); default: the prediction log since the last check")] = None,
    params: ParamsOption = None,
) -> None:
    """Check a batch against the champion's training reference: drift per feature and of the prediction, performance if labelled.

    Exit status: 0 no drift (or nothing to judge), 1 drift (an event asks for one retraining), 2 the batch failed the gate or an error."""
    from flows.monitor import monitor_family
    from medmaas.champions import NoChampion
    from medmaas.settings import ConfigError, UnreadableData
    from tasks.monitor import NotMonitored

    _family(family, params)  # a clear error for a bad params file or an unknown family before Prefect starts
    try:
        report = monitor_family(family, str(batch.resolve()) if batch else None, str(Path(params).resolve()) if params else None)
    except (ConfigError, NoChampion, NotMonitored, FileNotFoundError, UnreadableData) as error:
        _fail(str(error))
    typer.echo(report.to_markdown())
    colour = {"drift": typer.colors.RED, "gate failed": typer.colors.RED, "no drift": typer.colors.GREEN}.get(report.status, typer.colors.YELLOW)
    typer.secho(report.summary(), fg=colour, bold=True, err=True)
    if report.status == "gate failed":
        raise typer.Exit(2)
    if report.drifted:
        raise typer.Exit(1)


@app.command()
def deidentify(
    input_csv: Annotated[Path, typer.Argument(exists=True, help="a CSV with free-text columns, or a folder of DICOM files")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV to write (identifiers replaced by [NAME], [DATE], ...), or for a "
                                         "folder an empty folder for the de-identified DICOM copies")],
    column: Annotated[Optional[list[str]], typer.Option("--column", "-c", help="a free-text column (repeat it); default: every text column")] = None,
) -> None:
    """Replace names, dates, phone numbers, ids, addresses and other Safe Harbor identifiers in a CSV's free text; or write
    de-identified copies of a folder's DICOM files (DICOM PS3.15 Basic Profile, as a keep-list: families/imaging/dicom_deidentify.py)."""
    from collections import Counter

    if input_csv.is_dir():
        from families.imaging.dicom_deidentify import deidentify_folder

        try:
            report = deidentify_folder(input_csv, output)
        except (FileExistsError, ValueError, OSError) as error:
            _fail(str(error))
        if not (report.written or report.unreadable or report.duplicates):
            _fail(f"no DICOM file under {input_csv} (a DICOM file has 'DICM' at byte 128); a CSV of texts is given as a file")
        typer.echo(f"{report.summary()}; into {output}")
        if report.unreadable:
            raise typer.Exit(1)
        return

    import pandas as pd
    from rich.progress import track

    from blocks.deidentify import Deidentifier

    try:
        frame = pd.read_csv(input_csv, dtype=str, keep_default_na=False)
    except (ValueError, OSError) as error:
        _fail(f"cannot read {input_csv.name} as CSV: {str(error).splitlines()[0][:200]}")
    columns = column or [c for c in frame.columns if frame[c].str.contains(r"[A-Za-z]", regex=True).any()]
    if missing := [c for c in columns if c not in frame.columns]:
        _fail(f"no column {', '.join(map(repr, missing))} in {input_csv.name}; it has: {', '.join(frame.columns)}")
    deidentifier, found = Deidentifier(), Counter()
    chunk = 500
    for name in columns:
        cleaned = []
        for start in track(range(0, len(frame), chunk), description=f"de-identifying {name}", disable=len(frame) <= chunk, transient=True):
            runs = deidentifier.run(frame[name].iloc[start:start + chunk].tolist())
            cleaned += [run.text for run in runs]
            found.update(entity for run in runs for entity in run.counts().elements())
        frame[name] = cleaned
    frame.to_csv(output, index=False)
    summary = ", ".join(f"{kind} {count}" for kind, count in found.most_common()) or "none"
    typer.echo(f"wrote {len(frame)} rows to {output}; de-identified {', '.join(columns) or 'no column'}; replaced: {summary}")


@app.command()
def package(family: str, params: ParamsOption = None) -> None:
    """Build a Bento from a family's current champion (the flow does this after each promotion)."""
    from families import load_params
    from tasks.package import build_bento, served_champions

    instance = _family(family, params)
    _champion(instance)  # a clear error when there is none
    loaded = load_params(params)
    tag = build_bento(instance, served_champions(instance, loaded), loaded.path)
    typer.echo(f"built {tag}: serve it with `bentoml serve {tag}`; containerize it with `bentoml containerize {tag}` where Docker runs")


@app.command()
def predict(
    family: str,
    input_csv: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="rows to score, with the model's feature columns")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="CSV to write (default: print)")] = None,
    params: ParamsOption = None,
) -> None:
    """Score a CSV with a family's champion."""
    import pandas as pd
    from rich.progress import track

    instance = _family(family, params)
    model = _champion(instance).load()
    try:  # the block's read options (delimiter, decimals, missing markers, Parquet), ids as text
        frame = instance.settings.data.read_file(input_csv.resolve(), family)
    except ValueError as error:
        _fail(str(error))
    size = instance.predict_chunk_rows or max(len(frame), 1)
    chunks = [frame.iloc[i : i + size] for i in range(0, len(frame), size)] or [frame]
    try:
        scored = pd.concat([instance.predict_frame(model, chunk) for chunk in track(chunks, description="scoring", disable=len(chunks) < 3)])
    except ValueError as error:
        _fail(str(error))
    keep = [c for c in instance.identifier_columns() if c in frame.columns]  # the user's own ids, to join back
    result = pd.concat([frame[keep], scored], axis=1)
    if output:
        result.to_csv(output, index=False)
        typer.echo(f"wrote {len(result)} predictions to {output}")
    else:
        typer.echo(result.to_csv(index=False))
