"""Take the picture of the chat page shown in the README: bob's view of a short conversation.

    python scripts/screenshot.py                      # writes docs/screenshot.png
    python scripts/screenshot.py --out /tmp/chat.png

It starts chat.py on a free port, opens two pages in one headless Chromium (Debian's,
at /usr/bin/chromium), logs in alice and bob, lets them talk, leaves alice typing,
photographs bob's page and stops the server.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 900, "height": 560}
CONVERSATION = [
    ("alice", "Hi bob! Two tabs, two people: it works."),
    ("bob", "Hello alice! I can even see when you are typing."),
    ("alice", "And a restart of the server? The page reconnects by itself."),
]
WAIT_MS = 10_000  # how long to wait for the page to show something


def start_chat():
    """Start chat.py on a free port; the process and the URL it printed."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 (read only if the start fails)
    chat = subprocess.Popen(
        [sys.executable, str(ROOT / "chat.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    first_line = chat.stdout.readline().strip()
    if not first_line.startswith("Chat running at "):
        chat.kill()
        log.seek(0)
        sys.exit(f"chat.py did not start:\n{log.read().decode(errors='replace')}")
    return chat, first_line.removeprefix("Chat running at ")


def stop_chat(chat):
    chat.terminate()  # SIGTERM: the server says goodbye to every page and exits
    chat.wait(10)


def log_in(page, name):
    page.locator("#name").fill(name)
    page.locator("#login").click()
    expect(page.locator("#status")).to_have_text("connected", timeout=WAIT_MS)


def say(page, text):
    page.locator("#input").fill(text)
    page.locator("#send").click()


def photograph_conversation(url, out):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport=VIEWPORT)
        pages = {name: context.new_page() for name in ("bob", "alice")}
        for name, page in pages.items():
            page.goto(url)
            log_in(page, name)
        expect(pages["bob"].locator("#online > *")).to_have_count(2, timeout=WAIT_MS)

        for name, text in CONVERSATION:
            say(pages[name], text)
            shown = pages["bob"].locator("#messages > *", has_text=text)
            expect(shown).to_be_visible(timeout=WAIT_MS)

        # Alice starts her next line but does not send it yet.
        pages["alice"].locator("#input").press_sequentially("Let's add rooms next", delay=20)
        expect(pages["bob"].locator("#typing")).to_have_text("alice is typing…", timeout=WAIT_MS)
        pages["bob"].screenshot(path=str(out))
        browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "screenshot.png",
        help="where to write the PNG (default: docs/screenshot.png)",
    )
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium package")
    args.out.parent.mkdir(parents=True, exist_ok=True)

    chat, url = start_chat()
    try:
        photograph_conversation(url, args.out)
    finally:
        stop_chat(chat)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
