"""Check for exercise 3:  pytest exercises/test_frames.py"""

import os
import struct

import pytest
import websocket

SIZES = [0, 125, 126, 65535, 65536]  # the edges between 7-, 16- and 64-bit lengths
TEXT, BINARY, CLOSE, PING = 1, 2, 8, 9


@pytest.fixture
def encode_text_frame(exercise):
    return exercise("frames", "encode_text_frame")


@pytest.fixture
def decode_client_frame(exercise):
    return exercise("frames", "decode_client_frame")


def expected_header(size):
    """FIN + text, then the length: in byte 1 itself, or after a 126 or a 127."""
    if size < 126:
        return bytes([0x81, size])
    if size < 65536:
        return bytes([0x81, 126]) + struct.pack("!H", size)
    return bytes([0x81, 127]) + struct.pack("!Q", size)


def masked_frame(opcode, payload, key):
    """A frame as a client sends it: FIN, the opcode, MASK, the length, the key, masked bytes."""
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", size)
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", size)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_a_short_text(encode_text_frame):
    frame = encode_text_frame("hi")
    assert isinstance(frame, bytes), f"return bytes, not {type(frame).__name__}"
    assert frame == b"\x81\x02hi", f"'hi' is b'\\x81\\x02hi' (FIN + text, length 2), got {frame!r}"


@pytest.mark.parametrize("size", SIZES)
def test_encoded_lengths(encode_text_frame, size):
    text = "a" * size
    frame = encode_text_frame(text)
    header = expected_header(size)
    assert frame[: len(header)] == header, (
        f"for {size} bytes the header is {header[:12]!r}, yours starts {frame[:12]!r}: "
        "0-125 fits in byte 1; up to 65535 is 126 + 2 bytes; more is 127 + 8 bytes"
    )
    assert frame[len(header) :] == text.encode(), "after the header comes the text itself, unmasked"


def test_the_length_counts_utf8_bytes(encode_text_frame):
    text = "é" * 63  # 63 characters, but 126 bytes in UTF-8
    frame = encode_text_frame(text)
    assert frame == expected_header(126) + text.encode(), (
        "'é' is 2 bytes in UTF-8: 63 of them are 126 bytes, which needs the 2-byte length; "
        "encode the text first, then count"
    )


def test_the_example_from_rfc_6455(decode_client_frame):
    frame = bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")  # "Hello", masked with 37 fa 21 3d
    assert decode_client_frame(frame) == (TEXT, b"Hello"), (
        "this masked frame is the text 'Hello': opcode 1, and each payload byte XOR key[i % 4]"
    )


@pytest.mark.parametrize("size", SIZES)
def test_decoded_lengths(decode_client_frame, size):
    payload = os.urandom(size)
    key = os.urandom(4)
    opcode, got = decode_client_frame(masked_frame(BINARY, payload, key))
    assert opcode == BINARY, f"the opcode is the low 4 bits of byte 0: expected 2, got {opcode}"
    assert len(got) == size, (
        f"the payload is {size} bytes, yours {len(got)}: after 126 read 2 bytes of length, "
        "after 127 read 8, and the 4-byte key comes after the length"
    )
    assert got == payload, (
        f"the {size}-byte payload is not unmasked right: XOR byte i with key[i % 4]"
    )


@pytest.mark.parametrize("opcode", [TEXT, BINARY, CLOSE, PING])
def test_the_opcode(decode_client_frame, opcode):
    frame = masked_frame(opcode, b"\x03\xe8", b"\x01\x02\x03\x04")
    assert decode_client_frame(frame) == (opcode, b"\x03\xe8"), (
        f"a frame with opcode {opcode}: return ({opcode}, payload); the opcode is byte 0 & 0x0F"
    )


def test_a_frame_from_a_real_client(decode_client_frame):
    frame = websocket.ABNF.create_frame("héllo, chat", websocket.ABNF.OPCODE_TEXT).format()
    assert decode_client_frame(frame) == (TEXT, "héllo, chat".encode()), (
        "websocket-client (what the project's tests connect with) sent 'héllo, chat' "
        "as this frame, with a random mask"
    )
