"""Lesson 10, the page's side of "nothing lost": history, resume, the outbox, refused chats.

The page is loaded through a small TCP relay in front of chat.py, so that a test can cut the
page's connections (a reset, as a lost network does), refuse new ones (offline) or lose what
the server says, while the server runs on. The other people are plain WebSocket clients
talking to chat.py directly. The last test needs redis-server: Redis loses the history.
"""

import re
import selectors
import socket
import struct
import threading

import pytest
from test_page import expect, log_in, message

from conftest import page_served

pytestmark = pytest.mark.history

MISSING = re.compile("some messages may be missing", re.IGNORECASE)
RECONNECT_MS = 20_000  # a page retries after 0.5, 1, 2, 4, 8 s


class Relay:
    """A TCP relay on a port of its own to a chat server; cut() resets every connection."""

    def __init__(self, server):
        self.target = (server.host, server.port)
        self.script = server.script  # the server behind it, for page_served
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.refusing = False  # while True, every new connection is reset at once: offline
        self.deaf = False  # while True, what the server says is thrown away
        self.upstreams = set()  # the relayed sockets that lead to the server
        self.other_end = {}  # each relayed socket -> the one it is paired with
        self.orders = []  # functions for the relay's thread to run, with an event each
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        """One thread: accept, copy bytes both ways, and carry out the test's orders."""
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        while not self.stopping:
            for key, _ in self.selector.select(0.02):
                if key.fileobj is self.listener:
                    self.accept()
                elif key.fileobj in self.other_end:
                    self.copy(key.fileobj)
            with self.lock:
                orders, self.orders = self.orders, []
            for order, done in orders:
                order()
                done.set()
        self.reset_all()
        self.listener.close()

    def accept(self):
        client, _ = self.listener.accept()
        if self.refusing:
            return reset(client)
        upstream = socket.create_connection(self.target)
        self.other_end[client], self.other_end[upstream] = upstream, client
        self.upstreams.add(upstream)
        for sock in (client, upstream):
            self.selector.register(sock, selectors.EVENT_READ)

    def copy(self, sock):
        try:
            data = sock.recv(65536)
            if data and self.deaf and sock in self.upstreams:
                return  # lost on the way to the page
            if data:
                return self.other_end[sock].sendall(data)
        except OSError:
            pass
        self.drop(sock)  # one side closed: close the other

    def drop(self, sock):
        for end in (sock, self.other_end[sock]):
            self.selector.unregister(end)
            self.other_end.pop(end)
            self.upstreams.discard(end)
            reset(end)

    def reset_all(self):
        while self.other_end:
            self.drop(next(iter(self.other_end)))

    def order(self, what):
        """Have the relay's thread do `what`, and wait until it has."""
        done = threading.Event()
        with self.lock:
            self.orders.append((what, done))
        assert done.wait(5), "the relay did not answer"

    def cut(self, offline=False):
        """Reset every relayed connection; offline=True refuses new ones until online()."""
        self.refusing = offline
        self.order(self.reset_all)
        self.deaf = False

    def online(self):
        self.refusing = False

    def stop(self):
        self.stopping = True
        self.thread.join(5)


def reset(sock):
    """Close with a TCP reset (RST), not a goodbye: as a broken network would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.fixture
def relay():
    """relay(server) is a Relay in front of it; all are stopped after the test."""
    relays = []

    def make(server):
        relays.append(Relay(server))
        return relays[-1]

    yield make
    for each in relays:
        each.stop()


@pytest.fixture
def page(browser):
    """page(server, name): a new browser profile's page of server (or relay), logged in as name."""
    contexts = []

    def make(server, name):
        contexts.append(browser.new_context())
        opened = contexts[-1].new_page()
        opened.sockets = []  # the URL of every WebSocket the page opens
        opened.on("websocket", lambda ws: opened.sockets.append(ws.url))
        page_served(server, opened.goto(server.url).status)
        log_in(opened, name)
        return opened

    yield make
    for context in contexts:
        context.close()


def chat(peer, text):
    """peer says text; the id chat.py gave it, from its echo."""
    peer.send({"type": "chat", "value": text})
    echo = peer.recv_type("chat")
    assert echo["value"] == text, echo
    return echo["id"]


def wait_for_ids(page, wanted):
    """Until the page shows exactly these chats, in this order, each once."""
    expect(page.locator("#messages > [data-id]")).to_have_count(len(wanted))
    page.wait_for_function(
        "wanted => JSON.stringify([...document.querySelectorAll('#messages > [data-id]')]"
        ".map(item => Number(item.dataset.id))) === JSON.stringify(wanted)",
        arg=wanted,
    )


