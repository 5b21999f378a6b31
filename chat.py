"""A WebSocket chat on Tornado: the upgrade, the client's two pumps, and the hub.

    pip install -r requirements.txt
    python chat.py            # then open http://127.0.0.1:8080/ in two tabs

`python chat.py --help` explains every flag. The messages, limits and close codes
are listed in README.md.
"""

import argparse
import asyncio
import collections
import hmac
import json
import logging
import os
import secrets
import signal
import ssl
import struct
import time
import urllib.parse
from pathlib import Path

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web
import tornado.websocket

try:
    import redis.asyncio
except ImportError:  # only --redis needs it; chat.py runs without it otherwise
    redis = None

WRITE_WAIT = 10.0  # seconds allowed to hand the queued messages to the peer
PONG_WAIT = 60.0  # seconds allowed to hear anything (a pong, a message) from the peer
PING_PERIOD = 54.0  # seconds between pings; must be less than PONG_WAIT
SEND_BUFFER = 256  # messages waiting for one client before it counts as too slow
WRITE_BATCH = 64  # messages queued for a client that are written at once, not at the next turn
MAX_MESSAGE_BYTES = 65536  # a bigger message closes the connection with 1009
# Tornado stops reading at once past its own limit, so the peer may see a reset
# instead of our 1009; up to this size it reads the message whole, and we close cleanly.
TORNADO_MAX_MESSAGE_BYTES = 1024 * 1024
REJECTIONS_BEFORE_CLOSE = 10  # rate-limited messages in a row before close 1008
SWEEP_PERIOD = 1.0  # seconds between keepalive sweeps over all clients; at most PING_PERIOD / 10

log = logging.getLogger("chat")


# Lesson 2: the upgrade. Go's Upgrader with CheckOrigin; Tornado's WebSocketHandler
# does the handshake, and prepare() runs before it, so a bad request gets its
# 401 or 403 as plain HTTP and never becomes a WebSocket.


def refuse(handler, status, reason):
    """Answer an HTTP request with {"error": reason}, and log one line saying why."""
    request = handler.request
    log.warning("%d %s %s: %s", status, request.method, request.path, reason)
    handler.set_status(status)
    handler.finish({"error": reason})


def make_token(secret, name):
    """A signed, timestamped value naming the user: Tornado's secure cookie format."""
    return tornado.web.create_signed_value(secret, "chat", name).decode()


def read_token(secret, token, ttl):
    """The name inside a token, or None when it is forged, malformed or older than ttl seconds."""
    try:
        name = tornado.web.decode_signed_value(
            secret, "chat", token, max_age_days=ttl / 86400, min_version=2
        )
    except ValueError:
        return None
    return name.decode() if name else None


