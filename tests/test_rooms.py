"""Rooms and direct messages: every connection is in one room (`room=`, default `lobby`).

Welcome, join, leave, chat and typing stay inside a room; a chat with `to` reaches only the
recipient's and the sender's connections in that room; `GET /rooms` lists the rooms with
someone online; `--max-rooms` caps how many are occupied at once. With `--redis` a room spans
every process, through one Redis pub/sub channel per room (`chat:room:<room>`), which a process
subscribes to only while one of its clients is in that room.
"""

import signal
import time

import pytest
import websocket
from chat_process import CHAT, resident_kib

from conftest import (
    TIMEOUT,
    Peer,
    handshake_status,
    http_json,
    login,
    wait_until,
    ws_path,
)

ROOMS = "lesson 9 (lessons/09-rooms.md)"
PRESENCE_LIMIT = 15.0  # seconds within which a dead process's users leave, as promised
QUIET = 0.5  # seconds of silence that stand for "nothing arrives"

pytestmark = pytest.mark.rooms


def room_path(token, room):
    """/ws?token=...&room=..., the room percent-encoded as a browser would send it."""
    return ws_path(token, room=room)


def enter(server, name, room=None):
    """Log in as `name`, connect to `room` (no room=: the default room) and read the welcome."""
    token = login(server, name)
    path = ws_path(token) if room is None else room_path(token, room)
    options = {"timeout": TIMEOUT}
    if server.url.startswith("https"):
        options["sslopt"] = {"cert_reqs": 0}
    url = server.ws_url.removesuffix("/ws") + path
    peer = Peer(websocket.create_connection(url, **options), name)
    server.peers.append(peer)  # closed when the server is stopped
    first = peer.recv()
    assert isinstance(first, dict) and first.get("type") == "welcome", (
        f"the first message to {name} in {room or 'the default room'} should be the welcome, "
        f"got {first!r}"
    )
    assert first["room"] == (room or "lobby"), f"{name} is in {first['room']!r}, not in {room!r}"
    peer.welcome = first
    return peer


def get_rooms(server, authorization=None):
    """GET /rooms, with this Authorization header when given; (status, parsed JSON or None)."""
    headers = {} if authorization is None else {"Authorization": authorization}
    status, answer = http_json(server, "GET", "rooms", headers=headers)
    assert status != 404, f"GET /rooms answered 404: {ROOMS} adds it"
    return status, answer


def rooms_of(server, name="roomwatcher"):
    """What GET /rooms answers a logged-in user (who need not be connected anywhere)."""
    status, answer = get_rooms(server, f"Bearer {login(server, name)}")
    assert status == 200, f"GET /rooms with a good token answered {status} {answer}"
    return answer


def listing(**online):
    """The GET /rooms answer for these rooms and counts, e.g. listing(general=2, lobby=1)."""
    return {"rooms": [{"room": room, "online": n} for room, n in sorted(online.items())]}


def chat_from(peer, sender, value, to=None):
    """The next chat to `peer`; check who sent it, what it says and whom it was for."""
    message = peer.recv_type("chat")
    assert (message.get("from"), message.get("value"), message.get("to")) == (sender, value, to), (
        f"{peer.name} got {message!r}"
    )
    return message


def needs_max_rooms(start_chat):
    """Fail at once, saying why, where the server has no --max-rooms flag yet."""
    assert start_chat.has_flag("--max-rooms"), (
        f"the server's --help lists no --max-rooms flag; {ROOMS} adds it"
    )


# One process.


