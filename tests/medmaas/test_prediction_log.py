"""The prediction log: what a service scored, read back by monitoring from where the last check stopped."""

import sqlite3
from datetime import datetime, timedelta, timezone

from medmaas import prediction_log
from medmaas.prediction_log import PredictionLog, read_log


def test_rows_come_back_in_order_from_after_the_last_check(tmp_path):
    log = PredictionLog("m", retention_days=30, directory=tmp_path)
    log.append(
        "3", "predict", [{"age": 61.0, "site": "north"}, {"age": 70.5, "site": "south"}], [{"p": 0.2}, {"p": 0.9}]
    )
    log.append("4", "predict", [{"age": 55.0, "site": "east"}], [{"p": 0.5}])
    everything = read_log("m", directory=tmp_path)
    assert everything.features.to_dict("list") == {"age": [61.0, 70.5, 55.0], "site": ["north", "south", "east"]}
    assert everything.versions == ("3", "4") and everything.last_row == 3
    after = read_log("m", after_row=2, directory=tmp_path)
    assert after.features["age"].tolist() == [55.0] and after.last_row == 3
    nothing = read_log("m", after_row=3, directory=tmp_path)
    assert nothing.features.empty and nothing.last_row == 3
    assert read_log("never-served", directory=tmp_path).features.empty


def test_rows_past_the_retention_are_deleted_as_new_ones_arrive(tmp_path, monkeypatch):
    log = PredictionLog("m", retention_days=7, directory=tmp_path)
    log.append("1", "predict", [{"age": 1.0}], [0])
    old = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()
    with sqlite3.connect(log.path) as connection:
        connection.execute("UPDATE predictions SET time = ?", (old,))
    monkeypatch.setattr(prediction_log, "PRUNE_EVERY_S", 0.0)
    log.append("1", "predict", [{"age": 2.0}], [0])
    assert read_log("m", directory=tmp_path).features["age"].tolist() == [2.0]


def test_a_failed_write_is_logged_now_and_then_and_never_raised(tmp_path, caplog):
    (tmp_path / "m.sqlite").mkdir()  # a directory where the database should be
    log = PredictionLog("m", retention_days=7, directory=tmp_path)
    for _ in range(20):
        log.append("1", "predict", [{"age": 1.0}], [0])
    warnings = [r.getMessage() for r in caplog.records if "write failed" in r.getMessage()]
    assert len(warnings) == 2 and "1 so far" in warnings[0] and "10 so far" in warnings[1] and "age" not in caplog.text


def test_a_log_started_again_is_read_from_its_start(tmp_path):
    log = PredictionLog("m", retention_days=30, directory=tmp_path)
    log.append("1", "predict", [{"age": 1.0}] * 5, [0] * 5)
    log.close()
    log.path.unlink()
    PredictionLog("m", retention_days=30, directory=tmp_path).append("2", "predict", [{"age": 2.0}], [0])
    assert read_log("m", after_row=5, directory=tmp_path).features["age"].tolist() == [2.0]
