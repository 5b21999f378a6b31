"""Lesson step 5, the page: index.html in a real browser, against the real server.

Every test looks at the page as a user does, through the element ids of the contract:
name, login, input, send, messages, typing, online, status.
"""

import re
import shutil
import subprocess
import sys

import pytest
from chat_process import CHROMIUM, CHROMIUM_MISSING, ROOT, ChatProcess

from conftest import page_served

if not CHROMIUM.exists():
    pytest.skip(CHROMIUM_MISSING, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
expect = sync_api.expect

RECONNECT_MS = 20_000  # a dropped page retries after 0.5, 1, 2, 4, 8 s

expect.set_options(timeout=10_000)  # generous: the machine may be busy


@pytest.fixture
def context(browser):
    """One browser profile: its tabs share cookies and storage, as a person's tabs do."""
    context = browser.new_context()
    yield context
    context.close()


def open_chat(context, server):
    page = context.new_page()
    page_served(server, page.goto(server.url).status)
    return page


def log_in(page, name, *, press_enter=False):
    page.locator("#name").fill(name)
    if press_enter:
        page.locator("#name").press("Enter")
    else:
        page.locator("#login").click()
    expect(page.locator("#status")).to_have_text("connected")


def say(page, text, *, press_enter=True):
    page.locator("#input").fill(text)
    if press_enter:
        page.locator("#input").press("Enter")
    else:
        page.locator("#send").click()


def message(page, text):
    """The entry of #messages that shows this text."""
    return page.locator("#messages > *", has_text=text)


TIME = r"\d{1,2}:\d{2}(?:\s?[AP]M)?"  # a chat's local time, as the browser's locale shows it


def expect_message(page, sender, text):
    """The page shows `text` once, sent by `sender`: its time, the sender's name, then the text."""
    shown = re.compile(rf"^\s*(?:{TIME}\s*)?{re.escape(sender)}\W*\s*{re.escape(text)}\s*$")
    expect(message(page, text)).to_have_text(shown)


def two_users(context, server):
    """alice and bob, logged in from two tabs of one browser."""
    alice, bob = open_chat(context, server), open_chat(context, server)
    log_in(alice, "alice")
    log_in(bob, "bob", press_enter=True)
    for page in (alice, bob):
        expect(page.locator("#online > *")).to_have_text(["alice", "bob"])
    return alice, bob


@pytest.mark.page
def test_two_tabs_of_one_browser_are_two_users_who_chat(start_chat, context):
    alice, bob = two_users(context, start_chat())

    say(alice, "hello bob", press_enter=True)
    say(bob, "hi alice, got it", press_enter=False)

    for page in (alice, bob):
        expect_message(page, "alice", "hello bob")
        expect_message(page, "bob", "hi alice, got it")
    expect(alice.locator("#input")).to_have_value("")  # a sent message leaves the field


@pytest.mark.typing
def test_typing_shows_on_the_other_page_and_clears_on_send(start_chat, context):
    alice, bob = two_users(context, start_chat())

    alice.locator("#input").press_sequentially("hel")
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    assert alice.locator("#typing").text_content() == ""  # nobody sees themselves typing

    alice.locator("#input").press_sequentially("lo")
    alice.locator("#input").press("Enter")
    expect_message(bob, "alice", "hello")
    # The chat itself ends the typing, well before the 3 s expiry.
    assert bob.locator("#typing").text_content() == ""


@pytest.mark.typing
def test_typing_clears_by_itself_after_a_pause(start_chat, context):
    alice, bob = two_users(context, start_chat())

    alice.locator("#input").press_sequentially("I wonder")
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    bob.wait_for_timeout(1_000)
    expect(bob.locator("#typing")).to_have_text("alice is typing…", timeout=100)

    # About 3 s after the last keystroke the indicator goes, though nothing was sent.
    expect(bob.locator("#typing")).to_have_text("", timeout=8_000)
    expect(message(bob, "I wonder")).to_have_count(0)
    expect(alice.locator("#input")).to_have_value("I wonder")


@pytest.mark.typing
def test_typing_stays_while_typing_goes_on_and_clears_on_an_emptied_field(start_chat, context):
    alice, bob = two_users(context, start_chat())

    for letter in "keeps typing":  # 12 keystrokes over about 5 s: longer than the 3 s expiry
        alice.locator("#input").press_sequentially(letter)
        expect(bob.locator("#typing")).to_have_text("alice is typing…", timeout=1_000)
        alice.wait_for_timeout(400)

    alice.wait_for_timeout(2_000)  # so that the next keystroke announces typing afresh
    alice.locator("#input").press_sequentially("!")
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    alice.locator("#input").fill("")
    alice.locator("#input").dispatch_event("input")
    expect(bob.locator("#typing")).to_have_text("", timeout=1_500)  # before its 3 s expiry


@pytest.mark.typing
def test_a_typist_who_leaves_stops_typing_and_goes_offline(start_chat, context):
    alice, bob = two_users(context, start_chat())

    alice.locator("#input").press_sequentially("bye")
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    alice.close()
    expect(bob.locator("#typing")).to_have_text("", timeout=1_500)  # before its 3 s expiry
    expect(bob.locator("#online > *")).to_have_text(["bob"])


@pytest.mark.page
@pytest.mark.parametrize(
    "payload",
    ['<img src=x onerror="window.pwned=1">', "<script>window.pwned=1</script>"],
    ids=["img-onerror", "script"],
)
def test_html_in_a_message_is_shown_as_text_and_never_runs(start_chat, context, payload):
    alice, bob = two_users(context, start_chat())

    say(alice, payload)
    say(alice, "after the payload")  # by its arrival an onerror would have fired

    for page in (bob, alice):
        expect_message(page, "alice", payload)
        expect_message(page, "alice", "after the payload")
        expect(page.locator("#messages img, #messages script")).to_have_count(0)
        assert page.evaluate("typeof window.pwned") == "undefined"


@pytest.mark.page
def test_the_page_reconnects_after_a_server_restart(start_chat, context):
    first = start_chat()
    alice, bob = two_users(context, first)

    assert first.stop() == 0
    for page in (alice, bob):
        expect(page.locator("#status")).to_have_text("reconnecting")

    start_chat("--port", str(first.port))  # a later --port wins over the fixture's --port 0
    for page in (alice, bob):
        expect(page.locator("#status")).to_have_text("connected", timeout=RECONNECT_MS)
        expect(page.locator("#online > *")).to_have_text(["alice", "bob"])
    say(alice, "still here?")
    expect_message(bob, "alice", "still here?")


@pytest.mark.security
def test_a_wrong_password_is_reported_not_retried(start_chat, context):
    page = open_chat(context, start_chat("--password", "open sesame"))

    page.locator("#name").fill("alice")
    page.locator("#password").fill("wrong")
    page.locator("#login").click()

    said_so = re.compile("could not log in", re.IGNORECASE)
    expect(page.locator("#messages")).to_contain_text(said_so)
    expect(page.locator("#status")).not_to_have_text(re.compile("connected|reconnecting"))

    # The login form is back, and the right password gets in.
    page.locator("#password").fill("open sesame")
    page.locator("#login").click()
    expect(page.locator("#status")).to_have_text("connected")


@pytest.fixture
def certificate(tmp_path):
    """A self-made certificate for 127.0.0.1: (certfile, keyfile)."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize(
    "scheme",
    [
        pytest.param("http", marks=pytest.mark.page),
        pytest.param("https", marks=pytest.mark.security),
    ],
)
def test_the_page_connects_to_the_server_that_served_it(request, start_chat, browser, scheme):
    if scheme == "https":
        cert, key = request.getfixturevalue("certificate")
        server = start_chat("--certfile", str(cert), "--keyfile", str(key))
    else:
        server = start_chat()
    assert server.url.startswith(f"{scheme}://")
    context = browser.new_context(ignore_https_errors=True)  # the certificate is self-made
    sockets = []
    context.on("page", lambda page: page.on("websocket", lambda ws: sockets.append(ws.url)))
    try:
        alice, bob = two_users(context, server)
        say(alice, f"over {scheme}")
        expect_message(bob, "alice", f"over {scheme}")
    finally:
        context.close()

    socket_scheme = "wss" if scheme == "https" else "ws"
    beside_the_page = f"{socket_scheme}://{server.host}:{server.port}/ws"
    assert sockets and all(url.startswith(beside_the_page) for url in sockets), sockets


def test_the_screenshot_script_writes_a_png(tmp_path):
    out = tmp_path / "shot.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # the assertion below shows its stderr
    )
    assert done.returncode == 0, done.stderr
    # The desktop picture, and the phone-width one beside it.
    for path, widths in ((out, (600, 2000)), (tmp_path / "shot-phone.png", (375, 375))):
        png = path.read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert widths[0] <= width <= widths[1] and 400 <= height <= 1500, (path, width, height)
        assert len(png) > 10_000  # a page with text on it, not a blank image


@pytest.mark.scale_out
def test_pages_on_two_processes_are_one_room(start_shared, context):
    a, b = start_shared(), start_shared()
    alice, bob = open_chat(context, a), open_chat(context, b)
    log_in(alice, "alice")
    log_in(bob, "bob")
    for page in (alice, bob):
        expect(page.locator("#online > *")).to_have_text(["alice", "bob"])

    alice.locator("#input").press_sequentially("over")
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    alice.locator("#input").press_sequentially(" redis")
    alice.locator("#input").press("Enter")
    expect_message(bob, "alice", "over redis")
    expect(bob.locator("#typing")).to_have_text("")

    bob.close()
    expect(alice.locator("#online > *")).to_have_text(["alice"])


def test_two_users_chat_on_a_server_that_has_no_login_yet(context):
    """steps/05_page.py has no /login (lesson 7 adds it): the page puts the name in the URL.

    It checks the page, with the project's own step file whatever --chat names: no marker.
    """
    sockets = []
    context.on("page", lambda page: page.on("websocket", lambda ws: sockets.append(ws.url)))
    with ChatProcess(ROOT / "steps" / "05_page.py") as early:
        alice, bob = two_users(context, early)
        say(alice, "hello bob")
        say(bob, "hi alice")
        for page in (alice, bob):
            expect_message(page, "alice", "hello bob")
            expect_message(page, "bob", "hi alice")
            expect(page.locator("#status")).to_have_text("connected")
            expect(page.locator("#messages .error")).to_have_count(0)
            expect(page.locator("#problem")).to_be_hidden()
    assert sockets and all("?name=" in url and "ticket=" not in url for url in sockets), sockets
