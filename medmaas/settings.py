"""params.yaml, read once into frozen pydantic models so that a typo is an error naming its key.

The file has one ``project`` block and one block per family, named after the package in
``families/`` that owns it; each family validates its own block with its own model. This module
knows no family: ``read_params`` is handed the registry (``families.FAMILIES``) that discovery fills.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    Strict,
    ValidationError,
    model_validator,
)

from medmaas.environment import PROJECT_ROOT

DEFAULT_PARAMS = PROJECT_ROOT / "params.yaml"


class ConfigError(ValueError):
    """A params file that cannot be used; the message names the file and the key."""


class UnreadableData(ValueError):
    """A data file that cannot be parsed; the message names the file and the key of its read options."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ThreadRunner(Frozen):
    """Candidates in threads of this process (the laptop default)."""

    kind: Literal["threads"] = "threads"
    max_workers: int = Field(2, ge=1)


class DaskLocalRunner(Frozen):
    """A temporary Dask cluster on this machine (threads, so no extra Prefect API per worker)."""

    kind: Literal["dask_local"]
    n_workers: int = Field(2, ge=1)
    threads_per_worker: int = Field(1, ge=1)


class DaskClusterRunner(Frozen):
    """An existing Dask scheduler, e.g. ``tcp://scheduler:8786``."""

    kind: Literal["dask_cluster"]
    address: str = Field(min_length=1)


TaskRunnerSettings = Annotated[ThreadRunner | DaskLocalRunner | DaskClusterRunner, Field(discriminator="kind")]


class ProjectSettings(Frozen):
    seed: int = 42
    task_runner: TaskRunnerSettings = ThreadRunner()


class AcceptanceSettings(Frozen):
    """Pre-declared promotion criteria, versioned with the code (DESIGN.md, promotion rule)."""

    minimums: dict[str, float] = Field(default_factory=dict)
    maximums: dict[str, float] = Field(default_factory=dict)
    floors_on: Literal["lower_bound", "point"] = Field(
        "lower_bound",
        description="(not `on`: YAML reads that key as true) lower_bound: the 95% CI's cautious end must clear each "
        "floor and ceiling (its low end against a "
        "minimum, its high end against a maximum); point: the estimate itself",
    )
    max_regression: float = Field(
        0.0,
        ge=0.0,
        description="allowed loss on the primary metric vs the champion (and the reference): "
        "promoted when the paired 95% CI of (challenger - champion) has its low end >= -max_regression",
    )
    min_compared_units: int = Field(
        20,
        ge=2,
        description="fewer held-out units (patients, groups) that the champion never trained on, "
        "and the comparison is refused with that reason",
    )
    reference_version: PositiveInt | None = Field(
        None,
        description="the version every challenger must also not lose to (so small losses "
        "cannot chain); unset: the first version promoted",
    )


class TracingSettings(Frozen):
    """OpenTelemetry spans of a service (serving/tracing.py): made always, exported only to an OTLP endpoint."""

    otlp_endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^\s]+$",
        description="OTLP over HTTP, e.g. http://collector:4318/v1/traces; unset: no span leaves the service",
    )
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, description="share of traces kept (a caller's choice is kept)")


class FhirFeature(Frozen):
    """Where one of the model's features comes from in a CDS Hooks request's FHIR prefetch (blocks/fhir.py).

    ``source: observation``: the latest Observation with ``code`` (in ``system``) inside the look-back; a number
    converted from the unit the EHR sent to ``unit`` (UCUM; ``molar_mass`` in g/mol lets mmol/L become mg/dL;
    ``log: true`` for a model trained on its natural log), or a category from its coded value through ``categories``
    (``otherwise`` for a code not listed; unset: refused). ``source: condition``: true when an active Condition carries
    one of ``codes`` (1/0 for a model trained on 0/1). ``source: age``: years since the Patient's ``birthDate``.
    ``source: gender``: the Patient's administrative gender through ``categories`` (e.g. female: 1).
    """

    source: Literal["observation", "condition", "age", "gender"] = "observation"
    system: str = "http://loinc.org"
    code: str | None = None
    unit: str | None = Field(None, description="UCUM unit the model was trained in, e.g. [lb_av], mg/dL, 1")
    molar_mass: float | None = Field(None, gt=0, description="g/mol, for a substance sent in mol-based units")
    log: bool = Field(False, description="the model takes the natural log of the value in `unit`")
    categories: dict[str, str | int] | None = Field(None, description="coded value -> the value the model knows")
    otherwise: str | int | None = None
    codes: list[str] = Field(default_factory=list, description="condition codes (any system) that make it true")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.source == "observation" and not self.code:
            raise ValueError("an observation feature needs its code")
        if self.source == "observation" and (self.unit is None) == (self.categories is None):
            raise ValueError("an observation feature needs either unit (a number) or categories (a category)")
        if self.log and self.unit is None:
            raise ValueError("log: true needs the unit the logarithm is taken in")
        if self.source == "condition" and not self.codes:
            raise ValueError("a condition feature needs codes")
        if self.source == "gender" and not self.categories:
            raise ValueError("a gender feature needs categories (female, male, other, unknown -> the model's values)")
        return self


