"""Step 8, beyond one process (lessons/08-scale-out.md): step 7, plus --redis. Processes on one
Redis are one chat: each publishes on the room's channel what it broadcasts and delivers what it
hears there; who is online, name holds, logouts and tickets are shared through Redis.

    python steps/08_scale_out.py  # then open http://127.0.0.1:8080/ in two tabs

Lesson 9 adds rooms (room=, GET /rooms) and direct messages.
"""

import argparse
import asyncio
import base64
import bisect
import collections
import errno
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import signal
import ssl
import struct
import sys
import time
import typing
import unicodedata
import urllib.parse
import weakref
from pathlib import Path

import confusable_homoglyphs.categories
import confusable_homoglyphs.confusables
import regex
import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.util
import tornado.web
import tornado.websocket

try:
    import redis.asyncio
except ImportError:  # only --redis needs it; chat.py runs without it otherwise
    redis = None

WRITE_WAIT = 10.0  # seconds allowed to hand the queued messages to the peer
PONG_WAIT = 60.0  # seconds allowed to hear anything (a pong, a message) from the peer
PING_PERIOD = PONG_WAIT * 9 / 10  # seconds between pings; must be less than PONG_WAIT
SEND_BUFFER = 256  # messages waiting for one client before it counts as too slow
WRITE_BATCH = 64  # messages queued for a client that are written at once, not at the next turn
PRESENCE_WAIT = 100e-6  # seconds a join or leave may wait to go out with others, per client
PRESENCE_BATCH = SEND_BUFFER // 2  # frames that wait so at most: half a slow client's queue
MAX_MESSAGE_BYTES = 65536  # a bigger message closes the connection with 1009
REJECTIONS_BEFORE_CLOSE = 10  # rate-limited messages in a row before close 1008
SWEEP_PERIOD = 1.0  # seconds between keepalive sweeps over all clients; at most PING_PERIOD / 10
HEADER_TIMEOUT = 10.0  # seconds for a request's headers to arrive, then it is closed
MAX_HEADER_BYTES = 16 * 1024
HOLD_AFTER_CLOSE = 30.0  # seconds a name stays its session's after its last connection closes
TICKET_TTL = 30.0  # seconds a ticket from POST /ticket is good for one handshake
PASSWORDLESS_RENEWAL = 24 * 3600  # seconds after a session's first login that its token renews it
SESSION_LIFETIME = 7 * 24 * 3600  # seconds after which a token names no session any more

log = logging.getLogger("chat")


def now_ms():
    return time.time_ns() // 1_000_000


# Lesson 1: what goes over the wire. Every message is one WebSocket frame.


def prepare_frame(message):
    """A message as a whole WebSocket text frame, ready to write to any number of clients.

    Tornado's write_message encodes and frames the message again for every client;
    gorilla calls a frame built once a PreparedMessage. A server's frames are not
    masked, so the same bytes serve every client: a header of 2, 4 or 10 bytes
    (RFC 6455, section 5.2) and the UTF-8 payload.
    """
    return text_frame(json.dumps(message, ensure_ascii=False))


def text_frame(text):
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)  # FIN + text opcode, then the length
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


PING = b"\x89\x00"  # FIN + ping opcode, no payload: chat.py's pings go out as frames too


def pong_frame(data):
    """The answer to a ping: a pong with the ping's payload (at most 125 bytes)."""
    return struct.pack("!BB", 0x8A, len(data)) + data


# Lesson 2: the upgrade. Go's Upgrader with CheckOrigin; Tornado's WebSocketHandler
# does the handshake, and prepare() runs before it, so a bad request gets its
# 401 or 403 as plain HTTP and never becomes a WebSocket.


def refuse(handler, status, reason, headers=()):
    """Answer an HTTP request with {"error": reason}, and log one line saying why."""
    request = handler.request
    log.warning(
        "%d %s %s (%s): %s", status, request.method, request.path, client_address(handler), reason
    )
    handler.set_status(status)
    for name, value in headers:
        handler.set_header(name, value)
    handler.finish({"error": reason})


DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_matches_host(origin, host):
    """Same host and port; a port that is the default of the Origin's scheme counts as none."""
    try:
        parts = urllib.parse.urlsplit(origin)
        host_name, host_port = split_host(host)
        default = DEFAULT_PORTS.get(parts.scheme)
        return parts.hostname == host_name and (parts.port or default) == (host_port or default)
    except ValueError:
        return False


# The Host rule (lesson 7), which every handler, this one too, applies first. A page on
# evil.example that a DNS rebinding points at 127.0.0.1 is "same origin" with chat.py by
# the Origin check alone: its Host says evil.example.


def split_host(host):
    """'Example.com:8080' -> ('example.com', 8080); the port is None when there is none."""
    parts = urllib.parse.urlsplit("//" + host)
    return parts.hostname or "", parts.port  # .port raises ValueError for a bad one


def host_name(host):
    """The name in a Host header, without its port; "" when it is malformed."""
    try:
        return split_host(host)[0]
    except ValueError:
        return ""


def is_ip(name):
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(host, config):
    """An IP address, localhost, --host or an --allow-host name, whatever the port."""
    name = host_name(host)
    return bool(name) and (name in config.allow_host or is_ip(name))


class HostRule:
    """What every request of chat.py gets first: the Host rule, and headers that cost nothing."""

    def prepare(self):
        config = self.settings["config"]
        if not host_allowed(self.request.host, config):
            host = self.request.host
            name = host_name(host) or "NAME"
            refuse(self, 400, f"Host {host} is not this server's: to allow it, --allow-host {name}")

    def set_default_headers(self):
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        name = host_name(self.request.host)
        if self.request.protocol == "https" and name != "localhost" and not is_ip(name):
            self.set_header("Strict-Transport-Security", "max-age=31536000")


class ShortQueue(list):
    """A deque for an IOStream's write queues, which hold a few entries at a time.

    An empty deque costs 760 bytes (it allocates a block of 64 slots up front), an empty
    list 56, and a stream has two, for every client. Tornado uses only append, [0],
    [-1], len, iteration, clear and popleft on them.
    """

    __slots__ = ()

    def popleft(self):
        return self.pop(0)