def test_a_room_keeps_its_welcome_joins_chats_typing_and_leaves_to_itself(start_chat):
    server = start_chat()
    alice = enter(server, "alice", "general")
    bob = enter(server, "bob")  # no room=: the lobby
    carol = enter(server, "carol", "general")
    assert (alice.welcome.get("room"), alice.welcome["online"]) == ("general", ["alice"])
    assert (bob.welcome.get("room"), bob.welcome["online"]) == ("lobby", ["bob"])
    assert (carol.welcome.get("room"), carol.welcome["online"]) == ("general", ["alice", "carol"])
    assert alice.recv() == {"type": "join", "from": "carol"}  # and no join of bob before it
    dave = enter(server, "dave", "lobby")  # room=lobby is the room one gets without room=
    assert (dave.welcome.get("room"), dave.welcome["online"]) == ("lobby", ["bob", "dave"])
    assert bob.recv() == {"type": "join", "from": "dave"}
    for peer in (alice, carol):
        peer.nothing_within(QUIET)  # no join of dave

    alice.send({"type": "chat", "value": "in general"})
    for peer in (alice, carol):
        chat_from(peer, "alice", "in general")
    alice.send({"type": "typing", "value": True})
    assert carol.recv() == {"type": "typing", "from": "alice", "value": True}
    bob.send({"type": "chat", "value": "in the lobby"})
    for peer in (bob, dave):
        chat_from(peer, "bob", "in the lobby")
    for peer in (bob, dave):
        peer.nothing_within(QUIET)  # neither general's chat nor its typing
    for peer in (alice, carol):
        peer.nothing_within(QUIET)  # not the lobby's chat

    carol.close()
    assert alice.recv() == {"type": "leave", "from": "carol"}
    dave.close()
    assert bob.recv() == {"type": "leave", "from": "dave"}
    alice.nothing_within(QUIET)  # not the lobby's leave
    bob.nothing_within(QUIET)


def test_a_name_in_two_rooms_joins_and_leaves_each_room_on_its_own(start_chat):
    server = start_chat()
    bob = enter(server, "bob", "lobby")
    dave = enter(server, "dave", "general")
    alice_lobby = enter(server, "alice")
    assert alice_lobby.welcome["online"] == ["alice", "bob"]
    assert bob.recv() == {"type": "join", "from": "alice"}
    dave.nothing_within(QUIET)
    alice_general = enter(server, "alice", "general")
    assert (alice_general.welcome.get("room"), alice_general.welcome["online"]) == (
        "general",
        ["alice", "dave"],
    )
    assert dave.recv() == {"type": "join", "from": "alice"}
    bob.nothing_within(QUIET)  # alice joined the lobby once, whatever other rooms she is in
    alice_lobby.nothing_within(QUIET)  # her own join elsewhere is no news in the lobby

    alice_general.close()
    assert dave.recv() == {"type": "leave", "from": "alice"}
    bob.nothing_within(QUIET)  # she is still in the lobby
    alice_lobby.send({"type": "chat", "value": "still here"})
    chat_from(bob, "alice", "still here")
    alice_lobby.close()
    assert bob.recv() == {"type": "leave", "from": "alice"}
    dave.nothing_within(QUIET)  # she had left general already


def test_a_direct_message_reaches_both_sides_once_and_nobody_else(start_chat):
    server = start_chat()
    bob_elsewhere = enter(server, "bob", "lobby")
    carol = enter(server, "carol", "general")
    alice1, alice2 = enter(server, "alice", "general"), enter(server, "alice", "general")
    bob1, bob2 = enter(server, "bob", "general"), enter(server, "bob", "general")
    assert [carol.recv_type("join", 2)["from"] for _ in range(2)] == ["alice", "bob"]
    for peer in (alice1, alice2):
        assert peer.recv() == {"type": "join", "from": "bob"}

    alice1.send({"type": "chat", "value": "psst", "to": "bob"})
    for peer in (alice1, alice2, bob1, bob2):
        message = chat_from(peer, "alice", "psst", to="bob")
        assert isinstance(message["ts"], int)
    for peer in (alice1, alice2, bob1, bob2, carol, bob_elsewhere):
        peer.nothing_within(QUIET)  # once each; not to carol; not to bob's socket in the lobby

    bob2.send({"type": "chat", "value": "what?", "to": "alice"})  # and back
    for peer in (alice1, alice2, bob1, bob2):
        chat_from(peer, "bob", "what?", to="alice")
    carol.nothing_within(QUIET)

    alice1.send({"type": "typing", "value": True})  # typing is for the whole room still
    for peer in (alice2, bob1, bob2, carol):
        assert peer.recv() == {"type": "typing", "from": "alice", "value": True}
    alice1.nothing_within(QUIET)
    bob_elsewhere.nothing_within(QUIET)


