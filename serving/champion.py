"""Where a service gets its champion: the MLflow registry (in the repo) or the Bento it was built into.

Inside a built Bento (its ``bento.yaml`` lies beside the source) the service serves the BentoML
model the Bento carries for the family; elsewhere it reads ``models:/<name>@champion``, so
promoting a new champion and restarting the service serves it.
"""

from __future__ import annotations

import logging
import os

import yaml

import medmaas  # noqa: F401  (embedded defaults)
from families import family_class, load_params
from medmaas.champions import Champion, NoChampion, resolve_from_registry
from medmaas.environment import PROJECT_ROOT

BENTOML_ERROR_LOGGER = "bentoml._internal.server.http_app"  # logs each rejected request with its traceback


class RedactRejectedInputs(logging.Filter):
    """A rejected request is logged with pydantic's message, which quotes the input (a patient id, if a
    client sends one); keep where and why it failed, drop what was sent. The 400 body never had it."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False, include_url=False))
            record.msg = f"{record.msg} (rejected: {reasons})"
            record.exc_info = record.exc_text = None
        return True


def redact_rejected_inputs() -> None:
    logger = logging.getLogger(BENTOML_ERROR_LOGGER)
    if not any(isinstance(f, RedactRejectedInputs) for f in logger.filters):
        logger.addFilter(RedactRejectedInputs())


def resolve_champion(family_name: str) -> Champion:
    """The champion a service will serve; also keeps rejected inputs out of the server's log.

    In a Bento the family's settings come with its model (a user's own block, not the repository's
    params.yaml); elsewhere from the params file in ``MEDMAAS_PARAMS`` (``medmaas serve --params``).
    """
    redact_rejected_inputs()
    bento_models = _models_of_enclosing_bento()
    if bento_models is not None:
        if family_name not in bento_models:
            raise NoChampion(f"this Bento carries no {family_name} model (it has: {', '.join(bento_models) or 'none'})")
        return _from_bento(family_name, bento_models[family_name])
    params = load_params(os.environ.get("MEDMAAS_PARAMS") or None)
    if family_name not in params.families:  # a service serving several families may find only some configured
        raise NoChampion(f"{params.path} has no {family_name!r} block, so there is no {family_name} model to serve")
    return resolve_from_registry(family_class(family_name)(params.families[family_name], params.project.seed))


def _models_of_enclosing_bento() -> dict[str, str] | None:
    """`bentoml serve <tag>` runs the Bento's src/; its bento.yaml names the models it was built with (None: not in a Bento)."""
    import bentoml

    bento_yaml = PROJECT_ROOT.parent / "bento.yaml"
    if not bento_yaml.is_file():
        return None
    tags = [m["tag"] for m in (yaml.safe_load(bento_yaml.read_text()) or {}).get("models") or []]
    return {bentoml.models.get(tag).info.labels.get("family"): tag for tag in tags}


def _from_bento(family_name: str, tag: str) -> Champion:
    import bentoml

    stored = bentoml.models.get(tag)
    meta = stored.info.metadata
    cls = family_class(family_name)
    family = cls(cls.Settings.model_validate_json(meta["settings"]), int(meta["seed"]))
    return Champion(family, meta["info"]["registered_model"], meta["info"]["version"], stored.path_of("mlflow_model"), meta["info"], meta["serving"])