class Client(HostRule, tornado.websocket.WebSocketHandler):
    """One connection: Go's serveWs and Client in one, since Tornado makes a handler per connection."""

    async def prepare(self):
        """Check the handshake before any upgrade: Host, credential, Origin, then limits."""
        self.config = self.settings["config"]
        self.rooms, self.sessions = self.settings["rooms"], self.settings["sessions"]
        self.address = client_address(self)
        self.counted = self.left = False
        super().prepare()  # the Host rule
        if self._finished:
            return
        text = self.get_query_argument("token", None) or bearer(self.request)
        ticket = self.get_query_argument("ticket", None)
        if ticket:  # the page's way in: a token in a URL would end up in a proxy's log
            text = await self.sessions.use_ticket(ticket)
        self.token = await current_token(self.config, self.sessions, text)
        if self.token is None:
            return refuse(self, 401, "missing, forged or expired token, or logged out: POST /login")
        self.name, self.session = self.token.name, self.token.session
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            reason = (
                f"origin {origin} is not allowed: it does not match Host {self.request.host}; "
                f"to allow it, --allow-origin {origin}"
            )
            return refuse(self, 403, reason)
        self.room = "lobby"  # the one room until lesson 9's room=
        if self.rooms.too_many_from(self.address):
            limit = self.config.max_connections_per_ip
            return refuse(self, 429, f"{limit} connections from one address at most")
        self.rooms.count(self)  # from here to leave(): reserved, even before the upgrade

    def check_origin(self, origin):
        """CheckOrigin: only this server's own pages, and the --allow-origin list.

        The lesson's CheckOrigin returns true, which lets any web site open a socket
        with its visitors' credentials (cross-site WebSocket hijacking).
        """
        return origin in self.config.allow_origin or origin_matches_host(origin, self.request.host)

    async def open(self):
        """The upgrade is done: set up the client, join its room's hub, let go of the handshake."""
        loop = asyncio.get_running_loop()
        self.stream = self.ws_connection.stream  # the TCP connection, for prepared frames
        self.plain_tcp = not isinstance(self.stream, tornado.iostream.SSLIOStream)
        self.send = []  # Go's `send chan []byte`: frames for the write pump, SEND_BUFFER at most
        self.seen = None  # in a room: how many of its hub's pending frames are in `send` or skipped
        self.direct = None  # the socket, while the hub may write straight to it: see write_pump
        self.lagging = None  # a task waiting for the peer, while it does not keep up
        self.typing = False
        self.expires = self.token.expires
        self.bucket = self.rooms.bucket_for(self.name, loop.time())  # shared by the name's tabs
        self.rejected_in_a_row = 0
        self.closed_with = None
        self.heard()
        self.pinged_at = self.last_heard
        self.forget_the_handshake()
        log.info("open %s %s room %s", self.name, self.address, self.room)
        self.sessions.opened(self)
        await self.rooms.join(self)

    def forget_the_handshake(self):
        """Free what Tornado keeps of the handshake but no longer needs: several KiB a client.

        The request stays referenced from the handler, so it is emptied in place. The
        token leaves the URI too, so no later log line has it.
        """
        request = self.request
        request.headers.clear()
        request.uri = request.path
        request.query = ""
        request.arguments = request.query_arguments = {}
        self._headers = self.ui = None  # the 101's headers are sent; no templates here
        # The HTTP/1 connection is done with: Tornado took the stream from it (detach),
        # and finish(), flush() and write(), which would use it, now raise.
        request.connection = request.server_connection = None
        stream = self.stream  # its two deques, 1.5 KiB, become lists: see ShortQueue
        stream._write_buffer._buffers = ShortQueue(stream._write_buffer._buffers)
        stream._write_futures = ShortQueue(stream._write_futures)

    # Lesson 3: the client's two pumps. In Go, readPump is a goroutine looping over
    # ReadMessage; Tornado runs that loop itself and calls on_message for each message.

    def read_pump(self, frame):
        """One message from the peer: check it, then hand it to the hub."""
        if self.closing():
            return  # it was sent before our close frame reached the peer
        self.heard()
        if isinstance(frame, bytes):
            log.info("%s: binary frame, closing with 1003", self.name)
            return self.drop(1003, "binary frames are not accepted: send JSON text")
        if not self.within_rate():
            return self.reject_over_rate()
        message = parse_message(frame)
        kind, value = message.get("type"), message.get("value")
        if kind == "chat" and isinstance(value, str):
            self.chat(message)
        elif kind == "typing" and isinstance(value, bool):
            self.typing = value
            self.hub.broadcast({"type": "typing", "from": self.name, "value": value}, skip=self)
        elif kind == "refresh":
            asyncio.ensure_future(self.refresh(message.get("token")))
        elif kind in ("chat", "typing"):
            kind_of_value = "a string" if kind == "chat" else "true or false"
            self.reply_error(f'a {kind} message needs a "value" that is {kind_of_value}')
        else:
            self.reply_error('"type" must be "chat", "typing" or "refresh"')

    on_message = read_pump  # the name Tornado calls

    def chat(self, message):
        """A chat message from the peer: checked, then broadcast in the room."""
        text = message["value"]
        error = chat_error(text, self.config.max_message_bytes)
        if error:
            return self.reply_error(error)
        self.typing = False
        chat = {"type": "chat", "from": self.name, "value": text, "ts": now_ms()}
        self.hub.broadcast(chat)

    def reply_error(self, reason):
        log.info("%s: %s", self.name, reason)
        error = {"type": "error", "value": reason}
        self.queue(prepare_frame(error))

    def within_rate(self):
        """The name's token bucket: --rate a second, shared by all of the name's connections."""
        if not self.config.rate:
            return True
        if self.bucket.allow(asyncio.get_running_loop().time()):
            self.rejected_in_a_row = 0
            return True
        self.rejected_in_a_row += 1
        return False

    def reject_over_rate(self):
        if self.rejected_in_a_row >= REJECTIONS_BEFORE_CLOSE:
            log.info("%s: still flooding, closing with 1008", self.name)
            return self.cut_off(1008, "too many messages")
        self.reply_error(f"slow down: at most {self.config.rate:g} messages a second")

    # Keepalive. Go sets a read deadline and extends it in the pong handler, and a ticker
    # pings. Here one sweep of the hub, every SWEEP_PERIOD, checks every client: a timer
    # per client would cost more memory than the rest of what the client adds to Tornado.

    def heard(self):
        self.last_heard = asyncio.get_running_loop().time()

    def on_pong(self, data):
        self.heard()

    def on_ping(self, data):
        """Tornado has answered it already; a ping counts towards the rate like a message."""
        if self.closing():
            return
        self.heard()
        if not self.within_rate() and self.rejected_in_a_row >= REJECTIONS_BEFORE_CLOSE:
            log.info("%s: still flooding with pings, closing with 1008", self.name)
            self.cut_off(1008, "too many pings")

    def keep_alive(self, now, wall_ms):
        """Go's read deadline and ping ticker in one check, run by sweep_keepalive()."""
        if self.closing():
            return
        if wall_ms >= self.expires:
            log.info("%s: token expired, closing with 4001", self.name)
            return self.drop(4001, "token expired: log in again")
        silent_for = now - self.last_heard
        if silent_for >= self.config.pong_wait:
            log.info("%s: nothing heard for %.0f s, closing", self.name, silent_for)
            return self.drop(1000, "nothing heard within the pong wait")
        if now - self.pinged_at >= self.config.ping_period:
            self.pinged_at = now
            self.queue(PING)  # behind what is queued, as Go's writePump does

    def queue(self, frame):
        """Queue a frame for this client alone; False if SEND_BUFFER frames wait already.

        Go's hub puts the message in the client's channel, and the writePump
        goroutine, running in parallel, takes it out. Here the write pump runs at
        the next turn of the event loop and writes all that was queued by then in
        one system call. Frames for the whole room wait in the hub (Hub.deliver);
        the room's frames from before this one go first.
        """
        self.catch_up()
        if len(self.send) >= SEND_BUFFER:
            return False
        self.send.append(frame)
        self.direct = None  # until the write pump has written it
        if self.lagging is None:
            if len(self.send) == 1:
                self.hub.write_soon(self)
            elif len(self.send) >= WRITE_BATCH:  # Tornado may read many messages in one turn
                self.write_pump()
        return True

    def catch_up(self):
        """Take the room's frames not yet written to this client into its own queue."""
        if self.seen is None:
            return  # not in the room (yet, or any more): the room's frames are not its own
        pending = self.hub.pending
        self.send.extend(pending[self.seen :])
        self.seen = len(pending)

    def write_pump(self):
        """Write every queued frame at once; if the socket can't take it all, wait for the peer."""
        if self.lagging or not self.send:
            return
        frames = b"".join(self.send)
        self.send.clear()
        if self.closing():
            return  # no data after a close frame
        if self.plain_tcp and not self.stream.writing():
            # Tornado's buffer is empty: hand the bytes to the socket itself, which
            # costs less than a write through Tornado (a future and a callback each).
            try:
                sent = self.stream.socket.send(frames)
            except OSError:  # it would block, or the peer is gone: Tornado will know
                sent = 0
            if sent == len(frames):
                if not self.seen:  # it has had all the room's frames: see Hub.write_to_all
                    self.direct = self.stream.socket
                return
            frames = frames[sent:]
        self.write_rest(frames)

    def write_rest(self, frames):
        """What the socket did not take goes through Tornado, which writes it when it can."""
        self.direct = None
        try:
            written = self.stream.write(frames)
        except tornado.iostream.StreamClosedError:
            return
        if not written.done():  # the kernel's buffer is full: the peer lags behind
            self.lagging = asyncio.ensure_future(self.wait_for_peer(written))

    async def wait_for_peer(self, written):
        """Give the peer WRITE_WAIT to take what was written; meanwhile frames wait in `send`."""
        try:
            await asyncio.wait_for(written, WRITE_WAIT)
        except tornado.iostream.StreamClosedError:
            return
        except TimeoutError:
            log.info("%s: a write took over %g s, closing", self.name, WRITE_WAIT)
            return self.drop(1008, "too slow")
        finally:
            self.lagging = None
        self.write_pump()

    def closing(self):
        """True once either side has begun to close, or the TCP connection is gone.

        Tornado learns that the stream closed one turn of the loop later; until then a
        ping or a write to the closed stream would raise.
        """
        connection = self.ws_connection
        return connection is None or connection.is_closing() or self.stream.closed()

    def close(self, code=None, reason=None):
        """Tornado's close, after what is queued: the close frame comes last."""
        self.catch_up()
        self.write_pump()
        if self.closed_with is None:
            self.closed_with = code
        super().close(code, reason)

    def drop(self, code, reason):
        """Leave the hub at once, then close: nobody waits for the peer's goodbye."""
        self.closed_with = code
        self.leave()
        self.close(code, reason)

    def cut_off(self, code, reason):
        """Drop a client that floods, and read nothing more from it: no goodbye awaited."""
        self.closed_with = code
        self.leave()
        self.write_pump()
        self.ws_connection.close_now(code, reason)

    def leave(self):
        """Go's readPump defer, once: leave the hub, and let go of what the connection held."""
        if self.left or not self.counted:
            return
        self.left = True
        self.rooms.uncount(self)
        if hasattr(self, "hub"):  # it got as far as its room
            self.hub.unregister(self)
            self.sessions.closed(self)
            code = self.closed_with or self.close_code or 1006  # 1006: no close frame at all
            log.info("close %s %s room %s code %s", self.name, self.address, self.room, code)

    def on_close(self):
        self.leave()

    def on_finish(self):
        if self.get_status() != 101:  # refused by Tornado's own checks after prepare()
            self.leave()

    def get_websocket_protocol(self):
        protocol = super().get_websocket_protocol()
        return protocol and Protocol(self, False, protocol.params)

    async def refresh(self, text):
        """{"type": "refresh"}: a later token of this session lets the connection live on."""
        token = await current_token(self.config, self.sessions, text)
        if token is None or token.session != self.session or token.expires <= self.expires:
            return self.reply_error("refresh needs a later-expiring token of this session")
        self.token, self.expires = token, token.expires
        self.queue(prepare_frame({"type": "refreshed", "expires": self.expires}))


