"""Training: one Prefect task per candidate, so the task runner can run them in parallel."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from medmaas.family import Family, FittedCandidate, Split, Tables
from tasks.evaluate import CandidateFailure


@task(name="load-data", cache_policy=NO_CACHE)
def load_tables(family: Family) -> Tables:
    return family.load()


@task(name="split-data", cache_policy=NO_CACHE)
def split_tables(family: Family, tables: Tables) -> Split:
    split = family.split(tables)
    get_run_logger().info("split: %s", ", ".join(f"{k}={v}" for k, v in split.sizes.items()))
    return split


@task(name="train-candidate", task_run_name="train-{candidate}", cache_policy=NO_CACHE)
def train_candidate(family: Family, candidate: str, train: Any) -> FittedCandidate | CandidateFailure:
    try:
        fitted = family.fit(candidate, train)
    except Exception as error:  # one candidate's failure must not take the run down
        failure = CandidateFailure.of(candidate, "train", error)
        get_run_logger().warning("%s failed to train: %s", candidate, failure.reason)
        return failure
    get_run_logger().info("%s fitted in %.1fs; chosen %s", candidate, fitted.fit_seconds, fitted.hyperparameters)
    return fitted
