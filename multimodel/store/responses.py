"""The Responses API's stored responses: plain synchronous functions over a SQLAlchemy engine,
called in a worker thread (api.common.in_db).

A response belongs to the API key that made it (`key_id`, None when keys are not in use): every
read and delete is by (id, key), so another key's response is as absent as one never made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from multimodel.store.tables import responses

_JSON_COLUMNS = ("metadata", "input_items", "output_items", "settings")


@dataclass(slots=True)
class ResponseRecord:
    """One response, as stored and as rendered (formats.openai_responses.response_object).

    `input_items` are every item the model read (a previous response's input and output items
    first), `output_items` its answer, both in OpenAI's item shapes with their ids; `settings`
    are the request's parameters the response object echoes (tools, text, temperature, ...)."""

    id: str
    created_at: float
    model: str
    status: str = "in_progress"  # completed | incomplete once stored
    key_id: str | None = None
    completed_at: float | None = None
    incomplete_reason: str | None = None
    previous_response_id: str | None = None
    instructions: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    input_items: list[dict[str, Any]] = field(default_factory=list)
    output_items: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


_FIELDS = tuple(c.name for c in responses.columns)


def save(engine: Engine, rec: ResponseRecord) -> None:
    values = {k: getattr(rec, k) for k in _FIELDS}
    for k in _JSON_COLUMNS:
        values[k] = orjson.dumps(values[k]).decode()
    with engine.begin() as conn:
        conn.execute(sa.insert(responses).values(values))


def load(engine: Engine, response_id: str, key_id: str | None) -> ResponseRecord | None:
    """The response, if it exists and belongs to `key_id`; else None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(responses).where(_owned(response_id, key_id))).mappings().first()
    if row is None:
        return None
    values = dict(row)
    for k in _JSON_COLUMNS:
        values[k] = orjson.loads(values[k])
    return ResponseRecord(**values)


def delete(engine: Engine, response_id: str, key_id: str | None) -> bool:
    """Delete the response if it belongs to `key_id`: whether there was one."""
    with engine.begin() as conn:
        return conn.execute(sa.delete(responses).where(_owned(response_id, key_id))).rowcount == 1


def _owned(response_id: str, key_id: str | None) -> sa.ColumnElement[bool]:
    owner = responses.c.key_id.is_(None) if key_id is None else responses.c.key_id == key_id
    return sa.and_(responses.c.id == response_id, owner)