class RiskBand(Frozen):
    """A card's indicator for an assessment below ``below`` (the last band has none: everything above): a probability
    for a classifier or a survival model, a value in the outcome's units for a regression."""

    below: float | None = None
    indicator: Literal["info", "warning", "critical"]


class CdsClient(Frozen):
    """An EHR allowed to call: its JWTs' issuer and the JSON Web Key Set (a file) they are signed with."""

    iss: str = Field(min_length=1)
    jwks_path: str = Field(
        min_length=1, description="JWKS file (public keys); a relative path is from the project root"
    )


class CdsHooksSettings(Frozen):
    """A CDS Hooks 2.0 service for the model (serving/cds_hooks.py), offered at /cds-services."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    hook: Literal["patient-view", "order-select"] = "patient-view"
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=500)
    lookback_days: int = Field(365, ge=1, le=36_500, description="older observations are not used")
    horizon_days: float | None = Field(
        None,
        gt=0,
        le=36_525,
        description="survival models: the card's risk is of an event by then (unset: the time "
        "calibration is measured at, evaluation.calibration_days)",
    )
    features: dict[str, FhirFeature]
    risk_bands: list[RiskBand] = Field(min_length=1)
    audience: str = Field(min_length=1, description="this service's base URL, as the EHR's JWTs name it in aud")
    clients: list[CdsClient] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bands_in_order(self) -> Self:
        bounds = [band.below for band in self.risk_bands]
        inner = [b for b in bounds[:-1] if b is not None]
        if bounds[-1] is not None or len(inner) < len(bounds) - 1 or inner != sorted(inner):
            raise ValueError("risk_bands: ascending `below` bounds, and a last band without one")
        return self

    def mismatch_with(self, features: list[str]) -> str | None:
        """Why this block cannot serve a model with these features (it must declare each, and only those)."""
        if undeclared := [f for f in features if f not in self.features]:
            return f"serving.cds_hooks.features: the model's {', '.join(undeclared)} not declared"
        if unknown := [f for f in self.features if f not in features]:
            return f"serving.cds_hooks.features: {', '.join(unknown)} not features of the model"
        return None

    def check_for(self, assessed: Literal["probability", "survival", "value"]) -> None:
        """What the family's cards assess decides what its block may say (a family's validator calls this)."""
        if assessed != "value" and any(b.below is not None and not 0 < b.below <= 1 for b in self.risk_bands):
            raise ValueError("serving.cds_hooks.risk_bands: the cards show a probability: `below` in (0, 1]")
        if assessed != "survival" and self.horizon_days is not None:
            raise ValueError("serving.cds_hooks.horizon_days: only a survival model's risk has a horizon")


class ServingSettings(Frozen):
    """Limits of the family's HTTP service (serving/<family>.py)."""

    max_items_per_request: int = Field(1000, ge=1, le=100_000)
    max_batch_size: int = Field(256, ge=1, description="adaptive batching: most rows merged into one model call")
    max_latency_ms: int = Field(
        1000, ge=1, description="adaptive batching: latency budget; past it requests are shed (503)"
    )
    auth: Literal["api_keys", "none"] = Field(
        "api_keys",
        description="api_keys: every route but the probes and the service's page needs "
        "`Authorization: Bearer <key>`; none: local experiments only",
    )
    max_body_bytes: int = Field(
        2_000_000, ge=1_000, le=100_000_000, description="larger request bodies get 413 before they are parsed"
    )
    audit_max_bytes: int = Field(10_000_000, ge=10_000, description="the audit log rotates past this size")
    audit_backups: int = Field(10, ge=1, le=1000, description="rotated audit files kept")
    log_predictions: bool = Field(
        True,
        description="append what is scored (features, prediction, version, time; no id) to .medmaas/predictions/ for "
        "`medmaas monitor`",
    )
    prediction_log_days: int = Field(90, ge=1, le=3650, description="logged predictions older than this are deleted")
    tracing: TracingSettings = TracingSettings()
    cds_hooks: CdsHooksSettings | None = None


