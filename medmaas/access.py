"""API keys: created and revoked by `medmaas keys`, checked by every service on every request.

A key is shown once, when it is created; the file keeps only its SHA-256 (a key is 256 random bits, so a plain hash
cannot be reversed by guessing), its name and its times. The file lives with the run state (``MEDMAAS_API_KEYS`` moves
it), never in a Bento: a built service reads the keys of the machine it runs on. Services re-read the file when it
changes, so a revoked key stops at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from medmaas.environment import STATE_DIR

KEY_PREFIX = "mm_"
MAX_KEY_LENGTH = 128  # longer credentials are refused before they are hashed
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def keys_path() -> Path:
    return Path(os.environ.get("MEDMAAS_API_KEYS") or STATE_DIR / "api_keys.json")


class KeyStoreError(ValueError):
    """A key that cannot be created or revoked; the message says why (never the key)."""


@dataclass(frozen=True)
class StoredKey:
    name: str
    sha256: str
    created: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class KeyStore:
    """The keys file: a JSON list of StoredKey, written atomically and readable by its owner only."""

    def __init__(self, path: Path | None = None):
        self.path = path or keys_path()

    def read(self) -> list[StoredKey]:
        if not self.path.is_file():
            return []
        try:
            return [StoredKey(**entry) for entry in json.loads(self.path.read_text())["keys"]]
        except (ValueError, KeyError, TypeError) as error:
            raise KeyStoreError(
                f"{self.path} is not a keys file written by `medmaas keys` ({type(error).__name__})"
            ) from None

    @contextmanager
    def _changing(self) -> Iterator[list[StoredKey]]:
        """Read, change and write the keys under an exclusive lock, so two `medmaas keys` never lose each other's
        change."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            keys = self.read()
            yield keys
            descriptor, partial = tempfile.mkstemp(dir=self.path.parent, prefix=".api_keys-")  # owner-only, unique
            with os.fdopen(descriptor, "w") as out:
                json.dump({"keys": [asdict(k) for k in keys]}, out, indent=1)
            os.replace(partial, self.path)

    def create(self, name: str) -> str:
        """A new key named ``name``; the returned secret is not stored and cannot be shown again."""
        if not NAME_PATTERN.match(name):
            raise KeyStoreError("a key name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._changing() as keys:
            if any(k.name == name and k.active for k in keys):
                raise KeyStoreError(f"an active key is already named {name}: revoke it first or choose another name")
            keys.append(StoredKey(name, _digest(secret), _now()))
        return secret

    def revoke(self, name: str) -> None:
        with self._changing() as keys:
            if not any(k.name == name and k.active for k in keys):
                raise KeyStoreError(f"no active key is named {name} (`medmaas keys list` shows them)")
            keys[:] = [
                StoredKey(k.name, k.sha256, k.created, _now()) if k.name == name and k.active else k for k in keys
            ]


class KeyRing:
    """What a service checks a request's key against: the active keys, re-read when the file changes."""

    def __init__(self, store: KeyStore | None = None):
        self.store = store or KeyStore()
        self._stamp: tuple[int, int, int] | None = None
        self._active: list[StoredKey] = []

    def _refresh(self) -> None:
        try:
            stat = self.store.path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # every write replaces the file: a new inode
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._active = [k for k in self.store.read() if k.active] if stamp else []
            self._stamp = stamp

    def active_count(self) -> int:
        self._refresh()
        return len(self._active)

    def name_of(self, presented: str) -> str | None:
        """The name of the active key ``presented`` is, or None; every stored hash is compared in constant time."""
        self._refresh()
        if not presented or len(presented) > MAX_KEY_LENGTH:
            return None
        digest = _digest(presented)
        found = None
        for key in self._active:
            if hmac.compare_digest(digest, key.sha256):
                found = key.name
        return found
