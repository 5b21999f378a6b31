"""Exercise 10: a room's history, the chats a page missed (lessons/10-nothing-lost.md).

Write the three methods of `class History(keep, epoch)`, one room's last chats:

- `add(chat, visible, session, now)`: give the chat (a dict) the room's next id, `chat["id"]`,
  1 for the first chat and one more for each after it; keep it as its JSON text
  (`json.dumps(chat, ensure_ascii=False)`, once the id is in), with the newest `keep` chats
  at most; and if the chat has a "cid", remember that this `session` sent that cid as this id,
  at time `now`. `visible` is None for a chat to the whole room, and for a direct message the
  set of sessions that may see it. `session` is the sender's.
- `resume(since, epoch, session) -> (epoch, chats, recovered)`: what a connection of `session`
  gets in its welcome. `since` is the last id the page saw and `epoch` the epoch it saw it in,
  or both are None on a first visit. `chats`: the kept JSON texts, oldest first, with an id
  above `since`, that this session may see. If `epoch` is not this history's, the page's ids
  mean nothing here: count from 0. `recovered`: True when no chat this session may see with an
  id above `since` (above 0 on a first visit) is missing from `chats`; always False from
  another epoch. The first value is this history's epoch.
- `sent_before(session, cid, now) -> int | None`: the id of this session's chat with this cid,
  if it was added at most SENT_ONCE_WINDOW seconds before `now`; None otherwise (another
  session, another cid, no cid, or too long ago). It does not matter whether the chat is
  still kept.

Times are plain seconds (`now` is passed in, so the check can play with the clock).

Why it matters: a page whose connection drops misses what is said until it is back. With the
last id it saw, and the epoch, the server can hand it exactly what it missed, and say honestly
(`recovered`) when some of it is no longer kept. And a page that sends its chat again after a
reconnect, not knowing whether it arrived, must not make everyone see it twice: the cid, the
page's own id for the chat, tells the server it has it already.

    history = History(keep=2, epoch="e1")
    for text in ("one", "two", "three"):
        history.add({"type": "chat", "value": text}, None, "s-alice", now=0.0)
    history.resume(2, "e1", "s-bob")     ->  ("e1", ['{"type": "chat", ..., "id": 3}'], True)
    history.resume(0, "e1", "s-bob")     ->  ("e1", [the texts of 2 and 3], False)  # 1 is gone
    history.resume(2, "e0", "s-bob")     ->  ("e1", [the texts of 2 and 3], False)  # another epoch

Check your answer with:  pytest exercises/test_history.py

Hint: when the oldest kept chat goes, note its id as the newest one no longer kept, per who
could see it: ROOM_WIDE for a chat to the room, each session in `visible` for a direct
message. Then `resume` compares `since` with the larger of the notes for ROOM_WIDE and for its
session. The fields below are the ones chat.py uses; you may choose others.
"""

import collections

ROOM_WIDE = object()  # in `dropped`: a chat for the whole room, not for some sessions only
SENT_ONCE_WINDOW = 600.0  # seconds a chat's cid is remembered


class History:
    def __init__(self, keep: int, epoch: str):
        self.epoch = epoch
        self.keep = keep
        self.kept = collections.deque()  # (id, the chat's JSON text, who may see it or None)
        self.last_id = 0
        self.dropped = {}  # ROOM_WIDE, or a session -> the newest chat for it no longer kept
        self.sent = collections.OrderedDict()  # (session, cid) -> (id, when), oldest first

    def add(self, chat: dict, visible, session: str, now: float) -> None:
        raise NotImplementedError("Your turn: the next id, keep the text, forget the oldest.")

    def sent_before(self, session: str, cid, now: float):
        raise NotImplementedError("Your turn: the id of this session's chat with this cid.")

    def resume(self, since, epoch, session: str):
        raise NotImplementedError("Your turn: the kept chats after since, and recovered.")
