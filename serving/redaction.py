"""Log lines and 4xx bodies that never repeat what a client sent: BentoML logs a rejected request with a traceback that
quotes the input, pydantic names an unknown field by its key (the client's text), and a log line may carry control
characters."""

from __future__ import annotations

import logging
import re
from typing import Any

LOG_LINE_LIMIT = 2000
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
BENTOML_ERROR_LOGGER = "bentoml._internal.server.http_app"  # logs each rejected request with its traceback
SERVER_LOGGERS = (
    "bentoml",
    "bentoml.access",
    "bentoml._internal.server.http_app",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "",
)


class SafeLines(logging.Filter):
    """On the server's handlers: one bounded line, no control characters (a NUL, an escape sequence)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a record whose arguments do not format is still logged, as its template)
            message = str(record.msg)
        message = CONTROL_CHARACTERS.sub("?", message)
        record.msg = message if len(message) <= LOG_LINE_LIMIT else message[:LOG_LINE_LIMIT] + " ...(cut)"
        record.args = None
        return True


class RedactRejectedInputs(logging.Filter):
    """BentoML logs a rejected request with pydantic's traceback, which quotes the input (a patient id, if a client
    sends one): keep where and why it failed, as the 400 says it, and drop what was sent. A 4xx the service raised
    itself (an unknown patient, a bad treatment) is a documented answer, not a fault: one line with its reason (the
    service's words, never the client's), no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from bentoml.exceptions import BentoMLException
        from pydantic import ValidationError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            details = without_echo(
                {"detail": error.errors(include_input=False, include_url=False, include_context=False)}
            )["detail"]
            reasons = "; ".join(f"{where(d['loc'])}: {d['msg']}" for d in details)
        elif isinstance(error, BentoMLException) and error.error_code < 500:
            reasons = str(error)
        else:
            return True
        record.msg = f"{record.msg} (rejected: {reasons})"
        record.exc_info = record.exc_text = None
        return True


def safe_server_logs() -> None:
    """Rejections without their inputs; then every line of the server's handlers bounded and printable."""
    rejections = logging.getLogger(BENTOML_ERROR_LOGGER)
    if not any(isinstance(f, RedactRejectedInputs) for f in rejections.filters):
        rejections.addFilter(RedactRejectedInputs())
    for name in SERVER_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, SafeLines) for f in handler.filters):
                handler.addFilter(SafeLines())


def where(loc: list[Any]) -> str:
    """("patients", 0) -> "patients[0]"; an empty location is the body's top level."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the top level"


def without_echo(body: Any) -> Any:
    """A 400 from pydantic names an unknown field by its key, which is the client's text (a patient's name, 1 MB):
    name its place instead. Inputs were never included; the documentation URLs go too."""
    details = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(details, list):
        return body
    for detail in details:
        if not isinstance(detail, dict):
            continue
        detail.pop("url", None)
        detail.pop("input", None)
        loc = list(detail.get("loc") or [])
        if detail.get("type") == "extra_forbidden" and loc:
            detail["loc"] = loc[:-1]
            detail["msg"] = f"an unknown field at {where(loc[:-1])}"
    return body
