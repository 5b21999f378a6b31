"""Exercise 3: WebSocket frames, byte by byte (lessons/03-client.md).

Write two functions:

- `encode_text_frame(text)`: the bytes a server writes to send `text` as one text frame.
- `decode_client_frame(data)`: for one whole frame sent by a client, its opcode and its
  payload, unmasked: `(opcode, payload)`.

Why it matters: every chat message travels as a frame. chat.py builds each outgoing frame
once and writes the same bytes to every client (`prepare_frame`), so it has to know the
layout; and a client's frames arrive masked, so reading them means undoing the mask.

The layout (RFC 6455, section 5.2):

    byte 0      FIN bit (0x80) + opcode (low 4 bits): 1 text, 2 binary, 8 close, 9 ping, 10 pong
    byte 1      MASK bit (0x80) + a length of 0 to 125, or 126 / 127 meaning "look further"
    then        126: the length in the next 2 bytes; 127: in the next 8 bytes (big-endian)
    then        with MASK set: 4 bytes of masking key
    then        the payload; masked, payload byte i is XORed with key byte i % 4

A server's frames are never masked; a client's always are.

    encode_text_frame("hi")  ->  b"\\x81\\x02hi"

Check your answer with:  pytest exercises/test_frames.py

Hint: the length is counted in UTF-8 bytes, not characters. `struct.pack("!BBH", ...)` and
`struct.pack("!BBQ", ...)` write the 2- and 8-byte lengths; `int.from_bytes(data[2:4], "big")`
reads one back. Undo the mask with `bytes(b ^ key[i % 4] for i, b in enumerate(masked))`.
"""


def encode_text_frame(text: str) -> bytes:
    raise NotImplementedError("Your turn: build the header and put the UTF-8 text after it.")


def decode_client_frame(data: bytes) -> tuple[int, bytes]:
    raise NotImplementedError("Your turn: read the header, the masking key, then unmask.")
