"""MULTIMODEL_* variables: each scalar setting has one, read as strictly as the file, and they win
over the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodel.config.load import environment_variables, load
from multimodel.config.schema import ConfigError

FILE = "database: sqlite:///from-file.db\nport: 8001\nmodels:\n  - {name: m, provider: openai, model: x}\n"


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(FILE)
    return path


def test_variables_win_over_the_file(tmp_path: Path) -> None:
    env = {
        "MULTIMODEL_DATABASE": "postgresql://u@h:5432/db",
        "MULTIMODEL_PORT": "9000",
        "MULTIMODEL_LOG_CONTENT": "false",
        "MULTIMODEL_AUTH__REQUIRE_KEYS": "true",
        "MULTIMODEL_AUTH__REDIS_URL": "redis://127.0.0.1:6379/1",
        "MULTIMODEL_PREFERENCE__MAX_BATTLE_AGE_HOURS": "2.5",
    }
    s = load(_file(tmp_path), env)
    assert (s.database, s.port, s.log_content) == ("postgresql://u@h:5432/db", 9000, False)
    assert s.auth.require_keys and s.auth.redis_url == "redis://127.0.0.1:6379/1"
    assert s.preference.max_battle_age_hours == 2.5
    untouched = load(_file(tmp_path), {})
    assert (untouched.database, untouched.port, untouched.log_content) == (
        "sqlite:///from-file.db",
        8001,
        True,
    )


def test_variables_apply_to_the_embedded_defaults_and_name_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./multimodel.yaml here
    s = load(None, {"MULTIMODEL_PORT": "8123"})
    assert s.source == "embedded defaults" and s.port == 8123 and s.models[0].first.provider == "inhouse"
    s = load(None, {"MULTIMODEL_CONFIG": str(_file(tmp_path))})
    assert s.source == str(tmp_path / "c.yaml") and s.port == 8001


@pytest.mark.parametrize(
    ("var", "value", "words"),
    [
        ("MULTIMODEL_LOG_CONTENT", "no", ["MULTIMODEL_LOG_CONTENT", "boolean", "'no'"]),
        ("MULTIMODEL_LOG_CONTENT", "False", ["MULTIMODEL_LOG_CONTENT", "boolean"]),
        ("MULTIMODEL_PORT", "80.5", ["MULTIMODEL_PORT", "integer"]),
        ("MULTIMODEL_PORT", "http", ["MULTIMODEL_PORT", "integer"]),
        ("MULTIMODEL_LOG_QUEUE_SIZE", "0", ["MULTIMODEL_LOG_QUEUE_SIZE", "greater than or equal to 1"]),
        ("MULTIMODEL_DATABASE", "mysql://x", ["MULTIMODEL_DATABASE", "sqlite:///"]),
        ("MULTIMODEL_DATBASE", "sqlite:///x.db", ["MULTIMODEL_DATBASE", "did you mean MULTIMODEL_DATABASE?"]),
        ("MULTIMODEL_AUTH_REQUIRE_KEYS", "true", ["did you mean MULTIMODEL_AUTH__REQUIRE_KEYS?"]),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(tmp_path: Path, var: str, value: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        load(_file(tmp_path), {var: value})
    assert "\n" not in str(e.value)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_every_scalar_setting_has_a_variable_and_the_docs_list_them() -> None:
    known = environment_variables()
    assert {"MULTIMODEL_DATABASE", "MULTIMODEL_PORT", "MULTIMODEL_HOST", "MULTIMODEL_LOG_CONTENT"} <= set(
        known
    )
    assert known["MULTIMODEL_AUTH__REQUIRE_KEYS"] == ("auth", "require_keys")
    assert not any("MODELS" in v or "ARENA_POOL" in v for v in known)  # lists live in the file
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for var in known:
        assert f"`{var}`" in docs, var