class Client(tornado.websocket.WebSocketHandler):
    """One connection: Go's serveWs and Client in one, since Tornado makes a handler per connection."""

    def initialize(self, hub, config):
        self.hub = hub
        self.config = config

    def prepare(self):
        """Authenticate the handshake itself: first the token (401), then the Origin (403)."""
        token = self.get_query_argument("token", None)
        authorization = self.request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ").strip()
        self.name = token and read_token(self.config.secret, token, self.config.token_ttl)
        if not self.name:
            return refuse(self, 401, "missing, forged or expired token: POST /login")
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            return refuse(self, 403, f"origin {origin} is not allowed")

    def check_origin(self, origin):
        """CheckOrigin: only this server's own pages, and the --allow-origin list.

        The lesson's CheckOrigin returns true, which lets any web site open a socket
        with its visitors' credentials (cross-site WebSocket hijacking).
        """
        if origin in self.config.allow_origin:
            return True
        try:
            origin_host = urllib.parse.urlsplit(origin).netloc
        except ValueError:
            return False
        return origin_host.lower() == self.request.host.lower()

    def open(self):
        """The upgrade is done: set up the client, join the hub, let go of the handshake."""
        loop = asyncio.get_running_loop()
        self.stream = self.ws_connection.stream  # the TCP connection, for prepared frames
        self.plain_tcp = not isinstance(self.stream, tornado.iostream.SSLIOStream)
        self.send = []  # Go's `send chan []byte`: frames for the write pump, SEND_BUFFER at most
        self.lagging = None  # a task waiting for the peer, while it does not keep up
        self.typing = False
        self.allowance = 2.0 * self.config.rate  # the token bucket of the rate limit
        self.checked_at = loop.time()
        self.rejected_in_a_row = 0
        self.heard()
        self.pinged_at = self.last_heard
        self.hub.register(self)
        self.forget_the_handshake()

    def forget_the_handshake(self):
        """Free what Tornado keeps of the handshake but no longer needs: about 3 KiB a client.

        The request and its headers stay referenced from Tornado's coroutines, so they
        are emptied in place. The token leaves the URI too, so no later log line has it.
        """
        request = self.request
        request.headers.clear()
        request.uri = request.path
        request.query = ""
        request.arguments = request.query_arguments = {}
        self._headers = self.ui = None  # the 101's headers are sent; no templates here

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
        # A character takes at most 4 bytes of UTF-8: count bytes only when it can matter.
        if len(frame) > MAX_MESSAGE_BYTES // 4 and len(frame.encode()) > MAX_MESSAGE_BYTES:
            return self.too_big()
        if not self.within_rate():
            return self.reject_over_rate()
        message = parse_message(frame)
        kind, value = message.get("type"), message.get("value")
        if kind == "chat" and isinstance(value, str):
            self.chat(value)
        elif kind == "typing" and isinstance(value, bool):
            self.typing = value
            self.hub.broadcast({"type": "typing", "from": self.name, "value": value}, skip=self)
        elif kind in ("chat", "typing"):
            kind_of_value = "a string" if kind == "chat" else "true or false"
            self.reply_error(f'a {kind} message needs a "value" that is {kind_of_value}')
        else:
            self.reply_error('"type" must be "chat" or "typing"')

    on_message = read_pump  # the name Tornado calls

    def chat(self, text):
        try:
            size = len(text.encode())
        except UnicodeEncodeError:  # a lone surrogate, e.g. "\ud800" in the JSON
            return self.reply_error("the message is not valid Unicode text")
        if not 1 <= size <= self.config.max_message_bytes:
            limit = self.config.max_message_bytes
            return self.reply_error(f"a chat message is 1 to {limit} bytes of UTF-8")
        self.typing = False
        now_ms = time.time_ns() // 1_000_000
        message = {"type": "chat", "from": self.name, "value": text, "ts": now_ms}
        self.hub.broadcast(message)

    def reply_error(self, reason):
        log.info("%s: %s", self.name, reason)
        self.queue(prepare_frame({"type": "error", "value": reason}))

    def within_rate(self):
        """A token bucket: refilled at --rate tokens a second, holding at most 2 x --rate."""
        rate = self.config.rate
        if not rate:
            return True
        now = asyncio.get_running_loop().time()
        elapsed, self.checked_at = now - self.checked_at, now
        self.allowance = min(2.0 * rate, self.allowance + elapsed * rate)
        if self.allowance < 1:
            self.rejected_in_a_row += 1
            return False
        self.allowance -= 1
        self.rejected_in_a_row = 0
        return True

    def reject_over_rate(self):
        if self.rejected_in_a_row >= REJECTIONS_BEFORE_CLOSE:
            log.info("%s: still flooding, closing with 1008", self.name)
            return self.drop(1008, "too many messages")
        self.reply_error(f"slow down: at most {self.config.rate:g} messages a second")

    # Keepalive. Go sets a read deadline and extends it in the pong handler, and a ticker
    # pings. Here one sweep of the hub, every SWEEP_PERIOD, checks every client: a timer
    # per client would cost more memory than the rest of what the client adds to Tornado.

    def heard(self):
        self.last_heard = asyncio.get_running_loop().time()

    def on_pong(self, data):
        self.heard()

    def on_ping(self, data):
        self.heard()

    def keep_alive(self, now):
        """Go's read deadline and ping ticker in one check, run by sweep_keepalive()."""
        if self.closing():
            return
        silent_for = now - self.last_heard
        if silent_for >= self.config.pong_wait:
            log.info("%s: nothing heard for %.0f s, closing", self.name, silent_for)
            return self.drop(1000, "nothing heard within the pong wait")
        if now - self.pinged_at >= self.config.ping_period:
            self.pinged_at = now
            self.ping()

    def queue(self, frame):
        """Queue a prepared frame for the write pump; False if SEND_BUFFER frames wait already.

        Go's hub puts the message in the client's channel, and the writePump
        goroutine, running in parallel, takes it out. Here the write pump runs at
        the next turn of the event loop and writes all that was queued by then in
        one system call. Frames pile up only while the peer is not reading.
        """
        if len(self.send) >= SEND_BUFFER:
            return False
        self.send.append(frame)
        if self.lagging is None:
            if len(self.send) == 1:
                self.hub.write_soon(self)
            elif len(self.send) >= WRITE_BATCH:  # Tornado may read many messages in one turn
                self.write_pump()
        return True

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
                return
            frames = frames[sent:]
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
        self.write_pump()
        super().close(code, reason)

    def drop(self, code, reason):
        """Leave the hub at once, then close: nobody waits for the peer's goodbye."""
        self.hub.unregister(self)
        self.close(code, reason)

    def too_big(self):
        log.info("%s: a message over %d bytes, closing with 1009", self.name, MAX_MESSAGE_BYTES)
        self.drop(1009, f"a message may have {MAX_MESSAGE_BYTES} bytes at most")

    def get_websocket_protocol(self):
        protocol = super().get_websocket_protocol()
        return protocol and Protocol(self, False, protocol.params)

    def on_close(self):
        """Go's readPump defer: leave the hub."""
        self.hub.unregister(self)


