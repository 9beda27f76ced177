"""Generic steps as Prefect tasks. Nothing here names a family."""

import re


def artifact_key(registered_model: str, what: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) for a model's name, which may hold `_` or `.`."""
    return f"{re.sub(r'[^a-z0-9-]+', '-', registered_model.lower())}-{what}"