def test_a_reader_too_slow_for_its_direct_messages_is_dropped(alice_and_slowpoke):
    """Direct messages are queued one client at a time: the 256-frame rule holds there too."""
    server, alice, _ = alice_and_slowpoke
    text = "x" * 4000
    answered, leaves = 0, []
    # Rounds of 100 direct messages, 12 MB in all, each round read (her copies, or the
    # refusals once slowpoke is gone) before the next: only slowpoke lags.
    for first in range(0, 3000, 100):
        for n in range(first, first + 100):
            alice.send({"type": "chat", "to": "slowpoke", "value": f"{n}:{text}"})
        while answered < first + 100:
            message = alice.recv(timeout=10)
            if message["type"] in ("chat", "error"):
                answered += 1
            elif message["type"] == "leave":
                leaves.append(message["from"])
    assert leaves == ["slowpoke"], "alice should have been told that slowpoke left"
    if server.script == CHAT:  # what it logs is up to each server
        assert "slowpoke: 256 messages waiting, dropping" in server.log()


def test_a_direct_message_to_oneself_reaches_only_ones_own_connections(start_chat):
    server = start_chat()
    bob = enter(server, "bob", "general")
    alice1, alice2 = enter(server, "alice", "general"), enter(server, "alice", "general")
    alice_elsewhere = enter(server, "alice", "lobby")
    assert bob.recv() == {"type": "join", "from": "alice"}
    alice2.send({"type": "chat", "value": "note to self", "to": "alice"})
    for peer in (alice1, alice2):
        chat_from(peer, "alice", "note to self", to="alice")
    for peer in (alice1, alice2, bob, alice_elsewhere):
        peer.nothing_within(QUIET)


@pytest.mark.parametrize(
    "to",
    ["bob", "nobody", 42, True, ["carol"], {"name": "carol"}, "", None],
    ids=["online-in-another-room", "never-logged-in", "number", "bool", "list", "object", "empty"]
    + ["null"],
)
def test_a_direct_message_to_nobody_in_the_room_is_refused_and_sent_to_no_one(start_chat, to):
    server = start_chat()
    bob = enter(server, "bob", "lobby")  # online, but not in general
    carol = enter(server, "carol", "general")
    alice, alice_tab = enter(server, "alice", "general"), enter(server, "alice", "general")
    assert carol.recv() == {"type": "join", "from": "alice"}
    alice.send({"type": "chat", "value": "for you", "to": to})
    error = alice.recv(timeout=2)
    assert error.get("type") == "error" and isinstance(error.get("value"), str), (
        f"a chat to {to!r} in general should get an error, got {error!r}"
    )
    for peer in (alice, alice_tab, carol, bob):
        peer.nothing_within(QUIET)
    alice.send({"type": "chat", "value": "to the room"})  # the connection stays open
    for peer in (alice, alice_tab, carol):
        chat_from(peer, "alice", "to the room")


@pytest.mark.parametrize("room", ["Room", "a b", "", "a" * 33, "é", "lobby/x"], ids=repr)
def test_a_bad_room_name_gets_400_and_no_upgrade(start_chat, room):
    server = start_chat()
    status, response = handshake_status(server, room_path(login(server, "alice"), room))
    assert status == 400, f"room={room!r} answered {response!r}, not 400: {ROOMS} checks room="


def test_a_room_name_at_the_limits_is_accepted(start_chat):
    server = start_chat()
    for room in ("a" * 32, "0", "my_room-2"):
        peer = enter(server, "alice", room)
        assert (peer.welcome.get("room"), peer.welcome["online"]) == (room, ["alice"])


