"""Lesson step 7, security: login, tokens, limits, bad input, TLS."""

import json
import secrets
import ssl
import time
import urllib.request

import pytest
import websocket

from conftest import handshake_status, login, make_certificate, open_socket, post_login, ws_path

pytestmark = pytest.mark.security


# Logging in


def test_login_answers_a_name_and_a_token(server):
    status, answer = post_login(server, {"name": "  alice  "})
    assert status == 200
    assert answer["name"] == "alice" and isinstance(answer["token"], str)


@pytest.mark.parametrize("name", ["a", "Zoë 2", "bob_the-builder", "名前", "x" * 32, "  trimmed  "])
def test_good_names(server, name):
    status, answer = post_login(server, {"name": name})
    assert status == 200 and answer["name"] == name.strip()


@pytest.mark.parametrize("name", ["", "   ", "x" * 33, "<b>", "a.b", "tab\there", 42, None])
def test_bad_names_get_400(server, name):
    status, answer = post_login(server, {"name": name})
    assert status == 400 and "name" in answer["error"]


@pytest.mark.parametrize("raw", [b"alice", b"[1, 2]", b'"alice"', b"null", b"", b"\xff"])
def test_a_body_that_is_not_a_json_object_gets_400(server, raw):
    status, answer = post_login(server, None, raw=raw)
    assert status == 400 and "JSON object" in answer["error"]


def test_a_password_is_checked_first(start_chat):
    server = start_chat("--password", "sesame")
    assert post_login(server, {"name": "alice"})[0] == 401
    assert post_login(server, {"name": "alice", "password": "wrong"})[0] == 401
    assert post_login(server, {"name": "<bad>", "password": "wrong"})[0] == 401
    assert post_login(server, None, raw=b"not json")[0] == 401
    status, answer = post_login(server, {"name": "<bad>", "password": "sesame"})
    assert status == 400
    status, answer = post_login(server, {"name": "alice", "password": "sesame"})
    assert status == 200 and answer["name"] == "alice"
    assert "error" in post_login(server, {"name": "alice", "password": "é"})[1]


# The handshake's token


def test_no_token_gets_401_and_no_upgrade(server):
    status, response = handshake_status(server)
    assert status == 401
    assert "error" in response.split("\r\n\r\n", 1)[1]


@pytest.mark.parametrize("token", ["forged", "2|1:0|10:1|4:chat|8:YWxpY2U=|00", "", "é+/="])
def test_a_forged_token_gets_401(server, token):
    assert handshake_status(server, ws_path(token) if token else "/ws?token=")[0] == 401


def test_a_token_signed_with_another_key_gets_401(start_chat):
    other = start_chat("--secret", "another key")
    server = start_chat("--secret", "our key")
    assert handshake_status(server, ws_path(login(other, "alice")))[0] == 401


def test_the_token_may_ride_in_an_authorization_header(server):
    bearer = f"Authorization: Bearer {login(server, 'alice')}"
    assert handshake_status(server, "/ws", [bearer])[0] == 101
    assert handshake_status(server, "/ws", ["Authorization: Bearer nonsense"])[0] == 401


def test_the_token_is_checked_before_the_origin(server):
    assert handshake_status(server, "/ws", ["Origin: http://evil.example"])[0] == 401


def test_an_expired_token_gets_401(start_chat):
    server = start_chat("--token-ttl", "1")
    token = login(server, "alice")
    assert handshake_status(server, ws_path(token))[0] == 101
    time.sleep(2.1)  # tokens carry whole seconds: a ttl of 1 ends within 2 s
    assert handshake_status(server, ws_path(token))[0] == 401


def test_a_fixed_secret_keeps_tokens_valid_across_a_restart(start_chat):
    first = start_chat("--secret", "shared")
    token = login(first, "alice")
    first.stop()
    second = start_chat("--secret", "shared")
    assert handshake_status(second, ws_path(token))[0] == 101
    third = start_chat(env={"CHAT_SECRET": "shared"})
    assert handshake_status(third, ws_path(token))[0] == 101
    fourth = start_chat()  # a random key of its own
    assert handshake_status(fourth, ws_path(token))[0] == 401


