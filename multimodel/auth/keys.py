"""API keys in the database: create (the secret is shown once), list, revoke, and load the live set.

Only a SHA-256 of each secret is stored. A key is 32 random bytes, so a plain (unsalted) hash is
safe, and it lets a request's key be found by an exact index lookup instead of trying every key.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from multimodel.errors import GatewayError, echo
from multimodel.store.tables import api_keys, usage

SECRET_PREFIX = "mm-"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    name: str
    prefix: str  # the first characters of the secret, to tell keys apart in listings
    created_at: float
    revoked_at: float | None = None
    budget_usd: float | None = None
    rpm: int | None = None
    models: frozenset[str] | None = None  # the public names it may call; None: all
    admin: bool = False  # sees every key's usage, not only its own


def check_model(key: KeyRecord | None, name: str) -> None:
    """Refuse a model the key may not call (403), naming neither the key's secret nor other models."""
    if key is not None and key.models is not None and name not in key.models:
        raise GatewayError(
            "permission",
            f"API key {key.name!r} may not use model {echo(name)}",
            param="model",
            code="model_not_allowed",
        )


class KeyCommandError(ValueError):
    """A key command that cannot be done (duplicate name, unknown key), as one line."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    engine: Engine,
    name: str,
    *,
    budget_usd: float | None = None,
    rpm: int | None = None,
    models: Sequence[str] | None = None,
    admin: bool = False,
    now: float | None = None,
) -> tuple[KeyRecord, str]:
    """A new key and its secret (which is not stored anywhere)."""
    secret = new_secret()
    record = KeyRecord(
        id="key_" + secrets.token_hex(8),
        name=name,
        prefix=secret[:10],
        created_at=time.time() if now is None else now,
        budget_usd=budget_usd,
        rpm=rpm,
        models=frozenset(models) if models is not None else None,
        admin=admin,
    )
    try:
        with engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=record.id,
                    name=name,
                    key_hash=hash_secret(secret),
                    prefix=record.prefix,
                    created_at=record.created_at,
                    budget_usd=budget_usd,
                    rpm=rpm,
                    models=orjson.dumps(sorted(models)).decode() if models is not None else None,
                    admin=admin,
                )
            )
    except sa_exc.IntegrityError:
        raise KeyCommandError(f"a key named {name!r} exists already") from None
    return record, secret


def revoke_key(engine: Engine, name: str, now: float | None = None) -> KeyRecord:
    with engine.begin() as conn:
        done = conn.execute(
            api_keys.update()
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=time.time() if now is None else now)
        )
    if done.rowcount == 0:
        raise KeyCommandError(f"no active key named {name!r}")
    return next(k for k, _ in list_keys(engine) if k.name == name)


def list_keys(engine: Engine) -> list[tuple[KeyRecord, float]]:
    """Every key (revoked ones too), with its spend so far in USD, oldest first."""
    spend = spend_by_key(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).all()
    return [(_record(r), spend.get(r.id, 0.0)) for r in rows]


def active_keys(engine: Engine) -> tuple[dict[str, KeyRecord], dict[str, float]]:
    """{hash: key} of the keys not revoked, and {key id: spend} — what the guard holds in memory."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys).where(api_keys.c.revoked_at.is_(None))).all()
    return {r.key_hash: _record(r) for r in rows}, spend_by_key(engine)


def spend_by_key(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(usage.c.key_id, sa.func.sum(usage.c.cost_usd))
            .where(usage.c.key_id.is_not(None))
            .group_by(usage.c.key_id)
        ).all()
    return {k: float(s or 0.0) for k, s in rows}


def _record(r: sa.Row) -> KeyRecord:
    return KeyRecord(
        id=r.id,
        name=r.name,
        prefix=r.prefix,
        created_at=r.created_at,
        revoked_at=r.revoked_at,
        budget_usd=r.budget_usd,
        rpm=r.rpm,
        models=frozenset(orjson.loads(r.models)) if r.models is not None else None,
        admin=bool(r.admin),
    )
