"""Package a newly promoted champion as a Bento: the model travels inside it, no registry needed."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import yaml
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from families.base import Family
from medmaas.environment import PROJECT_ROOT
from medmaas.flavors import pinned_requirements
from serving.champion import BENTO_MODEL_ENV, Champion, resolve_from_registry

SERVING_PACKAGES = ("shap", "pyyaml", "pydantic")


def service_path(family_name: str) -> str:
    """Convention: serving/<family>.py defines <Family>Service."""
    return f"serving.{family_name}:{''.join(part.title() for part in family_name.split('_'))}Service"


def build_bento(family: Family, champion: Champion) -> str:
    """Import the champion into BentoML's model store and build a Bento around it; returns the Bento tag."""
    import bentoml

    stored = bentoml.mlflow.import_model(
        champion.registered_model, model_uri=champion.model_uri,
        labels={"version": champion.version, "family": family.name},
        metadata={"info": champion.info, "serving": champion.serving},
    )
    spec = {
        "service": service_path(family.name),
        "name": champion.registered_model,
        "labels": {"version": champion.version, "family": family.name},
        "description": f"{champion.registered_model} v{champion.version} ({champion.info.get('candidate')}), built by medmaas",
        # anchored: unanchored patterns match at any depth, and BentoML's temp dir is under .medmaas/
        "include": ["/serving/*.py", "/families/*.py", "/medmaas/*.py", "/params.yaml"],
        "exclude": ["/.medmaas", "/.venv", "/.git", "/data", "/reports", "/metrics", "__pycache__"],
        # lock_packages false: locking asks the public index and pulls CUDA torch (STACK.md)
        "python": {"packages": pinned_requirements((*family.runtime_packages, *SERVING_PACKAGES)), "lock_packages": False},
        "models": [str(stored.tag)],
        "envs": [{"name": BENTO_MODEL_ENV, "value": str(stored.tag)}],
    }
    with tempfile.TemporaryDirectory() as tmp:
        bentofile = Path(tmp) / "bentofile.yaml"
        bentofile.write_text(yaml.safe_dump(spec, sort_keys=False))
        bento = bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(PROJECT_ROOT))
    return str(bento.tag)


@task(name="package-champion", cache_policy=NO_CACHE)
def package_champion(family: Family, promoted: bool) -> str | None:
    """A Bento for a newly promoted champion; nothing when the champion did not change.

    The champion is already valid here, so a failed build is reported (warning and a version tag)
    rather than failing the run: `medmaas package` retries it.
    """
    if not promoted:
        return None
    if importlib.util.find_spec(f"serving.{family.name}") is None:
        get_run_logger().info("no serving/%s.py yet: no Bento to build", family.name)
        return None
    from mlflow.tracking import MlflowClient

    logger = get_run_logger()
    champion = resolve_from_registry(family)
    try:
        tag = build_bento(family, champion)
    except Exception as error:
        logger.warning("Bento build failed for %s v%s: %s", champion.registered_model, champion.version, error)
        MlflowClient().set_model_version_tag(champion.registered_model, champion.version, "bento", "failed")
        return None
    MlflowClient().set_model_version_tag(champion.registered_model, champion.version, "bento", tag)
    logger.info("built Bento %s (serve it with `bentoml serve %s`)", tag, tag)
    return tag
