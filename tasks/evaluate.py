"""Evaluation on held-out data, and the leaderboard that ranks the candidates by their training-side score.

The test set measures; it never chooses. Candidates are ranked by the primary metric measured on the training side
(``FittedCandidate.tuning_score``), and the first is the one registered. The leaderboard still shows every candidate's
held-out figures, for the record, with what "the best held-out figure" is worth once picking it is paid for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from medmaas.family import Evaluation, Family, FittedCandidate
from medmaas.stats import Estimate, paired_difference, selection_corrected
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
        super().__init__(
            "every candidate failed, so nothing was registered:\n"
            + "\n".join(f"  {f.candidate} ({f.step}): {f.reason}" for f in failures)
        )


@task(name="evaluate-candidate", task_run_name="evaluate-{fitted.candidate}", cache_policy=NO_CACHE)
def evaluate_candidate(
    family: Family, fitted: FittedCandidate | CandidateFailure, test: Any
) -> CandidateResult | CandidateFailure:
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


def rank(
    family: Family, results: list[CandidateResult | CandidateFailure]
) -> tuple[list[CandidateResult], list[CandidateFailure]]:
    """Best first by the training-side score; a candidate without one last (ties: the order in params.yaml), and the
    failures."""
    failures = [r for r in results if isinstance(r, CandidateFailure)]
    succeeded = [r for r in results if isinstance(r, CandidateResult)]
    if not succeeded:
        raise NoCandidateTrained(failures)

    def key(result: CandidateResult) -> tuple[int, float]:
        score = result.fitted.tuning_score
        return (1, 0.0) if score is None or math.isnan(score) else (0, -family.better() * score)

    return sorted(succeeded, key=key), failures


@dataclass(frozen=True)
class BestOnTest:
    """The candidate a reader would pick from the held-out column, its raw figure, and that figure corrected for the
    pick."""

    candidate: str
    raw: float
    corrected: float
    candidates: int

    def sentence(self, metric: str) -> str:
        return (
            f"Best held-out {metric} among {self.candidates} candidates: {self.candidate} {self.raw:.4f}; corrected "
            "for choosing it on "
            f"the same rows (bootstrap bias-corrected, Tsamardinos et al. 2018): {self.corrected:.4f}."
        )


def best_on_test(family: Family, ranked: list[CandidateResult]) -> BestOnTest | None:
    """None with a single candidate (nothing was chosen) or when a family gives no row-level scores."""
    scored = [r for r in ranked if r.evaluation.rows is not None]
    rows = [r.evaluation.rows for r in scored if r.evaluation.rows is not None]
    if len(scored) < 2:
        return None
    top = max(scored, key=lambda r: family.better() * r.evaluation.metrics[family.primary_metric].value)
    corrected = selection_corrected(rows, family.better(), family.settings.bootstrap_resamples, family.seed)
    return BestOnTest(top.fitted.candidate, top.evaluation.metrics[family.primary_metric].value, corrected, len(scored))


def _figures(family: Family, metrics: dict[str, Estimate]) -> dict[str, str]:
    """Each metric as "value (low-high)"; one number when its CI is a point (a size, a latency)."""
    shown = {}
    for spec in family.metrics:
        estimate = metrics[spec.name]
        shown[spec.name] = (
            f"{estimate.value:.3f}"
            if estimate.low == estimate.high
            else f"{estimate.value:.3f} ({estimate.low:.3f}-{estimate.high:.3f})"
        )
    return shown


CHOSEN_ON = "training side (chose)"
VS_CHOSEN = "held-out difference from the chosen, paired"


def _versus_chosen(family: Family, chosen: CandidateResult, other: CandidateResult) -> str:
    """The chosen model minus this one on the same held-out rows (paired bootstrap 95% CI); "tie" when the CI holds
    0."""
    if other is chosen or chosen.evaluation.rows is None or other.evaluation.rows is None:
        return ""
    try:
        d = paired_difference(
            chosen.evaluation.rows,
            other.evaluation.rows,
            family.better(),
            family.settings.bootstrap_resamples,
            family.seed,
        )
    except ValueError:
        return ""
    verdict = "tie" if d.low <= 0 <= d.high else ("chosen better" if d.low > 0 else "chosen worse")
    return f"{d.value:+.3f} ({d.low:+.3f} to {d.high:+.3f}) {verdict}"


def leaderboard(
    family: Family, ranked: list[CandidateResult], failures: Sequence[CandidateFailure] = ()
) -> pd.DataFrame:
    """Candidates in the order their training-side score ranks them (the first is registered), then their held-out
    figures, which chose nothing; a candidate's variants (scored, never registered) follow it in rows of their own."""
    rows: list[dict[str, Any]] = []
    for result in ranked:
        tuning = result.fitted.tuning_score
        chosen_on = "" if tuning is None or math.isnan(tuning) else f"{tuning:.3f}"
        rows.append(
            {
                "candidate": result.fitted.candidate,
                CHOSEN_ON: chosen_on,
                **_figures(family, result.evaluation.metrics),
                VS_CHOSEN: _versus_chosen(family, ranked[0], result),
                "fit_s": round(result.fitted.fit_seconds, 1),
            }
        )
        rows += [
            {"candidate": f"{result.fitted.candidate} ({variant})", **_figures(family, metrics)}
            for variant, metrics in result.evaluation.variants.items()
        ]
    for failure in failures:
        rows.append(
            {
                "candidate": failure.candidate,
                **{spec.name: "failed" for spec in family.metrics[:1]},
                "failed": f"{failure.step}: {failure.reason}",
            }
        )
    return pd.DataFrame(rows).astype(object).fillna("")


@task(name="publish-leaderboard", cache_policy=NO_CACHE)
def publish_leaderboard(
    family: Family, ranked: list[CandidateResult], failures: list[CandidateFailure]
) -> pd.DataFrame:
    board = leaderboard(family, ranked, failures)
    create_table_artifact(
        board.to_dict(orient="records"),
        key=artifact_key(family.registered_model, "leaderboard"),
        description=f"ranked by {family.primary_metric} on the training side; held-out figures (bootstrap 95% CI) "
        "measure, not choose",
    )
    return board
