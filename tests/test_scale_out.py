"""Lesson 8, beyond one process: chat.py processes sharing one room through a real Redis."""

import json
import signal
import time

import pytest
import websocket
from test_hardening import close_code_of, connect_with, handshake, post

from conftest import TIMEOUT, handshake_status, login, wait_until, ws_path

redis = pytest.importorskip("redis", reason="the redis package is missing: pip install redis")

PRESENCE_LIMIT = 15.0  # seconds within which a dead process's users leave, as promised

pytestmark = pytest.mark.scale_out


def chats(peer, count, timeout=TIMEOUT):
    """The next `count` chat messages to a peer, skipping joins, leaves and typing."""
    return [peer.recv_type("chat", timeout) for _ in range(count)]


def test_two_processes_are_one_room(start_shared):
    a, b = start_shared(), start_shared()
    alice = a.connect("alice")
    bob = b.connect("bob")
    assert alice.recv() == {"type": "join", "from": "bob"}
    alice.send({"type": "chat", "value": "hello from a"})
    for peer in (alice, bob):
        message = peer.recv()
        assert (message["type"], message["from"], message["value"]) == (
            "chat",
            "alice",
            "hello from a",
        )
    bob.send({"type": "chat", "value": "hello from b"})
    assert alice.recv()["value"] == "hello from b"
    assert bob.recv()["value"] == "hello from b"
    alice.nothing_within(0.5)  # no second copy through Redis of what was delivered here already


def test_welcome_lists_the_users_of_every_process(start_shared):
    a, b, c = start_shared(), start_shared(), start_shared()
    erin = c.connect("erin")
    a.connect("carol")
    b.connect("alice")
    # News takes a moment to travel through Redis: once erin has heard both joins, process c
    # knows who is connected to a and b.
    assert {erin.recv_type("join")["from"] for _ in range(2)} == {"alice", "carol"}
    dave = c.connect("dave")
    assert dave.welcome["online"] == ["alice", "carol", "dave", "erin"]


def test_a_token_signed_by_one_process_opens_a_socket_on_another(start_shared, start_chat):
    a, b = start_shared(), start_shared()
    token = login(a, "alice")
    assert handshake_status(b, ws_path(token))[0] == 101
    stranger = start_chat("--redis", b.redis_url, "--secret", "not the shared one")
    assert handshake_status(stranger, ws_path(token))[0] == 401


def test_typing_skips_only_the_sending_connection(start_shared):
    a, b = start_shared(), start_shared()
    alice_here = a.connect("alice")
    alice_there = b.connect("alice")
    bob = b.connect("bob")
    carol = a.connect("carol")
    alice_here.send({"type": "typing", "value": True})
    for peer in (alice_there, bob, carol):
        assert peer.recv_type("typing") == {"type": "typing", "from": "alice", "value": True}
    alice_here.nothing_within(0.5, ignore=("join",))


def test_a_name_joins_and_leaves_once_wherever_its_tabs_are(start_shared):
    a, b = start_shared(), start_shared()
    carol_on_a, dave_on_b = a.connect("carol"), b.connect("dave")
    carol_on_a.recv_type("join")  # dave
    bob_tab1 = a.connect("bob")
    for peer in (carol_on_a, dave_on_b):
        assert peer.recv() == {"type": "join", "from": "bob"}
    bob_tab2 = b.connect("bob")
    assert bob_tab2.welcome["online"] == ["bob", "carol", "dave"]
    # Events from one process arrive in order: once carol has this chat, process a knows
    # what b published before it, that bob is connected to b too.
    bob_tab2.send({"type": "chat", "value": "second tab"})
    for peer in (carol_on_a, dave_on_b):
        assert peer.recv_type("chat")["value"] == "second tab"
    bob_tab1.close()
    for peer in (carol_on_a, dave_on_b):
        peer.nothing_within(0.5)  # bob is still online, on the other process
    bob_tab2.close()
    for peer in (carol_on_a, dave_on_b):
        assert peer.recv() == {"type": "leave", "from": "bob"}
        peer.nothing_within(0.3)


def test_a_name_that_came_in_elsewhere_first_leaves_everywhere(start_shared):
    """zoe's tab on b opens when b already knows her from a: closing it must not break b."""
    a, b = start_shared(), start_shared()
    dave_on_b = b.connect("dave")
    carol_on_a, zoe_on_a = a.connect("carol"), a.connect("zoe")
    assert {dave_on_b.recv_type("join")["from"] for _ in range(2)} == {"carol", "zoe"}
    zoe_on_b = b.connect("zoe")
    zoe_on_b.send({"type": "chat", "value": "from b"})
    for peer in (carol_on_a, dave_on_b):  # once carol has it, a has heard zoe is on b too
        assert peer.recv_type("chat")["value"] == "from b"
    zoe_on_b.close()
    zoe_on_a.send({"type": "chat", "value": "still here"})
    for peer in (carol_on_a, dave_on_b):
        assert peer.recv_type("chat")["value"] == "still here"
    zoe_on_a.close()
    for peer in (carol_on_a, dave_on_b):
        assert peer.recv_type("leave") == {"type": "leave", "from": "zoe"}


def test_messages_from_each_sender_keep_their_order_across_processes(start_shared):
    a, b, c = start_shared(), start_shared(), start_shared()
    alice, dave = a.connect("alice"), b.connect("dave")
    receivers = [b.connect("bob"), c.connect("carol")]
    count = 500
    for n in range(count):
        alice.send({"type": "chat", "value": f"alice {n}"})
        dave.send({"type": "chat", "value": f"dave {n}"})
    for peer in receivers:
        received = {"alice": [], "dave": []}
        for message in chats(peer, 2 * count):
            received[message["from"]].append(message["value"])
        assert received["alice"] == [f"alice {n}" for n in range(count)], peer.name
        assert received["dave"] == [f"dave {n}" for n in range(count)], peer.name


