"""The service's page in a browser: the Swagger UI, served by the guard (BentoML's loads Google Tag Manager), and the
OpenAPI schema it reads, with the bearer scheme its "Authorize" button takes. A client without a key gets the schema
without the values a model learned from its training data (categories, example centroids): facts about the hospital's
patients, not about the API."""

from __future__ import annotations

from typing import Any

from medmaas.settings import LEARNED_FROM_TRAINING

# the page runs only its own scripts and styles, talks only to this service, and is never framed or sent a referrer
PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
PAGE_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{name}: medmaas service</title>
  <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css">
  <link rel="icon" type="image/png" href="./static_content/favicon-light-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
  <script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
  <script src="./static_content/swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
"""
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "an API key from `medmaas keys create NAME`, sent as `Authorization: Bearer <key>`",
}
PAGE_INTRODUCTION = (
    "A medmaas model service. Press **Authorize** and paste an API key (`medmaas keys create NAME`) to try a route. "
    "Without a key, this schema leaves out what the model learned from its training data (categories, examples); "
    "`model_info` lists them."
)
SHOWN_ONLY_WITH_A_KEY = ("enum", "const", "examples", "example", "default")


def documented(spec: Any, whole: bool, open_routes: frozenset[str]) -> Any:
    """The OpenAPI schema as a browser gets it: the bearer scheme on every route but the open probes (so the page's
    "Authorize" takes a key), and, for a client without a key, no value learned from training data."""
    if not isinstance(spec, dict):
        return spec
    spec["info"] = {
        **(spec.get("info") or {}),
        "description": PAGE_INTRODUCTION,
        "contact": {},
    }  # BentoML's: badges from other sites
    spec.setdefault("components", {}).setdefault("securitySchemes", {})["apiKey"] = SECURITY_SCHEME
    spec["security"] = [{"apiKey": []}]
    for path, operations in (spec.get("paths") or {}).items():
        if path in open_routes and isinstance(operations, dict):
            for operation in operations.values():
                if isinstance(operation, dict):
                    operation["security"] = []
    return spec if whole else _without_learned_values(spec)


def _without_learned_values(node: Any) -> Any:
    if isinstance(node, dict):
        learned = node.get(LEARNED_FROM_TRAINING) is True
        return {
            key: _without_learned_values(value)
            for key, value in node.items()
            if not (learned and key in SHOWN_ONLY_WITH_A_KEY)
        }
    if isinstance(node, list):
        return [_without_learned_values(item) for item in node]
    return node
