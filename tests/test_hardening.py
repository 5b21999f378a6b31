"""Hardening (v2): each test reproduces one finding of the security audit against the real chat.py.

They talk to a chat.py process over real sockets, as an attacker would, and assert what a user
relies on once the finding is fixed: the server stays fast, small and honest under abuse.
"""

import base64
import hashlib
import json
import os
import re
import resource
import select
import socket
import ssl
import statistics
import struct
import subprocess
import threading
import time
from collections import namedtuple
from unittest import mock

import pytest
import websocket

from conftest import (
    TIMEOUT,
    Peer,
    RawPeer,
    login,
    make_certificate,
    open_socket,
    wait_until,
    ws_path,
)

pytestmark = pytest.mark.security

STILL_OPEN = "no close frame within the time allowed"
NO_CLOSE_FRAME = "closed without a close frame"
MiB = 1024 * 1024


# Plain HTTP, by hand, so that a test chooses every header (Host above all).

Response = namedtuple("Response", "status headers body")

UPGRADE = [
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
]


def http(server, method, path, headers=(), body=b"", host=None, tls=False, timeout=TIMEOUT):
    """One request on its own connection; the answer's status, headers (lowercase) and body."""
    host = host or f"{server.host}:{server.port}"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *headers]
    if method == "POST" or body:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    sock = socket.create_connection((server.host, server.port), timeout=timeout)
    try:
        if tls:
            sock = ssl._create_unverified_context().wrap_socket(sock)
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed without a whole answer: {data!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {}
        for line in header_lines:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = 0 if status in (101, 204) else int(headers.get("content-length", 0))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    finally:
        sock.close()
    return Response(status, headers, rest[:length])


def parsed(response):
    """The answer's JSON body, or {} when it has none."""
    try:
        return json.loads(response.body)
    except ValueError:
        return {}


def handshake(server, token=None, headers=(), host=None):
    """An upgrade request for /ws (with ?token= when given); its answer's head."""
    return http(server, "GET", ws_path(token), [*UPGRADE, *headers], host=host)


def post(server, path, body=None, token=None, headers=(), host=None):
    headers = list(headers)
    if token:
        headers.append(f"Authorization: Bearer {token}")
    data = b""
    if body is not None:
        headers.append("Content-Type: application/json")
        data = json.dumps(body).encode()
    return http(server, "POST", path, headers, data, host=host)


def login_as(server, name, token=None, password=None):
    """POST /login (carrying the token of a session when given), without the harness's cache."""
    body = {"name": name} if password is None else {"name": name, "password": password}
    return post(server, "/login", body, token=token)


def connect_with(server, token, name):
    """A connection with this token; its welcome is read and kept as .welcome."""
    peer = Peer(open_socket(server, token), name)
    server.peers.append(peer)  # closed when the server is stopped
    peer.welcome = peer.recv()
    assert peer.welcome.get("type") == "welcome", peer.welcome
    return peer


def close_code_of(peer, timeout):
    """The code of the close frame the server sends to a websocket-client peer."""
    try:
        code = peer.close_frame(timeout)
    except websocket.WebSocketTimeoutException:
        return STILL_OPEN
    return NO_CLOSE_FRAME if code is None else code


# WebSocket frames, by hand, so that a test can break RFC 6455 on purpose.


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """One client frame; rsv holds the three reserved bits (RSV1 = 0b100)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    size = len(payload)
    masked = 0x80 if mask else 0
    if size < 126:
        header = struct.pack("!BB", first, masked | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, masked | 126, size)
    else:
        header = struct.pack("!BBQ", first, masked | 127, size)
    if not mask:
        return header + payload
    key = os.urandom(4)
    keys = (key * (size // 4 + 1))[:size]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(size, "big")
    return header + key + body


class Raw(RawPeer):
    """RawPeer, which also sends frames and reads without waiting."""

    def send_frame(self, opcode, payload=b"", **options):
        self.sock.sendall(frame(opcode, payload, **options))

    def close_code(self, timeout=TIMEOUT):
        """The code of the next close frame from the server (frames before it are skipped)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                opcode, payload = self.read_frame()
                if opcode == 0x8:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        except TimeoutError:
            return STILL_OPEN
        except OSError:
            return NO_CLOSE_FRAME

    def poll(self):
        """The whole frames that have arrived by now, without waiting for more."""
        self.sock.settimeout(0)  # with a timeout, recv would wait for data first
        try:
            while chunk := self.sock.recv(65536):
                self.buffer += chunk
        except OSError:  # BlockingIOError: nothing more for now
            pass
        finally:
            self.sock.settimeout(TIMEOUT)
        frames = []
        while len(self.buffer) >= 2:
            size, offset = self.buffer[1] & 0x7F, 2
            if size == 126:
                size, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            elif size == 127:
                size, offset = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < offset + size:
                break
            frames.append((self.buffer[0] & 0x0F, self.buffer[offset : offset + size]))
            self.buffer = self.buffer[offset + size :]
        return frames


# What the process costs, from /proc.


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def start_with(start_chat, *flags, **options):
    """start_chat(*flags), failing plainly where chat.py has not one of these flags yet."""
    missing = [flag for flag in flags if flag.startswith("--") and not start_chat.has_flag(flag)]
    assert not missing, f"chat.py has no {' or '.join(missing)} flag (see its --help)"
    return start_chat(*flags, **options)


def new_lines(server, since):
    """What the server logged after `since` characters of its log."""
    return server.log()[since:].splitlines()


# 1. File descriptors: at its limit a server must not spin, nor flood its log.


def start_with_descriptor_limit(start_chat, limit):
    """start_chat, with RLIMIT_NOFILE (soft and hard) set to `limit` before chat.py runs."""
    start_chat.has_flag("--rate")  # runs (and caches) --help now, without the limit
    real_popen = subprocess.Popen

    def lower_the_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    def popen(*args, **kwargs):
        return real_popen(*args, preexec_fn=lower_the_limit, **kwargs)

    with mock.patch.object(subprocess, "Popen", popen):
        return start_chat(unlimited=True)  # the fixture stops it after the test


def test_at_its_descriptor_limit_it_neither_spins_nor_floods_the_log(start_chat):
    server = start_with_descriptor_limit(start_chat, 128)
    pid = server.proc.pid
    alice, bob = server.connect("alice"), server.connect("bob")
    alice.recv_type("join")
    flood = []
    try:
        for _ in range(400):  # far more than 128 descriptors; most wait in the listen queue
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex((server.host, server.port))
            flood.append(sock)
        time.sleep(0.5)  # it takes what it can, and has to refuse the rest
        cpu, logged = cpu_seconds(pid), len(server.log())
        time.sleep(2)
        cpu = cpu_seconds(pid) - cpu
        about_it = [
            line
            for line in new_lines(server, logged)
            if "Traceback" in line or "Too many open files" in line or "descriptor" in line
        ]
        assert cpu < 0.3, f"{cpu:.2f} s of CPU in 2 s at its descriptor limit: a busy loop"
        assert len(about_it) <= 3, f"{len(about_it)} lines about it in 2 s: {about_it[:4]}"
        assert "Traceback" not in server.log()
        alice.send({"type": "chat", "value": "still chatting"})
        assert bob.recv_type("chat")["value"] == "still chatting"
    finally:
        for sock in flood:
            sock.close()

    def a_newcomer_gets_in():
        try:
            socket_ = open_socket(server, login(server, "carol"), timeout=1)
        except (OSError, AssertionError, websocket.WebSocketException):
            return False
        socket_.close()
        return True

    wait_until(a_newcomer_gets_in, "a new login and connection once the flood is gone")


# 2. DNS rebinding: a Host that names neither an IP address nor localhost nor an allowed name.


def test_a_foreign_host_is_refused_at_the_page_the_login_and_the_handshake(server):
    token = login(server, "alice")
    evil = f"evil.example:{server.port}"
    origin = f"Origin: http://{evil}"  # the page a rebinding serves: same "origin" as the Host
    answers = {
        "the handshake": handshake(server, token, [origin], host=evil),
        "POST /login": post(server, "/login", {"name": "bob"}, headers=[origin], host=evil),
        "GET /": http(server, "GET", "/", [origin], host=evil),
    }
    for what, response in answers.items():
        assert response.status == 400, f"{what} with Host {evil} answered {response.status}"
        assert "--allow-host" in parsed(response).get("error", ""), (what, response.body)


@pytest.mark.parametrize("host", ["localhost", "LocalHost", "127.0.0.1", "[::1]"])
def test_ip_addresses_and_localhost_are_always_accepted_as_hosts(server, host):
    token = login(server, "alice")
    for where in (f"{host}:{server.port}", host):  # with its port or without
        origin = f"Origin: http://{where}"
        assert http(server, "GET", "/", host=where).status == 200, where
        assert post(server, "/login", {"name": "bob"}, host=where).status in (200, 409), where
        assert handshake(server, token, [origin], host=where).status == 101, where


def test_allow_host_accepts_that_name_whatever_its_case_and_port(start_chat):
    server = start_with(start_chat, "--allow-host", "evil.example")
    token = login(server, "alice")
    for host in (f"evil.example:{server.port}", "EVIL.Example:1", "evil.example"):
        origin = f"Origin: http://{host}"
        assert http(server, "GET", "/", host=host).status == 200, host
        assert post(server, "/login", {"name": "bob"}, host=host).status in (200, 409), host
        assert handshake(server, token, [origin], host=host).status == 101, host
    assert http(server, "GET", "/", host=f"other.example:{server.port}").status == 400
    assert http(server, "GET", "/", host=f"localhost:{server.port}").status == 200


# 3. Memory: a message trickled in fragments is held to 65536 bytes, then refused with 1009.

TRICKLERS = 64
FRAGMENT = 16384
FRAGMENTS = 60  # 960 KiB each: under the 1 MiB that today's server buffers per socket
RSS_GROWTH_LIMIT = 16 * MiB  # 64 x 64 KiB held is 4 MiB; 64 x 960 KiB would be 60 MiB


def test_a_message_trickled_in_fragments_is_not_held_and_its_sender_reads_1009(start_chat):
    server = start_chat(unlimited=True)
    pid = server.proc.pid
    senders = [Raw(server, "trickle") for _ in range(TRICKLERS)]
    try:
        time.sleep(0.3)
        before = rss_bytes(pid)
        codes, gone = {}, set()
        for n in range(FRAGMENTS):
            for i, sender in enumerate(senders):
                if i in codes or i in gone:
                    continue
                try:
                    sender.send_frame(0x1 if n == 0 else 0x0, b"x" * FRAGMENT, fin=False)
                    sender.send_frame(0x9, b"still here")  # a ping between the fragments
                except OSError:
                    gone.add(i)  # closed after the 1009: the rest of the message is not read
                for opcode, payload in sender.poll():
                    if opcode == 0x8:
                        codes[i] = struct.unpack("!H", payload[:2])[0] if payload else None
            time.sleep(0.01)
        grown = rss_bytes(pid) - before
        assert grown < RSS_GROWTH_LIMIT, (
            f"RSS grew {grown / MiB:.1f} MiB while {TRICKLERS} sockets each trickled "
            f"{FRAGMENT * FRAGMENTS // 1024} KiB of one message"
        )
        for i, sender in enumerate(senders):
            if i not in codes:
                codes[i] = sender.close_code(timeout=2)
        wrong = {i: code for i, code in codes.items() if code != 1009}
        assert not wrong, f"{len(wrong)} of {TRICKLERS} senders read no 1009: {wrong}"
    finally:
        for sender in senders:
            sender.close()


# 4. Invisible impersonation: a name is its session's while it holds it.


def test_another_session_gets_409_for_a_held_name_and_the_holding_session_gets_200(server):
    first = login_as(server, "alice")
    assert first.status == 200
    token = parsed(first)["token"]
    other = login_as(server, "alice")  # another browser: no token of alice's session
    assert other.status == 409, f"a second session logged in as alice: {other.status}"
    assert "error" in parsed(other)
    again = login_as(server, "alice", token=token)  # alice's own session, another tab
    assert again.status == 200
    renewed = parsed(again)["token"]
    assert renewed != token, "a login carrying the session's token gets a new token"
    assert handshake(server, renewed).status == 101
    assert login_as(server, "alice").status == 409


def test_a_name_is_held_after_its_last_connection_and_freed_by_a_logout(server, connect):
    bob = connect("bob")
    alice = connect("alice")
    bob.recv_type("join")
    alice.close()
    assert bob.recv_type("leave") == {"type": "leave", "from": "alice"}
    taken = login_as(server, "alice")
    assert taken.status == 409, f"the name was taken right after its holder left: {taken.status}"
    assert post(server, "/logout", token=login(server, "alice")).status == 204
    assert login_as(server, "alice").status == 200, "a logout frees the name at once"


# 5. Tokens outlive themselves: a connection ends with its token; a logout ends a session.


def test_the_login_and_the_welcome_say_when_the_token_expires(start_chat):
    server = start_chat("--token-ttl", "600")
    now_ms = time.time() * 1000
    answer = parsed(login_as(server, "alice"))
    assert "expires" in answer, f"the login answer has no expires: {answer}"
    assert abs(answer["expires"] - (now_ms + 600_000)) < 2000, answer["expires"] - now_ms
    welcome = connect_with(server, answer["token"], "alice").welcome
    assert abs(welcome.get("expires", 0) - answer["expires"]) < 1000, welcome


def test_an_open_socket_is_closed_with_4001_when_its_token_expires(start_chat):
    server = start_chat("--token-ttl", "2")
    logged_in = time.time()
    token = login(server, "alice")
    alice = connect_with(server, token, "alice")
    code = close_code_of(alice, timeout=5)
    closed_after = time.time() - logged_in
    assert code == 4001, f"2 s after login, then {closed_after:.1f} s: {code}"
    assert 1 <= closed_after <= 4.5, f"closed {closed_after:.1f} s after a login of ttl 2"


def test_a_refresh_with_a_later_token_of_the_session_keeps_the_socket_open(start_chat):
    server = start_chat("--token-ttl", "3")
    first = login(server, "alice")
    alice = connect_with(server, first, "alice")
    first_expires_at = time.time() + 3
    time.sleep(1.1)  # tokens name whole seconds: the next one expires later
    renewed = login_as(server, "alice", token=first)
    assert renewed.status == 200
    later = parsed(renewed)
    alice.send({"type": "refresh", "token": later["token"]})
    refreshed = alice.recv_type("refreshed")
    assert abs(refreshed["expires"] - later["expires"]) < 1000, (refreshed, later)
    time.sleep(max(0, first_expires_at + 1.5 - time.time()))  # past the first token's end
    alice.send({"type": "chat", "value": "still here"})
    assert alice.recv_type("chat")["value"] == "still here"
    left = later["expires"] / 1000 - time.time()
    assert close_code_of(alice, timeout=left + 2.5) == 4001  # then the later token ends it


def test_a_bad_refresh_gets_an_error_and_changes_nothing(start_chat):
    server = start_chat("--token-ttl", "2")
    logged_in = time.time()
    alice = connect_with(server, login(server, "alice"), "alice")
    bobs = login(server, "bob")  # valid, but another session's
    for token in ("forged", bobs, 42):
        alice.send({"type": "refresh", "token": token})
        assert alice.recv_type("error")["type"] == "error"
    code = close_code_of(alice, timeout=5)
    assert code == 4001, f"{time.time() - logged_in:.1f} s after a login of ttl 2: {code}"


def test_a_logout_closes_every_connection_of_the_session_and_its_tokens_die(server, connect):
    bob = connect("bob")
    token = login(server, "alice")
    tabs = [connect("alice"), connect("alice")]
    bob.recv_type("join")
    logout = post(server, "/logout", token=token)
    assert logout.status == 204, f"POST /logout answered {logout.status}"
    logged_out = time.monotonic()
    for tab in tabs:
        left = 2.2 - (time.monotonic() - logged_out)
        assert close_code_of(tab, timeout=max(left, 0.01)) == 4003
    assert bob.recv_type("leave") == {"type": "leave", "from": "alice"}
    assert handshake(server, token).status == 401
    assert login_as(server, "alice", token=token).status == 401
    assert post(server, "/logout", token=token).status == 401
    assert login_as(server, "alice").status == 200, "the name is free at once"
    bob.send({"type": "chat", "value": "bob stays"})
    assert bob.recv_type("chat")["value"] == "bob stays"


def test_a_logout_without_a_valid_token_gets_401(server):
    login(server, "alice")
    assert post(server, "/logout").status == 401
    assert post(server, "/logout", token="forged").status == 401
    assert login_as(server, "alice").status == 409, "a refused logout frees nothing"


# 6. Limits across connections: per name, per client address, per login.


def test_the_rate_is_per_name_whatever_the_number_of_its_connections(start_chat):
    server = start_chat("--rate", "5")
    bob = server.connect("bob")
    tabs = [server.connect("alice") for _ in range(5)]
    bob.recv_type("join")
    per_tab = 8  # fewer than 10 rejections in a row: no tab is closed
    started = time.monotonic()
    for n in range(per_tab):
        for i, tab in enumerate(tabs):
            tab.send({"type": "chat", "value": f"{i} {n}"})
    for i, tab in enumerate(tabs):  # each message gets its chat back, or an error
        answered = 0
        while answered < per_tab:
            message = tab.recv()
            own_chat = message["type"] == "chat" and message["value"].startswith(f"{i} ")
            answered += own_chat or message["type"] == "error"
    elapsed = time.monotonic() - started
    chats = []
    while True:
        try:
            message = bob.recv(0.5)
        except websocket.WebSocketTimeoutException:
            break
        if message["type"] == "chat":
            chats.append(message)
    allowed = 2 * 5 + 5 * elapsed
    assert len(chats) <= allowed + 1, (
        f"alice's 5 connections got {len(chats)} chats through in {elapsed:.2f} s; "
        f"one bucket for the name allows {allowed:.0f}"
    )
    assert len(chats) >= 10, "the burst of 2 x --rate still passes"


def test_a_client_address_holds_at_most_max_connections_per_ip(start_chat):
    server = start_with(start_chat, "--max-connections-per-ip", "3", unlimited=True)
    tabs = [server.connect("alice"), server.connect("alice"), server.connect("bob")]
    token = login(server, "carol")
    refused = handshake(server, token)
    assert refused.status == 429, f"a 4th socket from 127.0.0.1: {refused.status}"
    assert "error" in parsed(refused)
    tabs[0].close()
    wait_until(lambda: handshake(server, token).status == 101, "a socket once one closed", 3)


def test_pings_count_towards_the_rate_and_are_still_answered(start_chat):
    server = start_chat("--rate", "5")
    alice = server.connect("alice")
    for _ in range(15):  # the bucket holds 10
        alice.ws.ping(b"ping")
    alice.send({"type": "chat", "value": "after 15 pings"})
    pongs, text = 0, None
    alice.ws.settimeout(TIMEOUT)
    while text is None or pongs < 15:
        opcode, data = alice.ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_PONG:
            pongs += 1
        elif opcode == websocket.ABNF.OPCODE_TEXT and text is None:
            text = json.loads(data.data)
    assert text["type"] == "error", f"a chat right after 15 pings at --rate 5 got {text}"
    assert pongs == 15


def round_trip(peer, n):
    started = time.monotonic()
    peer.send({"type": "chat", "value": f"rtt {n}"})
    while peer.recv_type("chat")["value"] != f"rtt {n}":
        pass
    return time.monotonic() - started


def round_trips_during_a_flood(server, flooder, frames):
    """Bob's round trips while `flooder` sends `frames` as fast as it can, and the close
    codes the flooder read; the flood ends when the server closes the connection."""
    stop, codes = threading.Event(), []

    def flood():
        while not stop.is_set():
            try:
                flooder.sock.sendall(frames)
            except OSError:
                stop.set()  # closed: the server stopped the flood
            codes.extend(payload[:2] for opcode, payload in flooder.poll() if opcode == 0x8)

    bob = server.connect("bob")
    baseline = statistics.median(round_trip(bob, n) for n in range(3))
    flooding = threading.Thread(target=flood, daemon=True)
    flooding.start()
    try:
        time.sleep(0.3)
        times = []
        for n in range(5):
            times.append(round_trip(bob, 10 + n))
            time.sleep(0.15)
    finally:
        stop.set()
        flooding.join(5)
        flooder.close()
    assert statistics.median(times) < baseline + 0.015, (
        f"bob's round trips during the flood: {[f'{t * 1000:.0f} ms' for t in times]}, "
        f"{baseline * 1000:.1f} ms before"
    )
    return codes


def test_a_ping_flood_does_not_slow_another_client(start_chat):
    server = start_chat("--rate", "5")
    flooder = Raw(server, "mallory")
    codes = round_trips_during_a_flood(server, flooder, frame(0x9, b"ping") * 2000)
    assert codes == [struct.pack("!H", 1008)], "the flooder is closed after 10 rejections"
    about_it = [line for line in server.log().splitlines() if "mallory" in line and "1008" in line]
    assert len(about_it) <= 2, f"{len(about_it)} log lines of mallory's 1008: {about_it[:2]}"


def test_a_pong_flood_does_not_slow_another_client(start_chat):
    """Pongs are not counted by the rate, so the flooder stays; it must still take turns."""
    server = start_chat("--rate", "5")
    flooder = Raw(server, "mallory")
    codes = round_trips_during_a_flood(server, flooder, frame(0xA, b"pong") * 2000)
    assert codes == [], "unasked pongs are allowed (RFC 6455, 5.5.3)"


def test_logins_from_one_address_get_a_burst_of_20_then_429(start_chat):
    server = start_with(start_chat, "--login-rate", "1")
    started = time.monotonic()
    answers = [login_as(server, f"user{n}") for n in range(25)]
    elapsed = time.monotonic() - started
    statuses = [answer.status for answer in answers]
    assert statuses[:20] == [200] * 20, statuses
    assert statuses.count(200) <= 20 + int(elapsed), (elapsed, statuses)
    refused = [answer for answer in answers if answer.status == 429]
    assert refused, f"25 logins in {elapsed:.2f} s at --login-rate 1: {statuses}"
    assert int(refused[0].headers.get("retry-after", "0")) >= 1, refused[0].headers
    assert "error" in parsed(refused[0])
    assert login_as(server, "<bad name>").status == 429, "429 comes before 400"


def test_wrong_passwords_halve_the_login_refill(start_chat):
    honest = start_with(start_chat, "--login-rate", "1", "--password", "sesame")
    guesser = start_with(start_chat, "--login-rate", "1", "--password", "sesame")
    for n in range(20):
        assert login_as(honest, f"user{n}", password="sesame").status == 200
    for n in range(19):
        assert login_as(guesser, f"user{n}", password="sesame").status == 200
    assert login_as(guesser, "user19", password="wrong").status == 401
    emptied = time.monotonic()
    for server in (honest, guesser):
        assert login_as(server, "late", password="sesame").status == 429
    time.sleep(max(0, emptied + 1.4 - time.monotonic()))  # 1.4 logins back, or 0.7 if halved
    assert login_as(honest, "late", password="sesame").status == 200
    assert login_as(guesser, "late", password="sesame").status == 429, (
        "after a wrong password the allowance refills at half the rate"
    )
    time.sleep(max(0, emptied + 2.6 - time.monotonic()))
    assert login_as(guesser, "late", password="sesame").status == 200


# 7. Slowloris: headers that take over 10 s to arrive are not waited for.


def test_a_request_trickled_a_byte_a_second_is_closed_after_about_10_s(server):
    request = b"GET /" + b"a" * 100
    answer, closed_after, sent = b"", None, 0
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        started = time.monotonic()
        next_byte = started
        while (now := time.monotonic()) - started < 13:
            if now >= next_byte:
                try:
                    sock.sendall(request[sent : sent + 1])
                except OSError:
                    closed_after = now - started
                    break
                sent, next_byte = sent + 1, next_byte + 1
            readable, _, _ = select.select([sock], [], [], max(0, next_byte - time.monotonic()))
            if readable:
                try:
                    chunk = sock.recv(4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    closed_after = time.monotonic() - started
                    break
                answer += chunk
    assert closed_after is not None, f"still open after 13 s and {sent} bytes of a request line"
    assert 8 <= closed_after <= 13, f"closed after {closed_after:.1f} s"
    assert answer == b"", f"closed with an answer: {answer[:80]!r}"


# 8. Headers are at most 16 KiB.


def send_headers(server, size):
    """GET / with about `size` bytes of headers; what came back before the server closed."""
    padding = [f"X-Padding-{n}: {'p' * 984}" for n in range(size // 1000)]
    lines = ["GET / HTTP/1.1", f"Host: {server.host}:{server.port}", "Connection: close"]
    request = ("\r\n".join([*lines, *padding]) + "\r\n\r\n").encode()
    answer = b""
    with socket.create_connection((server.host, server.port), timeout=3) as sock:
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            answer += b"(and nothing more, not closed, for 3 s)"
        except ConnectionError:
            pass  # reset: it closed while our headers were still unread
    return answer


def test_headers_over_16_kib_get_no_answer_and_under_it_do(server):
    assert send_headers(server, 15_000).startswith(b"HTTP/1.1 200")
    answer = send_headers(server, 20_000)
    assert answer == b"", f"20 KB of headers were answered: {answer[:60]!r}"
    assert send_headers(server, 15_000).startswith(b"HTTP/1.1 200"), "it still serves"


# 10. RFC 6455: frames that break it are closed with 1002 (or 1007), and logged once.

BAD_FRAMES = {
    "unmasked": (lambda: frame(0x1, b'{"type": "chat", "value": "hi"}', mask=False), 1002),
    "RSV1 set": (lambda: frame(0x1, b"hi", rsv=0b100), 1002),
    "RSV3 set": (lambda: frame(0x1, b"hi", rsv=0b001), 1002),
    "opcode 3": (lambda: frame(0x3, b"hi"), 1002),
    "a ping of 126 bytes": (lambda: frame(0x9, b"p" * 126), 1002),
    "a fragmented ping": (lambda: frame(0x9, b"ping", fin=False), 1002),
    "a continuation with no message": (lambda: frame(0x0, b"hi"), 1002),
    **{
        f"close code {code}": (lambda code=code: frame(0x8, struct.pack("!H", code)), 1002)
        for code in (999, 1005, 1006, 1015, 2000, 5000)
    },
    "a 1-byte close body": (lambda: frame(0x8, b"\x03"), 1002),
    "invalid UTF-8": (lambda: frame(0x1, b'{"type": "chat", "value": "\xff\xfe"}'), 1007),
}


@pytest.mark.parametrize("case", BAD_FRAMES)
def test_a_frame_that_breaks_rfc_6455_is_closed_with_its_code_and_one_line(server, case):
    make, expected = BAD_FRAMES[case]
    peer = Raw(server, "alice")
    try:
        assert peer.read_frame()[0] == 0x1  # the welcome
        time.sleep(0.1)
        logged = len(server.log())
        peer.sock.sendall(make())
        code = peer.close_code(timeout=3)
        assert code == expected, f"{case}: the server's close said {code}"
    finally:
        peer.close()
    wait_until(lambda: new_lines(server, logged), "a log line about it", 2)
    time.sleep(0.2)
    lines = new_lines(server, logged)
    assert 1 <= len(lines) <= 2, lines  # the rejection, and the close with its code
    assert any(str(expected) in line for line in lines), lines
    assert "Traceback" not in server.log()


def test_frames_split_anywhere_or_sent_together_are_each_one_message(server):
    """TCP keeps no frame boundaries: a header, a length, a mask may come apart, frames together."""
    peer = Raw(server, "alice")
    try:
        assert peer.read_frame()[0] == 0x1  # the welcome
        values = ["one", "two " * 50, "three"]  # the second has a 16-bit length
        frames = [frame(0x1, json.dumps({"type": "chat", "value": v}).encode()) for v in values]
        data, trickled = b"".join(frames), len(frames[0]) + 7  # into the second one's mask
        for byte in data[:trickled]:
            peer.sock.sendall(bytes([byte]))
            time.sleep(0.005)
        peer.sock.sendall(data[trickled:])  # the rest of the second, and the third, at once
        said = [json.loads(peer.read_frame()[1]) for _ in values]
        assert [message["value"] for message in said] == values
    finally:
        peer.close()


@pytest.mark.parametrize("code", [1000, 3000, 4999])
def test_a_valid_close_code_is_echoed(server, code):
    peer = Raw(server, "alice")
    try:
        peer.send_frame(0x8, struct.pack("!H", code) + b"bye")
        assert peer.close_code(timeout=3) == code
    finally:
        peer.close()


# 11. Names that look like another, or like nothing; chat text that rewrites the screen.


@pytest.mark.parametrize(
    "name, status",
    [
        ("\u0430lice", 400),  # a Cyrillic а among Latin letters
        ("ａｌｉｃｅ", 409),  # fullwidth: NFKC makes it alice
        ("𝐚𝐥𝐢𝐜𝐞", 409),  # mathematical bold: NFKC makes it alice
        ("Alice", 409),
        ("\u3164", 400),  # HANGUL FILLER: shows nothing
        ("al\u3164ice", 400),
        ("山田たろう", 200),  # Han with Hiragana is one writing system
    ],
)
def test_a_name_like_a_held_one_or_showing_nothing_is_refused(server, name, status):
    assert login_as(server, "alice").status == 200
    answer = login_as(server, name)
    assert answer.status == status, f"{name!r} while alice is held: {answer.status}"
    if status != 200:
        assert "error" in parsed(answer)


def test_a_name_is_taken_in_its_nfkc_form(server):
    answer = login_as(server, "ａｌｉｃｅ")
    assert answer.status == 200
    assert parsed(answer)["name"] == "alice"


@pytest.mark.parametrize(
    "value", ["nul\x00here", "\x1b[31mred", "csi\x9b31m", "evil\u202etxt.exe", "x\u2066y\u2069z"]
)
def test_control_characters_and_bidi_overrides_in_a_chat_get_an_error(connect, value):
    alice, bob = connect("alice"), connect("bob")
    alice.recv_type("join")
    alice.send({"type": "chat", "value": value})
    reply = alice.recv()
    assert reply["type"] == "error", f"{value!r} was broadcast: {reply}"
    bob.nothing_within(0.3)


def test_newlines_and_tabs_in_a_chat_are_kept(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.recv_type("join")
    alice.send({"type": "chat", "value": "two\nlines\tand a tab"})
    assert bob.recv_type("chat")["value"] == "two\nlines\tand a tab"


# 12. The page's headers, and a log line per upgrade and per close.


def sources(policy):
    """A Content-Security-Policy as {directive: [sources]}."""
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {words[0].lower(): words[1:] for words in parts}


def sha256_source(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_page_comes_with_a_strict_content_security_policy(server, host):
    own = f"{host}:{server.port}"
    page = http(server, "GET", "/", host=own)
    assert page.status == 200
    policy = page.headers.get("content-security-policy")
    assert policy, f"GET / has no Content-Security-Policy; its headers: {sorted(page.headers)}"
    assert "'unsafe-inline'" not in policy, policy
    directives = sources(policy)
    assert directives.get("frame-ancestors") == ["'none'"], policy
    html = page.body.decode()
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert scripts, "the page has its script inline"
    script_src = directives.get("script-src", directives.get("default-src", []))
    for script in scripts:
        assert sha256_source(script) in script_src, f"no hash of the served script: {policy}"
    assert all(source.startswith("'") for source in script_src), f"other origins: {policy}"
    style_src = directives.get("style-src", directives.get("default-src", []))
    for style in styles:
        assert sha256_source(style) in style_src, f"no hash of the served style: {policy}"
    connect_src = directives.get("connect-src", directives.get("default-src"))
    ours = {"'self'", *(f"{scheme}://{own}" for scheme in ("ws", "wss", "http", "https"))}
    assert connect_src and set(connect_src) <= ours, f"connections beyond {own}: {policy}"
    assert page.headers.get("referrer-policy") == "no-referrer"
    assert page.headers.get("x-content-type-options") == "nosniff"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"), "chat.example")


def test_hsts_over_tls_for_a_host_name_but_not_for_localhost(start_chat, certificate):
    cert, key = certificate
    flags = ("--certfile", str(cert), "--keyfile", str(key), "--allow-host", "chat.example")
    server = start_with(start_chat, *flags)
    named = http(server, "GET", "/", host=f"chat.example:{server.port}", tls=True)
    assert named.status == 200
    assert "max-age=" in named.headers.get("strict-transport-security", ""), named.headers
    local = http(server, "GET", "/", host=f"localhost:{server.port}", tls=True)
    assert local.status == 200
    assert "strict-transport-security" not in local.headers


def test_each_upgrade_and_each_close_is_logged_with_name_address_and_room(server, connect):
    alice = connect("alice")
    alice.ws.close(status=1000)

    def lines_of_alice():
        return [
            line
            for line in server.log().splitlines()
            if "alice" in line and "127.0.0.1" in line and "lobby" in line
        ]

    wait_until(
        lambda: any(re.search(r"\b1000\b", line) for line in lines_of_alice()),
        "a log line of alice's close with its code, address and room",
        3,
    )
    lines = lines_of_alice()
    assert len(lines) == 2, lines  # the upgrade, then the close
    assert [bool(re.search(r"\b1000\b", line)) for line in lines] == [False, True], lines
