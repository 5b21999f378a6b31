"""Check for exercise 2:  pytest exercises/test_origin.py"""

import pytest

HOST = "127.0.0.1:8080"  # the Host header of the handshake: where the chat runs
ALLOWED = ["http://localhost:3000"]  # as if started with --allow-origin http://localhost:3000


@pytest.fixture
def origin_allowed(exercise):
    return exercise("origin", "origin_allowed")


PASSING = {  # Origin header -> why it passes
    None: "no Origin header means a script, not a browser page",
    "http://127.0.0.1:8080": "the chat's own page, from the same host and port",
    "https://127.0.0.1:8080": "the chat's own page served over TLS",
    "http://localhost:3000": "an origin given with --allow-origin",
}
FAILING = {  # Origin header -> why it fails
    "https://evil.example": "another web site",
    "http://127.0.0.1:9999": "the same machine, but another port: another site",
    "http://localhost:8080": "another host name, even if it reaches the same machine",
    "null": 'the "null" origin of sandboxed pages and local files',
    "http://127.0.0.1:8080.evil.example": "a look-alike that only starts with the host",
    "http://evil.example/127.0.0.1:8080": "a look-alike that only ends with the host",
    "http://localhost:30000": "a look-alike of an allowed origin: compare exactly",
    "https://localhost:3000": "the allowed origin is http://, not https://",
}


@pytest.mark.parametrize("origin", PASSING)
def test_allowed(origin_allowed, origin):
    why = PASSING[origin]
    assert origin_allowed(origin, HOST, ALLOWED) is True, f"Origin {origin!r} should pass: {why}"


@pytest.mark.parametrize("origin", FAILING)
def test_refused(origin_allowed, origin):
    why = FAILING[origin]
    assert origin_allowed(origin, HOST, ALLOWED) is False, f"Origin {origin!r} should fail: {why}"


def test_host_names_ignore_case(origin_allowed):
    assert origin_allowed("http://chat.example:8080", "Chat.Example:8080", []) is True, (
        "the Host header may be written in capitals: compare host names in lower case"
    )


DEFAULT_PORTS = [  # (Origin, Host, passes?, why)
    ("https://chat.example", "chat.example:443", True, "443 is https's default port"),
    ("https://chat.example:443", "chat.example", True, "443 is https's default port"),
    ("http://chat.example:80", "chat.example", True, "80 is http's default port"),
    ("https://chat.example", "chat.example:80", False, "https's default is 443, not 80"),
    ("http://chat.example", "chat.example:443", False, "http's default is 80, not 443"),
    ("http://chat.example", "chat.example:8080", False, "no port is 80 for http, not 8080"),
]


@pytest.mark.parametrize("origin, host, passes, why", DEFAULT_PORTS)
def test_a_default_port_counts_as_none(origin_allowed, origin, host, passes, why):
    verb = "pass" if passes else "fail"
    assert origin_allowed(origin, host, []) is passes, (
        f"Origin {origin!r} with Host {host!r} should {verb}: {why}"
    )


def test_a_port_that_is_no_number_is_refused(origin_allowed):
    assert origin_allowed("http://127.0.0.1:80a", HOST, []) is False, (
        "an Origin whose port is not a number is no page of this server"
    )


def test_an_empty_allow_list_still_allows_the_chat_itself(origin_allowed):
    assert origin_allowed("http://chat.example", "chat.example", []) is True, (
        "a page from http://chat.example should pass when the Host header is chat.example"
    )
    assert origin_allowed("http://localhost:3000", HOST, []) is False, (
        "with no --allow-origin, only the chat's own origin passes"
    )
