"""Serving and keys: a champion behind HTTP, and the API keys its clients send."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from cli.common import ParamsOption, app, champion_of, fail, family_from
from medmaas.environment import PROJECT_ROOT

PANEL = "Serving and keys"  # --help groups commands by audience


@app.command(rich_help_panel=PANEL)
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

    instance = family_from(family, params)
    champion_of(instance)  # a clear error before a server starts
    if instance.settings.serving.auth == "api_keys" and not KeyRing().active_count():
        secret = KeyStore().create("first")
        typer.secho(
            f"created the first API key (shown only now; `medmaas keys create NAME` makes more):\n  {secret}\n"
            f"  curl -H 'Authorization: Bearer {secret}' ...",
            fg=typer.colors.GREEN,
            err=True,
        )
    command = [
        str(Path(sys.executable).parent / "bentoml"),
        "serve",
        service_path(family),
        "--host",
        host,
        "--port",
        str(port),
    ]
    typer.secho(f"$ {' '.join(command[1:])}", dim=True, err=True)
    env = {**os.environ, **({"MEDMAAS_PARAMS": str(Path(params).resolve())} if params else {})}
    os.chdir(PROJECT_ROOT)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)


keys = typer.Typer(
    help="API keys of the services: shown once at creation, stored as hashes, revoked at once.", no_args_is_help=True
)
app.add_typer(keys, name="keys", rich_help_panel=PANEL)


@contextmanager
def _key_errors():
    from medmaas.access import KeyStoreError

    try:
        yield
    except KeyStoreError as error:
        fail(str(error))


@keys.command("create")
def keys_create(name: Annotated[str, typer.Argument(help="who or what uses it (the audit log names it)")]) -> None:
    """Create a key and print it (the only time it is shown)."""
    from medmaas.access import KeyStore

    with _key_errors():
        secret = KeyStore().create(name)
    typer.echo(secret)
    typer.secho(
        f"key {name!r} created; send it as `Authorization: Bearer <key>`. It is stored only as a hash: keep it now.",
        err=True,
        dim=True,
    )


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
