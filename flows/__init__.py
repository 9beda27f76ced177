"""Flows: the order of the steps. Each reads as a table of contents."""

from __future__ import annotations

import logging


class _ExpectedFailure(logging.Filter):
    """A documented failure (bad data, bad config, no champion, ...) is reported in one line by the caller;
    Prefect's own log of it keeps its message and drops the traceback."""

    def __init__(self, expected: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.expected = expected

    def filter(self, record: logging.LogRecord) -> bool:
        from medmaas.crash_safety import storage_failure

        error = record.exc_info[1] if record.exc_info else None
        if error is not None and (isinstance(error, self.expected) or storage_failure(error)):  # a full disk too
            record.exc_info = record.exc_text = None
        return True


def quiet_tracebacks_of(*expected: type[BaseException]) -> None:
    """Drop the tracebacks of these exceptions from Prefect's flow and task run logs (and from MLflow's log of a
    registry database that refused a write)."""
    for name in ("prefect.flow_runs", "prefect.task_runs", "mlflow.store.db.utils"):
        logging.getLogger(name).addFilter(_ExpectedFailure(expected))