class Protocol(tornado.websocket.WebSocketProtocol13):
    """Tornado's protocol, plus a log line for the one rejection it makes itself: 1009."""

    def close(self, code=None, reason=None):
        if code == 1009 and reason == "message too big":  # Tornado's own words
            log.info(
                "%s: a message over %d bytes, closing with 1009",
                self.handler.name,
                TORNADO_MAX_MESSAGE_BYTES,
            )
        super().close(code, reason)


def parse_message(frame):
    """A JSON object as it is; any other text frame is a chat of that text, as in the lesson."""
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
        message = None
    if isinstance(message, dict):
        return message
    return {"type": "chat", "value": frame}


def prepare_frame(message):
    """A message as a whole WebSocket text frame, ready to write to any number of clients.

    Tornado's write_message encodes and frames the message again for every client;
    gorilla calls a frame built once a PreparedMessage. A server's frames are not
    masked, so the same bytes serve every client: a header of 2, 4 or 10 bytes
    (RFC 6455, section 5.2) and the UTF-8 payload.
    """
    payload = json.dumps(message, ensure_ascii=False).encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)  # FIN + text opcode, then the length
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


# Lesson 4: the hub, the one owner of the set of clients. In Go a goroutine owns the
# map and everyone else talks to it over channels. asyncio runs every callback on
# one thread and switches only at `await`, so plain method calls cannot interleave.


class Hub:
    def __init__(self):
        self.clients = set()
        self.names = collections.Counter()  # connections per name
        self.due = []  # clients whose write pump runs at the next turn of the event loop

    def is_online(self, name):
        return name in self.names

    def online(self):
        """The names in the room, sorted, for a welcome."""
        return sorted(self.names)

    def register(self, client):
        """Welcome the new connection, then announce a name that just came online."""
        came_online = not self.is_online(client.name)
        self.names[client.name] += 1
        welcome = {"type": "welcome", "you": client.name, "online": self.online()}
        client.queue(prepare_frame(welcome))
        if came_online:
            self.deliver({"type": "join", "from": client.name})
        self.clients.add(client)

    def unregister(self, client):
        """Forget a connection; a name leaves with its last connection."""
        if client not in self.clients:
            return
        self.clients.remove(client)
        self.names[client.name] -= 1
        if not self.names[client.name]:
            del self.names[client.name]
        if not self.is_online(client.name):
            self.deliver({"type": "leave", "from": client.name})
        elif client.typing:
            self.broadcast({"type": "typing", "from": client.name, "value": False})

    def write_soon(self, client):
        """Run the client's write pump at the next turn of the loop, with all others due."""
        if not self.due:
            asyncio.get_running_loop().call_soon(self.run_write_pumps)
        self.due.append(client)

    def run_write_pumps(self):
        due, self.due = self.due, []
        for client in due:
            client.write_pump()

    def broadcast(self, message, skip=None):
        """A chat or typing message for the whole room; here the room is this process."""
        self.deliver(message, skip)

    def deliver(self, message, skip=None):
        """Queue one message for every client here but `skip`; drop whoever has no room for it."""
        frame = prepare_frame(message)  # encoded and framed once, for everyone
        too_slow = [c for c in self.clients if c is not skip and not c.queue(frame)]
        for client in too_slow:
            if client in self.clients:  # not dropped already, by the leave of another
                # Go closes the client's send channel; nobody waits for a slow reader.
                log.info("%s: %d messages waiting, dropping", client.name, SEND_BUFFER)
                client.drop(1008, "too slow: messages were piling up")


