"""A write the disk refuses is named in one line, whether a file said so or the registry's SQLite database did."""

import errno
import sqlite3

from mlflow.exceptions import MlflowException

from medmaas.crash_safety import storage_failure


def test_a_full_registry_database_is_found_through_mlflow_s_wrapping():
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as cause:
            raise MlflowException("(sqlite3.OperationalError) database or disk is full [SQL: UPDATE runs]") from cause
    except MlflowException as wrapped:
        try:
            raise RuntimeError("the flow failed") from wrapped
        except RuntimeError as outer:
            line = storage_failure(outer)
    assert line is not None and line.startswith("cannot write the registry database (")
    assert line.endswith("): database or disk is full") and "UPDATE" not in line


def test_a_file_write_names_its_path_and_other_errors_are_not_storage():
    full = OSError(errno.ENOSPC, "No space left on device", "/state/mlflow/x.pkl")
    assert storage_failure(full) == "cannot write /state/mlflow/x.pkl: No space left on device"
    assert storage_failure(OSError(errno.ENOENT, "No such file", "/data/in.csv")) is None
    assert storage_failure(ValueError("database is fine")) is None


def test_a_read_only_state_folder_stops_a_training_before_anything_starts(monkeypatch):
    from pathlib import Path

    from typer.testing import CliRunner

    from cli import app
    from medmaas.environment import STATE_DIR

    write_bytes = Path.write_bytes

    def read_only(path, data):  # as a read-only mount answers any write under the state folder
        if path.parent == STATE_DIR:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    result = CliRunner().invoke(app, ["train", "diagnosis"])
    assert result.exit_code == 2, result.output
    assert f"cannot write {STATE_DIR}: Read-only file system; nothing was started" in result.output
    assert "Traceback" not in result.output and "Starting temporary server" not in result.output
