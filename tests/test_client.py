"""Lesson step 3, the client: pings, the read deadline, and the bounded send queue."""

import time

import pytest

from conftest import RawPeer

pytestmark = pytest.mark.client


@pytest.fixture
def quick_pings(start_chat):
    return start_chat("--ping-period", "0.3", "--pong-wait", "1")


def test_the_server_pings_every_ping_period(quick_pings):
    peer = RawPeer(quick_pings, "alice")
    started = time.monotonic()
    opcodes = []
    while time.monotonic() - started < 0.9:
        opcodes.append(peer.read_frame()[0])
    assert opcodes.count(0x9) >= 2, f"expected pings (opcode 9), got opcodes {opcodes}"
    peer.close()


def test_a_silent_client_is_closed_and_the_others_told(quick_pings):
    alice = quick_pings.connect("alice")
    silent = RawPeer(quick_pings, "silent")
    assert alice.recv_type("join") == {"type": "join", "from": "silent"}
    assert alice.recv_type("leave", timeout=3) == {"type": "leave", "from": "silent"}
    opcodes = []
    while True:  # everything the server sent it before giving up: pings, then a close
        try:
            opcodes.append(silent.read_frame()[0])
        except ConnectionError:
            break
        if opcodes[-1] == 0x8:
            break
    assert 0x9 in opcodes and opcodes[-1] == 0x8
    silent.close()


def test_a_client_that_answers_pings_stays(quick_pings):
    bob = quick_pings.connect("bob")
    bob.nothing_within(2.5)  # websocket-client answers each ping with a pong while it reads
    bob.send({"type": "chat", "value": "still here"})
    assert bob.recv_type("chat")["value"] == "still here"