def test_get_rooms_lists_the_occupied_rooms_with_their_distinct_names(start_chat):
    server = start_chat()
    token = login(server, "alice")
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    for authorization in (None, "Bearer nonsense", f"Bearer {forged}"):
        status, _ = get_rooms(server, authorization)
        assert status == 401, f"GET /rooms with Authorization {authorization!r}: {status}"

    assert rooms_of(server) == {"rooms": []}
    alice1, alice2 = enter(server, "alice", "general"), enter(server, "alice", "general")
    carol = enter(server, "carol", "general")
    bob = enter(server, "bob")
    assert rooms_of(server) == listing(general=2, lobby=1)  # alice's two tabs count once
    bob.close()
    wait_until(lambda: rooms_of(server) == listing(general=2), "the empty lobby to go")
    alice1.close()
    carol.close()
    wait_until(lambda: rooms_of(server) == listing(general=1), "general to count alice only")
    alice2.close()
    wait_until(lambda: rooms_of(server) == {"rooms": []}, "every room to go")


def test_emptied_rooms_are_forgotten(start_chat):
    """200 rooms, each entered and left in turn: nothing of them may stay behind.

    With --max-rooms 10 every one of the 200 handshakes is accepted only if a room that
    empties stops counting (10 leaves room for closes the server has not handled yet).
    RSS: after a warm-up, 200 rooms may add at most 256 KiB. Measured here: 8 to 24 KiB for
    200 rooms that are forgotten, 370 to 420 KiB when each emptied room keeps its hub and the
    handler of its last connection (about 2 KiB a room). A bare empty hub (a few hundred
    bytes) is below what RSS shows over 200 rooms; the room cap above catches a server that
    keeps counting it. No room gets a chat: the contract keeps a room's history for 24 h
    after its last chat, so that memory may rightly stay.
    """
    needs_max_rooms(start_chat)
    server = start_chat("--max-rooms", "10")

    def visit(room):
        enter(server, "alice", room).close()

    for n in range(20):  # warm-up: imports, caches, the allocator's first arenas
        visit(f"warmup-{n}")
    wait_until(lambda: rooms_of(server) == {"rooms": []}, "the warm-up rooms to go")
    before = resident_kib(server.proc.pid)
    for n in range(200):
        visit(f"room-{n}")
    wait_until(lambda: rooms_of(server) == {"rooms": []}, "all 200 rooms to go")
    grown = resident_kib(server.proc.pid) - before
    assert grown < 256, f"RSS grew by {grown} KiB over 200 emptied rooms"


def test_max_rooms_refuses_a_new_room_but_not_an_occupied_one(start_chat):
    needs_max_rooms(start_chat)
    server = start_chat("--max-rooms", "2")
    bob = enter(server, "bob")
    alice = enter(server, "alice", "general")
    token = login(server, "carol")
    status, response = handshake_status(server, room_path(token, "third"))
    assert status == 503, f"a third room answered {response!r}"
    carol = enter(server, "carol", "general")  # rooms with someone in them still take more
    assert carol.welcome["online"] == ["alice", "carol"]
    carol_lobby = enter(server, "carol", "lobby")
    assert carol_lobby.welcome["online"] == ["bob", "carol"]
    assert rooms_of(server) == listing(general=2, lobby=2)  # the refused room is not listed

    bob.close()
    alice.close()
    carol.close()
    wait_until(lambda: rooms_of(server) == listing(lobby=1), "general to empty")  # carol_lobby
    third = enter(server, "dave", "third")  # general emptied: a room is free again
    assert (third.welcome.get("room"), third.welcome["online"]) == ("third", ["dave"])


# Several processes on one Redis.


