"""How each family flavor is saved to and loaded from MLflow (no Prefect: the services use this too)."""

from __future__ import annotations

import importlib.metadata
from typing import Any, cast

import mlflow
from mlflow.models.model import ModelInfo


def log_model(flavor: str, model: Any, **kwargs: Any) -> ModelInfo:
    if flavor == "sklearn":  # cloudpickle: skops costs ~8 s per import; the store is written only by this pipeline
        info = mlflow.sklearn.log_model(sk_model=model, serialization_format="cloudpickle", **kwargs)
    elif (
        flavor == "pytorch"
    ):  # pickle: the module keeps its own predict_next and encoding; pt2 keeps a traced forward only
        info = mlflow.pytorch.log_model(pytorch_model=model, serialization_format="pickle", **kwargs)
    else:
        info = mlflow.pyfunc.log_model(python_model=model, **kwargs)
    return cast(ModelInfo, info)  # the flavours' log_model are untyped


def stored_flavor(uri: str) -> str:
    """The flavor a model was logged with, from its MLmodel file (a family's candidates may differ)."""
    flavors = mlflow.models.Model.load(
        uri
    ).flavors  # not get_model_info: it asks the tracking server, absent inside a Bento
    return next((f for f in ("pytorch", "sklearn") if f in flavors), "pyfunc")


def load_model(uri: str) -> Any:
    """The family's own model object (not the pyfunc wrapper), as the family's code expects."""
    flavor = stored_flavor(uri)
    if flavor == "sklearn":
        return mlflow.sklearn.load_model(uri)
    if flavor == "pytorch":
        return mlflow.pytorch.load_model(uri, map_location="cpu")
    return mlflow.pyfunc.load_model(uri).unwrap_python_model()


def pinned_requirements(packages: tuple[str, ...]) -> list[str]:
    """Exact versions of what the model needs at load time, from this environment (itself pinned)."""
    return [f"{p}=={importlib.metadata.version(p)}" for p in ("mlflow", "cloudpickle", *packages)]
