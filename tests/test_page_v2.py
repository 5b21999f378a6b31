"""The page, second version: phone and desktop widths, times, direct messages, rooms, sessions.

Each test is marked with the lesson step whose server it needs: page (5), security (7), rooms (9).

Each person has a browser profile of their own (a Playwright context): a profile's tabs share
one login, as a person's tabs do. Every test looks at the page as a user does, through the
element ids of the contract (chat-protocol.md, "The page").
"""

import itertools
import json
import re
import urllib.error
import urllib.request

import pytest
from test_page import TIME, expect, expect_message, log_in, message, say

from conftest import page_served

PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 800}
WIDTHS = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375px", "1280px"])
FROM_A_FILE = "open this page from the chat server's address"


@pytest.fixture
def profile(browser):
    """profile(viewport) is a new browser profile; `.problems` collects its pages' JS errors."""
    contexts = []

    def make(viewport=DESKTOP):
        context = browser.new_context(viewport=viewport)
        context.problems = []

        def on_console(entry):
            if entry.type == "error":
                context.problems.append(f"console error: {entry.text}")

        def watch(page):
            page.on("console", on_console)
            page.on("pageerror", lambda error: context.problems.append(f"page error: {error}"))

        context.on("page", watch)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def open_page(context, server, room=""):
    page = context.new_page()
    page_served(server, page.goto(server.url + (f"#{room}" if room else "")).status)
    return page


def person(profile, server, name, room="", viewport=DESKTOP):
    """`name`, logged in on a page of a profile of their own."""
    page = open_page(profile(viewport), server, room)
    log_in(page, name)
    return page


def show_panel(page):
    """On a phone the people and rooms are behind a button: press it."""
    toggle = page.locator("#panel-toggle")
    if toggle.is_visible():
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#online")).to_be_visible()


def hide_panel(page):
    toggle = page.locator("#panel-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") == "true":
        toggle.click()


def layout_problems(page):
    """Controls shown outside the viewport, and any sideways scrolling of the document."""
    return page.evaluate(
        """() => {
        const problems = [];
        const root = document.documentElement;
        if (root.scrollWidth > innerWidth) problems.push(`scrollWidth ${root.scrollWidth} > ${innerWidth}`);
        for (const el of document.querySelectorAll("button, input, a[href], [tabindex]")) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 && box.height === 0) continue;  // not shown
            if (box.left < -0.5 || box.top < -0.5 || box.right > innerWidth + 0.5
                || box.bottom > innerHeight + 0.5) {
                problems.push(`#${el.id || el.tagName} at ${JSON.stringify(box)}`);
            }
        }
        return problems;
    }"""
    )


