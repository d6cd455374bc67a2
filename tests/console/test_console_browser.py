"""The web console in a real headless chromium, against gunicorn with keys required and a streaming model.

Debian's chromium is required, not optional: without it these tests fail with a message saying how to install it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.console.harness import DESKTOP, PHONE, Console, chromium_missing_message, console_server, launch_chromium

pytestmark = pytest.mark.slow

HOSTILE_TITLE = "<script>window.__pwned = 'title'</script><img src=x onerror=\"window.__pwned = 'img'\">"
HOSTILE_TEXT = (
    "Holiday rules for staff. <script>window.__pwned = 'text'</script> "
    "<img src=x onerror=\"window.__pwned = 'text-img'\"> Staff get every public holiday off."
)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console_server(data_dir=tmp_path_factory.mktemp("console")) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = chromium_missing_message()
    if missing:
        pytest.fail(missing, pytrace=False)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, base_url=console.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    yield page
    context.close()
    assert page_errors == [], "the console's scripts threw"


def api(console: Console) -> httpx.Client:
    return httpx.Client(base_url=console.url, headers={"Authorization": f"Bearer {console.api_key}"}, timeout=30)


def submit_key(page: Page, key: str) -> None:
    expect(page.locator("#key-dialog")).to_be_visible()
    page.fill("#key-input", key)
    page.press("#key-input", "Enter")


def enter_key(page: Page, key: str) -> None:
    submit_key(page, key)
    expect(page.locator("#key-dialog")).to_be_hidden()


def ask(page: Page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")


def test_upload_a_file_ask_about_it_see_the_answer_stream_with_its_source_and_keep_it_across_a_reload(
    page: Page, console: Console, tmp_path: Path
):
    page.goto("/console/documents")
    expect(page.locator("#key-dialog-message")).to_have_text("This service needs an API key.")
    enter_key(page, console.api_key)
    assert page.evaluate("sessionStorage.getItem('ragsite.apiKey')") == console.api_key
    assert console.api_key not in page.evaluate("JSON.stringify(localStorage)")

    handbook = tmp_path / "leave-policy.txt"
    handbook.write_text("Employees get twenty five days of paid leave each year. Unused leave carries over to March.")
    page.set_input_files("#file-input", str(handbook))
    upload = page.locator(".upload", has_text="leave-policy.txt")
    expect(upload.locator(".upload-status")).to_have_text(re.compile(r"^indexed · 1 chunk$"))
    expect(upload.locator("progress")).to_have_attribute("value", "1")
    expect(page.locator("#documents tr .title")).to_have_text(["leave-policy.txt"])

    page.get_by_role("link", name="Chat").click()
    expect(page.locator("#question")).to_be_focused()
    question = "How many days of paid leave do employees get?"
    ask(page, question)

    # Caught while the answer is still being written: tokens are shown as they arrive, not all at the end.
    partial = page.wait_for_function(
        """() => {
            const content = document.querySelector('.message.assistant.streaming .content');
            return content && content.textContent.length > 0 && content.textContent;
        }"""
    ).json_value()
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile(r"\bstreaming\b"))
    final = f"Based on the context [1]: {question}"
    expect(answer.locator(".content")).to_have_text(final)
    assert final.startswith(partial) and len(partial) < len(final)

    card = answer.locator(".source")
    expect(card).to_have_count(1)
    expect(card.locator(".source-title")).to_have_text("leave-policy.txt")
    expect(card.locator(".source-snippet")).to_contain_text("twenty five days of paid leave")
    expect(card.locator(".source-score")).to_have_text(re.compile(r"^score [01]\.\d\d$"))
    citation = answer.locator("a.cite")
    expect(citation).to_have_text("[1]")
    citation.click()
    assert page.evaluate("document.querySelector(':target') && document.querySelector(':target').id") == (
        card.get_attribute("id")
    )

    session_id = page.evaluate("localStorage.getItem('ragsite.sessionId')")
    with api(console) as client:
        saved = client.get(f"/sessions/{session_id}").json()
    assert [m["role"] for m in saved["messages"]] == ["user", "assistant"]
    assert saved["messages"][1]["content"] == final

    page.reload()
    expect(page.locator(".message")).to_have_count(2)
    expect(page.locator(".message.user .content")).to_have_text(question)
    restored = page.locator(".message.assistant")
    expect(restored.locator(".content")).to_have_text(final)
    expect(restored.locator(".source-title")).to_have_text("leave-policy.txt")
    expect(restored.locator("a.cite")).to_have_attribute("href", "#" + restored.locator(".source").get_attribute("id"))

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".message")).to_have_count(0)
    assert page.evaluate("localStorage.getItem('ragsite.sessionId')") is None
    page.reload()
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator(".message")).to_have_count(0)


def test_a_refused_key_is_asked_for_again_and_a_failing_model_is_shown_as_a_readable_message(
    page: Page, console: Console
):
    page.goto("/")
    # The dialog comes back at once, so only its new message shows that the key was tried and refused.
    submit_key(page, "rsk_this-key-does-not-exist")
    expect(page.locator("#key-dialog-message")).to_have_text(
        "That key was refused (Invalid API key). Enter another one."
    )
    assert page.evaluate("sessionStorage.getItem('ragsite.apiKey')") is None
    enter_key(page, console.api_key)

    console.model.fail_always(status=500, endpoint="chat")
    try:
        ask(page, "What happens when the model is down?")
        expect(page.locator("#error")).to_have_text("The language model provider failed")
    finally:
        console.model.clear_faults()
    failed = page.locator(".message.assistant.failed")
    expect(failed.locator(".content")).to_have_text("The language model provider failed")
    # The question stays in the box to be sent again, and nothing was saved.
    expect(page.locator("#question")).to_have_value("What happens when the model is down?")
    assert page.evaluate("localStorage.getItem('ragsite.sessionId')") is None

    page.press("#question", "Enter")
    expect(page.locator(".message.assistant").last.locator(".content")).to_have_text(
        "Based on the context [1]: What happens when the model is down?"
    )
    expect(page.locator("#error")).to_be_hidden()


def test_markup_in_a_document_title_text_or_question_is_shown_as_text_and_never_run(
    page: Page, console: Console, tmp_path: Path
):
    with api(console) as client:
        ingested = client.post("/ingest", json={"title": HOSTILE_TITLE, "text": HOSTILE_TEXT, "source": "<b>x</b>"})
    assert ingested.status_code == 200, ingested.text
    hostile_file = tmp_path / "<img src=x onerror=alert(1)>.txt"
    hostile_file.write_text("Parking rules: <script>window.__pwned = 'file'</script> staff park for free.")

    page.goto("/console/documents")
    enter_key(page, console.api_key)
    page.set_input_files("#file-input", str(hostile_file))
    expect(page.locator(".upload .upload-name")).to_have_text(hostile_file.name)
    expect(page.locator(".upload .upload-status")).to_have_text(re.compile("^indexed"))
    expect(page.locator("#documents .title", has_text=HOSTILE_TITLE)).to_have_count(1)
    expect(page.locator("#documents .title", has_text=hostile_file.name)).to_have_count(1)
    expect(page.locator("#documents .document-source", has_text="<b>x</b>")).to_have_count(1)
    assert page.locator("#documents script, #documents img, #documents b, .uploads img").count() == 0

    page.goto("/console")
    question = "What are the holiday rules for staff? <img src=x onerror=\"window.__pwned = 'question'\">"
    ask(page, question)
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile(r"\bstreaming\b"))
    expect(page.locator(".message.user .content")).to_have_text(question)
    expect(answer.locator(".content")).to_contain_text("<img src=x onerror=")
    expect(answer.locator(".source-title", has_text=HOSTILE_TITLE)).to_have_count(1)
    expect(answer.locator(".source-snippet", has_text="<script>window.__pwned = 'text'</script>")).to_have_count(1)
    assert page.locator("#messages script, #messages img").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_several_files_dropped_at_once_each_get_a_status_and_the_list_searches_pages_and_deletes(
    page: Page, console: Console
):
    with api(console) as client:
        vault = client.post("/vaults", json={"name": "Paging"}).json()
        for number in range(21):
            text = f"Meeting note {number:02d} about the quarterly roadmap."
            client.post("/ingest", json={"title": f"Note {number:02d}", "text": text, "vault_id": vault["vault_id"]})

    page.goto("/console/documents")
    enter_key(page, console.api_key)
    page.select_option("#vault-select", label="Paging")
    expect(page.locator("#documents-summary")).to_have_text("Documents 1–20 of 21")
    expect(page.locator("#documents tr")).to_have_count(20)
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#documents-summary")).to_have_text("Documents 21–21 of 21")
    expect(page.locator("#documents .title")).to_have_text(["Note 00"])

    dropped = page.evaluate_handle(
        """() => {
            const files = new DataTransfer();
            files.items.add(new File(["Bicycles go in the basement rack."], "bicycles.md", {type: "text/markdown"}));
            files.items.add(new File([new Uint8Array([137, 80, 78, 71, 13, 10])], "photo.png", {type: "image/png"}));
            return files;
        }"""
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": dropped})
    expect(page.locator(".upload", has_text="bicycles.md").locator(".upload-status")).to_have_text("indexed · 1 chunk")
    expect(page.locator(".upload", has_text="photo.png").locator(".upload-status")).to_have_text(
        re.compile(r"^failed: This file type cannot be read")
    )
    expect(page.locator("#documents-summary")).to_have_text("Documents 1–20 of 22")

    page.fill("#search-input", "bicycles")
    page.press("#search-input", "Enter")
    expect(page.locator("#documents-summary")).to_have_text("Documents 1–1 of 1 matching “bicycles”")
    row = page.locator("#documents tr", has_text="bicycles.md")
    document_id = row.get_attribute("data-document-id")

    row.get_by_role("button", name="Delete bicycles.md").click()
    expect(page.locator("#confirm-message")).to_contain_text("“bicycles.md” and its chunks will be deleted")
    page.get_by_role("button", name="Cancel").click()
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Delete bicycles.md").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#documents-summary")).to_have_text("No documents matching “bicycles”.")
    with api(console) as client:
        assert client.get(f"/documents/{document_id}").status_code == 404


def test_on_a_phone_nothing_overflows_and_the_keyboard_reaches_everything_with_visible_focus(
    browser: Browser, console: Console
):
    context = browser.new_context(viewport=PHONE, base_url=console.url, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto("/")
        enter_key(page, console.api_key)
        for path in ("/", "/console/documents"):
            page.goto(path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path

        page.goto("/")
        expect(page.locator("#question")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.locator("#send")).to_be_focused()
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        page.keyboard.press("Shift+Tab")
        page.keyboard.type("Where do bicycles go?")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("Thanks.")
        expect(page.locator("#question")).to_have_value("Where do bicycles go?\nThanks.")
        page.keyboard.press("Enter")
        expect(page.locator(".message.user .content")).to_have_text("Where do bicycles go?\nThanks.")
        expect(page.locator(".message.assistant .content")).to_contain_text("Based on the context")
    finally:
        context.close()


def test_static_files_are_served_by_whitenoise_under_hashed_names_from_this_origin(console: Console):
    page = httpx.get(console.url + "/", headers={"Accept": "text/html"}, timeout=10)
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)

    assert {Path(asset).suffix for asset in assets} == {".css", ".js"}
    for asset in assets:
        assert re.search(r"\.[0-9a-f]{12}\.(js|css)$", asset), asset
        served = httpx.get(console.url + asset, timeout=10)
        assert served.status_code == 200
        assert "immutable" in served.headers["Cache-Control"]
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text)