# Lesson 3: what read_pump reads, and the keepalive sweep that stands for Go's deadlines.


def parse_message(frame):
    """A JSON object as it is; any other text frame is a chat of that text, as in the lesson."""
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
        message = None
    if isinstance(message, dict):
        return message
    return {"type": "chat", "value": frame}


async def sweep_keepalive(rooms, sessions, logins, config):
    """Every SWEEP_PERIOD, ping the clients due a ping and close those heard nothing from.

    Pings go out within SWEEP_PERIOD of each --ping-period, and a silent client is
    closed within SWEEP_PERIOD of its --pong-wait; so is one whose token expired.
    """
    period = min(SWEEP_PERIOD, config.ping_period / 10)
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(period)
        now, wall_ms = loop.time(), now_ms()
        for client in rooms.clients():  # keep_alive may drop a client from its hub
            client.keep_alive(now, wall_ms)
        sessions.sweep(now)
        logins.sweep(now)


# Lesson 4: the hub, the one owner of the set of clients. In Go a goroutine owns the
# map and everyone else talks to it over channels. asyncio runs every callback on
# one thread and switches only at `await`, so plain method calls cannot interleave.


class Hub:
    def __init__(self, room, rooms):
        self.room = room
        self.rooms = rooms  # the hub of hubs, which forgets this one with its last client
        self.clients = set()
        self.names = collections.Counter()  # connections per name
        self.roster = []  # the names connected here, sorted, for a welcome: see online()
        self.roster_texts = []  # the same names as JSON texts, in the same order
        self.roster_json = None  # the whole list as JSON text, until the roster changes
        self.pending = []  # frames for every client here, written at the next write
        self.due = []  # clients with frames of their own, written at the next write
        self.write_timer = None  # when the room's frames are written: see write_soon
        self.due_timer = None  # when the due clients' own frames are written
        self.joining = 0  # clients on their way in: RedisRooms.join (lesson 8) counts them

    def is_online(self, name):
        return name in self.names

    def online(self):
        """The names in the room, sorted, for a welcome."""
        return self.roster

    def online_json(self):
        """online() as JSON text, made once for all the welcomes until the roster changes."""
        if self.roster_json is None:
            self.roster_json = f"[{', '.join(self.roster_texts)}]"
        return self.roster_json

    def add_to_roster(self, name):
        at = bisect.bisect_left(self.roster, name)
        self.roster.insert(at, name)
        self.roster_texts.insert(at, json.dumps(name, ensure_ascii=False))
        self.roster_json = None

    def drop_from_roster(self, name):
        at = bisect.bisect_left(self.roster, name)
        del self.roster[at], self.roster_texts[at]
        self.roster_json = None

    def register(self, client):
        """Welcome the new connection, then announce a name that just came online."""
        came_online = not self.is_online(client.name)
        if not self.names[client.name]:  # first here, if not first anywhere (lesson 8)
            self.add_to_roster(client.name)
        self.names[client.name] += 1
        welcome = {
            "type": "welcome",
            "you": client.name,
            "expires": client.expires,
        }
        client.seen = len(self.pending)  # what the room was sent before is not for it
        client.queue(welcome_frame(welcome, self.online_json()))
        if came_online:
            self.deliver({"type": "join", "from": client.name}, skip=client)
        self.clients.add(client)

    def unregister(self, client):
        """Forget a connection; a name leaves with its last connection."""
        if client not in self.clients:
            return
        client.catch_up()  # what the room said before it left is still its own
        client.seen = None
        self.clients.remove(client)
        self.names[client.name] -= 1
        if not self.names[client.name]:
            del self.names[client.name]
            self.drop_from_roster(client.name)
        if not self.is_online(client.name):
            self.deliver({"type": "leave", "from": client.name})
        elif client.typing:
            self.broadcast({"type": "typing", "from": client.name, "value": False})
        if not self.clients:
            self.rooms.forget(self)

    def write_soon(self, client=None, delay=0.0):
        """Write `client`'s own frames at the next turn; the room's within `delay` s.

        The two wait apart: a welcome goes out at once while the joins of a crowd
        coming in wait for each other (client.queue takes the room's frames first).
        """
        loop = asyncio.get_running_loop()
        if client is not None:
            self.due.append(client)
            if self.due_timer is None:
                self.due_timer = loop.call_soon(self.run_write_pumps)
            return
        when = loop.time() + delay
        if self.write_timer:
            if self.write_timer.when() <= when:
                return
            self.write_timer.cancel()
        self.write_timer = loop.call_at(when, self.write_room)

    def write_room(self):
        self.write_timer = None
        frames, self.pending = self.pending, []
        if frames:
            self.write_to_all(frames)

    def run_write_pumps(self):
        self.due_timer = None
        due, self.due = self.due, []
        for client in due:
            client.write_pump()

    def write_to_all(self, frames):
        """The room's frames, in one write per client: straight to the socket where it may.

        That is every client with nothing of its own queued, on plain TCP, keeping up
        (client.direct, see Client.write_pump); the others' write pumps take them in turn.
        """
        data = b"".join(frames)
        others = []
        for client in self.clients:
            socket = client.direct
            if socket is None:
                others.append(client)
                continue
            try:
                sent = socket.send(data)
            except OSError:  # it would block, or the peer is gone: Tornado will know
                sent = 0
            if sent < len(data):
                client.write_rest(data[sent:])
        for client in others:
            client.send.extend(frames[client.seen :])
            client.seen = 0
            if len(client.send) > SEND_BUFFER:
                # Go closes the client's send channel; nobody waits for a slow reader.
                log.info("%s: %d messages waiting, dropping", client.name, SEND_BUFFER)
                client.drop(1008, "too slow: messages were piling up")
            else:
                client.write_pump()

    def broadcast(self, message, skip=None):
        """A chat or typing message for the whole room; here the room is this process."""
        self.deliver(message, skip)

    def deliver(self, message, skip=None):
        """Send one message to every client here but `skip`.

        It is framed once and waits in `pending` for everyone: one write per client at the
        next turn carries all that the room said meanwhile. A join or a leave may wait
        longer, to go out with the others that a crowd coming or going makes.
        """
        frame = prepare_frame(message)  # encoded and framed once, for everyone
        if skip is not None:
            skip.catch_up()
        self.pending.append(frame)
        if skip is not None and skip.seen is not None:
            skip.seen, skip.direct = len(self.pending), None  # skipped: see write_to_all
        presence = message["type"] in ("join", "leave") and len(self.pending) < PRESENCE_BATCH
        self.write_soon(delay=len(self.clients) * PRESENCE_WAIT if presence else 0.0)


def welcome_frame(welcome, online):
    """The welcome, with the roster (JSON text) spliced in as it is."""
    text = json.dumps(welcome, ensure_ascii=False)
    return text_frame(f'{text[:-1]}, "online": {online}}}')


# Rooms: one hub per room, the map of hubs proposed in gorilla/websocket's issue #33 (its
# maintainer points room questions to #46). The Go lesson's single hub becomes a dict of hubs;
# until lesson 9's room=, the lobby is the only room in it.


class Rooms:
    """Every room's hub by name, made with its first client and forgotten with its last."""

    def __init__(self, config):
        self.config = config
        self.hubs = {}
        self.connections_from = collections.Counter()  # client address -> open connections
        self.buckets = weakref.WeakValueDictionary()  # name -> its rate's TokenBucket

    def too_many_from(self, address):
        limit = self.config.max_connections_per_ip
        return limit and self.connections_from[address] >= limit

    def count(self, client):
        self.connections_from[client.address] += 1
        client.counted = True

    def uncount(self, client):
        self.connections_from[client.address] -= 1
        if not self.connections_from[client.address]:
            del self.connections_from[client.address]

    def bucket_for(self, name, now):
        """The name's token bucket: it lives as long as one of the name's connections."""
        bucket = self.buckets.get(name)
        if bucket is None:
            bucket = self.buckets[name] = TokenBucket(self.config.rate, 2 * self.config.rate, now)
        return bucket

    def open_room(self, room):
        hub = self.hubs[room] = Hub(room, self)
        return hub

    async def join(self, client):
        hub = self.hubs.get(client.room) or self.open_room(client.room)
        client.hub = hub
        hub.register(client)

    def forget(self, hub):
        if not hub.clients and not hub.joining and self.hubs.get(hub.room) is hub:
            del self.hubs[hub.room]

    def clients(self):
        return [client for hub in list(self.hubs.values()) for client in hub.clients]

    def close_session(self, session, code, reason):
        for client in self.clients():
            if client.session == session:
                client.drop(code, reason)


# Lesson 5: the page, served with a Content-Security-Policy that names its inline script
# and style by their hashes (lesson 7).

INLINE = re.compile(r"<(script|style)\b[^>]*>(.*?)</\1>", re.DOTALL)


@functools.cache
def inline_hashes(path, modified):
    """The CSP sources of the page's inline script and style: their SHA-256, as served."""
    sources = {"script": [], "style": []}
    for kind, body in INLINE.findall(Path(path).read_text(encoding="utf-8")):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        sources[kind].append(f"'sha256-{digest}'")
    return " ".join(sources["script"]) or "'none'", " ".join(sources["style"]) or "'none'"


