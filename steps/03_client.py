"""Step 3, the client's two pumps (lessons/03-client.md): step 2, plus pings, a read deadline,
and a bounded send queue with one writer. It still echoes every message back.

    python steps/03_client.py --ping-period 5 --pong-wait 10  # ws://127.0.0.1:8080/ws
"""

import argparse
import asyncio
import collections
import logging
import signal
import urllib.parse

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
import tornado.websocket

WRITE_WAIT = 10.0  # seconds allowed to hand the queued messages to the peer
PONG_WAIT = 60.0  # seconds allowed to hear anything (a pong, a message) from the peer
PING_PERIOD = PONG_WAIT * 9 / 10  # seconds between pings; must be less than PONG_WAIT
SEND_BUFFER = 256  # messages waiting for one client before it counts as too slow

log = logging.getLogger("chat")

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_matches_host(origin, host):
    """Same host and port; a port that is the default of the Origin's scheme counts as none."""
    try:
        parts, here = urllib.parse.urlsplit(origin), urllib.parse.urlsplit("//" + host)
        default = DEFAULT_PORTS.get(parts.scheme)
        return parts.hostname == here.hostname and (parts.port or default) == (here.port or default)
    except ValueError:  # a port that is not a number
        return False


class Client(tornado.websocket.WebSocketHandler):
    """One connection: Go's serveWs and Client in one, since Tornado makes a handler per connection."""

    def check_origin(self, origin):
        """CheckOrigin: only this server's own pages, and the --allow-origin list.

        Tornado asks only when there is an Origin, and a no is a 403 before any upgrade.
        The Go lesson's CheckOrigin returns true: any web site could open a socket.
        """
        host = self.request.host
        if origin in self.settings["config"].allow_origin or origin_matches_host(origin, host):
            return True
        log.warning("origin %s is not Host %s: --allow-origin %s allows it", origin, host, origin)
        return False

    def open(self):
        self.name = self.request.remote_ip  # who it is, in the log; lesson 4 asks for a name
        self.config = self.settings["config"]
        self.send = collections.deque()  # Go's `send chan []byte`: SEND_BUFFER messages at most
        self.lagging = None  # a task waiting for the peer, while it does not keep up
        self.heard()
        self.pinged_at = self.last_heard
        # A timer per client, as Go has a ticker per client. chat.py saves that memory with one
        # sweep over all clients (sweep_keepalive), every second.
        check_every = min(1.0, self.config.ping_period / 10)
        self.keepalive = tornado.ioloop.PeriodicCallback(self.keep_alive, 1000 * check_every)
        self.keepalive.start()
        log.info("open %s", self.name)

    # In Go, readPump is a goroutine looping over ReadMessage; Tornado runs that loop
    # itself and calls on_message for each message.

    def read_pump(self, frame):
        """One message from the peer: a sign of life, echoed back for now."""
        if self.closing():
            return  # it was sent before our close frame reached the peer
        self.heard()
        if not self.queue(frame):
            log.info("%s: %d messages waiting, dropping", self.name, SEND_BUFFER)
            self.close(1008, "too slow: messages were piling up")

    on_message = read_pump  # the name Tornado calls

    # Keepalive. Go sets a read deadline and extends it in the pong handler, and a ticker
    # pings. Tornado's reads have no deadline: heard() stamps every sign of life instead.

    def heard(self):
        self.last_heard = asyncio.get_running_loop().time()

    def on_pong(self, data):
        self.heard()

    def on_ping(self, data):
        self.heard()  # Tornado has answered it already

    def keep_alive(self):
        """Go's read deadline and ping ticker in one check, run by the client's timer."""
        if self.closing():
            return
        now = asyncio.get_running_loop().time()
        silent_for = now - self.last_heard
        if silent_for >= self.config.pong_wait:
            log.info("%s: nothing heard for %.0f s, closing", self.name, silent_for)
            return self.close(1000, "nothing heard within the pong wait")
        if now - self.pinged_at >= self.config.ping_period:
            self.pinged_at = now
            self.ping()

    # Go's writePump is a goroutine that takes messages out of `send`. Here queue() runs the
    # pump at once; only while the peer lags do messages wait in `send`, in order. (chat.py
    # frames each message once and writes all that one turn of the loop queued in one go.)

    def queue(self, message):
        """Hand a message to the write pump; False if SEND_BUFFER messages wait already."""
        if len(self.send) >= SEND_BUFFER:
            return False
        self.send.append(message)
        self.write_pump()
        return True

    def write_pump(self):
        """The one writer: write what waits, until the socket can't take any more."""
        while self.send and not self.lagging and not self.closing():
            message = self.send.popleft()
            written = self.write_message(message, binary=isinstance(message, bytes))
            # The kernel's buffer is full, the peer lags behind; or the write found it gone.
            if self.ws_connection.stream.writing() or self.closing():
                self.lagging = asyncio.ensure_future(self.wait_for_peer(written))

    async def wait_for_peer(self, written):
        """Give the peer WRITE_WAIT to take what was written; meanwhile messages wait in `send`."""
        try:
            await asyncio.wait_for(written, WRITE_WAIT)
        except tornado.websocket.WebSocketClosedError:
            return  # the peer is gone: on_close follows
        except TimeoutError:
            log.info("%s: a write took over %g s, closing", self.name, WRITE_WAIT)
            return self.close(1008, "too slow")
        finally:
            self.lagging = None
        self.write_pump()

    def closing(self):
        """True once either side has begun to close, or the TCP connection is gone."""
        return self.ws_connection is None or self.ws_connection.is_closing()

    def on_close(self):
        self.keepalive.stop()
        log.info("close %s code %s", self.name, self.close_code)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Step 3 of the chat: keepalive, and an echo.")
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add("--port", type=int, default=8080, help="port; 0 picks a free one (default %(default)s)")
    add("--allow-origin", action="append", default=[], metavar="ORIGIN",
        help="also accept pages at this origin, e.g. http://localhost:3000; "
        "may be given several times")  # fmt: skip
    add("--ping-period", type=float, default=PING_PERIOD, metavar="SECONDS",
        help="how often to ping each client (default %(default)g)")  # fmt: skip
    add("--pong-wait", type=float, default=PONG_WAIT, metavar="SECONDS",
        help="close a client heard nothing from for this long; "
        "must be greater than --ping-period (default %(default)g)")  # fmt: skip
    config = parser.parse_args(argv)
    if config.pong_wait <= config.ping_period:
        parser.error("--pong-wait must be greater than --ping-period")
    return config


async def serve(config):
    app = tornado.web.Application([(r"/ws", Client)], config=config)
    server = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(config.port, config.host)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]  # the one --port 0 picked
    host = f"[{config.host}]" if ":" in config.host else config.host
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C: stop, exit 0, no traceback
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    print(f"Chat running at http://{host}:{port}/", flush=True)
    await stop.wait()
    server.stop()


def main():
    config = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # to stderr
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
