"""A service's Prometheus metrics, labelled only by what the service itself knows: the route template, the status
class, the model and version, a class the model can predict. Never a raw path, a header or a value a client sent: a
made-up path (a patient's name) must not become a series anyone with a scraper key can read.

BentoML runs each worker as a process and sets ``PROMETHEUS_MULTIPROC_DIR`` for them; ``prometheus_client`` then keeps
each worker's values in that folder, and ``/metrics`` (answered by the guard, behind a key) sums them over the
workers. BentoML's own metrics stay off: they label series with the raw path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
PREFIX = "medmaas_"
# up to the guard's 30 s request timeout: a slow explanation is seen, not folded into +Inf
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("medmaas_requests", "Requests the guard answered", ["service", "route", "method", "status_class"])
LATENCY = Histogram(
    "medmaas_request_duration_seconds",
    "Time from the request's arrival to the end of its answer",
    ["service", "route"],
    buckets=LATENCY_BUCKETS,
)
PREDICTIONS = Counter(
    "medmaas_predictions",
    "Items scored, by predicted class, or a CDS card's risk band ('band warning'), else 'scored'",
    ["model", "version", "outcome"],
)
OUT_OF_DISTRIBUTION = Counter(
    "medmaas_out_of_distribution",
    "Items scored though unlike the training data (OOD score over threshold)",
    ["model", "version"],
)
LOG_WRITE_FAILURES = Counter(
    "medmaas_prediction_log_write_failures",
    "Prediction log writes that failed (the requests were answered)",
    ["model", "version"],
)
MODEL_INFO = Gauge(
    "medmaas_model_info",
    "The model and version a service answers with (1 while a worker serves it)",
    ["service", "model", "version"],
    multiprocess_mode="livemax",
)


OWN_FOLDER_PREFIX = "medmaas-metrics-"


def _folder_of_this_server() -> None:
    """In a BentoML worker: this server's own folder for the workers' values. BentoML's folder is one per BentoML home
    and emptied whenever a server starts, so another `bentoml serve` would reset this one's counters. Values made
    after this (prometheus_client reads the variable when a process makes its first value of a kind) go here."""
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not shared or Path(shared).name.startswith(OWN_FOLDER_PREFIX):
        return
    import shutil

    import psutil

    for folder in Path(shared).parent.glob(f"{OWN_FOLDER_PREFIX}*"):  # those of servers that have stopped
        server = folder.name.removeprefix(OWN_FOLDER_PREFIX)
        if server.isdigit() and not psutil.pid_exists(int(server)):
            shutil.rmtree(folder, ignore_errors=True)
    own = Path(shared).parent / f"{OWN_FOLDER_PREFIX}{os.getppid()}"  # the workers of one server share a parent
    own.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(own)


_folder_of_this_server()


def status_class(code: int) -> str:
    return f"{code // 100}xx"


def serving(service: str, models: Iterable[tuple[str, str]]) -> None:
    """At a service's start: the champion it serves, as an info series."""
    for model, version in set(models):
        MODEL_INFO.labels(service, model, version).set(1)


def count_predictions(model: str, version: str, predictions: Sequence[Any]) -> None:
    """One per scored item, under its predicted class where it has one (a closed set: the model's classes)."""
    outcomes: dict[str, int] = {}
    for prediction in predictions:
        outcome = prediction.get("predicted") if isinstance(prediction, dict) else prediction
        key = outcome if isinstance(outcome, str) else "scored"
        outcomes[key] = outcomes.get(key, 0) + 1
    for outcome, count in outcomes.items():
        PREDICTIONS.labels(model, version, outcome).inc(count)


def exposition(service: str, models: Iterable[tuple[str, str]]) -> bytes:
    """The text a scraper reads: this service's series only, summed over its workers."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    collected = MultiProcessCollector(None, path=folder).collect() if folder else REGISTRY.collect()
    own_models = {model for model, _ in models}
    families = []
    for family in collected:
        if not family.name.startswith(PREFIX):
            continue  # BentoML's, if a worker wrote any: labelled by raw paths
        family.samples = sorted(
            (s for s in family.samples if _of_this_service(s.labels, service, own_models)), key=_exposition_order
        )
        families.append(family)
    return generate_latest(_Collected(families))


def _of_this_service(labels: dict[str, str], service: str, models: set[str]) -> bool:
    """The folder may hold other services' series (one BentoML home, several services): keep this one's."""
    return labels.get("service", service) == service and ("model" not in labels or labels["model"] in models)


def _exposition_order(sample: Any) -> tuple:
    """Per label set, a histogram's buckets before its count and sum (the multiprocess collector mixes them)."""
    kind = 0 if sample.name.endswith("_bucket") else 1 if sample.name.endswith("_count") else 2
    labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
    bound = float(sample.labels["le"]) if "le" in sample.labels else 0.0
    return labels, kind, bound


class _Collected:
    """A registry-shaped holder for families already collected and filtered."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families