def test_a_killed_process_has_its_users_leave_within_15_s(start_shared):
    a, b = start_shared(), start_shared()
    alice = a.connect("alice")
    b.connect("bob")
    alice.recv_type("join")
    killed_at = time.monotonic()
    b.proc.send_signal(signal.SIGKILL)  # no goodbye: its presence key has to expire
    assert alice.recv_type("leave", timeout=PRESENCE_LIMIT) == {"type": "leave", "from": "bob"}
    assert time.monotonic() - killed_at < PRESENCE_LIMIT
    assert a.connect("carol").welcome["online"] == ["alice", "carol"]


def test_a_stopped_process_says_goodbye_at_once(start_shared):
    a, b = start_shared(), start_shared()
    alice = a.connect("alice")
    b.connect("bob")
    alice.recv_type("join")
    b.proc.send_signal(signal.SIGTERM)  # bob's socket stays open, and never answers the 1001
    assert alice.recv_type("leave", timeout=1) == {"type": "leave", "from": "bob"}
    assert b.proc.wait(TIMEOUT) == 0


def test_each_process_serves_its_own_clients_while_redis_is_away(start_shared, redis_server):
    a, b = start_shared(), start_shared()
    alice, carol = a.connect("alice"), a.connect("carol")
    b.connect("bob")
    alice.recv_type("join")
    alice.recv_type("join")

    redis_server.stop()
    # The room shrinks to this process: users of the others leave, ours stay and chat.
    assert alice.recv_type("leave") == {"type": "leave", "from": "bob"}
    carol.send({"type": "chat", "value": "still here"})
    assert alice.recv_type("chat")["value"] == "still here"
    assert a.connect("erin").welcome["online"] == ["alice", "carol", "erin"]
    assert alice.recv_type("join") == {"type": "join", "from": "erin"}
    time.sleep(2)  # a few reconnection attempts
    for server in (a, b):
        assert server.log().count("Redis at") == 2, server.log()  # sharing, then one "lost"

    redis_server.start()  # back: the room is whole again (test_history.py: and its history lost)
    assert alice.recv_type("join", timeout=12) == {"type": "join", "from": "bob"}


def test_a_process_without_redis_at_start_serves_locally_then_joins(start_chat, redis_server):
    redis_server.stop()
    a = start_chat("--redis", redis_server.url, "--secret", "shared")
    assert "is not reachable" in a.log()
    alice, bob = a.connect("alice"), a.connect("bob")
    bob.send({"type": "chat", "value": "local"})
    assert alice.recv_type("chat")["value"] == "local"

    redis_server.start()
    wait_until(lambda: "sharing the room" in a.log(), "the process to reach Redis", timeout=12)
    b = start_chat("--redis", redis_server.url, "--secret", "shared")
    carol = b.connect("carol")
    assert carol.welcome["online"] == ["alice", "bob", "carol"]


def test_what_chat_py_did_not_publish_is_ignored(start_shared, redis_server):
    a, b = start_shared(), start_shared()
    alice, bob = a.connect("alice"), b.connect("bob")
    publisher = redis.Redis(port=redis_server.port)
    publisher.publish("chat:room:lobby", "not JSON at all")
    publisher.publish("chat:room:lobby", json.dumps(["no", "process"]))
    publisher.close()
    wait_until(lambda: a.log().count("ignored") == 2, "two lines about what was ignored")
    bob.send({"type": "chat", "value": "still one room"})
    assert alice.recv_type("chat")["value"] == "still one room"


def test_a_logout_on_one_process_closes_the_session_on_another(start_shared):
    a, b = start_shared(), start_shared()
    token = login(a, "alice")
    there = connect_with(b, token, "alice")
    assert post(a, "/logout", token=token).status == 204
    assert close_code_of(there, timeout=2.2) == 4003
    assert handshake(b, token).status == 401


# The processes share the room again soon after Redis answers again.


def is_chat_from(message, name):
    return isinstance(message, dict) and message.get("type") == "chat" and message["from"] == name


def test_chats_cross_the_processes_within_2_s_of_redis_coming_back(start_shared, redis_server):
    servers = {"alice": start_shared(), "bob": start_shared()}
    peers = {name: server.connect(name) for name, server in servers.items()}
    peers["alice"].recv_type("join")
    redis_server.stop()
    time.sleep(4)
    redis_server.start()  # returns once it answers PING
    answering = time.monotonic()
    crossed = {}  # receiver -> seconds after Redis answered when a chat of the other came
    n = 0
    while len(crossed) < 2 and time.monotonic() - answering < 5:
        n += 1
        for name, server in servers.items():
            for _ in range(2):  # a connection closed with 1012 (a new epoch) reconnects
                try:
                    peers[name].send({"type": "chat", "value": f"{name} {n}"})
                    break
                except (websocket.WebSocketException, OSError):
                    peers[name] = server.connect(name)
        for name, peer in peers.items():
            other = "bob" if name == "alice" else "alice"
            end = time.monotonic() + 0.05
            while (left := end - time.monotonic()) > 0:
                try:
                    message = peer.recv(left)
                except websocket.WebSocketTimeoutException:
                    break
                except (websocket.WebSocketException, OSError):
                    peers[name] = servers[name].connect(name)
                    break
                if is_chat_from(message, other):
                    crossed.setdefault(name, time.monotonic() - answering)
    late = {name: crossed.get(name, "never (5 s)") for name in peers}
    assert all(isinstance(t, float) and t <= 2.3 for t in late.values()), (
        f"seconds after Redis answered again until a chat crossed, per receiver: {late}"
    )
