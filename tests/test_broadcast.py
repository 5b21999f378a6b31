"""Lesson step 4, the hub: welcome, join and leave, fan-out, order per sender."""

import threading

import pytest
from chat_process import CHAT

from conftest import RawPeer

pytestmark = pytest.mark.broadcast


def test_the_welcome_comes_first_and_lists_everyone_sorted(connect):
    connect("carol")
    connect("alice")
    bob = connect("bob")
    first = {key: bob.welcome.get(key) for key in ("type", "you", "online")}  # later steps add more
    assert first == {"type": "welcome", "you": "bob", "online": ["alice", "bob", "carol"]}


def test_a_join_goes_to_everyone_else(connect):
    alice = connect("alice")
    bob = connect("bob")
    assert alice.recv() == {"type": "join", "from": "bob"}
    bob.nothing_within(0.3)


def test_a_name_joins_with_its_first_connection_and_leaves_with_its_last(connect):
    alice = connect("alice")
    bob_tab1 = connect("bob")
    assert alice.recv() == {"type": "join", "from": "bob"}
    bob_tab2 = connect("bob")
    assert bob_tab2.welcome["online"] == ["alice", "bob"]
    bob_tab1.close()
    alice.nothing_within(0.3)
    bob_tab2.close()
    assert alice.recv() == {"type": "leave", "from": "bob"}


def test_a_chat_reaches_everyone_the_sender_too(connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    alice.send({"type": "chat", "value": "hello, world"})
    for peer in (alice, bob, carol):
        message = peer.recv_type("chat")
        assert message["from"] == "alice" and message["value"] == "hello, world"
        assert isinstance(message["ts"], int) and message["ts"] > 1_700_000_000_000
        assert set(message) - {"id"} == {"type", "from", "value", "ts"}  # id: lesson 10


@pytest.mark.parametrize("frame", ["hi", "42", "[1, 2]", "null", '"quoted"'])
def test_a_frame_that_is_not_a_json_object_is_a_chat_of_its_text(connect, frame):
    alice = connect("alice")
    alice.send(frame)
    assert alice.recv_type("chat")["value"] == frame


def test_unicode_survives_the_round_trip(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.send({"type": "chat", "value": "héllo 👋 世界"})
    assert bob.recv_type("chat")["value"] == "héllo 👋 世界"


def test_a_silent_client_leaves_and_the_others_are_told(start_chat):
    server = start_chat("--ping-period", "0.3", "--pong-wait", "1")
    alice = server.connect("alice")
    silent = RawPeer(server, "silent")
    assert alice.recv_type("join") == {"type": "join", "from": "silent"}
    assert alice.recv_type("leave", timeout=3) == {"type": "leave", "from": "silent"}
    silent.close()


def test_messages_from_each_sender_arrive_in_order_none_twice(start_chat):
    """Four senders each send 150 numbered chats at once; three receivers check the order."""
    server = start_chat(unlimited=True)
    senders = [server.connect(f"sender{i}") for i in range(4)]
    receivers = [server.connect(f"receiver{i}") for i in range(3)]
    count = 150

    def send_all(peer):
        for n in range(count):
            peer.send({"type": "chat", "value": f"{peer.name}:{n}"})

    threads = [threading.Thread(target=send_all, args=(peer,)) for peer in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for receiver in receivers:
        seen = {peer.name: [] for peer in senders}
        while sum(map(len, seen.values())) < count * len(senders):
            message = receiver.recv_type("chat")
            name, n = message["value"].split(":")
            assert name == message["from"]
            seen[name].append(int(n))
        for name, numbers in seen.items():
            assert numbers == list(range(count)), f"{receiver.name} got {name}'s chats out of order"
        receiver.nothing_within(0.3, ignore=("join", "leave"))


def test_a_client_that_stops_reading_is_dropped_and_nobody_waits(alice_and_slowpoke):
    server, alice, _ = alice_and_slowpoke
    text = "x" * 4000
    received, leaves = [], []
    # 30 rounds of 100 chats, about 12 MB: more than the kernel buffers and 256 frames hold.
    # alice reads each round before sending the next, so she is never the slow one.
    for first in range(0, 3000, 100):
        for n in range(first, first + 100):
            alice.send({"type": "chat", "value": f"{n}:{text}"})
        while len(received) < first + 100:
            message = alice.recv(timeout=10)
            if message["type"] == "chat":
                received.append(int(message["value"].split(":")[0]))
            elif message["type"] == "leave":
                leaves.append(message["from"])
    assert received == list(range(3000))
    assert leaves == ["slowpoke"], "alice should have been told that slowpoke left"
    if server.script == CHAT:  # what it logs is up to each server
        assert "slowpoke: 256 messages waiting, dropping" in server.log()
