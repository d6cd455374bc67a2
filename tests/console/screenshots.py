"""Screenshots of the console's two pages at desktop and phone width, for the README.

    .venv/bin/python -m tests.console.screenshots [--out docs/screenshots]

Starts its own gunicorn, embedded database and fake model (as the browser tests do), fills them with a few
documents, asks one question through the page, and writes chat-desktop.png, chat-phone.png, documents-desktop.png
and documents-phone.png.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from tests.console.harness import DESKTOP, PHONE, Console, chromium_missing_message, console_server, launch_chromium

BASE_DIR = Path(__file__).resolve().parents[2]
HANDBOOK = {
    "Annual leave": "Employees get 25 days of paid leave a year. Up to five unused days carry over until 31 March.",
    "Parental leave": "Parents get 16 weeks of paid parental leave, to be taken within the child's first year.",
    "Sick leave": "Tell your manager before 10:00 on your first sick day; a doctor's note is needed after 3 days.",
    "Expenses": "Submit receipts within 30 days. Train travel is second class unless the journey exceeds 4 hours.",
    "Remote work": "Staff may work remotely up to three days a week; core hours are 10:00 to 15:00.",
}
TRAVEL_POLICY = b"# Travel\n\nBook flights through the travel desk at least two weeks ahead."
QUESTION = "How many days of leave do I get, and can I carry them over?"


def answer(messages: list[dict]) -> str:
    """Cites the passages the way a model would: by the numbers the prompt gave them ("[n] title")."""
    prompt = "\n".join(str(message.get("content", "")) for message in messages)

    def cite(title: str) -> str:
        found = re.search(rf"\[(\d+)\] {re.escape(title)}\n", prompt)
        return f" [{found.group(1)}]" if found else ""

    return (
        f"You get 25 days of paid leave a year{cite('Annual leave')}. Up to five unused days carry over, but only "
        f"until 31 March{cite('Annual leave')}. Parental leave is separate: 16 weeks, taken within the child's "
        f"first year{cite('Parental leave')}."
    )


def seed(console: Console) -> None:
    with httpx.Client(
        base_url=console.url, headers={"Authorization": f"Bearer {console.api_key}"}, timeout=30
    ) as client:
        handbook = client.post("/vaults", json={"name": "Handbook"}).json()
        client.post("/vaults", json={"name": "Engineering"})
        for title, text in HANDBOOK.items():
            source = "handbook/" + re.sub(r"\W+", "-", title.lower()) + ".md"
            document = {"title": title, "text": text, "source": source, "vault_id": handbook["vault_id"]}
            client.post("/ingest", json=document)
        client.post(
            "/agents",
            json={"name": "HR assistant", "vault_id": handbook["vault_id"], "system_prompt": "Answer as HR would."},
        )


def enter_key(page: Page, key: str) -> None:
    page.fill("#key-input", key)
    page.press("#key-input", "Enter")
    expect(page.locator("#key-dialog")).to_be_hidden()


def shoot(console: Console, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            context = browser.new_context(viewport=viewport, base_url=console.url, is_mobile=name == "phone")
            page = context.new_page()
            page.goto("/console/documents")
            enter_key(page, console.api_key)
            expect(page.locator("#documents tr")).to_have_count(len(HANDBOOK) + (1 if name == "phone" else 0))
            if name == "desktop":
                page.set_input_files(
                    "#file-input",
                    files=[{"name": "travel-policy.md", "mimeType": "text/markdown", "buffer": TRAVEL_POLICY}],
                )
                expect(page.locator(".upload-status")).to_have_text(re.compile("^indexed"))
                expect(page.locator("#documents tr")).to_have_count(len(HANDBOOK) + 1)
            page.screenshot(path=out / f"documents-{name}.png", full_page=True)

            page.goto("/console")
            page.select_option("#vault-select", label="Handbook")
            page.fill("#question", QUESTION)
            page.press("#question", "Enter")
            expect(page.locator(".message.assistant .source").first).to_be_visible(timeout=20_000)
            page.locator("#question").blur()
            page.screenshot(path=out / f"chat-{name}.png", full_page=True)
            context.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs" / "screenshots")
    args = parser.parse_args()
    missing = chromium_missing_message()
    if missing:
        raise SystemExit(missing)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ragsite-screenshots-") as data_dir:
        with console_server(data_dir=Path(data_dir), reply=answer) as console:
            seed(console)
            shoot(console, args.out)
    for png in sorted(args.out.glob("*.png")):
        print(png.relative_to(BASE_DIR) if png.is_relative_to(BASE_DIR) else png)


if __name__ == "__main__":
    main()
