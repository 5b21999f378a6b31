"""What a room's history costs: chat.py's memory before and after ROOMS rooms keep their chats.

Usage, from the project's root:

    python bench/history_memory.py                       # 1000 rooms x 100 chats of 40 characters
    python bench/history_memory.py --rooms 100 --length 200

It starts `chat.py --port 0 --history CHATS` (no rate limit), and for each room connects once,
says CHATS chats, reads them back and leaves: the history stays, nobody is in the room. The
server's resident memory (VmRSS, from /proc) is read before the first room and after the last.
Linux only, since it reads /proc.
"""

import argparse
import json
import time

import websocket
from chat_process import CHAT, UNLIMITED, ChatProcess, login, resident_kib, ws_url

SETTLE = 1.0  # seconds to let the server settle before reading its memory


def fill(url, token, room, chats, text):
    """Say `chats` chats in `room` and read them back, so that all are kept before leaving."""
    ws = websocket.create_connection(ws_url(url, token, room=room), timeout=10)
    ws.recv()  # the welcome
    for n in range(chats):
        ws.send(json.dumps({"type": "chat", "value": text, "cid": f"{room}-{n}"}))
    received = 0
    while received < chats:
        received += json.loads(ws.recv()).get("type") == "chat"
    ws.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--chats", type=int, default=100, help="chats kept per room")
    parser.add_argument("--length", type=int, default=40, help="characters per chat")
    args = parser.parse_args()
    flags = ["--history", args.chats, "--rate", "0", *UNLIMITED]
    flags += ["--max-rooms", args.rooms + 1]  # + the warm-up room
    with ChatProcess(CHAT, flags) as server:
        token = login(server.url, "filler")[1]["token"]
        fill(server.url, token, "warm-up", 1, "x")  # the first connection's one-time costs
        time.sleep(SETTLE)
        before = resident_kib(server.pid)
        started = time.monotonic()
        for room in range(args.rooms):
            fill(server.url, token, f"room-{room}", args.chats, "x" * args.length)
        took = time.monotonic() - started
        time.sleep(SETTLE)
        after = resident_kib(server.pid)
    kept = args.rooms * args.chats
    print(f"{args.rooms} rooms x {args.chats} chats of {args.length} characters, in {took:.1f} s")
    print(f"chat.py's memory: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after")
    print(f"{(after - before) / 1024:.1f} MiB for {kept} kept chats: "
          f"{(after - before) * 1024 / kept:.0f} bytes each")  # fmt: skip


if __name__ == "__main__":
    main()
