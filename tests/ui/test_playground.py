"""The playground in a real browser: a streamed chat with a configured model, a thumbs up that
lands in the feedback table, model text shown as text, and errors shown in the page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.fakes.upstream import Fail, FakeUpstream, Reply
from tests.preference.conftest import usage_row
from tests.support.databases import rows
from tests.ui.conftest import screenshot


def send(page: Page, model: str, text: str) -> None:
    page.get_by_label("Model").select_option(model)
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()


def test_a_streamed_answer_and_a_thumbs_up_in_the_database(
    page: Page, up: FakeUpstream, database: str
) -> None:
    page.goto("/ui/playground")
    up.push(Reply("Once upon a time there was a gateway", chunk_delay=0.03))
    send(page, "ui-beta", "Tell me a story.")
    answer = page.locator(".msg.assistant").first  # locators are lazy: `last` would move on
    expect(answer.locator(".text")).to_have_text("Once upon a time there was a gateway")
    expect(answer.locator(".who")).to_have_text("ui-beta")
    thumbs = answer.locator(".thumbs")
    request_id = thumbs.get_attribute("data-request-id")
    assert request_id and request_id.startswith("req_")
    assert usage_row(database, request_id)["public_model"] == "ui-beta"

    good = thumbs.get_by_role("button", name="Good")
    good.click()
    expect(good).to_have_attribute("aria-pressed", "true")
    expect(thumbs).to_contain_text("Thanks")
    [fb] = [f for f in rows(database, "feedback") if f["request_id"] == request_id]
    assert fb["rating"] == "up" and str(fb["user"]).startswith("ui-")

    # The conversation continues: the second request carries the first answer.
    send(page, "ui-beta", "And then?")
    expect(page.locator(".msg.assistant")).to_have_count(2)
    sent = up.requests[-1].body or {}
    assert [m["content"] for m in sent["messages"]] == [
        "Tell me a story.",
        "Once upon a time there was a gateway",
        "And then?",
    ]
    screenshot(page, "playground")

    thumbs.get_by_role("button", name="Bad").click()  # changing one's mind replaces the rating
    expect(thumbs.get_by_role("button", name="Bad")).to_have_attribute("aria-pressed", "true")
    expect(good).to_have_attribute("aria-pressed", "false")
    assert [f["rating"] for f in rows(database, "feedback") if f["request_id"] == request_id] == ["down"]


def test_model_text_is_shown_as_text(page: Page, up: FakeUpstream) -> None:
    page.goto("/ui/playground")
    attack = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    send(page, "ui-alpha", attack)
    answer = page.locator(".msg.assistant .text").last
    expect(answer).to_have_text("Echo: " + attack)
    assert answer.locator("img, b").count() == 0
    assert page.evaluate("window.pwned") is None


def test_rate_limits_and_a_down_provider_are_readable_messages(page: Page, up: FakeUpstream) -> None:
    page.goto("/ui/playground")
    up.push(Fail(429, retry_after="7"))
    send(page, "ui-alpha", "Hello?")
    problem = page.locator("#main > .error")
    expect(problem).to_contain_text("Rate limited")
    expect(problem).to_contain_text("Try again in 7 s")
    expect(page.locator(".msg.assistant")).to_have_count(0)  # no empty answer left behind

    send(page, "ui-down", "Hello?")
    expect(problem).to_contain_text("provider is unavailable")
    expect(page.get_by_label("Message")).to_be_enabled()  # ready for another try
