"""Who may call a service's CDS Hooks routes: an EHR whose JWT (ES384 or RS384, as the CDS Hooks specification
requires) verifies with a key of the JWKS configured for its ``iss``, names this service in ``aud``, has not expired
and carries a ``jti`` never seen before. The guard asks this beside the API keys (serving/guard.py)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from medmaas.environment import PROJECT_ROOT, STATE_DIR
from medmaas.settings import CdsHooksSettings

ROOT = "/cds-services"
ALGORITHMS = ("ES384", "RS384")  # what the CDS Hooks specification allows an EHR to sign with
LEEWAY_S = 30


def routes(settings: CdsHooksSettings | None) -> list[str]:
    """The service's CDS routes (for the guard and the audit line): discovery, and the one service it offers."""
    return [] if settings is None else [ROOT, f"{ROOT}/{settings.id}"]


class CdsUnauthorized(ValueError):
    """A JWT the service does not accept; the message says why (never the token)."""


class CdsAuth:
    """Checks an EHR's JWT: signed by a key of the JWKS of the client named in ``iss``, for this service (``aud``),
    unexpired, its ``jti`` unused (a replayed call is refused, whichever worker it reaches)."""

    def __init__(self, settings: CdsHooksSettings) -> None:
        import jwt

        self.settings = settings
        self.key_sets = {
            client.iss: jwt.PyJWKSet.from_dict(_read_jwks(client.jwks_path)) for client in settings.clients
        }
        self.used = UsedTokenIds(STATE_DIR / "cds" / f"{settings.id}-jti.sqlite")

    def client_of(self, token: str, route: str) -> str:
        """The client's name for the audit line (``cds:<iss>``), or ``CdsUnauthorized`` saying why."""
        import jwt

        if not token:
            raise CdsUnauthorized("a JWT signed by a registered EHR (or an API key) is required")
        try:
            header = jwt.get_unverified_header(token)
            claimed = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise CdsUnauthorized("the bearer token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise CdsUnauthorized(f"the JWT must be signed with {' or '.join(ALGORITHMS)}")
        issuer = claimed.get("iss")
        if not isinstance(issuer, str) or issuer not in self.key_sets:
            raise CdsUnauthorized("the JWT's issuer is not a registered client of this service")
        key = self._key(issuer, header.get("kid"))
        base = self.settings.audience.rstrip("/")
        try:
            verified = jwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                audience=[base, f"{base}{route}", f"{base}{ROOT}"],
                issuer=issuer,
                leeway=LEEWAY_S,
                options={"require": ["iss", "aud", "exp", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise CdsUnauthorized("the JWT has expired") from None
        except jwt.InvalidAudienceError:
            raise CdsUnauthorized("the JWT's aud is not this service") from None
        except jwt.InvalidSignatureError:
            raise CdsUnauthorized("the JWT's signature does not verify with the client's keys") from None
        except jwt.MissingRequiredClaimError as error:
            raise CdsUnauthorized(f"the JWT has no {error.claim} claim") from None
        except jwt.PyJWTError:
            raise CdsUnauthorized("the JWT does not verify") from None
        if not self.used.first_use(issuer, str(verified["jti"]), float(verified["exp"])):
            raise CdsUnauthorized("the JWT's jti was used before (a replayed call)")
        return f"cds:{issuer}"

    def _key(self, issuer: str, kid: str | None) -> Any:
        keys = self.key_sets[issuer].keys
        chosen = [k for k in keys if kid is None or k.key_id == kid]
        if not chosen:
            raise CdsUnauthorized("the JWT's kid is not in the client's key set")
        return chosen[0]


def _read_jwks(path: str) -> dict[str, Any]:
    where = Path(path) if Path(path).is_absolute() else PROJECT_ROOT / path
    try:
        return dict(json.loads(where.read_text()))
    except (OSError, ValueError) as error:
        raise ValueError(f"serving.cds_hooks.clients: cannot read the JWKS {where}: {error}") from None


class UsedTokenIds:
    """The ``jti`` of every accepted JWT until it expires, in SQLite, so all workers of a service see them."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")  # one writer at a time, readers never wait
            connection.execute("CREATE TABLE IF NOT EXISTS used (iss TEXT, jti TEXT, exp REAL, PRIMARY KEY (iss, jti))")

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        connection.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a crash of the service, not of the OS
        return connection

    def first_use(self, issuer: str, jti: str, expires: float) -> bool:
        with self.lock, self._connect() as connection:
            connection.execute("DELETE FROM used WHERE exp < ?", (time.time() - LEEWAY_S,))
            try:
                connection.execute("INSERT INTO used VALUES (?, ?, ?)", (issuer, jti, expires))
            except sqlite3.IntegrityError:
                return False
        return True
