"""What every command shares: the app, the --params option, one loader of the params file, and errors as one line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

import medmaas  # noqa: F401  (embedded defaults)

if TYPE_CHECKING:
    from medmaas.champions import Champion
    from medmaas.family import Family
    from medmaas.settings import Params

app = typer.Typer(
    help="medmaas: validated, versioned, explained clinical models.", no_args_is_help=True, add_completion=False
)

ParamsOption = Annotated[
    Optional[Path], typer.Option("--params", help="params file (default: params.yaml in the repo)")
]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def params_from(params_path: Path | None) -> Params:
    """The params file, or an error naming the file and the key that is wrong."""
    from families import load_params
    from medmaas.settings import ConfigError

    try:
        return load_params(params_path)
    except ConfigError as error:
        fail(str(error))


def families_from(family: str | None, params_path: Path | None) -> list[str]:
    names = list(params_from(params_path).families)
    if family is None:
        return names
    if family not in names:
        fail(f"no family {family!r} in the params file; it has: {', '.join(names)}")
    return [family]


def family_from(name: str, params_path: Path | None) -> Family:
    """The named family, built from the params file, or an error naming what the file has."""
    from families import family_class

    loaded = params_from(params_path)
    if name not in loaded.families:
        fail(f"no family {name!r} in the params file; it has: {', '.join(loaded.families)}")
    return family_class(name)(loaded.families[name], loaded.project.seed)


def champion_of(family: Family) -> Champion:
    """The family's registered champion, or an error that says how to train one."""
    from medmaas.champions import NoChampion, resolve_from_registry

    try:
        return resolve_from_registry(family)
    except NoChampion as error:
        fail(str(error), 1)


def print_summary(name: str) -> None:
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
