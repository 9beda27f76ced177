"""MLflow: a parent run per training run, a child run per candidate, the best as a new version.

``champion`` moves only here, only after every check in tasks/promotion.py passed, and only
after the comparison was written next to the version; any failure before leaves it alone.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as prefect_flow_run

from medmaas import identity
from medmaas.champions import CHALLENGER, CHAMPION, REFERENCE, version_by_alias
from medmaas.crash_safety import (
    close_interrupted_runs,
    owner_tags,
    stop_orphaned_temporary_apis,
    storage_failure,
)
from medmaas.environment import MLFLOW_DIR
from medmaas.family import Evaluation, Family, Registered, Split
from medmaas.flavors import load_model, log_model, pinned_requirements
from medmaas.provenance import Provenance
from medmaas.stats import Estimate
from tasks import artifact_key
from tasks.concurrency import record_temporary_api
from tasks.evaluate import BestOnTest, CandidateResult
from tasks.gate import DataGateFailed, GateReport
from tasks.model_card import render_model_card
from tasks.promotion import Comparison, Decision, EarlierVersions, compare
from tasks.reports import report_dir

PREFECT_FLOW_RUN = "prefect_flow_run_id"  # the parent run's tag naming its Prefect flow run
EXPERIMENT_KIND = "mlflow.experimentKind"  # what the MLflow UI reads to open an experiment in its model-training view
# The link that opens a family's runs in MLflow 3.17's "Model training" view. That UI starts in its GenAI view whatever
# the experiment's kind unless the link asks (``workflowType``), and keeps chosen columns per browser; so the runs come
# in the order the training side ranked them (``tuning_score``: the test set measures, it never orders) and each
# candidate's name carries its held-out primary metric with the CI (``candidate_run_name``).
TRAINING_VIEW = (
    "{server}/#/experiments/{experiment}/runs?workflowType=machine_learning"
    "&orderByKey=metrics.%60tuning_score%60&orderByAsc={ascending}"
)


def training_view_url(server: str, experiment: str, higher_is_better: bool = True) -> str:
    return TRAINING_VIEW.format(
        server=server.rstrip("/"), experiment=experiment, ascending=str(not higher_is_better).lower()
    )


def candidate_run_name(candidate: str, metric: str, estimate: Estimate | None) -> str:
    """What the runs table shows without a column picked: the candidate, its held-out primary metric and the CI."""
    if estimate is None:
        return candidate
    return f"{candidate} · test {metric} {estimate.value:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"


def experiment_id(name: str, kind: str = "custom_model_development") -> str:
    """The experiment by name, created when missing; its kind set (also on one made before kinds were), which the UI
    reads to offer its model-training view rather than a type chooser."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if EXPERIMENT_KIND not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, kind)
        return experiment.experiment_id
    local = mlflow.get_tracking_uri().startswith(("sqlite:", "file:"))
    location = (MLFLOW_DIR / "artifacts" / name).as_uri() if local else None
    return client.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND: kind})


def dataset_inputs(family: Family, provenance: Provenance, split: Split) -> list[DatasetInput]:
    """The data a run used, as MLflow dataset inputs (the runs table's Datasets column): the family's data, its DVC
    digest, its path, the columns a request takes, and per side of the split the rows it holds. Never a row of data."""
    source = json.dumps({"uri": ", ".join(provenance.data_files)})
    sides = {"training": split.sizes.get("train"), "testing": split.sizes.get("test")}
    schema = request_schema(family, split)
    return [
        DatasetInput(
            Dataset(
                dataset_name(family, provenance, context),
                provenance.data_md5,
                "local",
                source,
                schema=schema,
                profile=json.dumps({"num_rows": rows}) if rows is not None else None,
            ),
            tags=[InputTag("mlflow.data.context", context)],
        )
        for context, rows in sides.items()
    ]


def request_schema(family: Family, split: Split) -> str | None:
    """The columns (names and types) of the family's input example, in mlflow.data's format; None where a request is not
    a table (images, visit histories)."""
    from mlflow.models import infer_signature

    example = family.input_example(split.test)
    if not isinstance(example, pd.DataFrame):
        return None
    return json.dumps({"mlflow_colspec": infer_signature(example).inputs.to_dict()})


