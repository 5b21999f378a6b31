"""Exercise 1: the Sec-WebSocket-Accept value (lessons/01-why-websockets.md).

Write `accept_key(key)`. A browser that wants a WebSocket sends an ordinary HTTP request with a
random `Sec-WebSocket-Key` header; the server proves it understood the request by answering
`101 Switching Protocols` with a `Sec-WebSocket-Accept` header computed from that key. If the
value is wrong, the browser drops the connection and the chat page never connects. Tornado
computes it for chat.py; here you compute it yourself.

    accept_key("dGhlIHNhbXBsZSBub25jZQ==")  ->  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

Check your answer with:  pytest exercises/test_accept_key.py

Hint: glue the key and the fixed string MAGIC below together, take the SHA-1 digest of those
bytes (`hashlib.sha1`), and encode the 20 digest bytes in base64 (`base64.b64encode`). Return
a `str`, not `bytes`.
"""

MAGIC = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # the same for every server (RFC 6455)


def accept_key(key: str) -> str:
    raise NotImplementedError("Your turn: compute the Sec-WebSocket-Accept value here.")
