"""What a service scored, kept for drift monitoring: features, prediction, model version, time; never an identifier.

One SQLite file per registered model under ``.medmaas/predictions/`` (WAL, so several workers
append at once and `medmaas monitor` reads while they do). Requests carry features only (the
services forbid unknown fields), so no identifier can reach it. Rows older than the retention
are deleted as new ones arrive. A failing write is logged and the request still answers.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from medmaas.environment import STATE_DIR

LOG_DIR = STATE_DIR / "predictions"
PRUNE_EVERY_S = 3600.0
logger = logging.getLogger("medmaas.prediction_log")

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    version TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    features TEXT NOT NULL,
    prediction TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_time ON predictions (time);
"""


def log_path(registered_model: str, directory: Path | None = None) -> Path:
    return (directory or LOG_DIR) / f"{registered_model}.sqlite"


class PredictionLog:
    def __init__(self, registered_model: str, retention_days: int, directory: Path | None = None) -> None:
        self.path = log_path(registered_model, directory)
        self.retention = timedelta(days=retention_days)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pruned_at = 0.0
        self._failures = 0

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(SCHEMA)
            self._connection = connection
        return self._connection

    def append(
        self, version: str, endpoint: str, features: Sequence[dict[str, Any]], predictions: Sequence[Any]
    ) -> bool:
        """One row per scored patient; an error here is logged (and False returned), never raised into the request."""
        now = datetime.now(timezone.utc)
        rows = [
            (now.isoformat(), version, endpoint, json.dumps(f, default=str), json.dumps(p, default=str))
            for f, p in zip(features, predictions)
        ]
        try:
            with self._lock:
                connection = self._connect()
                with connection:
                    connection.executemany(
                        "INSERT INTO predictions (time, version, endpoint, features, prediction) "
                        "VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
                    if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
                        connection.execute(
                            "DELETE FROM predictions WHERE time < ?", ((now - self.retention).isoformat(),)
                        )
                        self._pruned_at = time.monotonic()
        except (sqlite3.Error, OSError) as error:
            self._failures += 1
            if (
                self._failures in (1, 10) or self._failures % 1000 == 0
            ):  # a read-only image fails on every request: say so, not every time
                logger.warning(
                    "prediction log %s: write failed (%s, %d so far); the requests were answered",
                    self.path.name,
                    type(error).__name__,
                    self._failures,
                )
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


@dataclass(frozen=True)
class LoggedBatch:
    features: pd.DataFrame  # one row per scored patient, one column per feature
    last_row: int  # where the next check starts
    versions: tuple[str, ...] = ()
    first_time: str | None = None
    last_time: str | None = None


def read_log(registered_model: str, after_row: int = 0, directory: Path | None = None) -> LoggedBatch:
    """What was scored after row ``after_row`` (0: everything still kept)."""
    path = log_path(registered_model, directory)
    if not path.is_file():
        return LoggedBatch(pd.DataFrame(), after_row)
    with closing(sqlite3.connect(path, timeout=10)) as connection:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'predictions'").fetchone():
            return LoggedBatch(pd.DataFrame(), after_row)  # a service is creating it this moment: nothing logged yet
        (newest,) = connection.execute("SELECT COALESCE(MAX(id), 0) FROM predictions").fetchone()
        if after_row > newest:  # the log was deleted and started again: read it from its start
            after_row = 0
        rows = connection.execute(
            "SELECT id, time, version, features FROM predictions WHERE id > ? ORDER BY id", (after_row,)
        ).fetchall()
    if not rows:
        return LoggedBatch(pd.DataFrame(), after_row)
    return LoggedBatch(
        pd.DataFrame([json.loads(r[3]) for r in rows]),
        rows[-1][0],
        tuple(sorted({r[2] for r in rows})),
        rows[0][1],
        rows[-1][1],
    )