def dataset_name(family: Family, provenance: Provenance, context: str) -> str:
    """One dataset per side (MLflow keeps one input per name and digest in a run): the same file, told apart by its
    side."""
    return f"{family.name}: {', '.join(Path(f).name for f in provenance.data_files) or 'data'} ({context} side)"


@task(name="close-interrupted-runs", cache_policy=NO_CACHE)
def close_interrupted(family: Family) -> list[str]:
    """With the model's training lock held: the runs a killed process left RUNNING are marked FAILED with the reason,
    and the versions they registered are tagged interrupted (crash_safety); the temporary Prefect APIs killed trainings
    left behind are stopped."""
    record_temporary_api()
    if orphans := stop_orphaned_temporary_apis():
        get_run_logger().warning("stopped %d temporary Prefect API(s) left running by killed trainings", orphans)
    closed = close_interrupted_runs(family.registered_model, family.registered_model)
    if closed:
        crashed = _crash_their_flow_runs(closed)
        get_run_logger().warning(
            "%d run(s) of %s left RUNNING by a process that is gone marked FAILED (%s), and %d Prefect flow run(s) "
            "Crashed",
            len(closed),
            family.registered_model,
            ", ".join(closed),
            crashed,
        )
    return closed


def _crash_their_flow_runs(run_ids: list[str]) -> int:
    """The Prefect flow runs of these MLflow runs, still Running in the API's history, set Crashed (where a server
    runs, Prefect's own zombie detection may have done it already: then nothing changes)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    client, crashed = MlflowClient(), 0
    with get_client(sync_client=True) as prefect:
        for run_id in run_ids:
            tagged = client.get_run(run_id).data.tags.get(PREFECT_FLOW_RUN)
            if not tagged:
                continue
            flow_run_id = UUID(tagged)
            try:
                if prefect.read_flow_run(flow_run_id).state_type != StateType.RUNNING:
                    continue
                prefect.set_flow_run_state(
                    flow_run_id,
                    Crashed(message=f"interrupted: MLflow run {run_id} found RUNNING with no live process"),
                    force=True,
                )
                crashed += 1
            except Exception as error:  # noqa: BLE001 (an API that forgot the run, or another API: the MLflow record stands)
                get_run_logger().info("flow run %s not marked Crashed: %s", flow_run_id, error)
    return crashed


@contextmanager
def parent_run(family: Family, provenance: Provenance) -> Iterator[str]:
    """One MLflow run per training run; marked FAILED if anything inside raises."""
    client = MlflowClient()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    tags = {
        **provenance.tags(),
        **owner_tags(),
        "family": family.name,
        "mlflow.source.git.commit": provenance.git_commit,
    }
    if flow_run_id := prefect_flow_run.get_id():
        tags[PREFECT_FLOW_RUN] = flow_run_id  # a run killed with it: the next run marks this flow run Crashed too
    run = client.create_run(
        experiment_id(family.registered_model, family.experiment_kind), run_name=f"train-{stamp}", tags=tags
    )
    run_id = run.info.run_id
    client.log_batch(
        run_id, params=[Param("data_files", ",".join(provenance.data_files)), Param("seed", str(family.seed))]
    )
    try:
        yield run_id
    except BaseException as failure:
        try:
            client.set_terminated(run_id, "FAILED")
        except Exception as unrecorded:  # a full disk refuses this write too: the next training closes the run
            if storage_failure(unrecorded) is None:
                raise
        raise failure
    client.set_terminated(run_id, "FINISHED")


def log_files(run_id: str, files: Mapping[str, str | bytes], folder: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            path = Path(tmp) / name
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        MlflowClient().log_artifacts(run_id, tmp, artifact_path=folder)


@task(name="record-data-gate", cache_policy=NO_CACHE)
def record_gate(run_id: str, report: GateReport) -> None:
    """Log the gate's report to MLflow whatever its outcome; stop the run if it failed."""
    log_files(run_id, {"data_gate.md": report.to_markdown(), "data_gate.json": report.to_json()}, "data_gate")
    MlflowClient().set_tag(run_id, "data_gate", "passed" if report.passed else "failed")
    if not report.passed:
        raise DataGateFailed(report)


