"""Exercise 3, a reference solution: a server's text frame, and a client's masked frame."""

import struct

TEXT = 0x1  # the opcode of a text frame
FIN = 0x80  # this frame is the whole message
MASKED = 0x80  # the payload is masked (always so from a client)


def encode_text_frame(text: str) -> bytes:
    """Header of 2, 4 or 10 bytes, then the UTF-8 payload, unmasked: as chat.py's prepare_frame."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", FIN | TEXT, size)
    elif size < 65536:
        header = struct.pack("!BBH", FIN | TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", FIN | TEXT, 127, size)
    return header + payload


def decode_client_frame(data: bytes) -> tuple[int, bytes]:
    """The opcode and the unmasked payload of one whole frame from a client."""
    opcode = data[0] & 0x0F
    if not data[1] & MASKED:
        raise ValueError("a client's frame must be masked")  # a server closes the connection
    size, start = data[1] & 0x7F, 2
    if size == 126:
        size, start = int.from_bytes(data[2:4], "big"), 4
    elif size == 127:
        size, start = int.from_bytes(data[2:10], "big"), 10
    key = data[start : start + 4]
    masked = data[start + 4 : start + 4 + size]
    return opcode, bytes(b ^ key[i % 4] for i, b in enumerate(masked))
