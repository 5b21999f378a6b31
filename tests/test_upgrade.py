"""Lesson step 2, the upgrade: the handshake and the origin check."""

import base64
import hashlib
import urllib.error
import urllib.request

import pytest
import websocket

from conftest import handshake_status, identity, open_socket, page_served, ws_path

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def token_query(server, name="alice"):
    return ws_path(**identity(server, name))


@pytest.mark.page
def test_the_page_is_served_at_the_root(server):
    try:
        with urllib.request.urlopen(server.url, timeout=5) as response:
            page = response.read().decode()
    except urllib.error.HTTPError as error:
        page_served(server, error.code)
    for element_id in ("name", "login", "input", "send", "messages", "typing", "online", "status"):
        assert f'id="{element_id}"' in page, f"the page has no element with id {element_id!r}"


@pytest.mark.upgrade
def test_the_handshake_answers_101_with_the_accept_key(server):
    status, response = handshake_status(server, token_query(server))
    assert status == 101
    expected = base64.b64encode(hashlib.sha1(b"dGhlIHNhbXBsZSBub25jZQ==" + GUID.encode()).digest())
    lines = response.split("\r\n")[1:]
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines)}
    assert headers["sec-websocket-accept"] == expected.decode()


@pytest.mark.upgrade
def test_a_page_of_the_same_host_and_port_may_connect(server):
    origin = f"http://{server.host}:{server.port}"
    status, _ = handshake_status(server, token_query(server), [f"Origin: {origin}"])
    assert status == 101


@pytest.mark.upgrade
def test_a_script_without_origin_may_connect(server):
    ws = open_socket(server, **identity(server, "alice"), suppress_origin=True)
    assert ws.connected
    ws.close()


@pytest.mark.upgrade
@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "null", "http://127.0.0.1:1", "http://127.0.0.1.evil.example:80"],
)
def test_another_origin_gets_403_before_any_upgrade(server, origin):
    status, response = handshake_status(server, token_query(server), [f"Origin: {origin}"])
    assert status == 403
    assert "Upgrade: websocket" not in response


@pytest.mark.upgrade
def test_allow_origin_adds_exactly_the_origins_given(start_chat):
    server = start_chat(
        "--allow-origin", "http://localhost:3000", "--allow-origin", "https://chat.example"
    )
    query = token_query(server)
    for allowed in ("http://localhost:3000", "https://chat.example"):
        assert handshake_status(server, query, [f"Origin: {allowed}"])[0] == 101
    for refused in ("http://localhost:3001", "https://chat.example.evil", "http://chat.example"):
        assert handshake_status(server, query, [f"Origin: {refused}"])[0] == 403


@pytest.mark.broadcast
def test_websocket_client_connects_and_is_welcomed(server):
    assert server.connect("alice").welcome["type"] == "welcome"  # or it says what came instead


@pytest.mark.upgrade
def test_a_refused_origin_is_a_handshake_error_for_clients(server):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_socket(server, **identity(server, "alice"), origin="http://evil.example")
    assert refused.value.status_code == 403