def _metric_entries(evaluation_metrics: dict[str, Estimate], prefix: str, now: int) -> list[Metric]:
    entries = []
    for name, estimate in evaluation_metrics.items():
        entries += [
            Metric(f"{prefix}{name}", estimate.value, now, 0),
            Metric(f"{prefix}{name}_ci_low", estimate.low, now, 0),
            Metric(f"{prefix}{name}_ci_high", estimate.high, now, 0),
        ]
    return entries


@task(name="track-candidates", cache_policy=NO_CACHE)
def track_candidates(
    family: Family, parent_run_id: str, ranked: list[CandidateResult], provenance: Provenance, split: Split
) -> dict[str, str]:
    """A child run per candidate: chosen hyperparameters, held-out metrics with CIs, plots, and the data it used."""
    client = MlflowClient()
    experiment = experiment_id(family.registered_model, family.experiment_kind)
    inputs = dataset_inputs(family, provenance, split)
    client.log_inputs(parent_run_id, datasets=inputs)
    run_ids = {}
    for rank, result in enumerate(ranked, start=1):
        fitted = result.fitted
        tags = {
            "mlflow.parentRunId": parent_run_id,
            "candidate": fitted.candidate,
            "rank": str(rank),
            **provenance.tags(),
        }
        run_name = candidate_run_name(
            fitted.candidate, family.primary_metric, result.evaluation.metrics.get(family.primary_metric)
        )
        run = client.create_run(experiment, run_name=run_name, tags=tags).info
        run_id, now = (
            run.run_id,
            run.start_time,
        )  # metrics at the run's start: link_model_metrics logs them again, not twice
        params = [Param(k, str(v)) for k, v in fitted.hyperparameters.items()]
        metrics = _metric_entries(result.evaluation.metrics, "test_", now) + [
            Metric("fit_seconds", fitted.fit_seconds, now, 0)
        ]
        metrics += [Metric(name, value, now, 0) for name, value in fitted.training.items()]
        metrics += [
            Metric(name, value, now, step)
            for name, values in fitted.curves.items()
            for step, value in enumerate(values)
        ]
        if fitted.tuning_score is not None:
            metrics.append(Metric("tuning_score", fitted.tuning_score, now, 0))
        client.log_batch(run_id, metrics=metrics, params=params)
        client.log_inputs(run_id, datasets=inputs)
        if result.evaluation.figures:
            log_files(run_id, result.evaluation.figures, "plots")
        client.set_terminated(run_id, "FINISHED")
        run_ids[fitted.candidate] = run_id
    return run_ids


def scored_version(family: Family, version: str, test: Any) -> tuple[Evaluation | None, str | None]:
    """An earlier version's evaluation on *this* test set (the comparison must be like for like), or why it cannot be
    had."""
    try:
        return family.evaluate(load_model(f"models:/{family.registered_model}/{version}"), test), None
    except Exception as error:  # a version on another schema cannot be compared: do not promote blindly
        return None, f"{type(error).__name__}: {error}"


IDENTITY_ARTIFACT = "identity/rows.json"
ROW_KEYS_BEFORE_SCHEMES = "1"  # what a version logged before families named their row keys made


def row_identity(family: Family, split: Split, test_rows) -> dict[str, Any]:
    """Digests (medmaas/identity.py) of the rows this version trained on and of the rows it was tested on; never the
    rows."""
    test_keys = [key for keys in (test_rows.keys if test_rows is not None else ()) for key in keys]
    return {
        "key_id": identity.key_id(),
        "keys": family.row_key_scheme,
        "train": sorted(set(identity.digests(family.training_keys(split.train)))),
        "test": sorted(set(identity.digests(test_keys))),
    }


