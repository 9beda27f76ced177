"""Where a service gets its champion: the MLflow registry (in the repo) or the Bento it was built into.

Inside a built Bento (its ``bento.yaml`` lies beside the source) the service serves the BentoML
model the Bento carries for the family; elsewhere it reads ``models:/<name>@champion``, so
promoting a new champion and restarting the service serves it.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

import medmaas  # noqa: F401  (embedded defaults)
from families import family_class, load_params
from medmaas.champions import Champion, FamilyT, NoChampion, resolve_from_registry
from medmaas.environment import PROJECT_ROOT
from medmaas.family import Family
from medmaas.prediction_log import PredictionLog
from serving import metrics


class PredictionRecorder:
    """What a service scored, appended to the champion's prediction log (off with ``serving.log_predictions:
    false``)."""

    def __init__(self, champion: Champion) -> None:
        settings = champion.family.settings.serving
        self.model, self.version = champion.registered_model, champion.version
        self.log = (
            PredictionLog(champion.registered_model, settings.prediction_log_days) if settings.log_predictions else None
        )

    def __call__(
        self,
        endpoint: str,
        features: list[dict[str, Any]],
        predictions: list[Any],
        outcomes: list[str] | None = None,
    ) -> None:
        """Counted (serving/metrics.py; by ``outcomes``, the predicted class names, where what is logged is a code)
        and, unless logging is off, logged."""
        metrics.count_predictions(self.model, self.version, predictions if outcomes is None else outcomes)
        if self.log is not None and not self.log.append(self.version, endpoint, features, predictions):
            metrics.LOG_WRITE_FAILURES.labels(self.model, self.version).inc()

    def out_of_distribution(self, count: int) -> None:
        """Items scored although their OOD score passed the threshold (the answer says so too)."""
        if count:
            metrics.OUT_OF_DISTRIBUTION.labels(self.model, self.version).inc(count)


def resolve_champion(family_name: str, kind: type[FamilyT]) -> Champion[FamilyT]:
    """The champion a service will serve, its family checked to be ``kind`` (the class the service is written for).

    In a Bento the family's settings come with its model (a user's own block, not the repository's params.yaml);
    elsewhere from the params file in ``MEDMAAS_PARAMS`` (``medmaas serve --params``).
    """
    bento_models = _models_of_enclosing_bento()
    if bento_models is not None:
        if family_name not in bento_models:
            raise NoChampion(f"this Bento carries no {family_name} model (it has: {', '.join(bento_models) or 'none'})")
        family = _family_in_bento(family_name, bento_models[family_name])
        return _from_bento(_checked(family, kind), bento_models[family_name])
    params = load_params(os.environ.get("MEDMAAS_PARAMS") or None)
    if family_name not in params.families:  # a service serving several families may find only some configured
        raise NoChampion(f"{params.path} has no {family_name!r} block, so there is no {family_name} model to serve")
    family = family_class(family_name)(params.families[family_name], params.project.seed)
    return resolve_from_registry(_checked(family, kind))


def _checked(family: Family[Any], kind: type[FamilyT]) -> FamilyT:
    if not isinstance(family, kind):
        raise NoChampion(f"the {family.name} block names {type(family).__name__}; this service serves {kind.__name__}")
    return family


def _models_of_enclosing_bento() -> dict[str, str] | None:
    """`bentoml serve <tag>` runs the Bento's src/; its bento.yaml names the models it was built with (None: not in a
    Bento)."""
    import bentoml

    bento_yaml = PROJECT_ROOT.parent / "bento.yaml"
    if not bento_yaml.is_file():
        return None
    tags = [m["tag"] for m in (yaml.safe_load(bento_yaml.read_text()) or {}).get("models") or []]
    families = {tag: bentoml.models.get(tag).info.labels.get("family") for tag in tags}
    return {family: tag for tag, family in families.items() if family}  # ours carry their family as a label


def _family_in_bento(family_name: str, tag: str) -> Family[Any]:
    """The family with the settings its model was trained under (stored with the model in the Bento)."""
    import bentoml

    meta: dict[str, Any] = bentoml.models.get(tag).info.metadata  # what medmaas bento stored (JSON)
    cls = family_class(family_name)
    return cls(cls.Settings.model_validate_json(meta["settings"]), int(meta["seed"]))


def _from_bento(family: FamilyT, tag: str) -> Champion[FamilyT]:
    import bentoml

    stored = bentoml.models.get(tag)
    meta: dict[str, Any] = stored.info.metadata
    return Champion(
        family,
        meta["info"]["registered_model"],
        meta["info"]["version"],
        stored.path_of("mlflow_model"),
        meta["info"],
        meta["serving"],
    )