async def sweep_keepalive(hub, config):
    """Every SWEEP_PERIOD, ping the clients due a ping and close those heard nothing from.

    Pings go out within SWEEP_PERIOD of each --ping-period, and a silent client is
    closed within SWEEP_PERIOD of its --pong-wait.
    """
    period = min(SWEEP_PERIOD, config.ping_period / 10)
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(period)
        now = loop.time()
        for client in list(hub.clients):  # keep_alive may drop a client from the set
            client.keep_alive(now)


# Lesson 8: beyond one process. Each process has its own hub, so two processes are two
# rooms. With --redis, each hub publishes on a Redis channel what it broadcasts, and
# delivers to its own clients what the other processes publish there. Who is online is
# shared too: each process announces its names, and keeps a presence key alive that
# expires when the process dies. Join and leave are what every process works out for
# itself from all that, which is why the hub above delivers them instead of broadcasting.

CHANNEL = "chat"  # the Redis pub/sub channel where every process publishes and listens
PRESENCE_KEY = "chat:presence:"  # + a process's id: the names connected to it, in JSON
HEARTBEAT_PERIOD = 3  # seconds between renewals of a process's presence key
PRESENCE_TTL = 10  # seconds a presence key lives unrenewed: a dead process's users leave


class RedisHub(Hub):
    """A hub that shares its room with every chat.py process on the same Redis.

    Redis is trusted like chat.py itself: whoever can publish on it speaks for the room.
    """

    def __init__(self, url):
        super().__init__()
        # No retries inside redis-py: relay_forever() is the one place that reconnects.
        self.redis = redis.asyncio.Redis.from_url(
            url, decode_responses=True, retry=None, socket_timeout=5
        )
        self.where = without_password(url)
        self.id = secrets.token_hex(8)  # names this process in what it publishes
        self.rosters = {}  # another process's id -> the names connected to it
        self.outbox = []  # events to publish, in order
        self.outbox_ready = asyncio.Event()
        self.connected = False

    def is_online(self, name):
        return name in self.names or any(name in names for names in self.rosters.values())

    def online(self):
        return sorted(set(self.names).union(*self.rosters.values()))

    def register(self, client):
        super().register(client)
        if self.names[client.name] == 1:  # the name's first connection here
            self.publish({"joined": client.name})

    def unregister(self, client):
        was_registered = client in self.clients
        super().unregister(client)
        if was_registered and client.name not in self.names:  # its last connection here
            self.publish({"left": client.name})

    def broadcast(self, message, skip=None):
        super().broadcast(message, skip)
        self.publish({"message": message})

    def publish(self, event):
        """Queue an event for the other processes. While Redis is away, it is lost."""
        if self.connected:
            self.outbox.append(json.dumps({"process": self.id, **event}))
            self.outbox_ready.set()

    def hear(self, data):
        """An event from another process: a message for our clients, or news of its names."""
        try:
            event = json.loads(data)
            process = event["process"]
        except (ValueError, TypeError, KeyError):
            return log.warning("ignored %.60r on Redis channel %r: not from chat.py", data, CHANNEL)
        if process == self.id:
            return  # our own event: our clients have it already
        names = self.rosters.get(process, set())
        if "message" in event:
            self.deliver(event["message"])
        elif "joined" in event:
            self.set_roster(process, names | {event["joined"]})
        elif "left" in event:
            self.set_roster(process, names - {event["left"]})
        elif "roster" in event:
            self.set_roster(process, set(event["roster"]))

    def set_roster(self, process, names):
        """Take in the names connected to another process; tell our clients who came or went."""
        changed = self.rosters.get(process, set()) ^ names
        was_online = {name: self.is_online(name) for name in changed}
        self.rosters[process] = names
        for name in sorted(changed):
            if self.is_online(name) != was_online[name]:
                kind = "join" if self.is_online(name) else "leave"
                self.deliver({"type": kind, "from": name})

    def forget(self, process):
        self.set_roster(process, set())
        del self.rosters[process]

    async def connect(self):
        """Start relaying; return once the first try has connected or failed."""
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
            await asyncio.sleep(min(0.5 * 2 ** (failures - 1), 8.0))  # 0.5, 1, 2, 4, 8, 8 s

    async def relay(self):
        """Subscribe, then listen, publish and renew our presence until one of them fails."""
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            self.connected = True  # publish() queues from now on; the publisher starts below
            await self.renew_presence()  # so our key is there before anything we publish
            log.info("sharing the room through Redis at %s", self.where)
            self.tried.set()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.listen(pubsub))
                tasks.create_task(self.publish_forever())
                tasks.create_task(self.heartbeat())

    async def listen(self, pubsub):
        async for message in pubsub.listen():
            if message["type"] == "message":
                self.hear(message["data"])

    async def publish_forever(self):
        """The only publisher, so the events reach Redis in the order they were queued."""
        while True:
            await self.outbox_ready.wait()
            self.outbox_ready.clear()
            await self.send_outbox()

    async def send_outbox(self):
        events, self.outbox = self.outbox, []
        async with self.redis.pipeline(transaction=False) as pipe:  # one round trip for all
            for event in events:
                pipe.publish(CHANNEL, event)
            await pipe.execute()

    async def heartbeat(self):
        while True:
            self.publish({"roster": sorted(self.names)})  # repairs what the others missed
            await asyncio.sleep(HEARTBEAT_PERIOD)
            await self.renew_presence()

    async def renew_presence(self):
        """Renew our presence key; learn from the others' keys which processes came or died."""
        mine = json.dumps(sorted(self.names))
        await self.redis.set(PRESENCE_KEY + self.id, mine, ex=PRESENCE_TTL)
        keys = [key async for key in self.redis.scan_iter(match=PRESENCE_KEY + "*")]
        values = await self.redis.mget(keys) if keys else []
        alive = {key.removeprefix(PRESENCE_KEY): value for key, value in zip(keys, values) if value}
        alive.pop(self.id, None)
        for process in self.rosters.keys() - alive.keys():  # its key expired: it died
            self.forget(process)
        for process in alive.keys() - self.rosters.keys():  # one we have not heard from yet
            self.set_roster(process, set(json.loads(alive[process])))

    def redis_lost(self):
        """Redis is gone: nothing more to publish, and the other processes' users leave."""
        self.connected = False
        self.outbox.clear()
        for process in list(self.rosters):
            self.forget(process)

    async def disconnect(self):
        """Say goodbye, so the others see our users leave now, not when our key expires."""
        self.relay_task.cancel()
        if self.connected:
            self.publish({"roster": []})
            try:
                async with asyncio.timeout(0.5):
                    await self.send_outbox()
                    await self.redis.delete(PRESENCE_KEY + self.id)
            except (redis.RedisError, OSError, TimeoutError):
                pass  # then our key expires, and the others see our users leave later
        self.connected = False
        await self.redis.aclose()


