"""Training: the pipeline, a family now, its champion, its Bento."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.common import ParamsOption, app, champion_of, fail, families_from, family_from, params_from, print_summary
from medmaas.environment import PROJECT_ROOT

PANEL = "Training"  # --help groups commands by audience


@app.command(rich_help_panel=PANEL)
def pipeline(
    params: ParamsOption = None, force: Annotated[bool, typer.Option(help="retrain even if nothing changed")] = False
) -> None:
    """The main job: `dvc repro` (export data, gate, train, register, promote) for every family."""
    loaded = params_from(params)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = ["dvc", "repro", *(["--force"] if force else [])]
    typer.secho(f"$ {' '.join(command)}", dim=True)
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env)
    for name in loaded.families:
        print_summary(loaded.families[name].registered_model or name)
    if result.returncode != 0:
        fail("the pipeline stopped; the champion is unchanged (see the messages above)", result.returncode)


@app.command(rich_help_panel=PANEL)
def train(
    family: Annotated[
        Optional[str], typer.Argument(help="family to train; all families in the params file if omitted")
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Train one family (or all) now, without DVC: gate, candidates, registry, promotion."""
    from flows.train import run_family
    from medmaas.crash_safety import Coalesced, check_state_writable, storage_failure
    from medmaas.settings import ConfigError
    from tasks.evaluate import NoCandidateTrained
    from tasks.gate import DataGateFailed

    try:
        check_state_writable()
    except OSError as error:
        fail(f"{storage_failure(error) or error}; nothing was started")
    champion_before: str | None = None
    try:
        names = families_from(family, params)
        for name in names:
            typer.secho(f"training {name} ...", bold=True)
            champion_before = _champion_version(family_from(name, params).registered_model)
            decision = run_family(name, params)
            if isinstance(decision, Coalesced):  # another training of this model is running: nothing started
                typer.echo(decision.summary())
                continue
            print_summary(decision.registered_model)
    except DataGateFailed as error:
        fail(f"data gate failed; nothing was trained or registered\n{error.report.to_markdown()}")
    except (ConfigError, FileNotFoundError, ValueError, NoCandidateTrained) as error:
        fail(str(error))
    except Exception as error:  # a full disk, a read-only state folder; anything else goes on up
        if (line := storage_failure(error)) is None:
            raise
        model = family_from(name, params).registered_model
        now = _champion_version(model)
        where = "unchanged" if now == champion_before else f"moved to v{now} before the failure (its model was whole)"
        marked = "the next training marks the run FAILED" if "registry" in line else "the run is marked FAILED"
        fail(f"{line}; {marked}; champion {where} ({f'{model} v{now}' if now else 'none yet'})")


def _champion_version(registered_model: str) -> str | None:
    from medmaas.champions import CHAMPION, version_by_alias

    version = version_by_alias(registered_model, CHAMPION)
    return None if version is None else str(version.version)


@app.command(rich_help_panel=PANEL)
def champion(
    family: str, params: ParamsOption = None, card: Annotated[bool, typer.Option(help="print the model card")] = False
) -> None:
    """Show a family's champion: version, candidate, held-out metrics, provenance."""
    current = champion_of(family_from(family, params))
    info = current.info
    typer.secho(f"{current.registered_model} champion: version {current.version} ({info['candidate']})", bold=True)
    for key in ("git_commit", "data_md5", "params_hash"):
        typer.echo(f"  {key}: {info[key]}")
    metrics = info["metrics"]
    for metric in sorted(m for m in metrics if not m.endswith(("_ci_low", "_ci_high"))):
        typer.echo(
            f"  {metric}: {metrics[metric]:.4f} [{metrics[f'{metric}_ci_low']:.4f}, {metrics[f'{metric}_ci_high']:.4f}]"
        )
    if card:
        import mlflow

        typer.echo(mlflow.artifacts.load_text(info["model_card"]))


@app.command(rich_help_panel=PANEL)
def package(family: str, params: ParamsOption = None) -> None:
    """Build a Bento from a family's current champion (the flow does this after each promotion)."""
    from tasks.package import build_bento, served_champions

    instance = family_from(family, params)
    champion_of(instance)  # a clear error when there is none
    loaded = params_from(params)
    tag = build_bento(instance, served_champions(instance, loaded), loaded.path)
    typer.echo(
        f"built {tag}: serve it with `bentoml serve {tag}`; containerize it with `bentoml containerize {tag}` where "
        "Docker runs"
    )
