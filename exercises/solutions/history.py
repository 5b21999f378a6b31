"""Exercise 10, a reference solution: chat.py's History, with the clock passed in."""

import collections
import json

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

    def add(self, chat, visible, session, now):
        self.last_id += 1
        chat["id"] = self.last_id
        self.kept.append((self.last_id, json.dumps(chat, ensure_ascii=False), visible))
        while len(self.kept) > self.keep:
            self.no_longer_kept(*self.kept.popleft())
        if "cid" in chat:
            self.sent[session, chat["cid"]] = (self.last_id, now)

    def no_longer_kept(self, chat_id, text, visible):
        for who in visible or [ROOM_WIDE]:
            self.dropped[who] = chat_id

    def sent_before(self, session, cid, now):
        while self.sent and next(iter(self.sent.values()))[1] < now - SENT_ONCE_WINDOW:
            self.sent.popitem(last=False)
        first_id, _ = self.sent.get((session, cid), (None, None))
        return first_id

    def resume(self, since, epoch, session):
        if since is None or epoch != self.epoch:
            since = 0
        chats = [
            text
            for chat_id, text, visible in self.kept
            if chat_id > since and (visible is None or session in visible)
        ]
        missing = max(self.dropped.get(ROOM_WIDE, 0), self.dropped.get(session, 0))
        return self.epoch, chats, missing <= since and (epoch is None or epoch == self.epoch)
