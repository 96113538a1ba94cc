"""With gateway API keys required, the UI asks for one (a labelled password field), keeps it for
the browser session, retries with it, asks again when a key is refused, and never shows it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import KEY_ENV
from tests.fakes.upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.ui.conftest import open_page, screenshot, ui_config


@pytest.fixture(scope="module")
def keyed(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, str]]:
    workdir: Path = tmp_path_factory.mktemp("ui-keys")
    gw = GatewayProcess(workdir, ui_config(upstream, workdir, auth={"require_keys": True}), env=KEY_ENV)
    assert gw.config_path is not None
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "multimodel.cli",
            "keys",
            "create",
            "ui-test",
            "--config",
            str(gw.config_path),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("mm-")
    with gw:
        yield gw, key


def test_the_ui_asks_for_a_key_and_keeps_it_for_the_session(
    browser: Browser, keyed: tuple[GatewayProcess, str]
) -> None:
    gw, key = keyed
    page, watch = open_page(browser, gw.url)
    page.goto("/ui/leaderboard")
    dialog = page.get_by_role("dialog")
    field = page.get_by_label("Your gateway API key")
    expect(dialog).to_be_visible()
    expect(field).to_have_attribute("type", "password")
    screenshot(page, "key-prompt")

    field.fill("mm-not-a-real-key")
    page.get_by_role("button", name="Use this key").click()
    expect(dialog).to_contain_text("That key was refused")

    field.fill(key)
    page.get_by_role("button", name="Use this key").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#board-meta")).to_contain_text("votes")
    assert page.evaluate("sessionStorage.getItem('multimodel.apiKey')") == key
    assert key not in (page.locator("body").text_content() or "")

    page.goto("/ui/usage")  # the same tab: no second prompt
    expect(page.locator("h1")).to_have_text("Usage")
    expect(page.locator("#usage")).not_to_be_empty()
    expect(dialog).to_be_hidden()

    fresh, fresh_watch = open_page(browser, gw.url)  # another session knows no key
    fresh.goto("/ui/playground")
    expect(fresh.get_by_role("dialog")).to_be_visible()
    fresh.get_by_role("button", name="Cancel").click()
    expect(fresh.locator("#main > .error")).to_contain_text("needs a gateway API key")
    for p, w in ((page, watch), (fresh, fresh_watch)):
        p.context.close()
        w.check()
