"""Check for exercise 1:  pytest exercises/test_accept_key.py"""

import base64
import os

import pytest
from tornado.websocket import WebSocketProtocol13


@pytest.fixture
def accept_key(exercise):
    return exercise("accept_key", "accept_key")


def test_the_example_from_rfc_6455(accept_key):
    answer = accept_key("dGhlIHNhbXBsZSBub25jZQ==")
    assert isinstance(answer, str), (
        f"return a str (use .decode() on the base64 bytes), not {answer!r}"
    )
    assert answer == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", (
        f"for the RFC's key the answer is 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', yours is {answer!r}: "
        "is MAGIC glued right after the key, and is it base64 of the SHA-1 digest (not its hex)?"
    )


def test_another_known_key(accept_key):
    answer = accept_key("x3JJHMbDL1EzLkh9GBhXDw==")
    assert answer == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=", (
        f"expected 'HSmrc0sMlYUkAGmm5OPpG2HaGWk=', got {answer!r}"
    )


@pytest.mark.parametrize("attempt", range(5))
def test_agrees_with_tornado_on_random_keys(accept_key, attempt):
    key = base64.b64encode(os.urandom(16)).decode()  # what a browser sends: 16 random bytes
    expected = WebSocketProtocol13.compute_accept_value(key)  # what chat.py answers
    answer = accept_key(key)
    assert answer == expected, (
        f"for the key {key!r}, Tornado answers {expected!r}, yours {answer!r}"
    )