class Page(HostRule, tornado.web.StaticFileHandler):
    """GET /: index.html, with a Content-Security-Policy that runs no script but its own."""

    def set_extra_headers(self, path):
        scripts, styles = inline_hashes(self.absolute_path, os.stat(self.absolute_path).st_mtime)
        host = self.request.host
        self.set_header(
            "Content-Security-Policy",
            f"default-src 'none'; script-src {scripts}; style-src {styles}; "
            f"connect-src 'self' ws://{host} wss://{host}; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        )


# Lesson 7: security. Tokens and sessions, names, limits, frames that break the RFC, and
# the API that logs in, hands out tickets and logs out.


class Token(typing.NamedTuple):
    """What a token says, signed by the server: whose it is, and until when."""

    name: str
    session: str  # one login's id, shared by every token renewed from it
    started: float  # the session's first login, seconds since the epoch
    expires: int  # milliseconds since the epoch


def make_token(secret, token):
    """Sign a token: Tornado's secure cookie format (HMAC-SHA256 over the value and a timestamp)."""
    return tornado.web.create_signed_value(secret, "chat", json.dumps(token)).decode()


def read_token(secret, text):
    """The Token inside `text`, expired or not; None when it is forged or malformed."""
    try:
        value = tornado.web.decode_signed_value(
            secret, "chat", text, max_age_days=SESSION_LIFETIME / 86400, min_version=2
        )
        token = Token(*json.loads(value))
    except (ValueError, TypeError):  # forged, too old, not JSON, or not our fields
        return None
    if time.time() - token.started > SESSION_LIFETIME:
        return None
    return token


def bearer(request):
    """The token of an `Authorization: Bearer ...` header, or None."""
    authorization = request.headers.get("Authorization", "")
    return (
        authorization.removeprefix("Bearer ").strip()
        if authorization.startswith("Bearer ")
        else None
    )


async def current_token(config, sessions, text):
    """The Token in `text` if it opens a socket now: signed, unexpired, its session holding its name."""
    token = isinstance(text, str) and read_token(config.secret, text)
    if not token or token.expires <= now_ms() or not await sessions.is_current(token):
        return None
    return token


# Who is who. A login holds a name for its session, so that nobody else can
# take it while it is in use; a name that only looks like a held one is refused too.

NAME_RULE = "a name is 1 to 32 letters, digits, spaces, _ or -"
INVISIBLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")  # U+3164 HANGUL FILLER, ...
# Unicode TS #39's "highly restrictive" level: one script, or Latin with these.
SCRIPT_MIXES = [{"LATIN", "HAN", "HIRAGANA", "KATAKANA"}, {"LATIN", "HAN", "BOPOMOFO"}]
SCRIPT_MIXES += [{"LATIN", "HAN", "HANGUL"}]


def valid_name(name):
    """The name as it will be shown (NFKC, trimmed); ValueError saying what is wrong."""
    name = unicodedata.normalize("NFKC", name if isinstance(name, str) else "").strip()
    if not (1 <= len(name) <= 32 and all(c.isalnum() or c in " _-" for c in name)):
        raise ValueError(NAME_RULE)
    if INVISIBLE.search(name):
        raise ValueError("a name may not hold a character that shows nothing")
    scripts = confusable_homoglyphs.categories.unique_aliases(name) - {"COMMON", "INHERITED"}
    if len(scripts) > 1 and not any(scripts <= mix for mix in SCRIPT_MIXES):
        raise ValueError("a name is written in one script (Latin and Cyrillic do not mix)")
    return name


@functools.cache
def prototypes():
    """Each confusable character's prototype, from Unicode's confusables.txt (TS #39).

    confusable_homoglyphs lists each line of confusables.txt both ways: a character
    names its prototype alone, and a prototype names every character mapped to it.
    (It wraps right-to-left characters in U+200E marks, which are dropped here.)
    """
    pairs = {
        char.strip("\u200e"): [other["c"].strip("\u200e") for other in others]
        for char, others in confusable_homoglyphs.confusables.confusables_data.items()
    }
    mapping = {}
    for char, others in pairs.items():
        if len(others) == 1:  # a character and its prototype; two alone: the smaller
            other = others[0]
            mapping[char] = other if len(pairs.get(other, ())) > 1 else min(char, other)
    return mapping


def skeleton(text):
    """TS #39's skeleton: two strings that look alike have the same one."""
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(prototypes().get(char, char) for char in decomposed)
    return unicodedata.normalize("NFD", mapped)


def name_keys(name):
    """What a hold is kept under: so `Alice`, `aIice` and `alice` are one name."""
    return sorted({skeleton(name), skeleton(name.casefold())})


class Sessions:
    """Who holds which name, and which sessions have logged out: this process's own view."""

    def __init__(self, rooms):
        self.rooms = rooms
        self.holds = {}  # a name key -> [session, until]: a loop time, or None while connected
        self.connections = collections.Counter()  # session -> its open connections here
        self.logged_out = set()
        self.tickets = {}  # ticket -> (token, until): each good for one handshake

    async def make_ticket(self, text):
        ticket = secrets.token_urlsafe(24)
        self.tickets[ticket] = (text, self.now() + TICKET_TTL)
        return ticket

    async def use_ticket(self, ticket):
        """The token a ticket stands for, once; None when it is unknown, used or too old."""
        text, until = self.tickets.pop(ticket, (None, 0))
        return text if until > self.now() else None

    def now(self):
        return asyncio.get_running_loop().time()

    def holder(self, key):
        session, until = self.holds.get(key, (None, None))
        return session if until is None or until > self.now() else None

    async def hold(self, name, session):
        """Hold `name` for `session`; False if another session holds it or one like it."""
        keys = name_keys(name)
        if any(self.holder(key) not in (None, session) for key in keys):
            return False
        until = None if self.connections[session] else self.now() + HOLD_AFTER_CLOSE
        for key in keys:
            self.holds[key] = [session, until]
        return True

    async def is_current(self, token):
        """The session has not logged out, and holds its name (again, if nobody took it)."""
        return not await self.is_logged_out(token.session) and await self.hold(
            token.name, token.session
        )

    async def is_logged_out(self, session):
        return session in self.logged_out

    def opened(self, client):
        self.connections[client.session] += 1
        self.set_until(client, None)

    def closed(self, client):
        self.connections[client.session] -= 1
        if not self.connections[client.session]:
            del self.connections[client.session]
            self.set_until(client, self.now() + HOLD_AFTER_CLOSE)

    def set_until(self, client, until):
        for key in name_keys(client.name):
            if self.holder(key) == client.session:
                self.holds[key][1] = until

    async def log_out(self, token):
        """End the session: its tokens refused, its connections closed (4003), its name free."""
        self.logged_out_here(token.session)
        for key in name_keys(token.name):
            if self.holder(key) == token.session:
                del self.holds[key]

    def logged_out_here(self, session):
        self.logged_out.add(session)
        self.rooms.close_session(session, 4003, "logged out")

    def sweep(self, now):
        for key in [key for key, (_, until) in self.holds.items() if until and until <= now]:
            del self.holds[key]
        for ticket in [ticket for ticket, (_, until) in self.tickets.items() if until <= now]:
            del self.tickets[ticket]


class LoginAllowance:
    """POST /login's token bucket per client address, refilled at --login-rate a second.

    Each wrong password halves the address's refill, down to one a minute; ten minutes
    without one restore it. Without this, a script may guess passwords as fast as it can.
    """

    SLOWEST = 1 / 60
    FORGIVEN_AFTER = 600.0

    def __init__(self, rate):
        self.rate = rate
        self.buckets = {}  # client address -> TokenBucket
        self.wrong_at = {}  # client address -> when its last wrong password came

    def bucket(self, address, now):
        bucket = self.buckets.get(address)
        if bucket is None:
            bucket = self.buckets[address] = TokenBucket(self.rate, 20 * self.rate, now)
        if now - self.wrong_at.get(address, now) >= self.FORGIVEN_AFTER:
            del self.wrong_at[address]
            bucket.rate = self.rate
        return bucket

    def allow(self, address, now):
        """0 if a login may go ahead now; else how many seconds until one may."""
        if not self.rate:
            return 0
        bucket = self.bucket(address, now)
        return 0 if bucket.allow(now) else math.ceil(bucket.seconds_to_next())

    def wrong_password(self, address, now):
        if self.rate:
            bucket = self.bucket(address, now)
            bucket.rate = max(bucket.rate / 2, self.SLOWEST)
            self.wrong_at[address] = now

    def sweep(self, now):
        """Forget the addresses whose bucket is full again: a new one would be the same."""
        for address, bucket in list(self.buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.capacity and address not in self.wrong_at:
                del self.buckets[address]


class TokenBucket:
    """Refilled at `rate` tokens a second, holding at most `capacity`; allow() spends one."""

    def __init__(self, rate, capacity, now):
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity  # a newcomer may send a burst at once
        self.last = now

    def allow(self, now):
        self.refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def refill(self, now):
        elapsed, self.last = now - self.last, now
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)

    def seconds_to_next(self):
        return (1 - self.tokens) / self.rate


# Chats keep newlines and tabs; other control characters and the bidirectional overrides
# and isolates, which can make a chat read backwards on everyone's screen, are refused.
UNSAFE_IN_CHAT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def chat_error(text, max_bytes):
    """Why a chat's text is refused, or None."""
    try:
        size = len(text.encode())
    except UnicodeEncodeError:  # a lone surrogate, e.g. "\ud800" in the JSON
        return "the message is not valid Unicode text"
    if not 1 <= size <= max_bytes:
        return f"a chat message is 1 to {max_bytes} bytes of UTF-8"
    if UNSAFE_IN_CHAT.search(text):
        return "a chat may not hold control characters or bidirectional overrides"
    return None


FRAME_LOOPS = set()  # the running frame loops: see Protocol._receive_frame_loop


class Protocol(tornado.websocket.WebSocketProtocol13):
    """Tornado's frame reader, with the closes that RFC 6455 asks for.

    Tornado drops the TCP connection without a word on a broken frame, accepts unmasked
    client frames, echoes any close code, and buffers a message up to its size limit
    before it says 1009, and then drops the connection before the peer can read it.
    """

    OPCODES = frozenset({0x0, 0x1, 0x2, 0x8, 0x9, 0xA})
    cut = False  # True once chat.py closed the connection and reads nothing more

    async def _receive_frame_loop(self):
        """Run the frame loop, read_frames, as a task of its own, and return at once.

        Tornado awaits its loop from the handler's get(), which keeps the whole chain of
        the upgrade alive for as long as the connection lives: the handler's _execute
        task, get(), accept_connection() and the HTTP/1 connection's coroutines, with
        their frames, futures and contexts (about 1.4 KiB a client). get() has nothing
        left to do after the upgrade, so it may end. (The task is not an attribute: a
        30th would unshare this object's keys, 1.3 KiB more a client.)
        """
        task = asyncio.ensure_future(self.read_frames())
        FRAME_LOOPS.add(task)  # asyncio itself keeps only a weak reference
        task.add_done_callback(FRAME_LOOPS.discard)

    async def read_frames(self):
        """Tornado's frame loop, but one read takes all that the peer has sent.

        Tornado reads a frame in three or four small reads, and the first leaves the rest
        in its buffer, which makes it stop watching the socket and start again: two
        epoll_ctl calls a message, and a future for each read. Here each read takes what
        has come, and every whole frame in it is handled. Neither frames already read nor
        a read of bytes at hand gives the event loop a turn, so the loop lets the others
        in every 16 of them; Tornado does every 256 small frames, and pongs, which the
        rate does not count, would hold it for ~10 ms each time.
        """
        unread = bytearray()
        work = 0
        try:
            while not self.client_terminated:
                unread += await self.stream.read_bytes(MAX_MESSAGE_BYTES, partial=True)
                work += 1
                while not self.client_terminated and (frame := self.next_frame(unread)):
                    handled = self.handle_frame(*frame)
                    if handled is not None:
                        await handled
                    work += 1
                    if work >= 16:
                        work = 0
                        await asyncio.sleep(0)
                if self.cut:
                    return await self.discard_then_close()
                if work >= 16:
                    work = 0
                    await asyncio.sleep(0)
        except tornado.iostream.StreamClosedError:
            self._abort()
        finally:
            self.handler.on_ws_connection_close(self.close_code, self.close_reason)

    def next_frame(self, unread):
        """The first frame in `unread`, taken out: (fin, opcode, payload); None until it is whole.

        Its header is checked as soon as it is in, before a byte of the payload is
        kept. A frame that breaks the RFC closes the connection (fail) and gives None.
        """
        if len(unread) < 2:
            return None
        header, second = unread[0], unread[1]
        fin, opcode, length = header & self.FIN, header & self.OPCODE_MASK, second & 0x7F
        control = opcode & 0x8
        if header & self.RSV_MASK:  # chat.py negotiates no extension that would use them
            return self.fail(1002, "a frame with reserved bits set")
        if not second & 0x80:
            return self.fail(1002, "an unmasked frame")
        if opcode not in self.OPCODES:
            return self.fail(1002, f"a frame with opcode {opcode:#x}")
        if control and (length > 125 or not fin):
            return self.fail(1002, "a control frame over 125 bytes, or fragmented")
        start = {126: 4, 127: 10}.get(length, 2)  # where the mask starts
        if len(unread) < start:
            return None
        if start > 2:
            length = int.from_bytes(unread[2:start], "big")
        pending = self._fragmented_message_buffer
        if opcode == 0 and pending is None:
            return self.fail(1002, "a continuation frame with no message to continue")
        if opcode in (0x1, 0x2) and pending is not None:
            return self.fail(1002, "a new message before the last one ended")
        if not control and len(pending or b"") + length > MAX_MESSAGE_BYTES:
            return self.too_big()
        end = start + 4 + length
        if len(unread) < end:
            return None
        mask, payload = bytes(unread[start : start + 4]), bytes(unread[start + 4 : end])
        del unread[:end]
        return fin, opcode, tornado.util._websocket_mask(mask, payload)

    def handle_frame(self, fin, opcode, data):
        """A whole frame: a fragment is kept until its message ends, the rest handled."""
        pending = self._fragmented_message_buffer
        if not opcode & 0x8 and not fin:  # a fragment: keep it until the message ends
            if pending is None:
                self._fragmented_message_opcode = opcode
                self._fragmented_message_buffer = bytearray(data)
            else:
                pending.extend(data)
            return None
        if opcode == 0:
            opcode, data = self._fragmented_message_opcode, bytes(pending + data)
            self._fragmented_message_buffer = None
        return self._handle_message(opcode, data)

    def _handle_message(self, opcode, data):
        if opcode == 0x8 and not valid_close(data):
            return self.fail(1002, "a close frame with a code that may not be sent")
        if opcode == 0x1:
            try:
                text = data.decode()
            except UnicodeDecodeError:
                return self.fail(1007, "a text frame that is not UTF-8")
            if self.client_terminated:
                return None
            return self._run_callback(self.handler.on_message, text)
        if opcode == 0x9 and not self.client_terminated:  # Tornado would write the pong
            # itself, ahead of what is queued; it goes through the write pump instead
            self.handler.queue(pong_frame(data))
            return self._run_callback(self.handler.on_ping, data)
        return super()._handle_message(opcode, data)

    def close(self, code=None, reason=None):
        """Nothing may follow the close frame: from here on the hub writes through the pump."""
        self.handler.direct = None
        super().close(code, reason)

    def fail(self, code, reason):
        """A frame that breaks the RFC: log it, and close with `code` at once."""
        log.info(
            "%s %s: %s, closing with %d", self.handler.name, self.handler.address, reason, code
        )
        self.handler.closed_with = code
        self.close_now(code, reason)

    def close_now(self, code, reason):
        """Close with `code`, and parse nothing more: what follows is not to be trusted."""
        self.close(code, reason)
        self.client_terminated = True  # ends Tornado's read loop after this frame
        self.cut = True

    def too_big(self):
        log.info(
            "%s: a message over %d bytes, closing with 1009", self.handler.name, MAX_MESSAGE_BYTES
        )
        self.handler.closed_with = 1009
        self.close_now(1009, f"a message may have {MAX_MESSAGE_BYTES} bytes at most")

    async def discard_then_close(self):
        """Throw away what the peer still sends, for at most 1 s, so that it can read our close.

        Closing at once, with its bytes unread, would send it a reset, and a reset may
        make its system drop our close frame before the peer has read it.
        """
        try:
            async with asyncio.timeout(1.0):
                while True:
                    await self.stream.read_bytes(MAX_MESSAGE_BYTES, partial=True)
                    await asyncio.sleep(0)  # bytes at hand resolve the read at once: let others in
        except (TimeoutError, tornado.iostream.StreamClosedError):
            pass
        self.stream.close()


def valid_close(body):
    """RFC 6455, 7.4: a close frame is empty, or a code that may be sent, then UTF-8 text."""
    if not body:
        return True
    code = int.from_bytes(body[:2], "big")
    try:
        body[2:].decode()
    except UnicodeDecodeError:
        return False
    return len(body) >= 2 and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)


