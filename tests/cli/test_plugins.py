"""A provider plugin installed as a package (entry point) is served without editing Multimodel:
the example in docs/plugins.md, installed for real into a target folder on PYTHONPATH."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import openai

from tests.support.gateway import GatewayProcess

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), re.S)


def test_documented_plugin_installs_and_serves(tmp_path: Path) -> None:
    src = tmp_path / "multimodel-reverse"
    (src / "multimodel_reverse").mkdir(parents=True)
    (src / "multimodel_reverse" / "__init__.py").write_text(_blocks("python")[0])
    (src / "pyproject.toml").write_text(_blocks("toml")[0])
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
    )
    config = {
        "database": f"sqlite:///{tmp_path / 'u.db'}",
        "models": [
            {"name": "backwards", "provider": "reverse", "model": "reverse-v1"},
            {"name": "shouting", "provider": "reverse", "model": "reverse-v1", "options": {"upper": True}},
        ],
    }
    env = {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    with GatewayProcess(tmp_path, config, env=env) as gw:
        client = openai.OpenAI(base_url=gw.openai_base, api_key="k", max_retries=0)
        r = client.chat.completions.create(
            model="backwards", messages=[{"role": "user", "content": "one two three"}]
        )
        assert r.choices[0].message.content == "three two one "
        stream = client.chat.completions.create(
            model="backwards", stream=True, messages=[{"role": "user", "content": "a b"}]
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "b a "
        r = client.chat.completions.create(model="shouting", messages=[{"role": "user", "content": "a b"}])
        assert r.choices[0].message.content == "B A "  # the plugin's own typed option