def without_password(url):
    """A Redis URL fit for a log line."""
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


# Logging in. The page posts a name and gets a token to open the socket with.


class Login(tornado.web.RequestHandler):
    def initialize(self, config):
        self.config = config

    def post(self):
        origin = self.request.headers.get("Origin")
        if origin in self.config.allow_origin:  # let a page there read the answer (CORS)
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Vary", "Origin")
        try:
            body = json.loads(self.request.body)
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            body = None
        if self.config.password and not self.password_matches(body):
            return refuse(self, 401, "missing or wrong password")
        if body is None:
            return refuse(self, 400, 'send a JSON object: {"name": "alice"}')
        name = valid_name(body.get("name"))
        if name is None:
            reason = "a name is 1 to 32 letters, digits, spaces, _ or -"
            return refuse(self, 400, reason)
        self.write({"name": name, "token": make_token(self.config.secret, name)})

    def password_matches(self, body):
        given = body.get("password") if body else None
        if not isinstance(given, str):
            return False
        return hmac.compare_digest(given.encode(), self.config.password.encode())


def valid_name(name):
    """The trimmed name if it is 1 to 32 letters, digits, spaces, _ or -; else None."""
    if not isinstance(name, str):
        return None
    name = name.strip()
    if 1 <= len(name) <= 32 and all(c.isalnum() or c in " _-" for c in name):
        return name
    return None


