"""Evaluation on held-out data, and the leaderboard that ranks the candidates by the primary metric."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from medmaas.family import Evaluation, Family, FittedCandidate
from tasks import artifact_key


@dataclass
class CandidateResult:
    fitted: FittedCandidate
    evaluation: Evaluation


@task(name="evaluate-candidate", task_run_name="evaluate-{fitted.candidate}", cache_policy=NO_CACHE)
def evaluate_candidate(family: Family, fitted: FittedCandidate, test: Any) -> CandidateResult:
    evaluation = family.evaluate(fitted.model, test)
    primary = evaluation.metrics[family.primary_metric]
    get_run_logger().info("%s held-out %s %s", fitted.candidate, family.primary_metric, primary)
    return CandidateResult(fitted, evaluation)


def rank(family: Family, results: list[CandidateResult]) -> list[CandidateResult]:
    """Best first by the primary metric; ties go to the candidate listed first in params.yaml."""
    sign = -1 if family.direction(family.primary_metric) == "max" else 1
    return sorted(results, key=lambda r: sign * r.evaluation.metrics[family.primary_metric].value)


def leaderboard(family: Family, ranked: list[CandidateResult]) -> pd.DataFrame:
    rows = []
    for result in ranked:
        row: dict[str, Any] = {"candidate": result.fitted.candidate}
        for spec in family.metrics:
            estimate = result.evaluation.metrics[spec.name]
            row[spec.name] = f"{estimate.value:.3f} ({estimate.low:.3f}-{estimate.high:.3f})"
        row["fit_s"] = round(result.fitted.fit_seconds, 1)
        rows.append(row)
    return pd.DataFrame(rows)


@task(name="publish-leaderboard", cache_policy=NO_CACHE)
def publish_leaderboard(family: Family, ranked: list[CandidateResult]) -> pd.DataFrame:
    board = leaderboard(family, ranked)
    create_table_artifact(board.to_dict(orient="records"), key=artifact_key(family.registered_model, "leaderboard"),
                          description=f"held-out metric (bootstrap 95% CI), best {family.primary_metric} first")
    return board
