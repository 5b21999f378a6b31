"""Running chat.py behind a proxy: health, draining, client addresses, and clear refusals to start."""

import signal
import socket
import subprocess
import sys
import time

import pytest
from chat_process import upgrade_request

from conftest import ROOT, RawPeer, handshake_status, http_json, login, wait_until, ws_path

GOING_LIVE = "lesson 11 (lessons/11-going-live.md)"


def get_json(server, path, headers=None):
    """GET path; (status, parsed JSON answer)."""
    status, answer = http_json(server, "GET", path, headers=headers)
    if path == "/healthz" and status == 404:
        pytest.fail(f"GET /healthz answered 404: {GOING_LIVE} adds it", pytrace=False)
    return status, answer


def post_login_from(server, name, forwarded_for):
    headers = {"X-Forwarded-For": forwarded_for, "X-Real-IP": "6.6.6.6"}
    return http_json(server, "POST", "login", {"name": name}, headers)[1]["token"]


@pytest.mark.going_live
def test_healthz_counts_the_connections(server, connect):
    connect("alice")
    connect("bob")
    assert get_json(server, "/healthz") == (
        200,
        {"status": "ok", "connections": 2, "redis": "off"},
    )


@pytest.mark.going_live
def test_healthz_says_whether_redis_is_there(start_shared):
    server = start_shared()
    assert get_json(server, "/healthz")[1]["redis"] == "connected"


@pytest.mark.going_live
def test_from_sigterm_on_new_handshakes_and_healthz_get_503(server):
    stubborn = RawPeer(server, "stubborn")  # never answers the 1001: the process waits for it
    token = login(server, "late")
    server.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: get_json(server, "/healthz")[0] == 503, "/healthz to say 503")
    assert get_json(server, "/healthz") == (503, {"status": "stopping"})
    assert handshake_status(server, ws_path(token))[0] == 503
    # Nor a login or a ticket: the process has let go of Redis, what it made now stays here.
    assert http_json(server, "POST", "login", {"name": "x"})[0] == 503
    assert server.proc.wait(6) == 0
    stubborn.close()


@pytest.mark.going_live
def test_behind_a_proxy_the_client_is_the_last_forwarded_for_entry(start_chat):
    server = start_chat("--behind-proxy", "--max-connections-per-ip", "1")
    token = post_login_from(server, "alice", "203.0.113.9, 198.51.100.7")
    proxied = ["X-Forwarded-For: 203.0.113.9, 198.51.100.7", "X-Real-IP: 6.6.6.6"]
    assert handshake_status(server, ws_path(token), proxied)[0] == 101
    time.sleep(0.2)
    log = server.log()
    assert "POST /login (198.51.100.7)" in log
    assert "open alice 198.51.100.7 room lobby" in log
    assert "6.6.6.6" not in log and "203.0.113.9" not in log


@pytest.mark.going_live
def test_the_connection_cap_counts_the_address_the_proxy_saw(start_chat):
    server = start_chat("--behind-proxy", "--max-connections-per-ip", "1")
    token = login(server, "alice")
    held = RawPeer(server, "bob")  # from 127.0.0.1 itself: another address
    sockets = []
    for forwarded, expected in [
        ("198.51.100.7", 101),
        ("198.51.100.8", 101),
        ("198.51.100.7", 429),
    ]:
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sockets.append(sock)
        forwarded_for = [f"X-Forwarded-For: {forwarded}"]
        sock.sendall(upgrade_request(server.host, server.port, ws_path(token), forwarded_for))
        status = int(sock.recv(4096).split(b" ", 2)[1])
        assert status == expected, f"X-Forwarded-For {forwarded}: {status}"
    for sock in sockets:
        sock.close()
    held.close()


@pytest.mark.going_live
def test_without_behind_proxy_forwarded_headers_are_ignored(start_chat):
    server = start_chat("--max-connections-per-ip", "1")
    post_login_from(server, "alice", "198.51.100.7")
    held = RawPeer(server, "bob")
    token = login(server, "carol")
    status, _ = handshake_status(server, ws_path(token), ["X-Forwarded-For: 198.51.100.7"])
    assert status == 429  # still 127.0.0.1, which holds one already
    assert "198.51.100.7" not in server.log()
    held.close()


def start_and_fail(*flags):
    """Run chat.py with flags that must stop it at once; (exit code, stderr)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "chat.py"), *flags],
        check=False,
        capture_output=True,
        text=True,
        timeout=15,
    )
    return result.returncode, result.stderr


@pytest.mark.server
def test_a_busy_port_is_one_sentence_and_no_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, stderr = start_and_fail("--port", str(taken.getsockname()[1]))
    assert code != 0
    assert "Traceback" not in stderr
    assert "cannot listen on 127.0.0.1:" in stderr and "--port" in stderr


@pytest.mark.server
def test_a_bad_certificate_is_one_sentence_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    code, stderr = start_and_fail("--port", "0", "--certfile", str(bad), "--keyfile", str(bad))
    assert code != 0
    assert "Traceback" not in stderr
    assert "--certfile" in stderr


@pytest.mark.server
def test_redis_without_a_secret_refuses_to_start(monkeypatch):
    monkeypatch.delenv("CHAT_SECRET", raising=False)
    code, stderr = start_and_fail("--port", "0", "--redis", "redis://127.0.0.1:1/0")
    assert code != 0
    assert "--secret" in stderr and "Traceback" not in stderr


@pytest.mark.server
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_just_after_the_first_line_stops_it_cleanly(signum):
    """A supervisor may stop it the moment it says it runs: exit 0, no traceback."""
    for _ in range(5):
        chat = subprocess.Popen(
            [sys.executable, str(ROOT / "chat.py"), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert chat.stdout.readline().startswith("Chat running at ")
        chat.send_signal(signum)
        _, stderr = chat.communicate(timeout=10)
        assert chat.returncode == 0, stderr
        assert "Traceback" not in stderr