def test_rooms_span_processes_and_stay_apart(start_shared):
    a, b = start_shared(), start_shared()
    b.tokens = a.tokens  # each user's one session, whichever process a connection lands on
    carol = enter(b, "carol", "lobby")
    alice = enter(a, "alice", "general")
    bob = enter(b, "bob", "general")
    assert alice.recv_type("join") == {"type": "join", "from": "bob"}
    dave = enter(a, "dave", "general")
    assert dave.welcome["online"] == ["alice", "bob", "dave"]
    for peer in (alice, bob):
        assert peer.recv_type("join") == {"type": "join", "from": "dave"}
    # Before a's first lobby client comes, a knows carol is in the lobby on b.
    wait_until(lambda: rooms_of(a) == listing(general=3, lobby=1), "a to count b's lobby")
    bob_lobby = enter(a, "bob", "lobby")
    assert (bob_lobby.welcome.get("room"), bob_lobby.welcome["online"]) == (
        "lobby",
        ["bob", "carol"],
    )
    assert carol.recv() == {"type": "join", "from": "bob"}

    alice.send({"type": "chat", "value": "general, everywhere"})
    for peer in (alice, bob, dave):
        chat_from(peer, "alice", "general, everywhere")
    alice.send({"type": "chat", "value": "psst", "to": "bob"})
    for peer in (alice, bob):
        chat_from(peer, "alice", "psst", to="bob")
    bob.send({"type": "typing", "value": True})
    for peer in (alice, dave):
        assert peer.recv() == {"type": "typing", "from": "bob", "value": True}
    for peer in (alice, bob, dave, carol, bob_lobby):
        peer.nothing_within(QUIET)  # the DM went to bob in general only; lobby heard nothing

    for server in (a, b):
        wait_until(
            lambda server=server: rooms_of(server) == listing(general=3, lobby=2),
            f"GET /rooms on {server.port} to count both processes",
        )
    bob.close()
    for peer in (alice, dave):
        assert peer.recv() == {"type": "leave", "from": "bob"}
    carol.nothing_within(QUIET)  # bob is still in the lobby, on a


def test_a_process_hears_a_room_only_while_one_of_its_clients_is_in_it(start_shared, redis_server):
    redis = pytest.importorskip("redis", reason="the redis package is missing: pip install redis")
    probe = redis.Redis(port=redis_server.port)

    def subscribers(room):
        return dict(probe.pubsub_numsub(f"chat:room:{room}"))[f"chat:room:{room}".encode()]

    try:
        a, b = start_shared(), start_shared()
        b.tokens = a.tokens  # each user's one session, whichever process a connection lands on
        assert subscribers("general") == 0
        alice = enter(a, "alice", "general")
        bob = enter(b, "bob")
        wait_until(lambda: subscribers("general") == 1, "a to subscribe to chat:room:general")
        wait_until(lambda: subscribers("lobby") == 1, "b to subscribe to chat:room:lobby")
        alice.send({"type": "chat", "value": "b has nobody here"})
        chat_from(alice, "alice", "b has nobody here")
        assert subscribers("general") == 1  # still only a's: b has no use for general's news
        assert subscribers("lobby") == 1
        assert probe.pubsub_numpat() == 0  # a pattern (chat:room:*) would hear every room

        bob_general = enter(b, "bob", "general")
        wait_until(lambda: subscribers("general") == 2, "b to subscribe to general")
        assert alice.recv_type("join") == {"type": "join", "from": "bob"}
        bob_general.close()
        assert alice.recv_type("leave") == {"type": "leave", "from": "bob"}
        wait_until(lambda: subscribers("general") == 1, "b to unsubscribe from general")
        bob.nothing_within(QUIET)  # the lobby heard none of it
        alice.close()
        wait_until(lambda: subscribers("general") == 0, "a to unsubscribe from general")
        assert subscribers("lobby") == 1
    finally:
        probe.close()


def test_a_killed_process_has_its_users_leave_every_room_within_15_s(start_shared):
    a, b = start_shared(), start_shared()
    b.tokens = a.tokens  # each user's one session, whichever process a connection lands on
    alice = enter(a, "alice", "general")
    carol = enter(a, "carol", "lobby")
    enter(b, "bob", "general")
    enter(b, "bob", "lobby")
    for peer in (alice, carol):
        assert peer.recv_type("join") == {"type": "join", "from": "bob"}
    killed_at = time.monotonic()
    b.proc.send_signal(signal.SIGKILL)  # no goodbye: its presence has to expire
    for peer in (alice, carol):
        left = PRESENCE_LIMIT - (time.monotonic() - killed_at)
        assert peer.recv_type("leave", timeout=max(left, 0)) == {"type": "leave", "from": "bob"}
    wait_until(
        lambda: rooms_of(a) == listing(general=1, lobby=1),
        "GET /rooms to forget bob",
        timeout=max(PRESENCE_LIMIT - (time.monotonic() - killed_at), 0.1),
    )
    assert enter(a, "dave", "general").welcome["online"] == ["alice", "dave"]