def test_tokens_never_reach_the_log(server):
    token = login(server, "alice")
    open_socket(server, token).close()
    handshake_status(server, ws_path(token), ["Origin: http://evil.example"])
    time.sleep(0.2)
    log = server.log()
    assert "/ws" in log
    assert token not in log and token.split("|")[-1] not in log


def test_each_refused_handshake_logs_one_line_saying_why(server):
    handshake_status(server)
    handshake_status(server, ws_path(login(server, "alice")), ["Origin: http://evil.example"])
    time.sleep(0.2)
    log = server.log()
    assert "missing, forged or expired token" in log
    assert "origin http://evil.example is not allowed" in log
    assert "Traceback" not in log


# Bad messages


@pytest.mark.parametrize(
    "message, words",
    [
        ({"value": "hi"}, '"type" must be'),
        ({"type": "shout", "value": "hi"}, '"type" must be'),
        ({"type": "chat"}, "a string"),
        ({"type": "chat", "value": 42}, "a string"),
        ({"type": "chat", "value": ["hi"]}, "a string"),
        ({"type": "chat", "value": ""}, "1 to 4096 bytes"),
        ({"type": "chat", "value": "x" * 4097}, "1 to 4096 bytes"),
        ({"type": "chat", "value": "é" * 2049}, "1 to 4096 bytes"),
        ({"type": "typing"}, "true or false"),
    ],
)
def test_a_bad_message_gets_an_error_and_nothing_is_broadcast(connect, message, words):
    alice, bob = connect("alice"), connect("bob")
    alice.recv_type("join")
    alice.send(message)
    error = alice.recv()
    assert error["type"] == "error" and words in error["value"], error
    bob.nothing_within(0.3)
    alice.send({"type": "chat", "value": "the connection stays"})
    assert bob.recv()["value"] == "the connection stays"


def test_odd_json_gets_an_error_or_a_chat_never_a_crash(connect):
    alice = connect("alice")
    for frame in [
        '{"type": "chat", "value": "\\ud800"}',  # a lone surrogate
        "[" * 60_000,  # not JSON: a chat of its text, here too long
        "[" * 3000 + "]" * 3000,  # JSON nested deeper than Python parses
        "1" * 5000,  # an integer longer than Python converts
        '{"type": "chat", "value": "ok", "extra": {"a": [1, 2]}}',
    ]:
        alice.send(frame)
        assert alice.recv()["type"] in ("chat", "error")
    alice.send({"type": "chat", "value": "still fine"})
    assert alice.recv_type("chat")["value"] == "still fine"


def test_the_longest_chat_passes_and_max_message_bytes_sets_it(start_chat):
    server = start_chat("--max-message-bytes", "10")
    alice = server.connect("alice")
    alice.send({"type": "chat", "value": "0123456789"})
    assert alice.recv()["value"] == "0123456789"
    alice.send({"type": "chat", "value": "0123456789!"})
    assert alice.recv() == {"type": "error", "value": "a chat message is 1 to 10 bytes of UTF-8"}