def log_request(handler):
    """Tornado's access log line, without the query string: tokens never reach a log."""
    request = handler.request
    millis = 1000.0 * request.request_time()
    logging.getLogger("tornado.access").info(
        "%d %s %s (%s) %.2fms",
        handler.get_status(),
        request.method,
        request.path,
        request.remote_ip,
        millis,
    )


def make_app(config, hub):
    here = Path(__file__).resolve().parent
    page = {"path": here, "default_filename": "index.html"}
    return tornado.web.Application(
        [
            (r"/()", tornado.web.StaticFileHandler, page),
            (r"/login", Login, {"config": config}),
            (r"/ws", Client, {"hub": hub, "config": config}),
        ],
        websocket_max_message_size=TORNADO_MAX_MESSAGE_BYTES,
        log_function=log_request,
    )


# Starting and stopping.


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="A WebSocket chat: open the printed URL in two browser tabs."
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add("--port", type=int, default=8080, help="port; 0 picks a free one (default %(default)s)")
    add("--allow-origin", action="append", default=[], metavar="ORIGIN",
        help="also accept pages at this origin (the WebSocket handshake and "
        "/login), e.g. http://localhost:3000; may be given several times")  # fmt: skip
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
        help="messages a client may send per second, with bursts of twice that; "
        "0 turns the limit off (default %(default)g)")  # fmt: skip
    add("--ping-period", type=float, default=PING_PERIOD, metavar="SECONDS",
        help="how often to ping each client (default %(default)g)")  # fmt: skip
    add("--pong-wait", type=float, default=PONG_WAIT, metavar="SECONDS",
        help="close a client heard nothing from for this long; "
        "must be greater than --ping-period (default %(default)g)")  # fmt: skip
    add("--redis", metavar="URL",
        help="share the room with other chat.py processes through Redis pub/sub, "
        "e.g. redis://127.0.0.1:6379/0 (default: this process is the room)")  # fmt: skip
    config = parser.parse_args(argv)
    if config.pong_wait <= config.ping_period:
        parser.error("--pong-wait must be greater than --ping-period")
    if bool(config.certfile) != bool(config.keyfile):
        parser.error("--certfile and --keyfile go together")
    if config.rate < 0 or config.token_ttl <= 0 or config.max_message_bytes < 1:
        parser.error("--rate must be 0 or more; --token-ttl and --max-message-bytes more than 0")
    if config.redis and not config.redis.startswith(("redis://", "rediss://", "unix://")):
        parser.error("--redis takes a URL like redis://127.0.0.1:6379/0")
    if config.redis and redis is None:
        parser.error("--redis needs the redis package: pip install redis")
    config.secret = config.secret or secrets.token_hex(32)
    return config


async def serve(config):
    hub = Hub()
    if config.redis:
        hub = RedisHub(config.redis)
        await hub.connect()
    tls = None
    if config.certfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(config.certfile, config.keyfile)
    server = tornado.httpserver.HTTPServer(
        make_app(config, hub), ssl_options=tls, max_body_size=MAX_MESSAGE_BYTES
    )
    sockets = tornado.netutil.bind_sockets(config.port, config.host)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    host = f"[{config.host}]" if ":" in config.host else config.host
    print(f"Chat running at {'https' if tls else 'http'}://{host}:{port}/", flush=True)
    keepalive = asyncio.create_task(sweep_keepalive(hub, config))

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    if config.redis:
        await hub.disconnect()  # first, so that nobody waits for our clients' goodbyes
    await shut_down(server, hub)
    keepalive.cancel()


async def shut_down(server, hub, patience=4.0):
    """Say 1001 (going away) to everyone, then wait a little for their replies."""
    server.stop()
    for client in list(hub.clients):
        client.close(1001, "server shutting down")
    deadline = asyncio.get_running_loop().time() + patience
    while hub.clients and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


def main():
    config = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
