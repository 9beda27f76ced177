"""Files a run leaves in the work tree: DVC tracks them, the CLI prints them, people read them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from medmaas.environment import METRICS_DIR, REPORTS_DIR
from tasks.gate import GateReport
from tasks.promotion import Decision


def report_dir(registered_model: str) -> Path:
    path = REPORTS_DIR / registered_model
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_gate_report(registered_model: str, report: GateReport) -> None:
    folder = report_dir(registered_model)
    (folder / "data_gate.md").write_text(report.to_markdown())
    (folder / "data_gate.json").write_text(report.to_json())


def write_run_reports(registered_model: str, board: pd.DataFrame, decision: Decision, card: str) -> None:
    """Leaderboard, decision, model card, and the champion's figures as DVC metrics."""
    folder = report_dir(registered_model)
    (folder / "model_card.md").write_text(card)
    (folder / "leaderboard.md").write_text(board.to_markdown(index=False) + "\n")
    (folder / "decision.json").write_text(json.dumps(decision.to_dict(), indent=2, default=str))
    champion = decision.challenger_metrics if decision.promoted else decision.champion_metrics
    metrics: dict[str, str | bool | float | None] = {"version": decision.serving_version, "promoted": decision.promoted}
    for name, estimate in champion.items():
        metrics[name] = round(estimate.value, 6)
        metrics[f"{name}_ci_low"] = round(estimate.low, 6)
        metrics[f"{name}_ci_high"] = round(estimate.high, 6)
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    (METRICS_DIR / f"{registered_model}.json").write_text(json.dumps(metrics, indent=2) + "\n")


def read_summary(registered_model: str) -> tuple[str, dict] | None:
    folder = REPORTS_DIR / registered_model
    if not (folder / "decision.json").is_file():
        return None
    return (folder / "leaderboard.md").read_text(), json.loads((folder / "decision.json").read_text())