def test_a_binary_frame_is_closed_with_1003(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.recv_type("join")
    bob.ws.send_binary(b"\x00\x01")
    assert bob.close_frame() == 1003
    assert alice.recv() == {"type": "leave", "from": "bob"}


def test_a_message_over_65536_bytes_is_closed_with_1009(server, connect):
    alice = connect("alice")
    alice.send("x" * 65537)
    assert alice.close_frame() == 1009
    bob = connect("bob")  # the server is fine
    bob.send({"type": "chat", "value": "hello"})
    assert bob.recv_type("chat")["value"] == "hello"
    log = server.log()
    assert "alice: a message over 65536 bytes, closing with 1009" in log
    assert log.count("1009") == 1, "one rejection, one line"


def test_a_message_of_65536_bytes_is_not_closed(connect):
    alice = connect("alice")
    alice.send("x" * 65536)  # a chat too long for the default limit: an error, not a close
    assert alice.recv()["type"] == "error"


def test_a_flood_gets_errors_then_1008_and_others_are_unaffected(start_chat):
    server = start_chat("--rate", "5")
    alice, flood = server.connect("alice"), server.connect("flood")
    alice.recv_type("join")
    for n in range(30):
        flood.send({"type": "chat", "value": str(n)})
    received, code = [], None
    flood.ws.settimeout(5)
    while code is None:
        opcode, frame = flood.ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_TEXT:
            received.append(json.loads(frame.data))
        elif opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(frame.data[:2], "big")
    assert code == 1008
    chats = [m for m in received if m["type"] == "chat"]
    errors = [m for m in received if m["type"] == "error"]
    assert [m["value"] for m in chats] == [str(n) for n in range(10)]  # the bucket holds 2 x 5
    assert len(errors) == 9 and "slow down" in errors[0]["value"]
    assert alice.recv_type("leave", timeout=5) == {"type": "leave", "from": "flood"}
    log = server.log()
    assert log.count("flood: slow down") == 9 and log.count("still flooding") == 1


def test_the_bucket_refills_at_rate(start_chat):
    server = start_chat("--rate", "5")
    alice = server.connect("alice")
    for n in range(11):
        alice.send({"type": "chat", "value": str(n)})
    replies = [alice.recv()["type"] for _ in range(11)]
    assert replies == ["chat"] * 10 + ["error"]
    time.sleep(0.5)  # 2.5 tokens back
    alice.send({"type": "chat", "value": "again"})
    assert alice.recv()["value"] == "again"


def test_typing_counts_against_the_rate(start_chat):
    server = start_chat("--rate", "1")
    alice = server.connect("alice")
    alice.send({"type": "typing", "value": True})
    alice.send({"type": "typing", "value": False})
    alice.send({"type": "chat", "value": "hi"})
    assert alice.recv()["type"] == "error"


def test_rate_0_turns_the_limit_off(start_chat):
    server = start_chat("--rate", "0")
    alice = server.connect("alice")
    for n in range(300):
        alice.send({"type": "chat", "value": str(n)})
    assert [alice.recv()["value"] for _ in range(300)] == [str(n) for n in range(300)]


def test_bad_input_never_leaves_a_traceback(server, connect):
    alice = connect("alice")
    for frame in ["{", '{"type": null}', "[]", '{"type": "typing", "value": "x"}']:
        alice.send(frame)
        alice.recv()
    alice.ws.send_binary(b"x")
    alice.close_frame()
    time.sleep(0.2)
    assert "Traceback" not in server.log()


# TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"), "127.0.0.1")


def test_tls_serves_https_and_wss_only(start_chat, certificate):
    cert, key = certificate
    server = start_chat("--certfile", str(cert), "--keyfile", str(key))
    assert server.url.startswith("https://127.0.0.1:")
    trust_only_ours = ssl.create_default_context(cafile=str(cert))
    status, answer = post_login(server, {"name": "alice"})
    assert status == 200
    ws = websocket.create_connection(
        server.ws_url + "?token=" + answer["token"],
        sslopt={"context": trust_only_ours},
        timeout=5,
    )
    assert json.loads(ws.recv())["type"] == "welcome"
    ws.close()
    with pytest.raises((ConnectionError, OSError, websocket.WebSocketException)):
        plain = websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/ws?token={answer['token']}", timeout=5
        )
        plain.recv()


def test_a_message_of_two_megabytes_still_gets_a_1009_and_is_logged(server, connect):
    alice = connect("alice")
    alice.send("x" * (2 * 1024 * 1024))  # read and thrown away after the first 64 KiB
    assert alice.close_frame() == 1009
    bob = connect("bob")
    bob.send({"type": "chat", "value": "hello"})
    assert bob.recv_type("chat")["value"] == "hello"
    assert "alice: a message over 65536 bytes, closing with 1009" in server.log()


def test_login_lets_only_allowed_origins_read_its_answer(start_chat):
    server = start_chat("--allow-origin", "http://localhost:3000")

    def cors_header(origin):
        body = json.dumps({"name": f"user{secrets.token_hex(4)}"}).encode()  # a name of its own
        request = urllib.request.Request(
            server.url + "login", data=body, headers={"Origin": origin}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.headers.get("Access-Control-Allow-Origin")

    assert cors_header("http://localhost:3000") == "http://localhost:3000"
    assert cors_header("http://evil.example") is None