def rest(server, method, path, token):
    """A request to the server's JSON API with a bearer token; (status, parsed answer)."""
    request = urllib.request.Request(
        server.url + path, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            body = answer.read()
            return answer.status, json.loads(body) if body else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def rest_login(server, name):
    request = urllib.request.Request(
        server.url + "login", data=json.dumps({"name": name}).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


# Layout: every control on screen at phone and desktop width, nothing sideways.


@pytest.mark.rooms
@WIDTHS
def test_every_control_is_on_screen_and_nothing_scrolls_sideways(start_chat, profile, viewport):
    server = start_chat()
    page = open_page(profile(viewport), server)
    expect(page.locator("#name")).to_be_focused()
    expect(page.locator("#status")).to_be_hidden()  # nothing to say before logging in
    assert layout_problems(page) == []

    long_name = "Bartholomew_Montgomery_Smithers1"  # 32 characters, nowhere to break
    log_in(page, long_name)
    expect(page.locator("#input")).to_be_focused()
    expect(page.locator("#me")).to_have_text(long_name)
    assert layout_problems(page) == []

    long_word = "Supercalifragilistic" * 15  # 300 letters without a space
    say(page, long_word)
    expect(message(page, long_word)).to_be_visible()
    widths = page.locator("#messages").evaluate("list => [list.scrollWidth, list.clientWidth]")
    assert widths[0] <= widths[1], f"a long word widens #messages: {widths}"
    assert layout_problems(page) == []

    show_panel(page)
    expect(page.locator("#rooms > *")).to_have_count(1)
    assert layout_problems(page) == []
    if viewport is PHONE:  # the panel folds away again, and the messages come back
        hide_panel(page)
        expect(page.locator("#online")).to_be_hidden()
        expect(message(page, long_word)).to_be_visible()


# Chats: their time, one's own, and who said them.


@pytest.mark.page
def test_chats_show_their_time_and_ones_own_look_different(start_chat, profile):
    server = start_chat()
    alice, bob = person(profile, server, "alice"), person(profile, server, "bob")
    watcher = server.connect("carol")  # sees what the server sent, "id" included

    say(alice, "what time is it?", press_enter=False)
    expect(alice.locator("#input")).to_be_focused()  # after the Send button too
    sent = watcher.recv_type("chat")
    for page in (alice, bob):
        expect_message(page, "alice", "what time is it?")
        time = message(page, "what time is it?").locator("time")
        expect(time).to_have_text(re.compile(rf"^{TIME}$"))
        expect(time).to_have_attribute("title", re.compile(r"\d{4}|\d{1,2}/\d{1,2}/\d{2}"))
        shown_at = time.get_attribute("datetime")
        assert abs(page.evaluate("at => Date.parse(at)", shown_at) - sent["ts"]) < 1000
        entry = message(page, "what time is it?")
        if "id" in sent:
            expect(entry).to_have_attribute("data-id", str(sent["id"]))
        else:
            assert entry.get_attribute("data-id") is None
    expect(message(alice, "what time is it?")).to_have_class(re.compile(r"\bmine\b"))
    expect(message(bob, "what time is it?")).not_to_have_class(re.compile(r"\bmine\b"))
    # A join is a notice, not a chat.
    expect(alice.locator("#messages > *", has_text="bob joined")).to_have_class("notice")


# Direct messages.


@pytest.mark.rooms
@WIDTHS
def test_a_direct_message_started_from_online_reaches_only_its_two_sides(
    start_chat, profile, viewport
):
    server = start_chat()
    alice = person(profile, server, "alice", viewport=viewport)
    bob = person(profile, server, "bob")
    carol = person(profile, server, "carol")
    show_panel(alice)
    expect(alice.locator("#online > *")).to_have_text(["alice", "bob", "carol"])
    expect(alice.locator("#online > *", has_text="alice").locator("button")).to_have_count(0)

    alice.locator("#online button", has_text="bob").click()
    expect(alice.locator("#dm")).to_be_visible()
    expect(alice.locator("#dm")).to_have_text(re.compile(r"to bob\s*×"))
    expect(alice.locator("#input")).to_have_attribute("placeholder", "Message to bob")
    expect(alice.locator("#input")).to_be_focused()
    assert layout_problems(alice) == []
    say(alice, "psst, bob")

    to_bob = message(bob, "psst, bob")
    expect(to_bob).to_have_class(re.compile(r"\bdirect\b"))
    expect(to_bob).to_contain_text("from alice, to you")
    mine = message(alice, "psst, bob")
    expect(mine).to_have_class(re.compile(r"\bdirect\b"))
    expect(mine).to_have_class(re.compile(r"\bmine\b"))
    expect(mine).to_contain_text("to bob")

    alice.locator("#input").press("Escape")  # back to the whole room
    expect(alice.locator("#dm")).to_be_hidden()
    expect(alice.locator("#input")).to_have_attribute("placeholder", "Say something")
    say(alice, "hello everyone")
    expect_message(carol, "alice", "hello everyone")
    expect(message(carol, "psst, bob")).to_have_count(0)
    expect(message(bob, "hello everyone")).not_to_have_class(re.compile(r"\bdirect\b"))


@pytest.mark.rooms
def test_a_refused_direct_message_is_an_error_and_not_lost(start_chat, profile):
    server = start_chat()
    alice, bob = person(profile, server, "alice"), person(profile, server, "bob")
    alice.locator("#online button", has_text="bob").click()
    bob.close()
    expect(alice.locator("#online > *")).to_have_text(["alice"])

    say(alice, "are you there?")
    refusal = alice.locator("#messages > .error")
    expect(refusal).to_have_count(1)
    expect(refusal.locator("[role=alert]")).to_be_visible()
    expect(alice.locator("#input")).to_have_value("are you there?")  # back in the field


# Errors.


@pytest.mark.security
def test_a_too_long_chat_is_shown_as_an_error_and_kept(start_chat, profile):
    server = start_chat()
    alice = person(profile, server, "alice")
    too_long = "x" * 5000  # the server takes 4096 bytes at most

    say(alice, "a chat that fits")
    say(alice, too_long)
    refusal = alice.locator("#messages > .error")
    expect(refusal).to_be_visible()
    expect(refusal.locator("[role=alert]")).to_be_visible()
    fine = message(alice, "a chat that fits")
    style = "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
    assert refusal.evaluate(style) != fine.evaluate(style)
    expect(message(alice, too_long)).to_have_count(0)
    expect(alice.locator("#input")).to_have_value(too_long)
    expect(alice.locator("#status")).to_have_text("connected")


# Rooms.


@pytest.mark.rooms
@WIDTHS
def test_rooms_keep_to_themselves_and_the_list_moves_between_them(start_chat, profile, viewport):
    server = start_chat()
    alice = person(profile, server, "alice", room="general")
    bob = person(profile, server, "bob", viewport=viewport)
    expect(alice.locator("#room")).to_have_text("general")
    expect(bob.locator("#room")).to_have_text("lobby")
    expect(alice.locator("#online > *")).to_have_text(["alice"])

    say(alice, "only in general")
    say(bob, "only in the lobby")
    expect_message(alice, "alice", "only in general")
    expect_message(bob, "bob", "only in the lobby")
    expect(message(bob, "only in general")).to_have_count(0)
    expect(message(alice, "only in the lobby")).to_have_count(0)

    show_panel(bob)
    rooms = bob.locator("#rooms > *")
    expect(rooms).to_have_text([re.compile(r"general\D*1\b"), re.compile(r"lobby\D*1\b")])
    rooms.filter(has_text="general").click()
    expect(bob.locator("#room")).to_have_text("general")
    assert bob.url.endswith("#general")
    expect(bob.locator("#status")).to_have_text("connected")
    expect(bob.locator("#input")).to_be_focused()
    show_panel(bob)
    expect(bob.locator("#online > *")).to_have_text(["alice", "bob"])
    expect(alice.locator("#online > *")).to_have_text(["alice", "bob"])
    expect(alice.locator("#rooms > *")).to_have_text([re.compile(r"general\D*2\b")])

    say(bob, "hi from general")
    expect_message(alice, "bob", "hi from general")


@pytest.mark.rooms
def test_a_room_by_name_is_checked_before_moving(start_chat, profile):
    server = start_chat()
    alice = person(profile, server, "alice")
    field = alice.locator("#room-name")

    field.fill("Not A Room!")
    field.press("Enter")
    expect(alice.locator("#room-error")).to_be_visible()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(alice.locator("#room")).to_have_text("lobby")

    field.fill("study-group_2")
    alice.locator("#room-go").click()
    expect(alice.locator("#room")).to_have_text("study-group_2")
    expect(alice.locator("#room-error")).to_be_hidden()
    expect(alice.locator("#status")).to_have_text("connected")

    alice.evaluate("location.hash = '#lobby'")  # a changed fragment moves too
    expect(alice.locator("#room")).to_have_text("lobby")
    expect(alice.locator("#status")).to_have_text("connected")
    expect(alice.locator("#rooms > *")).to_have_text([re.compile(r"lobby\D*1\b")])


# Sessions.


@pytest.mark.security
def test_a_second_tab_is_the_same_user_and_the_socket_gets_a_ticket(start_chat, profile):
    server = start_chat()
    context = profile()
    sockets = []
    context.on("page", lambda page: page.on("websocket", lambda ws: sockets.append(ws.url)))
    first = open_page(context, server)
    log_in(first, "alice")

    second = open_page(context, server)
    expect(second.locator("#status")).to_have_text("connected")
    expect(second.locator("#login-form")).to_be_hidden()
    expect(second.locator("#me")).to_have_text("alice")
    expect(second.locator("#input")).to_be_focused()
    expect(first.locator("#online > *")).to_have_text(["alice"])  # one name, two tabs

    say(second, "from my other tab")
    expect(message(first, "from my other tab")).to_have_class(re.compile(r"\bmine\b"))
    assert len(sockets) == 2
    for url in sockets:
        assert "ticket=" in url and "token=" not in url, url


@pytest.mark.security
def test_log_in_as_someone_else_in_one_tab(start_chat, profile):
    server = start_chat()
    context = profile()
    first = open_page(context, server)
    log_in(first, "alice")
    second = open_page(context, server)
    expect(second.locator("#me")).to_have_text("alice")

    second.locator("#switch-user").click()
    expect(second.locator("#login-form")).to_be_visible()
    expect(second.locator("#name")).to_be_focused()
    log_in(second, "bob")
    expect(second.locator("#me")).to_have_text("bob")
    expect(first.locator("#me")).to_have_text("alice")
    for page in (first, second):
        expect(page.locator("#online > *")).to_have_text(["alice", "bob"])


@pytest.mark.security
def test_a_name_held_by_another_session_is_taken(start_chat, profile):
    server = start_chat()
    person(profile, server, "alice")
    other = open_page(profile(), server)
    other.locator("#name").fill("alice")
    other.locator("#login").click()
    expect(other.locator("#messages > .error")).to_contain_text("taken")
    expect(other.locator("#login-form")).to_be_visible()
    expect(other.locator("#status")).to_be_hidden()


@pytest.mark.security
def test_logout_returns_every_tab_of_the_session_to_the_login_form(start_chat, profile):
    server = start_chat()
    context = profile()
    first = open_page(context, server)
    log_in(first, "alice")
    second = open_page(context, server)
    expect(second.locator("#status")).to_have_text("connected")

    first.locator("#logout").click()
    expect(first.locator("#login-form")).to_be_visible()
    expect(first.locator("#name")).to_be_focused()
    expect(first.locator("#status")).to_be_hidden()
    # The server closes the session's other sockets with 4003: that tab says so.
    expect(second.locator("#login-form")).to_be_visible()
    expect(second.locator("#messages > .error")).to_contain_text(
        re.compile("logged out", re.IGNORECASE)
    )
    expect(second.locator("#name")).to_be_focused()

    third = open_page(context, server)  # the browser forgot the session too
    expect(third.locator("#login-form")).to_be_visible()
    log_in(third, "alice")  # the name is free at once


@pytest.mark.security
def test_a_refused_token_shows_the_login_form_with_the_reason(start_chat, profile):
    server = start_chat()
    status, answer = rest_login(server, "alice")
    assert status == 200, answer
    assert rest(server, "POST", "logout", answer["token"])[0] == 204
    page = open_page(profile(), server)
    page.evaluate("session => localStorage.setItem('chat.session', session)", json.dumps(answer))
    page.reload()

    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#messages > .error")).to_contain_text("401")
    expect(page.locator("#name")).to_have_value("alice")
    expect(page.locator("#name")).to_be_focused()


@pytest.mark.security
def test_a_ticket_refused_for_too_many_requests_says_so(start_chat, profile):
    server = start_chat("--login-rate", "0.05")  # one request now, the next in 20 s
    page = open_page(profile(), server)
    page.locator("#name").fill("alice")
    page.locator("#login").click()
    expect(page.locator("#problem")).to_contain_text("429")
    expect(page.locator("#problem")).to_contain_text("too many")
    expect(page.locator("#status")).to_have_text("reconnecting")


@pytest.mark.security
def test_the_token_is_refreshed_before_it_expires_without_a_reconnect(start_chat, profile):
    server = start_chat("--token-ttl", "4")
    context = profile()
    sockets = []
    context.on("page", lambda page: page.on("websocket", lambda ws: sockets.append(ws.url)))
    alice = open_page(context, server)
    log_in(alice, "alice")
    expires = alice.evaluate("JSON.parse(localStorage.getItem('chat.session')).expires")

    alice.wait_for_timeout(9_000)  # two token lifetimes: a page that did not refresh was closed
    expect(alice.locator("#status")).to_have_text("connected", timeout=100)
    assert len(sockets) == 1, sockets
    assert "4001" not in server.log()
    later = alice.evaluate("JSON.parse(localStorage.getItem('chat.session')).expires")
    assert later > expires + 4000
    say(alice, "still the same socket")
    expect_message(alice, "alice", "still the same socket")
    expect(alice.locator("#messages > .error")).to_have_count(0)


# Status, and saying why it cannot connect.


@pytest.mark.security
@pytest.mark.parametrize("random", [0.0, 0.5], ids=["least", "mean"])
def test_reconnects_pause_half_a_second_doubling_with_jitter(start_chat, profile, random):
    """With Math.random() fixed the pauses are 0.5 s x (0.5 + random), doubling each time."""
    server = start_chat()
    context = profile()
    context.add_init_script(f"Math.random = () => {random};")
    # When each ticket is asked for (one per attempt), on the page's own clock: the test's
    # "request" events reach Python late when the machine is busy, by as much as 0.15 s.
    context.add_init_script(
        "window.tickets = []; const fetched = window.fetch;"
        "window.fetch = (path, options) => {"
        "  if (String(path).endsWith('/ticket')) window.tickets.push(performance.now() / 1000);"
        "  return fetched(path, options); };"
    )
    page = open_page(context, server)
    log_in(page, "alice")
    before = page.evaluate("window.tickets.length")

    assert server.stop() == 0
    expect(page.locator("#status")).to_have_text("reconnecting")
    page.wait_for_timeout(1000 + 1000 * (0.5 + random) * (0.5 + 1 + 2 + 4))
    tickets = page.evaluate("window.tickets")[before:]
    pauses = [later - earlier for earlier, later in itertools.pairwise(tickets)][:3]
    expected = [base * (0.5 + random) for base in (1, 2, 4)]
    assert len(pauses) == 3, tickets
    # The first attempts may meet a server still shutting down (a ticket, then a refused
    # handshake), so the first pause is only bounded above; the later ones are exact.
    assert pauses[0] <= expected[0] + 0.6, (pauses, expected)
    for pause, wanted in zip(pauses[1:], expected[1:], strict=True):
        assert wanted - 0.1 <= pause <= wanted + 0.6, (pauses, expected)


@pytest.mark.rooms
def test_an_unreachable_server_is_said_in_words_and_the_list_marked_stale(start_chat, profile):
    first = start_chat()
    alice = person(profile, first, "alice")
    expect(alice.locator("#online")).not_to_have_class(re.compile(r"\bstale\b"))

    assert first.stop() == 0
    expect(alice.locator("#status")).to_have_text("reconnecting")
    expect(alice.locator("#problem")).to_contain_text("not reachable")
    expect(alice.locator("#online")).to_have_class(re.compile(r"\bstale\b"))
    note = alice.locator("#online").get_attribute("aria-describedby")
    expect(alice.locator(f"#{note}")).to_be_visible()

    start_chat("--port", str(first.port))
    expect(alice.locator("#status")).to_have_text("connected", timeout=20_000)
    expect(alice.locator("#problem")).to_be_hidden()
    expect(alice.locator("#online")).not_to_have_class(re.compile(r"\bstale\b"))
    expect(alice.locator("#input")).to_be_focused()


@pytest.mark.page
def test_a_page_opened_from_a_file_says_to_open_it_from_the_server(profile):
    from test_page import ROOT

    page = profile().new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((ROOT / "index.html").as_uri())
    expect(page.locator("#problem")).to_contain_text(FROM_A_FILE)
    expect(page.locator("#problem")).to_contain_text("http://127.0.0.1:8080/")
    page.wait_for_timeout(1_500)  # and it does not try again and again
    assert [url for url in requests if not url.startswith("file:")] == []
    expect(page.locator("#status")).to_be_hidden()


# A normal session: no console errors; and an automated accessibility check.


@pytest.mark.rooms
def test_a_normal_session_logs_no_errors(start_chat, profile):
    server = start_chat()
    alice_profile, bob_profile = profile(), profile(PHONE)
    alice, bob = open_page(alice_profile, server), open_page(bob_profile, server)
    log_in(alice, "alice")
    log_in(bob, "bob")
    say(alice, "hi bob")
    expect_message(bob, "alice", "hi bob")
    show_panel(bob)
    bob.locator("#online button", has_text="alice").click()
    say(bob, "just for you")
    expect(message(alice, "just for you")).to_have_class(re.compile(r"\bdirect\b"))
    alice.evaluate("location.hash = '#general'")
    expect(alice.locator("#room")).to_have_text("general")
    expect(alice.locator("#status")).to_have_text("connected")
    second_tab = open_page(alice_profile, server)
    # Connected before the logout: a tab still fetching its ticket then gets a 401, which the
    # browser logs as a console error however the page handles it.
    expect(second_tab.locator("#status")).to_have_text("connected")
    alice.locator("#logout").click()
    expect(alice.locator("#login-form")).to_be_visible()
    expect(second_tab.locator("#login-form")).to_be_visible()  # its 4003
    bob.wait_for_timeout(500)
    assert alice_profile.problems + bob_profile.problems == []


@pytest.mark.security
@WIDTHS
def test_no_serious_accessibility_violations(start_chat, profile, viewport):
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    axe = axe_module.Axe()
    server = start_chat()
    page = open_page(profile(viewport), server)

    def serious():
        results = axe.run(page)
        found = [
            v for v in results.response["violations"] if v["impact"] in ("serious", "critical")
        ]
        return [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in found]

    assert serious() == []  # the login form
    bob = person(profile, server, "bob")
    log_in(page, "alice")
    say(bob, "hello alice")
    say(page, "hello bob")
    say(page, "x" * 5000)  # an error
    expect(page.locator("#messages > .error")).to_be_visible()
    assert serious() == []  # chatting
    show_panel(page)
    page.locator("#online button", has_text="bob").click()  # a direct message
    assert serious() == []
