"""`medmaas`: what users do daily. Heavy imports happen inside commands, so --help is instant."""

from __future__ import annotations

import os
import subprocess
import sys
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
    from medmaas.settings import load_params

    names = list(load_params(params_path).families)
    if family is None:
        return names
    if family not in names:
        _fail(f"no family {family!r} in the params file; it has: {', '.join(names)}")
    return [family]


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
    from medmaas.settings import ConfigError, load_params

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
    from tasks.validate import DataGateFailed

    try:
        names = _families(family, params)
        for name in names:
            typer.secho(f"training {name} ...", bold=True)
            decision = run_family(name, params)
            _print_summary(decision.registered_model)
    except DataGateFailed as error:
        _fail(f"data gate failed; nothing was trained or registered\n{error.report.to_markdown()}")
    except (ConfigError, FileNotFoundError, ValueError) as error:
        _fail(str(error))


@app.command()
def ingest(family: str) -> None:
    """Export a family's bundled data set to data/raw/ (the DVC stage's command; never touches your own data)."""
    from families import family_class

    cls = family_class(family)
    path = cls.export_bundled(PROJECT_ROOT / cls.bundled_data)
    typer.echo(f"wrote {path.relative_to(PROJECT_ROOT)}")


@app.command()
def champion(family: str, params: ParamsOption = None, card: Annotated[bool, typer.Option(help="print the model card")] = False) -> None:
    """Show a family's champion: version, candidate, held-out metrics, provenance."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from medmaas.settings import load_params

    settings = load_params(params).families.get(family)
    name = (settings.registered_model if settings else None) or family
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        _fail(f"{name} has no champion yet: run `medmaas train {family}`", 1)
    run = client.get_run(version.run_id)
    typer.secho(f"{name} champion: version {version.version} ({version.tags.get('candidate')})", bold=True)
    for key in ("git_commit", "data_md5", "params_hash"):
        typer.echo(f"  {key}: {version.tags.get(key)}")
    for metric, value in sorted(run.data.metrics.items()):
        if metric.startswith("test_") and not metric.endswith(("_ci_low", "_ci_high")):
            low, high = run.data.metrics.get(f"{metric}_ci_low"), run.data.metrics.get(f"{metric}_ci_high")
            typer.echo(f"  {metric[5:]}: {value:.4f} [{low:.4f}, {high:.4f}]")
    if card:
        typer.echo(Path(client.download_artifacts(version.run_id, "promotion/model_card.md")).read_text())


@app.command()
def serve(
    family: str,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 3000,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
) -> None:
    """Serve a family's champion over HTTP (`bentoml serve serving.<family>:<Family>Service`)."""
    from tasks.package import service_path

    command = [str(Path(sys.executable).parent / "bentoml"), "serve", service_path(family), "--host", host, "--port", str(port)]
    typer.secho(f"$ {' '.join(command[1:])}", dim=True)
    raise typer.Exit(subprocess.run(command, cwd=PROJECT_ROOT).returncode)


@app.command()
def package(family: str, params: ParamsOption = None) -> None:
    """Build a Bento from a family's current champion (the flow does this after each promotion)."""
    from families import family_class
    from medmaas.settings import load_params
    from serving.champion import NoChampion, resolve_from_registry
    from tasks.package import build_bento

    loaded = load_params(params)
    instance = family_class(family)(loaded.families[family], loaded.project.seed)
    try:
        champion = resolve_from_registry(instance)
    except NoChampion as error:
        _fail(str(error), 1)
    tag = build_bento(instance, champion)
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

    from families import family_class
    from medmaas.settings import load_params
    from medmaas.flavors import load_model

    loaded = load_params(params)
    if family not in loaded.families:
        _fail(f"no family {family!r} in the params file")
    instance = family_class(family)(loaded.families[family], loaded.project.seed)
    try:
        model = load_model(instance.flavor, f"models:/{instance.registered_model}@champion")
    except Exception:
        _fail(f"{instance.registered_model} has no champion yet: run `medmaas train {family}`", 1)
    frame = pd.read_csv(input_csv)
    chunks = [frame.iloc[i : i + 10_000] for i in range(0, len(frame), 10_000)] or [frame]
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


if __name__ == "__main__":
    app()