class Api(HostRule, tornado.web.RequestHandler):
    """What /login, /ticket and /logout share: their state, CORS, and the bearer token."""

    def prepare(self):
        self.config = self.settings["config"]
        self.rooms, self.sessions = self.settings["rooms"], self.settings["sessions"]
        self.logins = self.settings["logins"]
        origin = self.request.headers.get("Origin")
        if origin in self.config.allow_origin:  # let a page there read the answer (CORS)
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
            self.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.set_header("Vary", "Origin")
        super().prepare()

    def options(self):
        self.set_status(204)

    def signed_token(self):
        """The bearer token, if the server signed it (expired or not)."""
        text = bearer(self.request)
        return text and read_token(self.config.secret, text)


def json_object(body):
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def lenient_name(body):
    try:
        return valid_name(body.get("name")) if body else None
    except ValueError:
        return None


class Login(Api):
    async def post(self):
        now = asyncio.get_running_loop().time()
        address = client_address(self)
        wait = self.logins.allow(address, now)
        if wait:
            reason = f"too many logins from {address}: try again in {wait} s"
            return refuse(self, 429, reason, [("Retry-After", str(wait))])
        body = json_object(self.request.body)
        token = self.signed_token()
        if token and await self.sessions.is_logged_out(token.session):
            return refuse(self, 401, "that session has logged out: log in again without its token")
        renewing = token and lenient_name(body) == token.name
        if renewing and time.time() - token.started > PASSWORDLESS_RENEWAL:
            renewing = False  # a day on: the password again, for the same session
        if self.config.password and not renewing and not self.password_matches(body):
            self.logins.wrong_password(address, now)
            return refuse(self, 401, "missing or wrong password")
        if body is None:
            return refuse(self, 400, 'send a JSON object: {"name": "alice"}')
        try:
            name = valid_name(body.get("name"))
        except ValueError as error:
            return refuse(self, 400, str(error))
        same_session = token and token.name == name
        session = token.session if same_session else secrets.token_urlsafe(16)
        started = token.started if same_session else time.time()
        if not await self.sessions.hold(name, session):
            return refuse(self, 409, f"the name {name} (or one that looks like it) is taken")
        expires = now_ms() + int(self.config.token_ttl * 1000)
        signed = make_token(self.config.secret, Token(name, session, started, expires))
        self.write({"name": name, "token": signed, "expires": expires})

    def password_matches(self, body):
        given = body.get("password") if body else None
        if not isinstance(given, str):
            return False
        return hmac.compare_digest(given.encode(), self.config.password.encode())


