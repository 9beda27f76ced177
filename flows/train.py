"""Train one family: data -> gate -> split -> candidates (in parallel) -> leaderboard -> challenger -> decision ->
Bento -> promotion (last: the alias moves only to a version with its Bento).

python -m flows.train diagnosis [--params params.yaml]
"""

from __future__ import annotations

import medmaas  # noqa: F401, I001  (embedded defaults before Prefect and MLflow load)

# isort: split
import argparse
import sys
from pathlib import Path

from prefect import flow, get_run_logger

from families import family_class, load_params
from flows import quiet_tracebacks_of
from flows.runners import task_runner
from medmaas.crash_safety import (
    Coalesced,
    TrainingInProgress,
    check_state_writable,
    reached,
    storage_failure,
)
from medmaas.family import Family
from medmaas.provenance import describe
from medmaas.settings import ConfigError, Params
from tasks.concurrency import training_slot
from tasks.evaluate import NoCandidateTrained, best_on_test, evaluate_candidate, publish_leaderboard, rank
from tasks.gate import DataGateFailed
from tasks.package import package
from tasks.promotion import Decision, decide
from tasks.registry import (
    close_interrupted,
    parent_run,
    promote,
    record_gate,
    register_challenger,
    score_champion,
    track_candidates,
    write_card,
)
from tasks.reports import write_run_reports
from tasks.train import load_tables, split_tables, train_candidate
from tasks.validate import validate_data


@flow(name="train-family", flow_run_name="train-{family_name}")
def train_family(family_name: str, params_path: str | None = None, started_by: str = "manual") -> Decision | Coalesced:
    """``started_by``: "manual", or the schedule or trigger that started the run (it goes on the record and the model
    card). One training per model at a time: a request while another runs is coalesced into it (a drift event during
    the weekly retraining starts nothing)."""
    params = load_params(params_path)
    family = family_class(family_name)(params.families[family_name], params.project.seed)
    try:
        with training_slot(family.registered_model):
            return _train(family, params, started_by)
    except TrainingInProgress as held:
        coalesced = Coalesced(family.registered_model, str(held))
        get_run_logger().info(coalesced.summary())
        return coalesced


def _train(family: Family, params: Params, started_by: str) -> Decision:
    close_interrupted(family)  # runs a killed process left RUNNING: FAILED, with the reason
    provenance = describe(family.data_files(), params.fingerprint(family.name), started_by)
    with parent_run(family, provenance) as run_id:
        reached("load")
        tables = load_tables(family)
        reached("gate")
        record_gate(run_id, validate_data(family, tables))
        split = split_tables(family, tables)
        reached("train")
        fitted = [train_candidate.submit(family, name, split.train) for name in family.candidate_names()]
        # Prefect resolves a future given as an argument; its overloads of submit type plain values only
        evaluated = [evaluate_candidate.submit(family, model, split.test) for model in fitted]  # type: ignore[call-overload]
        results = [future.result() for future in evaluated]
        reached("evaluate")
        ranked, failed = rank(family, results)  # by the training-side score: the test set never chooses
        board = publish_leaderboard(family, ranked, failed)
        run_ids = track_candidates(family, run_id, ranked, provenance, split)
        chosen, chosen_run = ranked[0], run_ids[ranked[0].fitted.candidate]
        reached("register")
        challenger = register_challenger(family, chosen_run, chosen, split, provenance)
        earlier = score_champion(
            family, challenger, chosen, split
        )  # and the reference, each paired on rows it never saw
        decision = decide(family, challenger, chosen.fitted.candidate, chosen.evaluation.metrics, earlier)
        reached("package")
        decision = package(family, decision, params)  # before the alias moves: champion always has its Bento
        card = write_card(
            family,
            chosen_run,
            decision,
            chosen,
            split,
            provenance,
            family.data_summary(tables),
            board,
            best_on_test(family, ranked),
        )
        reached("promote")
        promote(family, decision)
        write_run_reports(family.registered_model, board, decision, card)
    return decision


EXPECTED_FAILURES = (ConfigError, FileNotFoundError, DataGateFailed, NoCandidateTrained)
quiet_tracebacks_of(*EXPECTED_FAILURES)


def run_family(family_name: str, params_path: str | Path | None = None) -> Decision | Coalesced:
    """Train one family with the task runner params.yaml asks for."""
    params = load_params(params_path)
    if family_name not in params.families:
        raise ConfigError(f"{params.path}: no block for family {family_name!r}; blocks: {', '.join(params.families)}")
    runner = task_runner(params.project.task_runner)
    return train_family.with_options(task_runner=runner)(family_name, str(params.path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train one family (the DVC stage's command).")
    parser.add_argument("family")
    parser.add_argument("--params", default=None)
    args = parser.parse_args(argv)
    try:
        check_state_writable()
        decision = run_family(args.family, args.params)
    except (*EXPECTED_FAILURES, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a full disk, a read-only state folder; anything else goes on up
        if (line := storage_failure(error)) is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    print(decision.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
