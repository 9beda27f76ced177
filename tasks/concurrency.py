"""One training per model across machines, where a Prefect server runs; and the temporary Prefect API of a training
noted, so that the next training can stop it if this one is killed. (The per-machine lock and the clean-up are in
medmaas/crash_safety.py, which knows no Prefect.)"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from medmaas.crash_safety import TrainingInProgress, model_lock, temporary_apis_folder


@contextmanager
def training_slot(registered_model: str) -> Iterator[None]:
    """This machine's file lock of the model and, where a Prefect server runs (``PREFECT_API_URL``), the model's
    concurrency limit on it, which machines sharing that server and one registry see alike; ``TrainingInProgress``
    at once naming the holder otherwise."""
    with model_lock(registered_model), _server_slot(registered_model):
        yield


SERVER_LEASE_S = 60.0  # a holder renews its slot while it runs; a killed one's slot frees itself this long after


def server_limit_name(registered_model: str) -> str:
    return f"medmaas-train-{registered_model}"


class _RefusedSlot(logging.Filter):
    """Prefect logs a refused slot as a service error; the refusal is ours to report, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ConcurrencySlotAcquisition" not in record.getMessage()


def _quiet_refused_slots() -> None:
    concurrency_logger = logging.getLogger("prefect._internal.concurrency")
    if not any(isinstance(f, _RefusedSlot) for f in concurrency_logger.filters):
        concurrency_logger.addFilter(_RefusedSlot())


@contextmanager
def _server_slot(registered_model: str) -> Iterator[None]:
    """The one slot of the model's Prefect global concurrency limit (created on first use), held under a lease the
    holder renews; nothing without a Prefect server (each temporary API keeps its leases to itself)."""
    if not os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError  # where Prefect defines it
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectNotFound

    _quiet_refused_slots()
    name = server_limit_name(registered_model)
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    slot = concurrency(
        name,
        occupy=1,
        max_retries=0,  # refused at once: the request is coalesced, as on one machine
        lease_duration=SERVER_LEASE_S,
        strict=True,
        raise_on_lease_renewal_failure=False,  # a slow renewal on a busy machine must not kill the training
    )
    try:
        slot.__enter__()
    except ConcurrencySlotAcquisitionError:
        raise TrainingInProgress(
            f"a training on another machine: Prefect concurrency limit {name} at {os.environ['PREFECT_API_URL']} is "
            f"in use (a killed holder's slot frees itself within {SERVER_LEASE_S:.0f} s)"
        ) from None
    try:
        yield
    finally:
        slot.__exit__(None, None, None)


def record_temporary_api() -> None:
    """Note the temporary Prefect API this process started (none when a server runs): if the process is killed, the
    API outlives it (~250 MB, its own process); the next training stops it (``stop_orphaned_temporary_apis``)."""
    import psutil
    from prefect.server.api.server import SubprocessASGIServer

    folder = temporary_apis_folder()
    for server in list(SubprocessASGIServer._instances.values()):  # Prefect keeps one per port it started
        process = getattr(server, "server_process", None)
        if process is None or process.poll() is not None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        started = psutil.Process(process.pid).create_time()
        record = {"api_pid": process.pid, "api_started": started, "owner_pid": os.getpid()}
        (folder / f"{process.pid}.json").write_text(json.dumps(record))