class Ticket(Api):
    async def post(self):
        """A ticket for one handshake within TICKET_TTL: what the page puts in the socket's URL."""
        address = client_address(self)
        wait = self.logins.allow(address, asyncio.get_running_loop().time())
        if wait:
            return refuse(
                self,
                429,
                f"too many requests from {address}: try again in {wait} s",
                [("Retry-After", str(wait))],
            )
        token = self.signed_token()
        if (
            not token
            or token.expires <= now_ms()
            or await self.sessions.is_logged_out(token.session)
        ):
            return refuse(self, 401, "POST /ticket needs a valid token: POST /login")
        if not await self.sessions.hold(token.name, token.session):
            return refuse(self, 409, f"the name {token.name} is now someone else's: log in again")
        ticket = await self.sessions.make_ticket(bearer(self.request))
        self.write({"ticket": ticket, "expires": now_ms() + int(TICKET_TTL * 1000)})


class Logout(Api):
    async def post(self):
        token = self.signed_token()
        if not token or await self.sessions.is_logged_out(token.session):
            return refuse(self, 401, "POST /logout needs the session's token")
        await self.sessions.log_out(token)
        self.set_status(204)


# Lesson 8: beyond one process. Each process has its own hubs, so two processes are two
# chats. With --redis, each room's hub publishes on the room's Redis channel what it
# broadcasts, and delivers to its own clients what it hears there, its own messages too,
# so that every process delivers them in one order; a process subscribes to a room's
# channel only while one of its clients is in the room.
# Who is online is shared too: each process publishes its names' joins and leaves, and
# keeps a presence key alive that expires when the process dies. Join and leave are what
# every process works out for itself from all that, which is why the hub above delivers
# them instead of broadcasting. Name holds and logouts live in Redis, for every process.

ROOM_CHANNEL = "chat:room:"  # + a room: its chats, typing, joins and leaves, between processes
SESSIONS_CHANNEL = "chat:sessions"  # logouts, heard by every process
PRESENCE_KEY = "chat:presence:"  # + a process's id: its names per room, in JSON
HOLD_KEY = "chat:hold:"  # + a name key: the session that holds the name
LOGOUT_KEY = "chat:logout:"  # + a session: there once it has logged out
TICKET_KEY = "chat:ticket:"  # + a ticket: the token it stands for, for one handshake
HEARTBEAT_PERIOD = 3  # seconds between renewals of a process's presence key
PRESENCE_TTL = 10  # seconds a presence key lives unrenewed: a dead process's users leave


class RedisHub(Hub):
    """A room's hub that shares the room with every chat.py process on the same Redis."""

    def __init__(self, room, rooms):
        super().__init__(room, rooms)
        self.rosters = {}  # another process's id -> its names in this room

    def is_online(self, name):
        return name in self.names or any(name in names for names in self.rosters.values())

    def online(self):
        return sorted(set(self.names).union(*self.rosters.values()))

    def online_json(self):
        return json.dumps(self.online(), ensure_ascii=False)  # made afresh: other processes' too

    def register(self, client):
        super().register(client)
        if self.names[client.name] == 1:  # the name's first connection here
            self.rooms.publish(self.room, {"joined": client.name})

    def unregister(self, client):
        was_registered = client in self.clients
        super().unregister(client)
        if was_registered and client.name not in self.names:  # its last connection here
            self.rooms.publish(self.room, {"left": client.name})

    def broadcast(self, message, skip=None):
        """Through Redis, and back to every process, ours too: one order for everyone."""
        if not self.rooms.connected:
            return self.deliver(message, skip)
        event = {"message": message}
        if skip:
            event["skip"] = id(skip)  # this process's connection that does not get it
        self.rooms.publish(self.room, event)

    def hear(self, process, event):
        """An event from Redis: a message for our clients, or news of another process's names."""
        names = self.rosters.get(process, set())
        if "message" in event:
            skip = event.get("skip") if process == self.rooms.id else None
            skip = skip and next((c for c in self.clients if id(c) == skip), None)
            self.deliver(event["message"], skip)
        elif process == self.rooms.id:
            return  # our own names' joins and leaves: our clients had them at once
        elif "joined" in event:
            self.set_roster(process, names | {event["joined"]})
        elif "left" in event:
            self.set_roster(process, names - {event["left"]})

    def set_roster(self, process, names):
        """Take in the names connected to another process; tell our clients who came or went."""
        changed = self.rosters.get(process, set()) ^ names
        was_online = {name: self.is_online(name) for name in changed}
        self.rosters[process] = names
        for name in sorted(changed):
            if self.is_online(name) != was_online[name]:
                kind = "join" if self.is_online(name) else "leave"
                self.deliver({"type": kind, "from": name})

    def forget_process(self, process):
        self.set_roster(process, set())
        del self.rosters[process]


