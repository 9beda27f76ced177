"""One training per registered model at a time, and a true record after a run that died.

The lock is a file lock in the state folder (``filelock``: ``flock`` on POSIX, so the kernel releases it when its
process dies, SIGKILL and power cut included). Whoever holds it is the only live training of that model, so any run of
the model still marked RUNNING in MLflow belongs to a process that is gone: the new run closes it as FAILED, with the
reason, before it starts its own.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medmaas.champions import CHAMPION, REFERENCE
from medmaas.environment import STATE_DIR

INTERRUPTED = "interrupted"  # the run tag and version tag that say why a run or a version is not to be trusted
HOST, PID = "medmaas.host", "medmaas.pid"  # a training run's tags: the process that owns it
KILL_AT = "MEDMAAS_KILL_AT"  # fault injection: the step at whose start the training process kills itself


def reached(step: str) -> None:
    """A training step starts. With ``MEDMAAS_KILL_AT=<step>`` the process kills itself here with SIGKILL (no handler,
    no cleanup: a power cut), so the crash tests can prove the next run finds a true record. A process that leads its
    group takes the group with it (the temporary Prefect API it started), as a power cut would."""
    if os.environ.get(KILL_AT) == step:
        if os.getpgid(0) == os.getpid():
            os.killpg(0, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


# what SQLite says (through SQLAlchemy and MLflow, as text) when the registry's database file cannot be written
DATABASE_REFUSALS = ("database or disk is full", "attempt to write a readonly database")


def storage_failure(error: BaseException) -> str | None:
    """One line for a write the state or output folder refused (full, read-only, not ours), whether a file write said
    so or the registry's SQLite database did, anywhere in the error's chain; None for any other error."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in STORAGE_ERRNOS:
            return f"cannot write {current.filename2 or current.filename or 'the state folder'}: {current.strerror}"
        if refusal := next((r for r in DATABASE_REFUSALS if r in str(current)), None):
            return f"cannot write the registry database ({_registry_location()}): {refusal}"
        current = current.__cause__ or current.__context__
    return None


def check_state_writable() -> None:
    """Before any flow starts: a state folder that cannot be written fails here, as an OSError naming the folder (one
    line for ``storage_failure``), rather than as Prefect's temporary API failing to start again and again."""
    probe = STATE_DIR / f".write-check-{os.getpid()}"
    try:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(STATE_DIR)) from None


def _registry_location() -> str:
    import mlflow

    uri = mlflow.get_tracking_uri()
    return uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else uri


class TrainingInProgress(RuntimeError):
    """Another process is training this model now."""


@dataclass(frozen=True)
class Coalesced:
    """A training request that arrived while another training of the same model ran: recorded, not started."""

    registered_model: str
    holder: str

    def summary(self) -> str:
        return f"{self.registered_model}: not started, coalesced into the training already running ({self.holder})"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextmanager
def model_lock(registered_model: str) -> Iterator[None]:
    """Hold this machine's training lock of the model, or raise ``TrainingInProgress`` at once naming who holds it
    (tasks/concurrency.py adds a Prefect server's concurrency limit where one runs)."""
    from filelock import FileLock, Timeout

    folder = STATE_DIR / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    holder = folder / f"{registered_model}.holder.json"
    lock = FileLock(folder / f"{registered_model}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            who = json.loads(holder.read_text())
            held_by = f"pid {who['pid']} on {who['host']} since {who['since']}"
        except (OSError, ValueError, KeyError):
            held_by = "a process that is starting"
        raise TrainingInProgress(held_by) from None
    try:
        holder.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}))
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def owner_tags() -> dict[str, str]:
    """The tags that name this process on a training run it starts."""
    return {HOST: socket.gethostname(), PID: str(os.getpid())}


def _owner_gone(tags: dict[str, str]) -> bool:
    """The run's process is gone: it ran on this machine (or before runs said where) and its pid is not alive. A run
    of another machine sharing the registry is left alone: this machine's lock says nothing about it."""
    if tags.get(HOST, socket.gethostname()) != socket.gethostname():
        return False
    if not tags.get(PID):
        return True  # a run from before runs named their process
    try:
        os.kill(int(tags[PID]), 0)
    except (ProcessLookupError, ValueError):
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def close_interrupted_runs(experiment_name: str, registered_model: str) -> list[str]:
    """With the model's lock held: mark every run of its experiment still RUNNING whose process is gone as FAILED, and
    tag the versions those runs registered and never promoted as interrupted. Returns the run ids it closed."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    running = client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'RUNNING'")
    stale = [run for run in running if _owner_gone(run.data.tags)]
    reason = (
        f"interrupted: still RUNNING at {_now()} while no process held {registered_model}'s training lock "
        "(killed, crashed or a power cut)"
    )
    for run in stale:
        client.set_tag(run.info.run_id, INTERRUPTED, reason)
        client.set_terminated(run.info.run_id, "FAILED")
    closed = {run.info.run_id for run in stale}
    if closed and client.search_registered_models(f"name = '{registered_model}'"):
        aliases = client.get_registered_model(registered_model).aliases  # search_model_versions leaves them out
        served = {str(version) for alias, version in aliases.items() if alias in (CHAMPION, REFERENCE)}
        for version in client.search_model_versions(f"name = '{registered_model}'"):
            if str(version.version) in served:  # promoted before the kill: valid (the next run builds a missing Bento)
                continue
            if version.run_id in closed or _parent_of(client, version.run_id) in closed:
                client.set_model_version_tag(registered_model, version.version, INTERRUPTED, reason)
    return sorted(closed)


def _parent_of(client: Any, run_id: str | None) -> str | None:
    if not run_id:
        return None
    try:
        parent = client.get_run(run_id).data.tags.get("mlflow.parentRunId")
    except Exception:  # noqa: BLE001 (a version whose run was deleted has no parent to find)
        return None
    return str(parent) if parent else None


EPHEMERAL_API = "prefect.server.api.server:create_app"  # in the command line of Prefect's temporary API server


def temporary_apis_folder() -> Path:
    return STATE_DIR / "prefect" / "temporary-apis"


def stop_orphaned_temporary_apis() -> int:
    """Stop the temporary Prefect APIs whose training process is gone; returns how many. A record is trusted only
    while its pid still runs Prefect's API with the start time recorded (a pid reused by another process is left
    alone)."""
    import psutil

    stopped = 0
    for path in sorted(temporary_apis_folder().glob("*.json")) if temporary_apis_folder().is_dir() else []:
        try:
            record = json.loads(path.read_text())
            owner_alive = psutil.pid_exists(int(record["owner_pid"]))
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
            continue
        if owner_alive:
            continue
        try:
            api = psutil.Process(int(record["api_pid"]))
            if api.create_time() == record["api_started"] and EPHEMERAL_API in " ".join(api.cmdline()):
                api.kill()
                api.wait(timeout=10)
                stopped += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.TimeoutExpired):
            pass
        path.unlink(missing_ok=True)
    return stopped
