"""Lesson step 3, the client: pings, the read deadline, and one writer per connection.

A server at this step has no hub yet: what a client sends may come back only to it (an echo).
"""

import json
import time

import pytest
import websocket

from conftest import RawPeer, identity, open_socket

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


def test_a_silent_client_gets_pings_then_a_close(quick_pings):
    silent = RawPeer(quick_pings, "silent")
    opcodes = []
    while True:  # everything the server sent it before giving up: pings, then a close
        try:
            opcodes.append(silent.read_frame()[0])
        except ConnectionError:
            break
        if opcodes[-1] == 0x8:
            break
    assert 0x9 in opcodes, f"no ping before the close: opcodes {opcodes}"
    assert opcodes[-1] == 0x8, f"the server should close a silent client; opcodes {opcodes}"
    silent.close()


def said_back(ws, text, timeout=3.0):
    """Whether `text` comes back on ws within `timeout`: as it was sent (an echo, lesson 3)
    or as a chat's value (a hub, from lesson 4 on)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ws.settimeout(min(left, 0.1))  # short reads: websocket-client answers pings as it reads
        try:
            received = ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        try:
            message = json.loads(received)
        except ValueError:
            message = received
        if received == text or (isinstance(message, dict) and message.get("value") == text):
            return True
    return False


def test_a_client_that_answers_pings_stays(quick_pings):
    ws = open_socket(quick_pings, **identity(quick_pings, "bob"))
    assert not said_back(ws, "not sent", timeout=2.5)  # reading answers each ping with a pong
    ws.send("still here")
    assert said_back(ws, "still here"), "after 2.5 s of pings and pongs, a message got no answer"
    ws.close()