def rows_seen_by(family: Family, run_id: str, test_rows) -> np.ndarray | None:
    """Per held-out row, whether the version logged in ``run_id`` trained on it; None when it cannot be told (no
    digests, digests made under another key, or of other row keys than the family makes now)."""
    try:
        stored = json.loads(Path(MlflowClient().download_artifacts(run_id, IDENTITY_ARTIFACT)).read_text())
    except (MlflowException, OSError):
        return None
    if (
        stored.get("key_id") != identity.key_id()
        or stored.get("keys", ROW_KEYS_BEFORE_SCHEMES) != family.row_key_scheme
        or not stored.get("train")
    ):
        return None
    trained = set(stored["train"])
    digested = iter(identity.digests([key for keys in test_rows.keys for key in keys]))  # one pass, one read of the key
    return np.array([any([next(digested) in trained for _ in keys]) for keys in test_rows.keys], dtype=bool)


def earlier_versions(family: Family, challenger_version: str) -> tuple[list[tuple[str, Any]], list[Comparison]]:
    """(role, version) pairs the challenger must not lose to: the champion, and the reference when it is another
    version; and a refused comparison when ``acceptance.reference_version`` names no registered version (a bad config
    blocks, named)."""
    name = family.registered_model
    champion = version_by_alias(name, CHAMPION)
    pinned = family.settings.acceptance.reference_version
    refused: list[Comparison] = []
    if pinned:
        try:
            reference = MlflowClient().get_model_version(name, str(pinned))
        except MlflowException:
            reference = None
            refused.append(
                Comparison(
                    "reference",
                    str(pinned),
                    None,
                    0,
                    0,
                    0,
                    "row",
                    refused=f"acceptance.reference_version {pinned} is not a registered version of {name!r}",
                )
            )
    else:
        reference = version_by_alias(name, REFERENCE)
    found = [("champion", champion)] if champion is not None else []
    if (
        reference is not None
        and reference.version != challenger_version
        and (champion is None or reference.version != champion.version)
    ):
        found.append(("reference", reference))
    return found, refused


@task(name="score-champion", cache_policy=NO_CACHE)
def score_champion(family: Family, challenger_version: str, best: CandidateResult, split: Split) -> EarlierVersions:
    """Score the champion (and the reference) on this test set and pair each with the challenger on the rows it never
    saw; a version that cannot be scored or paired is a refused comparison naming its role and why."""
    found, comparisons = earlier_versions(family, challenger_version)
    champion_version, champion_metrics = None, None
    for role, version in found:
        evaluation, error = scored_version(family, version.version, split.test)
        if role == "champion":
            champion_version, champion_metrics = version.version, (evaluation.metrics if evaluation else None)
        mine, theirs = best.evaluation.rows, (evaluation.rows if evaluation else None)
        if error or mine is None or theirs is None:
            reason = (
                f"it could not be scored on this test set: {error}"
                if error
                else f"{family.name} gives no row-level held-out scores, so it cannot be compared in pairs"
            )
            comparisons.append(
                Comparison(
                    role, version.version, None, 0, len(mine) if mine is not None else 0, 0, "row", refused=reason
                )
            )
            continue
        comparisons.append(
            compare(family, role, version.version, mine, theirs, rows_seen_by(family, version.run_id, mine))
        )
    return EarlierVersions(champion_version, champion_metrics, comparisons)


# The logged model's step: at 0, log_model would copy the run's metrics onto the model without their dataset, and the
# same metrics could not then be linked with it (link_model_metrics).
MODEL_STEP = 1


def link_model_metrics(
    family: Family, run_id: str, model_id: str, best: CandidateResult, provenance: Provenance
) -> None:
    """The logged model's metrics, each linked to the side of the split it was measured on (MLflow 3's model page)."""
    client = MlflowClient()
    now = client.get_run(run_id).info.start_time  # as track_candidates logged them: the run keeps one value per metric
    testing, training = (dataset_name(family, provenance, side) for side in ("testing", "training"))
    metrics = [
        Metric(m.key, m.value, now, 0, model_id=model_id, dataset_name=testing, dataset_digest=provenance.data_md5)
        for m in _metric_entries(best.evaluation.metrics, "test_", now)
    ]
    metrics += [
        Metric(name, value, now, 0, model_id=model_id, dataset_name=training, dataset_digest=provenance.data_md5)
        for name, value in best.fitted.training.items()
    ]
    client.log_batch(run_id, metrics=metrics)


