"""Which rows a model trained on, kept as digests: a retrain must not score the old champion on rows it learned.

A row's key (a patient id, a canonical SMILES, a hash of an image's pixels or of a text) is stored only as a keyed
hash: HMAC-SHA256 under a random key that lives with the run state, never in the registry, so the digests in an
MLflow artifact cannot be reversed by hashing guessed ids (``P00001``, ``P00002``, ...). They are pseudonymous:
whoever holds both the state folder and the registry can test whether a given id was trained on. Moving the
registry to another machine without ``row_digest.key`` makes old digests unreadable, and the comparison then
says it cannot tell seen rows from unseen ones instead of guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path

from medmaas.environment import STATE_DIR

DIGEST_CHARACTERS = 16  # 64 bits: a collision among a million rows has odds of about 1 in 36 million


def _key_path() -> Path:
    return Path(os.environ.get("MEDMAAS_ROW_DIGEST_KEY") or STATE_DIR / "row_digest.key")


def secret() -> bytes:
    """The state's random key (created on first use): row digests and DICOM pseudonyms are keyed with it."""
    path = _key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, written = tempfile.mkstemp(dir=path.parent, prefix=".row_digest.")  # mode 0600
        with os.fdopen(handle, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(written, path)  # appears whole or not at all: a reader never sees an empty key
        except FileExistsError:  # another run made it first: use theirs
            pass
        finally:
            os.unlink(written)
    key = bytes.fromhex(path.read_text().strip())
    if len(key) < 16:
        raise RuntimeError(
            f"the key in {path} is shorter than 128 bits: remove it to have a new one made (old digests then match "
            "nothing)"
        )
    return key


def key_id() -> str:
    """A short fingerprint of the digest key, stored beside the digests: a different key means they cannot be
    compared."""
    return hashlib.sha256(secret()).hexdigest()[:8]


def digests(keys: Iterable[str]) -> list[str]:
    key = secret()
    return [hmac.new(key, row.encode(), hashlib.sha256).hexdigest()[:DIGEST_CHARACTERS] for row in keys]


def content_key(*parts: bytes | str) -> str:
    """A row's identity from its content (pixels, a text), for data without ids: the same content is the same row."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()
