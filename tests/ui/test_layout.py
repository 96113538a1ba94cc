"""What every page shares: served by the gateway alone (`/` lands on the UI, a strict CSP, no
outside request), labelled controls, visible focus, and no sideways scrolling at 375 px."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fakes.upstream import FakeUpstream, Reply
from tests.support.gateway import GatewayProcess
from tests.ui.conftest import PHONE, open_page, screenshot

PAGES = ("arena", "leaderboard", "usage", "playground")


@pytest.fixture
def phone(browser: Browser, ui_gateway: GatewayProcess) -> Iterator[Page]:
    page, watch = open_page(browser, ui_gateway.url, PHONE)
    yield page
    page.context.close()
    watch.check()


def fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px"


@pytest.mark.parametrize("name", PAGES)
def test_each_page_fits_a_phone(phone: Page, name: str) -> None:
    phone.goto(f"/ui/{name}")
    expect(phone.locator("h1")).to_have_text(name.capitalize())
    expect(phone.locator("nav a[aria-current=page]")).to_have_text(name.capitalize())
    expect(phone.locator("#main .muted", has_text="Loading")).to_have_count(0)
    fits(phone)


def test_an_arena_round_on_a_phone(phone: Page, up: FakeUpstream) -> None:
    up.push(Reply("x" * 400), Reply("A short answer."))  # one long unbreakable word must wrap
    phone.goto("/ui/arena")
    phone.get_by_label("Your prompt").fill("Hi")
    phone.get_by_role("button", name="Send").click()
    expect(phone.get_by_role("button", name="Both are bad")).to_be_enabled()
    a, b = (phone.locator(f"#answer-{s}").bounding_box() for s in "ab")
    assert a and b and b["y"] > a["y"] + a["height"]  # one column: B under A
    fits(phone)
    phone.get_by_role("button", name="Both are bad").click()
    expect(phone.locator("#reveal")).to_contain_text("Both are bad")
    screenshot(phone, "arena-phone")


@pytest.mark.parametrize("name", PAGES)
def test_every_control_has_a_label(page: Page, name: str) -> None:
    page.goto(f"/ui/{name}")
    expect(page.locator("h1")).to_have_text(name.capitalize())
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("main input, main select, main textarea")]
              .filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id || el.name)"""
    )
    assert unlabelled == []


def test_focus_is_visible(page: Page) -> None:
    page.goto("/ui/arena")
    # The arena puts the focus in its prompt once its script has run; from there, Tab is keyboard
    # navigation, which is what :focus-visible styles.
    expect(page.locator("textarea")).to_be_focused()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused and outline != "none"


def test_served_by_the_gateway_alone(ui_gateway: GatewayProcess) -> None:
    with httpx.Client(base_url=ui_gateway.url) as c:
        assert c.get("/").headers["location"] == "/ui"
        assert c.get("/ui").headers["location"] == "/ui/arena"
        r = c.get("/ui/usage")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "http" not in r.text.replace('"http://www.w3.org', "")  # no outside URL in the page
        js = c.get("/ui/static/js/plots.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert c.get("/ui/nothing").status_code == 404
