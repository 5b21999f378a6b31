"""Step 2, the upgrade (lessons/02-upgrade.md): a WebSocket at /ws that only this server's pages
and the --allow-origin list may open. It echoes every message back, to see the socket work.

    python steps/02_upgrade.py  # then connect to ws://127.0.0.1:8080/ws
"""

import argparse
import asyncio
import logging
import signal
import urllib.parse

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

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
        log.info("open %s", self.name)

    def on_message(self, message):
        """An echo for now: lesson 4's hub makes it a chat for everyone."""
        self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self):
        log.info("close %s code %s", self.name, self.close_code)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Step 2 of the chat: the upgrade, and an echo.")
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add("--port", type=int, default=8080, help="port; 0 picks a free one (default %(default)s)")
    add("--allow-origin", action="append", default=[], metavar="ORIGIN",
        help="also accept pages at this origin, e.g. http://localhost:3000; "
        "may be given several times")  # fmt: skip
    return parser.parse_args(argv)


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