def serious_problems(page):
    """The serious and critical findings of an automated accessibility check (axe)."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    found = axe.run(page).response["violations"]
    return [(v["id"], v["help"]) for v in found if v["impact"] in ("serious", "critical")]


def go_offline_and_back(page, relay, while_away=lambda: None):
    """Cut the page off, do `while_away`, and let it back in; it is connected again."""
    relay.cut(offline=True)
    expect(page.locator("#status")).to_have_text("reconnecting")
    while_away()
    relay.online()
    expect(page.locator("#status")).to_have_text("connected", timeout=RECONNECT_MS)


def test_a_newcomer_sees_the_rooms_earlier_chats(start_chat, page):
    server = start_chat()
    bob = server.connect("bob")
    said = ["first of all", "<b>not bold</b>", "and a third"]
    ids = [chat(bob, text) for text in said]
    bob.close()

    alice = page(server, "alice")
    wait_for_ids(alice, ids)
    for text, chat_id in zip(said, ids, strict=True):
        entry = message(alice, text)
        expect(entry).to_have_attribute("data-id", str(chat_id))
        expect(entry).to_contain_text("bob")
        expect(entry.locator("time")).to_have_count(1)
    expect(alice.locator("#messages b")).to_have_count(0)  # text, never HTML


def test_after_a_cut_connection_every_chat_shows_once_in_order(start_chat, relay, page):
    server = start_chat(unlimited=True)
    front = relay(server)
    alice = page(front, "alice")
    bob = server.connect("bob")
    ids = [chat(bob, f"before {n}") for n in range(3)]
    wait_for_ids(alice, ids)

    def bob_chats_meanwhile():
        ids.extend(chat(bob, f"while alice is away {n}") for n in range(4))

    go_offline_and_back(alice, front, bob_chats_meanwhile)
    assert f"since={ids[2]}&epoch=" in alice.sockets[-1], alice.sockets  # it resumed

    # Chats keep coming while the connection is cut twice more: none lost, none twice.
    for cut in range(2):
        ids.extend(chat(bob, f"round {cut}, chat {n}") for n in range(3))
        with alice.expect_websocket(timeout=RECONNECT_MS):  # until the page's next socket
            front.cut()
            ids.extend(chat(bob, f"round {cut}, after the cut {n}") for n in range(3))
        expect(alice.locator("#status")).to_have_text("connected")
    ids.append(chat(bob, "the last one"))
    wait_for_ids(alice, ids)
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # the room's every chat
    assert len(alice.sockets) >= 4
    expect(alice.locator("#messages")).not_to_contain_text(MISSING)


def test_a_chat_typed_offline_is_pending_then_sent_once(start_chat, relay, page):
    server = start_chat()
    front = relay(server)
    alice = page(front, "alice")
    bob = server.connect("bob")
    typed = "written on the train"

    def alice_types():
        alice.locator("#input").fill(typed)
        alice.locator("#input").press("Enter")
        entry = message(alice, typed)
        expect(entry).to_have_class(re.compile(r"\bpending\b"))
        expect(entry).to_contain_text("not sent yet")  # in words, not only in looks
        expect(alice.locator("#input")).to_have_value("")
        assert serious_problems(alice) == []
        bob.nothing_within(0.5, ignore=("leave", "join"))

    go_offline_and_back(alice, front, alice_types)
    arrived = bob.recv_type("chat")
    assert arrived["value"] == typed and arrived["from"] == "alice", arrived
    assert re.fullmatch(r"[\w-]{1,64}", arrived.get("cid", "")), arrived
    bob.nothing_within(1.0, ignore=("leave", "join", "typing"))  # once

    entry = message(alice, typed)
    expect(entry).to_have_count(1)
    expect(entry).to_have_attribute("data-id", str(arrived["id"]))
    expect(entry).not_to_have_class(re.compile(r"\bpending\b"))
    expect(entry).to_have_class(re.compile(r"\bmine\b"))
    expect(entry).not_to_contain_text("not sent")


def test_a_chat_whose_echo_was_lost_is_sent_again_and_shown_once(start_chat, relay, page):
    server = start_chat("--history", "0")  # nothing kept: only "sent" can tell the page
    front = relay(server)
    alice = page(front, "alice")
    bob = server.connect("bob")
    typed = "did this go out?"

    front.deaf = True  # the chat reaches the server; nothing comes back to the page
    alice.locator("#input").fill(typed)
    alice.locator("#input").press("Enter")
    arrived = bob.recv_type("chat")
    assert arrived["value"] == typed, arrived
    expect(message(alice, typed)).to_have_class(re.compile(r"\bpending\b"))

    front.cut()  # the page sends it again with its cid; the server says "sent" instead
    expect(alice.locator("#status")).to_have_text("connected", timeout=RECONNECT_MS)
    entry = message(alice, typed)
    expect(entry).to_have_attribute("data-id", str(arrived["id"]))
    expect(entry).not_to_have_class(re.compile(r"\bpending\b"))
    expect(entry).to_have_count(1)
    bob.nothing_within(1.0, ignore=("leave", "join", "typing"))  # said once


@pytest.mark.parametrize("when", ["connected", "offline"])
def test_a_chat_too_long_for_the_server_is_not_lost(start_chat, relay, page, when):
    server = start_chat("--max-message-bytes", "1000")
    front = relay(server)
    alice = page(front, "alice")
    too_long = "y" * 5000
    field = alice.locator("#input")

    if when == "connected":  # refused at once: back in the field
        field.fill(too_long)
        field.press("Enter")
        expect(alice.locator("#messages > .error [role=alert]")).to_contain_text("Not sent")
        expect(field).to_have_value(re.compile(r"^y{5000}$"))
        expect(message(alice, too_long)).to_have_count(0)
    else:  # refused once sent after the reconnect, while the field holds something else

        def alice_types():
            field.fill(too_long)
            field.press("Enter")
            expect(message(alice, too_long)).to_have_class(re.compile(r"\bpending\b"))
            field.fill("a new thought, not yet sent")

        go_offline_and_back(alice, front, alice_types)
        entry = message(alice, too_long)
        expect(entry).to_have_class(re.compile(r"\bnot-sent\b"))
        expect(entry).to_contain_text("not sent:")
        expect(alice.locator("#messages > .error [role=alert]")).to_contain_text("Not sent")
        expect(field).to_have_value("a new thought, not yet sent")
        assert serious_problems(alice) == []
    expect(alice.locator("#status")).to_have_text("connected")


def test_a_resume_with_chats_no_longer_kept_says_so_once(start_chat, relay, page):
    server = start_chat("--history", "2", unlimited=True)
    front = relay(server)
    alice = page(front, "alice")
    bob = server.connect("bob")
    first = chat(bob, "seen live")
    wait_for_ids(alice, [first])
    notices = alice.locator("#messages > *", has_text=MISSING)

    away = []
    go_offline_and_back(
        alice, front, lambda: away.extend(chat(bob, f"missed {n}") for n in range(5))
    )
    wait_for_ids(alice, [first, *away[-2:]])  # what the server still keeps
    expect(notices).to_have_count(1)

    # Back again with nothing lost meanwhile, twice: no second notice.
    go_offline_and_back(alice, front)
    later = chat(bob, "after the gap")
    go_offline_and_back(alice, front)
    wait_for_ids(alice, [first, *away[-2:], later])
    expect(notices).to_have_count(1)
    # The notice sits where the gap is: after the chat seen live, before the kept ones.
    order = alice.locator("#messages > *").evaluate_all(
        "items => items.map(item => item.dataset.id || item.textContent)"
    )
    gap = next(i for i, text in enumerate(order) if MISSING.search(text))
    assert order.index(str(first)) < gap < order.index(str(away[-2])), order


def test_a_history_lost_under_the_page_starts_again_and_says_so(start_shared, page):
    redis = pytest.importorskip("redis")
    server = start_shared()
    alice = page(server, "alice")
    bob = server.connect("bob")
    before = chat(bob, "before the loss")
    wait_for_ids(alice, [before])

    redis.Redis.from_url(server.redis_url).flushall()  # Redis loses every room's history
    bob.send({"type": "chat", "value": "after the loss"})  # the room learns of the new epoch

    # Closed with 1012, the page resumes, hears of the new epoch and shows what is kept.
    expect(alice.locator("#messages > *", has_text=MISSING)).to_have_count(1)
    expect(message(alice, "after the loss")).to_have_attribute("data-id", re.compile(r"^\d+$"))
    expect(alice.locator("#status")).to_have_text("connected")
    assert f"since={before}&epoch=" in alice.sockets[-1], alice.sockets
    expect(message(alice, "before the loss")).to_have_count(1)  # what was seen stays