NUMERIC_TYPES = ["int", "int8", "int16", "int32", "int64", "float", "float16", "float32", "float64", "Int64", "Float64"]


LARGEST_REQUEST_VALUE = (
    1e12  # an undeclared bound: a finite 1e308 would overflow the model's scaling into infinity (a 500)
)


class ColumnRange(Frozen):
    """Bounds of a numeric column; ``integer: true`` for a coded or counted one (a stage, a 0/1 flag, a count):
    the gate refuses a value that is not a whole number in the bounds, and a service accepts only JSON integers."""

    min: float | None = None
    max: float | None = None
    integer: bool = False

    @model_validator(mode="after")
    def _integer_has_bounds(self) -> ColumnRange:
        if self.integer and (self.min is None or self.max is None or self.max - self.min > 100_000):
            raise ValueError("an integer column needs min and max (at most 100,000 apart)")
        return self

    def allowed_integers(self) -> list[int]:
        if self.min is None or self.max is None:  # the validator makes an integer column declare both
            raise ValueError("an integer column needs min and max")
        return list(range(int(np.ceil(self.min)), int(np.floor(self.max)) + 1))

    def request_field(self, **field: Any) -> tuple[Any, Any]:
        """The field of a request body: a finite JSON number (never true or "5") in the bounds; a whole one when integer
        (2 or 2.0, not 2.5: a client's table with a blank somewhere holds its codes as floats)."""
        kind = Annotated[int, BeforeValidator(_whole_number), Strict()] if self.integer else Annotated[float, Strict()]
        low = -LARGEST_REQUEST_VALUE if self.min is None else self.min
        high = LARGEST_REQUEST_VALUE if self.max is None else self.max
        if self.integer:  # whole bounds, as the gate's allowed set has them (min 0.5 means 1)
            low, high = int(np.ceil(low)), int(np.floor(high))
        finite: dict[str, Any] = {} if self.integer else {"allow_inf_nan": False}
        return (kind, Field(ge=low, le=high, **finite, **field))


# Marks a request field whose enum or example came from the training data (a category seen, a centroid): the guard
# leaves those values out of the schema it shows a client without a key (serving/guard.py).
LEARNED_FROM_TRAINING = "x-learned-from-training"


def _whole_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        raise ValueError("must be a whole number (the column is integer-coded)")
    return value


class ReadSettings(Frozen):
    """How the file is parsed: CSV (any delimiter and number format) or Parquet, by its extension."""

    delimiter: str = Field(",", min_length=1, max_length=1)
    decimal: str = Field(".", min_length=1, max_length=1)
    thousands: str | None = Field(None, min_length=1, max_length=1)
    na_values: list[str] = Field(
        default_factory=list, description='extra strings read as missing, e.g. ["?", "NA"]; blanks always are'
    )


class DataFile(Frozen):
    """A family's input file and its identifier column (relative paths are from the repository root)."""

    path: Path
    id_column: str | None = "patient_id"
    read_as: ReadSettings = Field(ReadSettings(), alias="read")

    def resolved_path(self) -> Path:
        return self.path if self.path.is_absolute() else PROJECT_ROOT / self.path

    def read_file(self, path: Path, family: str, dtype: dict[str, Any] | None = None) -> pd.DataFrame:
        """Another file read as this one is (its read options, ids as text): a batch to score or to monitor."""
        return self.model_copy(update={"path": path}).read(family, dtype)

    def read(self, family: str, dtype: dict[str, Any] | None = None) -> pd.DataFrame:
        """The file as it is (ids as text), or an error naming the file and the key that sets it."""
        path = self.resolved_path()
        if not path.is_file():
            raise FileNotFoundError(f"{family}: data file not found: {path} (set {family}.data.path in params.yaml)")
        types = {**({self.id_column: str} if self.id_column else {}), **(dtype or {})}
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                frame = pd.read_parquet(path)
                return frame.astype({k: v for k, v in types.items() if k in frame.columns})  # a batch may lack the id
            options = self.read_as
            return pd.read_csv(
                path,
                dtype=types,
                sep=options.delimiter,
                decimal=options.decimal,
                thousands=options.thousands,
                na_values=options.na_values or None,
            )
        except (ValueError, OSError) as error:  # a malformed file: say which, and what the parser saw
            raise UnreadableData(
                f"{family}: cannot read {path.name} ({family}.data.read): {str(error).splitlines()[0][:200]}"
            ) from error


