"""The Responses API's storage on SQLite and PostgreSQL: a record comes back as it went in, and only
to the key that owns it."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from multimodel.store import responses as store
from multimodel.store.responses import ResponseRecord
from tests.store.conftest import Db


def record(rid: str = "resp_1", key_id: str | None = None) -> ResponseRecord:
    return ResponseRecord(
        id=rid,
        created_at=1_800_000_000.25,
        model="gpt-test",
        status="completed",
        key_id=key_id,
        completed_at=1_800_000_001.5,
        previous_response_id="resp_0",
        instructions="Be brief.",
        metadata={"ticket": "T-1"},
        # Inside JSON text a NUL is escaped: only plain text columns need _NoNul.
        input_items=[
            {
                "id": "msg_1",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "a\x00b 🙂"}],
            }
        ],
        output_items=[
            {"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
        ],
        settings={"tools": [], "temperature": 0.5, "text": {"format": {"type": "text"}}},
        input_tokens=11,
        output_tokens=4,
        cached_tokens=2,
        reasoning_tokens=1,
    )


def test_a_record_comes_back_whole(db: Db) -> None:
    rec = record()
    store.save(db.engine, rec)
    assert store.load(db.engine, "resp_1", None) == rec


def test_only_the_owning_key_sees_or_deletes_it(db: Db) -> None:
    store.save(db.engine, record("resp_a", key_id="key_a"))
    store.save(db.engine, record("resp_n"))
    assert store.load(db.engine, "resp_a", "key_b") is None
    assert store.load(db.engine, "resp_a", None) is None  # keys off now: a keyed response stays hidden
    assert store.load(db.engine, "resp_n", "key_a") is None
    assert store.delete(db.engine, "resp_a", "key_b") is False
    assert store.load(db.engine, "resp_a", "key_a") is not None
    assert store.delete(db.engine, "resp_a", "key_a") is True
    assert store.load(db.engine, "resp_a", "key_a") is None
    assert store.delete(db.engine, "resp_a", "key_a") is False
    assert store.load(db.engine, "missing", None) is None


def test_nul_in_text_is_stored(db: Db) -> None:
    rec = record("resp_nul")
    rec.instructions = "a\x00b"
    store.save(db.engine, rec)
    loaded = store.load(db.engine, "resp_nul", None)
    assert loaded is not None
    assert loaded.instructions == ("a\ufffdb" if db.backend == "postgres" else "a\x00b")


def test_an_id_is_stored_once(db: Db) -> None:
    store.save(db.engine, record())
    with pytest.raises(sa_exc.IntegrityError):
        store.save(db.engine, record())