class RedisRooms(Rooms):
    """The rooms, shared with every chat.py process on the same Redis.

    Redis is trusted like chat.py itself: whoever can publish on it speaks for the rooms.
    """

    def __init__(self, config):
        super().__init__(config)
        # No retries inside redis-py: relay_forever() is the one place that reconnects.
        self.redis = redis.asyncio.Redis.from_url(
            config.redis, decode_responses=True, retry=None, socket_timeout=5
        )
        self.where = without_password(config.redis)
        self.id = secrets.token_hex(8)  # names this process in what it publishes
        self.outbox = []  # (channel, event) to publish, in order
        self.outbox_ready = asyncio.Event()
        self.presence_changed = False
        self.connected = False
        self.pubsub = None
        self.subscribing = asyncio.Lock()  # one subscribe or unsubscribe at a time, in order
        self.confirmed = {}  # channel -> a future set when Redis confirms our subscription

    def open_room(self, room):
        hub = self.hubs[room] = RedisHub(room, self)
        hub.subscribed = asyncio.ensure_future(self.subscribe(hub))
        return hub

    async def join(self, client):
        """Join the room's hub once this process hears the room: a welcome names everyone."""
        hub = self.hubs.get(client.room) or self.open_room(client.room)
        client.hub = hub
        hub.joining += 1
        try:
            await hub.subscribed
        finally:
            hub.joining -= 1
        if client.closing():
            return self.forget(hub)
        hub.register(client)

    def forget(self, hub):
        super().forget(hub)
        if hub.room not in self.hubs:
            asyncio.ensure_future(self.unsubscribe(hub.room))

    async def subscribe(self, hub):
        """Listen to the room's channel, and learn who is in it on the other processes."""
        if not self.connected:
            return
        try:
            channel = ROOM_CHANNEL + hub.room
            confirmed = self.confirmed[channel] = asyncio.get_running_loop().create_future()
            async with self.subscribing:
                await self.on_pubsub(self.pubsub.subscribe, channel)
            await asyncio.wait_for(confirmed, 5)
            for process, rooms in (await self.presence()).items():
                hub.set_roster(process, set(rooms.get(hub.room, ())))
        except (redis.RedisError, OSError, TimeoutError):
            pass  # relay_forever() hears of it too, and subscribes again

    async def unsubscribe(self, room):
        try:
            async with self.subscribing:
                if self.connected and room not in self.hubs:  # not opened again meanwhile
                    await self.on_pubsub(self.pubsub.unsubscribe, ROOM_CHANNEL + room)
        except (redis.RedisError, OSError):
            pass

    async def on_pubsub(self, command, channel):
        """A (un)subscribe; redis-py may drop the pub/sub connection under it, when the task
        reading from it finds Redis gone, and the command then raises AttributeError."""
        try:
            await command(channel)
        except AttributeError as dropped:
            raise redis.ConnectionError("Redis went away during the command") from dropped

    def publish(self, room, event):
        """Queue an event for the other processes. While Redis is away, it is lost."""
        if "joined" in event or "left" in event:
            self.presence_changed = True
        if self.connected:
            self.outbox.append((ROOM_CHANNEL + room, json.dumps({"process": self.id, **event})))
            self.outbox_ready.set()

    def hear(self, channel, data):
        """An event from Redis, for one of our rooms or about a session; ours come back too."""
        try:
            event = json.loads(data)
            process = event["process"]
        except (ValueError, TypeError, KeyError):
            return log.warning("ignored %.60r on Redis channel %r: not from chat.py", data, channel)
        if channel == SESSIONS_CHANNEL:
            if process != self.id:
                self.sessions.logged_out_here(event.get("logout"))
            return
        hub = self.hubs.get(channel.removeprefix(ROOM_CHANNEL))
        if hub:
            hub.hear(process, event)

    async def connect(self, sessions):
        """Start relaying; return once the first try has connected or failed."""
        self.sessions = sessions
        self.tried = asyncio.Event()
        self.relay_task = asyncio.create_task(self.relay_forever())
        await self.tried.wait()

    async def relay_forever(self):
        """Relay while Redis is there; while it is not, serve our own clients and retry."""
        failures = 0
        while True:
            try:
                await self.relay()  # returns only by an error
            except* Exception as errors:  # noqa: BLE001 (Redis failed, or worse: serve on)
                error = errors.exceptions[0]
            if self.connected:
                log.warning(
                    "lost Redis at %s (%s): serving this process's clients only, reconnecting",
                    self.where,
                    error,
                )
                self.redis_lost()
                failures = 0
            elif not failures:
                log.warning(
                    "Redis at %s is not reachable (%s): serving this process's "
                    "clients only, retrying",
                    self.where,
                    error,
                )
            self.tried.set()
            failures += 1
            await self.redis.connection_pool.disconnect()  # no stale connection for the next try
            await asyncio.sleep(min(0.25 * 2 ** (failures - 1), 1.0))  # 0.25, 0.5, 1, 1... s

    async def relay(self):
        """Subscribe, then listen, publish and renew our presence until one of them fails."""
        async with self.redis.pubsub() as pubsub:
            self.pubsub = pubsub
            await pubsub.subscribe(SESSIONS_CHANNEL, *(ROOM_CHANNEL + room for room in self.hubs))
            self.connected = True  # publish() queues from now on; the publisher starts below
            self.presence_changed = True
            await self.renew_presence()  # so our key is there before anything we publish
            for room, hub in self.hubs.items():  # the others learn our names now, not in 3 s
                for name in hub.names:
                    self.publish(room, {"joined": name})
            log.info("sharing the rooms through Redis at %s", self.where)
            self.tried.set()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.listen(pubsub))
                tasks.create_task(self.publish_forever())
                tasks.create_task(self.heartbeat())

    async def listen(self, pubsub):
        while True:
            message = await pubsub.get_message(timeout=None)
            if message and message["type"] == "message":
                self.hear(message["channel"], message["data"])
            elif message and message["type"] == "subscribe":
                confirmed = self.confirmed.pop(message["channel"], None)
                if confirmed and not confirmed.done():
                    confirmed.set_result(True)

    async def publish_forever(self):
        """The only publisher, so the events reach Redis in the order they were queued."""
        while True:
            await self.outbox_ready.wait()
            self.outbox_ready.clear()
            await self.send_outbox()

    async def send_outbox(self):
        events, self.outbox = self.outbox, []
        async with self.redis.pipeline(transaction=False) as pipe:  # one round trip for all
            if self.presence_changed:  # first, so whoever hears a join finds it in our key
                self.presence_changed = False
                pipe.set(PRESENCE_KEY + self.id, self.my_presence(), ex=PRESENCE_TTL)
            for event in events:
                pipe.publish(*event)
            await pipe.execute()

    def my_presence(self):
        return json.dumps({room: sorted(hub.names) for room, hub in self.hubs.items() if hub.names})

    async def heartbeat(self):
        while True:
            await asyncio.sleep(HEARTBEAT_PERIOD)
            await self.renew_presence()
            await self.sessions.renew_holds()

    async def presence(self):
        """{process id: {room: [names]}} of every other live process, from their keys."""
        keys = [key async for key in self.redis.scan_iter(match=PRESENCE_KEY + "*")]
        values = await self.redis.mget(keys) if keys else []
        alive = {key.removeprefix(PRESENCE_KEY): json.loads(v) for key, v in zip(keys, values) if v}
        alive.pop(self.id, None)
        return alive

    async def renew_presence(self):
        """Renew our presence key; repair each room's rosters from the others' keys."""
        await self.redis.set(PRESENCE_KEY + self.id, self.my_presence(), ex=PRESENCE_TTL)
        alive = await self.presence()
        for hub in list(self.hubs.values()):
            for process in hub.rosters.keys() - alive.keys():  # its key expired: it died
                hub.forget_process(process)
            for process, rooms in alive.items():
                hub.set_roster(process, set(rooms.get(hub.room, ())))

    def redis_lost(self):
        """Redis is gone: nothing more to publish, and the other processes' users leave."""
        self.connected = False
        self.outbox.clear()
        for hub in list(self.hubs.values()):
            for process in list(hub.rosters):
                hub.forget_process(process)

    async def disconnect(self):
        """Say goodbye, so the others see our users leave now, not when our key expires."""
        self.relay_task.cancel()
        # Let it stop first: its publisher would otherwise take the goodbyes and be cancelled.
        await asyncio.wait([self.relay_task], timeout=0.5)
        if self.connected:
            for room, hub in self.hubs.items():
                for name in hub.names:
                    self.publish(room, {"left": name})
            self.presence_changed = False  # the key goes now: it must not be written again
            try:
                async with asyncio.timeout(0.5):
                    await self.redis.delete(PRESENCE_KEY + self.id)
                    await self.send_outbox()
            except (redis.RedisError, OSError, TimeoutError):
                pass  # then our key expires, and the others see our users leave later
        self.connected = False
        await self.redis.aclose()


# One Lua script, run by Redis in one step: hold every key of a name for a session, unless
# another session holds one of them. Two logins on two processes cannot both win.
HOLD_SCRIPT = """
for _, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder and holder ~= ARGV[1] then return 0 end
end
for _, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
return 1
"""


class RedisSessions(Sessions):
    """Name holds and logouts kept in Redis, so that every process agrees on them.

    While Redis is away, each process goes by what it knows itself.
    """

    def __init__(self, rooms):
        super().__init__(rooms)
        self.redis = rooms.redis
        self.hold_script = self.redis.register_script(HOLD_SCRIPT)

    async def hold(self, name, session):
        if self.rooms.connected:
            try:
                return await self.hold_in_redis(name, session)
            except (redis.RedisError, OSError):
                pass
        return await super().hold(name, session)

    async def hold_in_redis(self, name, session):
        keys = [HOLD_KEY + key for key in name_keys(name)]
        held = await self.hold_script(keys=keys, args=[session, int(HOLD_AFTER_CLOSE * 1000)])
        if held:  # this process's view follows Redis's
            until = None if self.connections[session] else self.now() + HOLD_AFTER_CLOSE
            for key in name_keys(name):
                self.holds[key] = [session, until]
        return bool(held)

    async def is_logged_out(self, session):
        if self.rooms.connected:
            try:
                return bool(await self.redis.exists(LOGOUT_KEY + session))
            except (redis.RedisError, OSError):
                pass
        return await super().is_logged_out(session)

    async def make_ticket(self, text):
        if self.rooms.connected:
            ticket = secrets.token_urlsafe(24)
            try:
                await self.redis.set(TICKET_KEY + ticket, text, ex=int(TICKET_TTL))
                return ticket
            except (redis.RedisError, OSError):
                pass
        return await super().make_ticket(text)

    async def use_ticket(self, ticket):
        if self.rooms.connected and ticket not in self.tickets:
            try:
                return await self.redis.getdel(TICKET_KEY + ticket)
            except (redis.RedisError, OSError):
                pass
        return await super().use_ticket(ticket)

    def closed(self, client):
        super().closed(client)
        if client.session not in self.connections and self.rooms.connected:
            asyncio.ensure_future(self.renew(client.name, client.session))

    async def renew(self, name, session):
        """Hold the name HOLD_AFTER_CLOSE from now, as long as the session holds it."""
        try:
            await self.hold_in_redis(name, session)
        except (redis.RedisError, OSError):
            pass

    async def renew_holds(self):
        """For every session connected here: its name stays held while it is connected."""
        names = {client.session: client.name for client in self.rooms.clients()}
        for session, name in names.items():
            await self.renew(name, session)

    async def log_out(self, token):
        await super().log_out(token)
        if self.rooms.connected:
            event = json.dumps({"process": self.rooms.id, "logout": token.session})
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.set(LOGOUT_KEY + token.session, 1, ex=SESSION_LIFETIME)
                    for key in name_keys(token.name):
                        pipe.delete(HOLD_KEY + key)
                    pipe.publish(SESSIONS_CHANNEL, event)
                    await pipe.execute()
            except (redis.RedisError, OSError):
                log.warning("could not tell the other processes of a logout: Redis is away")


