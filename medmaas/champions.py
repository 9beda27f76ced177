"""The registry as the pipeline and the services both see it: the aliases, and a champion resolved from MLflow.

One module, so that ``champion`` is spelled once and the pipeline never imports a service.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from medmaas.environment import BUILDING_FOR_CHALLENGER
from medmaas.family import Family
from medmaas.flavors import load_model

CHAMPION, CHALLENGER = "champion", "challenger"
# the first version promoted (or `acceptance.reference_version`): every challenger must not lose to it either
REFERENCE = "reference"


class NoChampion(RuntimeError):
    pass


FamilyT = TypeVar("FamilyT", bound=Family[Any])


@dataclass
class Champion(Generic[FamilyT]):
    """A champion as a service sees it: resolved once at import, loaded in the worker; typed by its family's class, so
    a service reaches that family's own methods (the patient model, the visit encoding) checked."""

    family: FamilyT
    registered_model: str
    version: str
    model_uri: str
    info: dict[str, Any] = field(default_factory=dict)  # candidate, provenance, metrics, card link
    serving: dict[str, Any] = field(default_factory=dict)  # family's serving artifacts

    def load(self) -> Any:
        return load_model(self.model_uri)


def version_by_alias(name: str, alias: str) -> Any:
    """The registered version an alias points at, or None when the model or the alias is not there."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def served_alias(registered_model: str) -> str:
    """``champion``, except while the pipeline builds the Bento of a challenger it is about to promote: the alias
    moves only once that Bento is built, so the build reads the challenger."""
    return CHALLENGER if os.environ.get(BUILDING_FOR_CHALLENGER) == registered_model else CHAMPION


def resolve_from_registry(family: FamilyT) -> Champion[FamilyT]:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    name = family.registered_model
    alias = served_alias(name)
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        raise NoChampion(
            f"no {alias} for {name!r} in {mlflow.get_tracking_uri()}: train one with `medmaas train {family.name}` "
            f"(or `make pipeline`), or point MLFLOW_TRACKING_URI at the registry that has it"
        ) from error
    run_id = str(version.run_id)  # a registered version always names the run that logged it
    run = client.get_run(run_id)
    serving = json.loads(Path(client.download_artifacts(run_id, "serving/serving.json")).read_text())
    info = {
        "registered_model": name,
        "version": str(version.version),
        "candidate": version.tags.get("candidate"),
        "data_md5": version.tags.get("data_md5"),
        "git_commit": version.tags.get("git_commit"),
        "params_hash": version.tags.get("params_hash"),
        "metrics": {k[5:]: v for k, v in run.data.metrics.items() if k.startswith("test_")},
        "model_card": f"runs:/{run_id}/promotion/model_card.md",
    }
    return Champion(family, name, str(version.version), f"models:/{name}/{version.version}", info, serving)
