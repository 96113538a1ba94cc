"""`multimodel serve` with no config and no keys serves real answers from the shipped in-house
models, logging to SQLite in the working directory; provider keys in the environment add models."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import httpx
import openai

from tests.support.gateway import GatewayProcess


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    return {**env, **extra}


def test_embedded_default_serves_the_house_model(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, None)
    gw.env = _env()
    with gw:
        client = openai.OpenAI(base_url=gw.openai_base, api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == ["house-mini", "house-tiny"]
        stream = client.chat.completions.create(
            model="house-tiny",
            stream=True,
            max_tokens=24,
            seed=1,
            messages=[{"role": "user", "content": "ROMEO:"}],
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.strip()
        emb = client.embeddings.create(model="house-tiny", input=["to be", "or not"])  # base64 on the wire
        assert len(emb.data) == 2 and len(emb.data[0].embedding) == 128
        assert abs(sum(x * x for x in emb.data[0].embedding) - 1) < 1e-4  # L2-normalised
        # The arena works out of the box: the two house models answer one prompt, anonymously.
        battle = httpx.post(gw.url + "/v1/arena/battles", json={"prompt": "Speak of the king."}).json()
        for side in ("a", "b"):
            assert httpx.get(battle[side]["stream"], timeout=60).text.endswith("data: [DONE]\n\n")
        vote = httpx.post(battle["vote"], json={"winner": "a"}).json()
        assert {vote["a"]["model"], vote["b"]["model"]} == {"house-mini", "house-tiny"}
        assert gw.stop() == 0
    with sqlite3.connect(tmp_path / "multimodel.db") as c:
        rows = c.execute("SELECT public_model, provider, status, output_tokens FROM usage").fetchall()
    assert len(rows) == 4 and rows[0][:3] == ("house-tiny", "inhouse", 200) and 0 < rows[0][3] <= 24


def test_provider_keys_add_their_models(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, None)
    gw.env = _env(OPENAI_API_KEY="sk-from-env", ANTHROPIC_API_KEY="sk-ant-from-env")
    with gw:
        ids = [m.id for m in openai.OpenAI(base_url=gw.openai_base, api_key="x").models.list()]
    assert "house-tiny" in ids and "gpt-4o" in ids and any(i.startswith("claude") for i in ids)
