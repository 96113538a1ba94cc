"""Browser tests of the web UI: Debian's Chromium, headless, driven by Playwright against a real
gateway process whose models answer through the local fake upstream.

Each page fixture fails its test on a JavaScript error or on any request that leaves the
gateway's origin (the UI must load nothing from outside)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import KEY_ENV
from tests.fakes.upstream import FakeUpstream, closed_port_url
from tests.support.gateway import GatewayProcess

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
POOL = ["ui-alpha", "ui-beta", "ui-gamma"]
PRICE = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
TIMEOUT_MS = 20_000  # the full suite runs gateways, trainers and a browser on two cores


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:  # a missing browser is a failure, never a skip
        pytest.fail("the UI tests need Debian's chromium on PATH (apt-get install chromium)")
    return path


def ui_config(up: FakeUpstream, workdir: Path, **extra: Any) -> dict[str, Any]:
    models = [
        {
            "name": n,
            "provider": "openai-compatible",
            "model": f"upstream-{n}",
            "api_base": up.openai_base,
            "price": PRICE,
        }
        for n in POOL
    ]
    models.append(
        {
            "name": "ui-down",
            "provider": "openai-compatible",
            "model": "m",
            "api_base": closed_port_url() + "/v1",
        }
    )
    return {
        "database": f"sqlite:///{workdir / 'usage.db'}",
        "models": models,
        "preference": {
            "arena_pool": POOL,
            "bootstrap_rounds": 100,
            "auto": {"name": "ui-auto", "candidates": POOL, "refresh_seconds": 1},
        },
        **extra,
    }


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Assertions wait like actions do (20 s, not 5): a busy machine must not fail a test.
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture(scope="session")
def ui_gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("ui")
    with GatewayProcess(workdir, ui_config(upstream, workdir), env=KEY_ENV) as gw:
        yield gw


@pytest.fixture
def database(ui_gateway: GatewayProcess) -> str:
    return f"sqlite:///{ui_gateway.workdir / 'usage.db'}"


@pytest.fixture
def api(ui_gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui_gateway.url, timeout=30) as c:
        yield c


class PageWatch:
    """What a page did that a test must not let pass: JavaScript errors, outside requests."""

    def __init__(self, page: Page, origin: str) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "request", lambda r: None if r.url.startswith((origin, "data:")) else self.outside.append(r.url)
        )

    def check(self) -> None:
        assert not self.errors, f"JavaScript errors: {self.errors}"
        assert not self.outside, f"requests outside the gateway: {self.outside}"


def open_page(browser: Browser, origin: str, viewport: dict[str, int] = DESKTOP) -> tuple[Page, PageWatch]:
    context = browser.new_context(viewport=viewport, base_url=origin)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    return page, PageWatch(page, origin)


@pytest.fixture
def page(browser: Browser, ui_gateway: GatewayProcess) -> Iterator[Page]:
    """A fresh browser tab (its own session and local storage) on the shared gateway."""
    page, watch = open_page(browser, ui_gateway.url)
    yield page
    page.context.close()
    watch.check()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (tests/ui/artifacts/, not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