class ScheduleSettings(Frozen):
    """When the family retrains by itself (`medmaas schedule`, against the Prefect server of `medmaas up`).
    A scheduled run is the same flow as a manual one: gate, candidates, and the family's promotion rule."""

    cron: str = Field(description='five fields, e.g. "0 3 * * 1" (Mondays at 03:00)')
    timezone: str = Field("UTC", description="an IANA name, e.g. Europe/Berlin")

    @model_validator(mode="after")
    def _valid(self) -> ScheduleSettings:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from cronsim import CronSim, CronSimError  # what Prefect reads cron strings with

        try:
            CronSim(self.cron, datetime.now())
        except CronSimError:
            raise ValueError('cron must be five fields, e.g. "0 3 * * 1"') from None
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("timezone must be an IANA name, e.g. Europe/Berlin") from None
        return self

    def description(self) -> str:
        return f"schedule {self.cron} ({self.timezone})"


class MonitoringSettings(Frozen):
    """How `medmaas monitor` judges a batch against the champion's training reference (medmaas/drift.py)."""

    alpha: float = Field(
        0.05, gt=0.0, lt=1.0, description="false discovery rate over the columns tested (Benjamini-Hochberg)"
    )
    min_psi: float = Field(
        0.1, ge=0.0, description="a column drifts only when its PSI also reaches this (0.1: moderate, 0.25: large)"
    )
    min_rows: int = Field(30, ge=5, description="a smaller batch is reported as too small, never judged")
    retrain_on_drift: bool = Field(
        True, description="drift emits an event that starts one retraining run (with `medmaas schedule` serving)"
    )
    schedule: ScheduleSettings | None = Field(
        None, description="when `medmaas schedule` checks the prediction log by itself; left out: never"
    )


class FamilySettings(Frozen):
    """Fields every family block has; each family extends it with its data (a DataFile of its own kind), split and
    candidates."""

    data: DataFile
    registered_model: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    acceptance: AcceptanceSettings = AcceptanceSettings()
    serving: ServingSettings = ServingSettings()
    schedule: ScheduleSettings | None = Field(None, description="left out: no scheduled retraining")
    monitoring: MonitoringSettings = MonitoringSettings()
    bootstrap_resamples: int = Field(500, ge=50, le=20000)


class CandidateGrids(Frozen):
    """Candidates to train (one field each, with its grid); leave one out to skip it."""

    opt_in: ClassVar[tuple[str, ...]] = ()  # trained only when a block names them (a study, not a default)

    def enabled(self) -> dict[str, Any]:
        return {name: grid for name in type(self).model_fields if (grid := getattr(self, name)) is not None}

    @classmethod
    def every_default(cls) -> Self:
        """Every candidate with its default grid: what a block that names no candidates trains."""
        return cls.model_validate({name: {} for name in cls.model_fields if name not in cls.opt_in})

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if not self.enabled():
            raise ValueError("enable at least one candidate")
        return self


class Params(Frozen):
    path: Path
    project: ProjectSettings
    families: dict[str, FamilySettings]

    def fingerprint(self, family: str) -> str:
        """Hash of what shapes one family's run: its block and the project block."""
        payload = {
            "project": self.project.model_dump(mode="json"),
            family: self.families[family].model_dump(mode="json"),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def describe_validation_error(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def read_params(path: Path | str | None, families: Mapping[str, Any]) -> Params:
    """Validate a params file; ``families`` maps a block's name to its family class (its ``Settings`` and
    ``check_settings``)."""
    path = Path(path or DEFAULT_PARAMS)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping of blocks (project, and one per family)")
    problems: list[str] = []
    try:
        project = ProjectSettings.model_validate(raw.pop("project", {}) or {})
    except ValidationError as error:
        problems.append(describe_validation_error(error, "project"))
        project = ProjectSettings()
    blocks: dict[str, FamilySettings] = {}
    for name, block in raw.items():
        if name not in families:
            problems.append(f"  {name}: unknown block; expected 'project' or a family: {', '.join(families)}")
            continue
        cls = families[name]
        try:
            blocks[name] = cls.Settings.model_validate(block or {})
        except ValidationError as error:
            problems.append(describe_validation_error(error, name))
            continue
        problems.extend(cls.check_settings(blocks[name], prefix=name))
    if problems:
        raise ConfigError(f"{path} has errors:\n" + "\n".join(problems))
    return Params(path=path.resolve(), project=project, families=blocks)
