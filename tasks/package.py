"""Package a challenger about to be promoted as a Bento: the models travel inside it, no registry needed.

The Bento is built before ``champion`` moves, so the alias never points at a version a service cannot be built from
(a run killed while packaging leaves the champion where it was).

A service may serve several families (serving/progression.py serves the tabular and the visit-history
models); its Bento carries the champion of each of them that has one.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from families import family_class
from medmaas.champions import CHAMPION, Champion, NoChampion, resolve_from_registry, version_by_alias
from medmaas.crash_safety import storage_failure
from medmaas.environment import BUILDING_BENTO, BUILDING_FOR_CHALLENGER, PROJECT_ROOT
from medmaas.family import Family
from medmaas.flavors import pinned_requirements
from medmaas.settings import Params
from tasks.promotion import Check, Decision

SERVING_PACKAGES = (  # what every service imports, in its Bento too (a CDS block, traces, metrics)
    "shap",
    "pyyaml",
    "pydantic",
    "prometheus-client",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "fhir.resources",
    "pyjwt",
    "cryptography",
    "ucumvert",
)


def service_path(family_name: str) -> str:
    """Convention: serving/<module>.py defines <Module>Service (the module is the family's, unless it shares one)."""
    module = family_class(family_name).service()
    return f"serving.{module}:{''.join(part.title() for part in module.split('_'))}Service"


def served_champions(family: Family, params: Params) -> list[Champion]:
    """The champions the family's service needs: its own first, then those of families sharing the service."""
    siblings = [
        name for name in params.families if name != family.name and family_class(name).service() == family.service()
    ]
    champions = [resolve_from_registry(family)]
    for name in siblings:
        try:
            champions.append(resolve_from_registry(family_class(name)(params.families[name], params.project.seed)))
        except NoChampion:
            continue
    return champions


def has_service(family: Family) -> bool:
    """Whether serving/<module>.py exists (looked up, not imported: the pipeline sits below the services)."""
    return importlib.util.find_spec(f"serving.{family.service()}") is not None


@contextmanager
def _building(changes: dict[str, str]) -> Iterator[None]:
    """These environment variables while the block runs (the build imports the service, which reads them)."""
    previous = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _service_environment(params_path: Path | None) -> dict[str, str]:
    """The build imports the service: with the block's params, and marked as a build (it serves nothing, so needs no API
    key)."""
    return {BUILDING_BENTO: "1", **({"MEDMAAS_PARAMS": str(params_path)} if params_path is not None else {})}


def build_bento(family: Family, champions: list[Champion], params_path: Path | None = None) -> str:
    """Import the champions into BentoML's model store and build a Bento around them; returns the Bento tag."""
    import bentoml

    stored = [
        bentoml.mlflow.import_model(
            c.registered_model,
            model_uri=c.model_uri,
            labels={"version": c.version, "family": c.family.name},
            # the family's block travels with its model: a Bento serves a user's model with no params file of theirs
            metadata={
                "info": c.info,
                "serving": c.serving,
                "settings": c.family.settings.model_dump_json(by_alias=True),
                "seed": c.family.seed,
            },
        )
        for c in champions
    ]
    packages = sorted({p for c in champions for p in c.family.runtime_packages})
    spec = {
        "service": service_path(family.name),
        "name": champions[
            0
        ].registered_model.lower(),  # a Bento per registered model: a user's model is not the bundled one
        "labels": {c.family.name: c.version for c in champions},
        "description": ", ".join(f"{c.registered_model} v{c.version} ({c.info.get('candidate')})" for c in champions)
        + ", built by medmaas",
        # anchored: unanchored patterns match at any depth, and BentoML's temp dir is under .medmaas/
        "include": ["/serving/*.py", "/families/**/*.py", "/blocks/*.py", "/medmaas/*.py", "/params.yaml"],
        "exclude": ["/.medmaas", "/.venv", "/.git", "/data", "/reports", "/metrics", "__pycache__"],
        # lock_packages false: locking asks the public index and pulls CUDA torch (STACK.md)
        "python": {"packages": pinned_requirements((*packages, *SERVING_PACKAGES)), "lock_packages": False},
        "models": [str(s.tag) for s in stored],
    }
    with tempfile.TemporaryDirectory() as tmp:
        bentofile = Path(tmp) / "bentofile.yaml"
        bentofile.write_text(yaml.safe_dump(spec, sort_keys=False))
        with _building(_service_environment(params_path)):  # the build imports the service
            bento = bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(PROJECT_ROOT), reload=True)
    return str(bento.tag)


def _has_bento_or_none_due(registered_model: str) -> bool:
    """True unless the champion has no "bento" tag at all: promoted by hand, or by a release that packaged after
    promoting and was killed in between (a build that failed says so in the tag, and `medmaas package` retries it)."""
    version = version_by_alias(registered_model, CHAMPION)
    return version is None or "bento" in version.tags  # no champion yet, or one with its Bento


@task(name="package", cache_policy=NO_CACHE)
def package(family: Family, decision: Decision, params: Params) -> Decision:
    """The Bento of a challenger the decision promotes, built before the alias moves: a build that fails keeps the
    champion where it is (one more failed check). Else a Bento for a champion that has none yet; else nothing."""
    logger = get_run_logger()
    if not has_service(family):
        logger.info("no serving/%s.py yet: no Bento to build", family.service())
        return decision
    if decision.promoted:
        with _building({BUILDING_FOR_CHALLENGER: family.registered_model}):
            built = _build_and_tag(family, params)
        if built is None:
            check = Check("bento", False, "the challenger's Bento could not be built (see the run's log)")
            return dataclasses.replace(decision, promoted=False, checks=[*decision.checks, check])
    elif not _has_bento_or_none_due(family.registered_model):
        _build_and_tag(family, params)  # the champion is valid already: a failure is reported, nothing more
    return decision


def _build_and_tag(family: Family, params: Params) -> str | None:
    """Build the Bento of the version the build reads (the challenger, or the champion) and record its tag on that
    version ("failed" when it fails: `medmaas package` retries it)."""
    from mlflow.tracking import MlflowClient

    logger = get_run_logger()
    champions = served_champions(family, params)
    champion = champions[0]
    try:
        tag = build_bento(family, champions, params.path)
    except Exception as error:
        if storage_failure(error):  # a full or read-only disk: nothing more can be written, the run stops here
            raise
        logger.warning("Bento build failed for %s v%s: %s", champion.registered_model, champion.version, error)
        MlflowClient().set_model_version_tag(champion.registered_model, champion.version, "bento", "failed")
        return None
    MlflowClient().set_model_version_tag(champion.registered_model, champion.version, "bento", tag)
    logger.info(
        "built Bento %s with %s (serve it with `bentoml serve %s`)",
        tag,
        ", ".join(c.registered_model for c in champions),
        tag,
    )
    return tag
