"""Evaluation on held-out data, and the leaderboard that ranks the candidates by the primary metric."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from medmaas.family import Evaluation, Family, FittedCandidate
from medmaas.stats import Estimate
from tasks import artifact_key


@dataclass
class CandidateResult:
    fitted: FittedCandidate
    evaluation: Evaluation


@dataclass(frozen=True)
class CandidateFailure:
    """A candidate that could not be trained or evaluated: on the leaderboard with its reason; the others go on."""

    candidate: str
    step: str
    reason: str

    @classmethod
    def of(cls, candidate: str, step: str, error: Exception) -> CandidateFailure:
        first_line = (str(error).strip().splitlines() or [""])[0][:240]
        return cls(candidate, step, f"{type(error).__name__}: {first_line}")


class NoCandidateTrained(RuntimeError):
    """Every candidate failed: nothing to register, the champion is unchanged."""

    def __init__(self, failures: list[CandidateFailure]):
        self.failures = failures
        super().__init__("every candidate failed, so nothing was registered:\n" + "\n".join(f"  {f.candidate} ({f.step}): {f.reason}" for f in failures))


@task(name="evaluate-candidate", task_run_name="evaluate-{fitted.candidate}", cache_policy=NO_CACHE)
def evaluate_candidate(family: Family, fitted: FittedCandidate | CandidateFailure, test: Any) -> CandidateResult | CandidateFailure:
    if isinstance(fitted, CandidateFailure):
        return fitted
    try:
        evaluation = family.evaluate(fitted.model, test)
    except Exception as error:  # one candidate's failure must not take the run down
        failure = CandidateFailure.of(fitted.candidate, "evaluate", error)
        get_run_logger().warning("%s failed to evaluate: %s", failure.candidate, failure.reason)
        return failure
    primary = evaluation.metrics[family.primary_metric]
    get_run_logger().info("%s held-out %s %s", fitted.candidate, family.primary_metric, primary)
    return CandidateResult(fitted, evaluation)


def rank(family: Family, results: list[CandidateResult | CandidateFailure]) -> tuple[list[CandidateResult], list[CandidateFailure]]:
    """Best first by the primary metric (ties go to the candidate listed first in params.yaml), and the failures."""
    failures = [r for r in results if isinstance(r, CandidateFailure)]
    succeeded = [r for r in results if isinstance(r, CandidateResult)]
    if not succeeded:
        raise NoCandidateTrained(failures)
    sign = -1 if family.direction(family.primary_metric) == "max" else 1
    return sorted(succeeded, key=lambda r: sign * r.evaluation.metrics[family.primary_metric].value), failures


def _figures(family: Family, metrics: dict[str, Estimate]) -> dict[str, str]:
    """Each metric as "value (low-high)"; one number when its CI is a point (a size, a latency)."""
    shown = {}
    for spec in family.metrics:
        estimate = metrics[spec.name]
        shown[spec.name] = f"{estimate.value:.3f}" if estimate.low == estimate.high else f"{estimate.value:.3f} ({estimate.low:.3f}-{estimate.high:.3f})"
    return shown


def leaderboard(family: Family, ranked: list[CandidateResult], failures: list[CandidateFailure] = ()) -> pd.DataFrame:
    """Ranked candidates; a candidate's variants (scored, never registered) follow it in rows of their own."""
    rows: list[dict[str, Any]] = []
    for result in ranked:
        rows.append({"candidate": result.fitted.candidate, **_figures(family, result.evaluation.metrics), "fit_s": round(result.fitted.fit_seconds, 1)})
        rows += [{"candidate": f"{result.fitted.candidate} ({variant})", **_figures(family, metrics)} for variant, metrics in result.evaluation.variants.items()]
    for failure in failures:
        rows.append({"candidate": failure.candidate, **{spec.name: "failed" for spec in family.metrics[:1]}, "failed": f"{failure.step}: {failure.reason}"})
    return pd.DataFrame(rows).astype(object).fillna("")


@task(name="publish-leaderboard", cache_policy=NO_CACHE)
def publish_leaderboard(family: Family, ranked: list[CandidateResult], failures: list[CandidateFailure]) -> pd.DataFrame:
    board = leaderboard(family, ranked, failures)
    create_table_artifact(board.to_dict(orient="records"), key=artifact_key(family.registered_model, "leaderboard"),
                          description=f"held-out metric (bootstrap 95% CI), best {family.primary_metric} first")
    return board
