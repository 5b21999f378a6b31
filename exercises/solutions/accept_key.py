"""Exercise 1, a reference solution: the Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""

import base64
import hashlib

MAGIC = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # the same for every server (RFC 6455)


def accept_key(key: str) -> str:
    digest = hashlib.sha1((key + MAGIC).encode()).digest()
    return base64.b64encode(digest).decode()
