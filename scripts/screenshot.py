"""Take the pictures of the chat page shown in the README: a short conversation in #general.

    python scripts/screenshot.py                      # docs/screenshot.png and docs/screenshot-phone.png
    python scripts/screenshot.py --out /tmp/chat.png  # /tmp/chat.png and /tmp/chat-phone.png

It starts chat.py on a free port and opens one headless Chromium (Debian's, at
/usr/bin/chromium) with a browser profile per person: alice and bob in #general, carol in the
lobby. alice and bob talk, alice sends bob a direct message and starts typing; then it
photographs bob's page at desktop width, and alice's at phone width (375 px) while bob types,
and stops the server.
"""

import argparse
import sys
from pathlib import Path

from chat_process import CHAT, CHROMIUM, CHROMIUM_MISSING, ROOT, ChatProcess, launch_chromium
from playwright.sync_api import expect, sync_playwright

VIEWPORT = {"width": 900, "height": 560}
PHONE = {"width": 375, "height": 667}
CONVERSATION = [
    ("alice", "Hi bob! Two browsers, two people, one room: it works."),
    ("bob", "Hello alice! I can even see when you are typing."),
    ("alice", "And a restart of the server? The page reconnects by itself."),
]
DIRECT = ("alice", "bob", "Psst: this one is just for you.")
WAIT_MS = 10_000  # how long to wait for the page to show something


def log_in(page, name):
    page.locator("#name").fill(name)
    page.locator("#login").click()
    expect(page.locator("#status")).to_have_text("connected", timeout=WAIT_MS)


def say(page, text):
    page.locator("#input").fill(text)
    page.locator("#send").click()


def photograph_conversation(url, out, phone_out):
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        pages = {}  # one browser profile each: a profile's tabs would all be one user
        for name, room in (("carol", ""), ("bob", "#general"), ("alice", "#general")):
            pages[name] = browser.new_context(viewport=VIEWPORT).new_page()
            pages[name].goto(url + room)
            log_in(pages[name], name)
        bob, alice = pages["bob"], pages["alice"]
        expect(bob.locator("#online > *")).to_have_count(2, timeout=WAIT_MS)
        expect(bob.locator("#rooms > *")).to_have_count(2, timeout=WAIT_MS)

        for name, text in CONVERSATION:
            say(pages[name], text)
            shown = bob.locator("#messages > *", has_text=text)
            expect(shown).to_be_visible(timeout=WAIT_MS)
        sender, recipient, text = DIRECT
        pages[sender].locator("#online button", has_text=recipient).click()
        say(pages[sender], text)
        expect(pages[recipient].locator("#messages .direct")).to_be_visible(timeout=WAIT_MS)

        # Alice starts her next line but does not send it yet.
        alice.locator("#input").press_sequentially("Let's try a room of our own", delay=20)
        expect(bob.locator("#typing")).to_have_text("alice is typing…", timeout=WAIT_MS)
        bob.screenshot(path=str(out))

        # At phone width: alice's side, while bob answers.
        alice.set_viewport_size(PHONE)
        bob.locator("#input").press_sequentially("Got it", delay=20)
        expect(alice.locator("#typing")).to_have_text("bob is typing…", timeout=WAIT_MS)
        alice.screenshot(path=str(phone_out))
        browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "screenshot.png",
        help="where to write the desktop PNG (default: docs/screenshot.png)",
    )
    parser.add_argument(
        "--phone-out",
        type=Path,
        help="where to write the phone-width PNG (default: beside --out, ending in -phone.png)",
    )
    args = parser.parse_args()
    phone_out = args.phone_out or args.out.with_name(f"{args.out.stem}-phone{args.out.suffix}")
    if not CHROMIUM.exists():
        sys.exit(CHROMIUM_MISSING)
    for path in (args.out, phone_out):
        path.parent.mkdir(parents=True, exist_ok=True)

    with ChatProcess(CHAT) as chat:  # stopped with SIGTERM: it says goodbye to every page
        photograph_conversation(chat.url, args.out, phone_out)
    print(f"Wrote {args.out} and {phone_out}")


if __name__ == "__main__":
    main()