def log_companions(run_id: str, registered_model: str, registered: Registered) -> None:
    """What the version carries beside its predictions, on the run (metrics, curves by step, tables) and in reports/."""
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    metrics = [Metric(name, value, now, 0) for name, value in registered.metrics.items()]
    metrics += [
        Metric(name, value, now, step)
        for name, values in registered.curves.items()
        for step, value in enumerate(values)
    ]
    if metrics:
        MlflowClient().log_batch(run_id, metrics=metrics)
    if registered.tables:
        log_files(
            run_id,
            {f"{name}.csv": table.to_csv(index=False) for name, table in registered.tables.items()},
            "companions",
        )
    for name, table in registered.tables.items():
        (report_dir(registered_model) / f"{name}.md").write_text(table.to_markdown(index=False) + "\n")


@task(name="register-challenger", cache_policy=NO_CACHE)
def register_challenger(
    family: Family, run_id: str, best: CandidateResult, split: Split, provenance: Provenance
) -> str:
    """Log the chosen candidate's model with what its service and monitor need, register it, and make it the
    challenger."""
    registered = family.registered_form(best.fitted.model, split)
    with mlflow.start_run(run_id=run_id):
        info = log_model(
            family.flavor_of(registered.model),
            registered.model,
            name="model",
            step=MODEL_STEP,
            input_example=family.input_example(split.test),
            pip_requirements=pinned_requirements(family.runtime_packages),
        )
    link_model_metrics(family, run_id, info.model_id, best, provenance)
    log_companions(run_id, family.registered_model, registered)
    log_files(run_id, {"serving.json": json.dumps(family.serving_artifacts(registered.model, split.train))}, "serving")
    log_files(
        run_id,
        {Path(IDENTITY_ARTIFACT).name: json.dumps(row_identity(family, split, best.evaluation.rows))},
        str(Path(IDENTITY_ARTIFACT).parent),
    )
    if (reference := family.drift_reference(registered.model, split)) is not None:
        log_files(run_id, {"reference.json": json.dumps(reference)}, "monitoring")
    name = family.registered_model
    version = mlflow.register_model(
        info.model_uri, name, tags={**provenance.tags(), "candidate": best.fitted.candidate}
    )
    MlflowClient().set_registered_model_alias(name, CHALLENGER, version.version)
    get_run_logger().info(
        "registered %s version %s (%s) as %s", name, version.version, best.fitted.candidate, CHALLENGER
    )
    return version.version  # as MLflow gives it (the Decision has always carried it so)


@task(name="write-model-card", cache_policy=NO_CACHE)
def write_card(
    family: Family,
    run_id: str,
    decision: Decision,
    best: CandidateResult,
    split: Split,
    provenance: Provenance,
    data_summary: dict[str, Any],
    board: pd.DataFrame | None = None,
    on_test: BestOnTest | None = None,
) -> str:
    """The model card and the decision, on the run, on the registered version and in Prefect; returns the card."""
    client = MlflowClient()
    card = render_model_card(
        family,
        decision,
        best,
        split,
        provenance,
        data_summary,
        family.subgroup_table(best.fitted.model, split.test),
        board,
        on_test,
    )
    log_files(
        run_id,
        {"decision.json": json.dumps(decision.to_dict(), indent=2, default=str), "model_card.md": card},
        "promotion",
    )
    client.set_model_version_tag(
        decision.registered_model,
        decision.challenger_version,
        "promotion",
        "promoted" if decision.promoted else "rejected",
    )
    client.update_model_version(decision.registered_model, decision.challenger_version, description=decision.summary())
    create_markdown_artifact(
        card, key=artifact_key(decision.registered_model, "model-card"), description=decision.summary()
    )
    return card


@task(name="promote", cache_policy=NO_CACHE)
def promote(family: Family, decision: Decision) -> None:
    """Move ``champion`` to the challenger when the decision says so (and set ``reference`` the first time); else
    nothing."""
    client, name = MlflowClient(), decision.registered_model
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, decision.challenger_version)
        if version_by_alias(name, REFERENCE) is None and not family.settings.acceptance.reference_version:
            client.set_registered_model_alias(name, REFERENCE, decision.challenger_version)
    get_run_logger().info(decision.summary())