def without_password(url):
    """A Redis URL fit for a log line."""
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


# The application, the server, and its start and stop. Lesson 11 takes it behind a proxy.


def client_address(handler):
    """Who is at the other end: the TCP connection's address (lesson 11 adds a proxy's)."""
    return handler.request.remote_ip


class NotFound(HostRule, tornado.web.RequestHandler):
    def prepare(self):
        super().prepare()
        if not self._finished:
            raise tornado.web.HTTPError(404)


def log_request(handler):
    """Tornado's access log line, without the query string: tokens never reach a log."""
    request = handler.request
    millis = 1000.0 * request.request_time()
    logging.getLogger("tornado.access").info(
        "%d %s %s (%s) %.2fms",
        handler.get_status(),
        request.method,
        request.path,
        client_address(handler),
        millis,
    )


def make_app(config, rooms, sessions, logins):
    here = Path(__file__).resolve().parent.parent  # the project's folder: index.html
    page = {"path": here, "default_filename": "index.html"}
    return tornado.web.Application(
        [
            (r"/()", Page, page),
            (r"/login", Login),
            (r"/ticket", Ticket),
            (r"/logout", Logout),
            (r"/ws", Client),
        ],
        config=config,
        rooms=rooms,
        sessions=sessions,
        logins=logins,
        default_handler_class=NotFound,
        websocket_max_message_size=MAX_MESSAGE_BYTES,
        log_function=log_request,
    )


class Server(tornado.httpserver.HTTPServer):
    """Tornado's HTTP server, with an accept that survives running out of file descriptors.

    Tornado's accept handler lets EMFILE escape: the listening socket stays readable, so
    the loop calls it again at once, forever, with a traceback each time. Here a spare
    descriptor is given up to accept the connection, which is closed at once.
    """

    def add_sockets(self, sockets):
        self.spare = open(os.devnull, "rb")  # noqa: SIM115 (held for the server's life)
        self.warned_at = 0.0
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = self.accept_on(sock)

    def accept_on(self, sock):
        loop = asyncio.get_running_loop()

        def accept_all():
            for _ in range(128):
                try:
                    connection, address = sock.accept()
                except BlockingIOError:
                    return
                except ConnectionAbortedError:
                    continue
                except OSError as error:
                    if error.errno not in (errno.EMFILE, errno.ENFILE):
                        raise
                    self.refuse_one(sock, accept_all)
                    continue
                self._handle_connection(connection, address)

        loop.add_reader(sock.fileno(), accept_all)
        return lambda: loop.remove_reader(sock.fileno())

    def refuse_one(self, sock, accept_all):
        loop = asyncio.get_running_loop()
        if loop.time() - self.warned_at >= 1.0:
            self.warned_at = loop.time()
            log.warning("out of file descriptors: refusing new connections (raise ulimit -n)")
        if self.spare:
            self.spare.close()
            try:
                sock.accept()[0].close()
            except OSError:
                pass
            try:
                self.spare = open(os.devnull, "rb")  # noqa: SIM115
            except OSError:
                self.spare = None
        if not self.spare:  # still none to spare: stop accepting for a second
            loop.remove_reader(sock.fileno())
            loop.call_later(1.0, self.accept_again, sock, accept_all)

    def accept_again(self, sock, accept_all):
        if sock.fileno() in self._handlers:  # not stopped meanwhile
            if not self.spare:
                try:
                    self.spare = open(os.devnull, "rb")  # noqa: SIM115
                except OSError:
                    pass
            asyncio.get_running_loop().add_reader(sock.fileno(), accept_all)


# Starting and stopping.


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Step 8 of the chat: beyond one process.")
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add("--port", type=int, default=8080, help="port; 0 picks a free one (default %(default)s)")
    add("--allow-origin", action="append", default=[], metavar="ORIGIN",
        help="also accept pages at this origin (the WebSocket handshake and "
        "/login), e.g. http://localhost:3000; may be given several times")  # fmt: skip
    add("--allow-host", action="append", default=[], metavar="NAME",
        help="also answer requests whose Host is this name (besides IP addresses, "
        "localhost and --host), e.g. chat.example.com; may be given several times")  # fmt: skip
    add("--password", help="a password everyone must give to log in (default: none)")
    add("--secret", default=os.environ.get("CHAT_SECRET"),
        help="key that signs tokens, so they survive a restart "
        "(default: $CHAT_SECRET, else a random key made at start)")  # fmt: skip
    add("--token-ttl", type=float, default=3600, metavar="SECONDS",
        help="how long a login token is valid (default %(default)g)")  # fmt: skip
    add("--certfile", help="TLS certificate (PEM): serve HTTPS and WSS only")
    add("--keyfile", help="TLS private key (PEM), with --certfile")
    add("--max-message-bytes", type=int, default=4096, metavar="N",
        help="longest chat message, in UTF-8 bytes (default %(default)s)")  # fmt: skip
    add("--rate", type=float, default=20, metavar="PER_SECOND",
        help="messages a name may send per second over all its connections, with bursts "
        "of twice that; 0 turns the limit off (default %(default)g)")  # fmt: skip
    add("--login-rate", type=float, default=1, metavar="PER_SECOND",
        help="logins per second from one address, with bursts of 20 times that; "
        "0 turns the limit off (default %(default)g)")  # fmt: skip
    add("--max-connections-per-ip", type=int, default=50, metavar="N",
        help="open WebSockets one address may hold; 0: no limit (default %(default)s)")  # fmt: skip
    add("--ping-period", type=float, default=PING_PERIOD, metavar="SECONDS",
        help="how often to ping each client (default %(default)g)")  # fmt: skip
    add("--pong-wait", type=float, default=PONG_WAIT, metavar="SECONDS",
        help="close a client heard nothing from for this long; "
        "must be greater than --ping-period (default %(default)g)")  # fmt: skip
    add("--redis", metavar="URL",
        help="share the rooms with other chat.py processes through Redis, "
        "e.g. redis://127.0.0.1:6379/0 (default: this process is the chat)")  # fmt: skip
    config = parser.parse_args(argv)
    if config.pong_wait <= config.ping_period:
        parser.error("--pong-wait must be greater than --ping-period")
    if bool(config.certfile) != bool(config.keyfile):
        parser.error("--certfile and --keyfile go together")
    if config.rate < 0 or config.token_ttl <= 0 or config.max_message_bytes < 1:
        parser.error("--rate must be 0 or more; --token-ttl and --max-message-bytes more than 0")
    if min(config.login_rate, config.max_connections_per_ip) < 0:
        parser.error("--login-rate and --max-connections-per-ip must be 0 or more")
    if config.redis and not config.redis.startswith(("redis://", "rediss://", "unix://")):
        parser.error("--redis takes a URL like redis://127.0.0.1:6379/0")
    if config.redis and redis is None:
        parser.error("--redis needs the redis package: pip install redis")
    if config.redis and not config.secret:
        parser.error(
            "--redis needs --secret KEY (or CHAT_SECRET), the same for every process: "
            "each would otherwise refuse the others' tokens"
        )
    config.secret = config.secret or secrets.token_hex(32)
    config.allow_host = {"localhost", config.host.lower()} | {h.lower() for h in config.allow_host}
    return config


async def serve(config):
    prototypes()  # built once, now, rather than at the first login
    rooms = RedisRooms(config) if config.redis else Rooms(config)
    sessions = RedisSessions(rooms) if config.redis else Sessions(rooms)
    logins = LoginAllowance(config.login_rate)
    if config.redis:
        await rooms.connect(sessions)
    tls = None
    if config.certfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls.load_cert_chain(config.certfile, config.keyfile)
        except (OSError, ssl.SSLError) as error:
            sys.exit(f"chat.py: cannot use --certfile/--keyfile ({error}): give a PEM pair")
    app = make_app(config, rooms, sessions, logins)
    server = Server(
        app,
        ssl_options=tls,
        max_body_size=MAX_MESSAGE_BYTES,
        idle_connection_timeout=HEADER_TIMEOUT,  # Tornado's name for the headers' time limit
        body_timeout=HEADER_TIMEOUT,
        max_header_size=MAX_HEADER_BYTES,
    )
    try:
        sockets = tornado.netutil.bind_sockets(config.port, config.host)
    except OSError as error:
        sys.exit(f"chat.py: cannot listen on {config.host}:{config.port} ({error.strerror}): "
                 "is another server there? Choose another --port")  # fmt: skip
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    host = f"[{config.host}]" if ":" in config.host else config.host
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the first line: from then on, ours
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    print(f"Chat running at {'https' if tls else 'http'}://{host}:{port}/", flush=True)
    keepalive = asyncio.create_task(sweep_keepalive(rooms, sessions, logins, config))
    await stop.wait()
    if config.redis:
        await rooms.disconnect()  # first, so that nobody waits for our clients' goodbyes
    await shut_down(server, rooms)
    keepalive.cancel()


async def shut_down(server, rooms, patience=4.0):
    """Say 1001 (going away) to everyone, then wait a little for their replies."""
    for client in rooms.clients():
        client.close(1001, "server shutting down")
    deadline = asyncio.get_running_loop().time() + patience
    while rooms.clients() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    server.stop()


def main():
    config = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
