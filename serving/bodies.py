"""Request bodies: a form's file fields must hold uploaded files, and a JSON body may not carry unknown top-level
fields."""

from __future__ import annotations

from typing import Any


def form_problem(scope: dict, body: bytes, file_fields: frozenset[str]) -> str | None:
    """Why a form body is refused, or None (also for any other body). BentoML answers a malformed multipart form with a
    500, and takes form text in a file field for a URL to download (a urlencoded form is all text): a file field must
    hold an uploaded file."""
    from urllib.parse import parse_qsl

    from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

    content_type = next((value for name, value in scope.get("headers") or [] if name == b"content-type"), b"")
    kind, options = parse_options_header(content_type)
    not_a_file = "{}: each must be an uploaded file (form text, a URL included, is not accepted in a file field)"
    if kind == b"application/x-www-form-urlencoded":
        texts = sorted({name for name, _ in parse_qsl(body.decode("latin-1"), keep_blank_values=True)} & file_fields)
        return not_a_file.format(", ".join(texts)) if texts else None
    if kind != b"multipart/form-data":
        return None
    malformed = (
        "the body is not well-formed multipart/form-data (send files with a form, e.g. curl -F images=@scan.png)"
    )
    if not options.get(b"boundary"):
        return malformed
    parts: list[dict[bytes, bytes]] = []
    header: dict[str, bytes] = {"field": b"", "value": b""}

    def header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def header_end() -> None:
        if header["field"].lower() == b"content-disposition":
            parts.append(parse_options_header(header["value"])[1])
        header.update(field=b"", value=b"")

    parser = MultipartParser(
        options[b"boundary"],
        {"on_header_field": header_field, "on_header_value": header_value, "on_header_end": header_end},
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception:  # noqa: BLE001 (the parser's errors are of several kinds; any one means a malformed form)
        return malformed
    if parser.state != MultipartState.END:
        return malformed
    texts = sorted(
        {part.get(b"name", b"").decode("latin-1") for part in parts if b"filename" not in part} & file_fields
    )
    return not_a_file.format(", ".join(texts)) if texts else None


def strict_api(**options: Any):
    """``@bentoml.api`` whose request body refuses unknown top-level fields (BentoML's own ignores them:
    a ``"patient_id"`` sent beside ``"patients"`` would be accepted silently)."""
    import bentoml
    from _bentoml_sdk.io_models import IODescriptor  # BentoML's builder of the input model from the signature
    from pydantic import ConfigDict

    def decorate(func):
        inferred = IODescriptor.from_input(func, skip_self=True)
        strict = type(
            inferred.__name__,
            (inferred,),
            {"model_config": ConfigDict(**{**inferred.model_config, "extra": "forbid"}), "__module__": func.__module__},
        )
        return bentoml.api(input_spec=strict, **options)(func)

    return decorate
