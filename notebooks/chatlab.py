"""What the notebooks share: find or start a chat server, log in, connect, read messages.

For example:

>>> import chatlab
>>> server = chatlab.ensure_server()  # the chat at $CHAT_URL, or one started here
>>> alice = server.connect("alice")  # a websocket-client connection
>>> chatlab.receive(alice)  # the next message, as a dict: here the welcome
>>> server.stop()  # stops the chat only if it was started here

Like the tabs of one browser, every connection of one name to one server shares one login:
`server.login(name)` posts to /login once and keeps the token (a second login of a name held
by another session would get 409). `server.connect(name, room="general")` opens a socket in
that room. `server.request(method, path)` sends any other HTTP request and returns its status,
JSON answer and headers, without raising for a 4xx. `server.connect(name, since=7, epoch=e)`
resumes after chat 7 of the history `e` (lesson 10), and `chatlab.reset(ws)` drops a connection
the way a network does: a TCP reset, without a close frame.

Notebook 05 runs several chats on one Redis: `chatlab.start_redis()` starts a throwaway
redis-server, and `chatlab.start_server("--redis", redis_server.url)` a chat.py that uses it.
A notebook that opens many connections, all from 127.0.0.1, starts its chat with
`chatlab.ensure_server(*chatlab.UNLIMITED)`: without the per-address limits.
"""

import atexit
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import websocket
from chat_process import (  # tests/harness/chat_process.py, installed by requirements.txt
    CHAT,
    TIMEOUT,
    UNLIMITED,  # noqa: F401 (for the notebooks: chatlab.UNLIMITED)
    ChatProcess,
    end,
    free_port,
    http,
    ws_url,
)

DEFAULT_URL = "http://127.0.0.1:8080"


class LoginRefused(RuntimeError):
    """POST /login answered something else than 200: `status` and the server's `reason`."""

    def __init__(self, name, status, reason):
        message = f"POST /login for {name!r} answered {status}: {reason}"
        if status == 409:
            message += (
                f". Another session holds {name} on this chat: a page logged in as {name}, say, "
                "until it logs out or 30 s after its last tab closes. Log out on that page (or "
                "close it and wait 30 s) and run this cell again; or start Jupyter with CHAT_URL "
                "set to a free port (CHAT_URL=http://127.0.0.1:8099 jupyter lab), and the "
                "notebook starts a chat of its own."
            )
        super().__init__(message)
        self.status, self.reason = status, reason


# name's last token from each chat, kept while the kernel runs: a cell run again logs in with
# it, as a page reloaded does, instead of asking for a name its earlier run still holds
KEPT_TOKENS = {}  # (url, name) -> token


class Server:
    """A chat server at `url`; `chat` (a ChatProcess) when we started it ourselves."""

    def __init__(self, url, chat=None):
        self.url = url.rstrip("/") + "/"
        self.ws_url = ws_url(self.url)  # http -> ws, https -> wss
        address = urllib.parse.urlsplit(self.url)
        self.host, self.port = address.hostname, address.port
        self.chat = chat
        self.process = chat.proc if chat else None
        self.started = chat is not None
        self.tokens = {}  # name -> the token of its one session here, as a browser keeps it

    def request(self, method, path, body=None, token=None, headers=None):
        """Any HTTP request to the chat: (status, the JSON answer or None, the headers).

        `body` is sent as JSON, `token` as `Authorization: Bearer`. A 4xx or 5xx is returned,
        not raised, so that a notebook can look at it.
        """
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return http(method, self.url + path.lstrip("/"), body, headers)

    def login(self, name):
        """The token that lets `name` open a WebSocket: POST /login the first time, then kept.

        A name is held by the session of its login, so a second login of it would be another
        session, refused with 409 while the first holds the name; every connection of `name`
        made here shares the first token instead, as the tabs of one browser do. A login
        carries the token an earlier run of the notebook got for `name`, if any: the same
        session again, as a page reloaded renews its own.
        """
        if name not in self.tokens:
            kept = KEPT_TOKENS.get((self.url, name))
            status, answer, _ = self.request("POST", "login", {"name": name}, token=kept)
            if status == 401 and kept:  # that session has logged out: a new one
                status, answer, _ = self.request("POST", "login", {"name": name})
            if status != 200:
                reason = answer.get("error") if isinstance(answer, dict) else answer
                raise LoginRefused(name, status, reason)
            self.tokens[name] = KEPT_TOKENS[self.url, name] = answer["token"]
        return self.tokens[name]

    def logout(self, name):
        """POST /logout with `name`'s token, and forget the token; the status (204: done).

        Every token of that session is refused from then on, its sockets are closed with 4003,
        and the name is free: the next `login(name)` starts a new session.
        """
        KEPT_TOKENS.pop((self.url, name), None)
        status, _, _ = self.request("POST", "logout", token=self.tokens.pop(name))
        return status

    def connect(self, name, room=None, since=None, epoch=None, **options):
        """Log in as `name` (once) and open a WebSocket, in `room` if given (default: lobby).

        With `since` and `epoch` it resumes: the welcome's history holds only the chats after
        the id `since` of that epoch. The welcome is left for you to read.
        """
        url = ws_url(self.url, self.login(name), room=room, since=since, epoch=epoch)
        options.setdefault("timeout", TIMEOUT)
        return websocket.create_connection(url, **options)

    def log(self):
        """What the server has written to stderr so far (only for a server we started)."""
        return self.chat.log() if self.chat else ""

    def stop(self):
        """Stop the server if we started it (SIGTERM, as Ctrl+C would); leave others alone."""
        if self.chat and self.process.poll() is None:
            self.chat.stop()
            print(f"Stopped the chat at {self.url}")
        elif not self.started:
            print(f"The chat at {self.url} was running before; it keeps running")


def answers(host, port):
    """True if something accepts a TCP connection at host:port."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def ensure_server(*flags):
    """The chat at $CHAT_URL if something answers there, else chat.py started on a free port.

    `flags` are for a chat started here, e.g. `ensure_server(*UNLIMITED)`; a chat found
    running keeps the flags it was started with.
    """
    url = os.environ.get("CHAT_URL", DEFAULT_URL)
    address = urllib.parse.urlsplit(url)
    default_port = 443 if address.scheme == "https" else 80
    if answers(address.hostname, address.port or default_port):
        print(f"Using the chat at {url}")
        return Server(url)
    print(f"Nothing answers at {url}: starting a chat of our own")
    return start_server(*flags)


def start_server(*flags):
    """Start `python chat.py --port 0 FLAGS...` and wait for its "Chat running at URL" line.

    A chat.py that does not start raises chat_process.NotStarted (a RuntimeError), with its stderr.
    """
    chat = ChatProcess(CHAT, flags)
    server = Server(chat.url, chat)
    atexit.register(server.stop)  # should the notebook end early, the kernel's exit stops it
    print(f"Started chat.py (pid {chat.pid}) at {server.url}")
    return server


class RedisServer:
    """A throwaway redis-server on 127.0.0.1 that keeps nothing on disk; see start_redis()."""

    def __init__(self, executable, port):
        self.executable = executable
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = None
        self.log_file = None

    def start(self):
        """Start redis-server (again, on the same port, empty) and wait until it answers PING."""
        if self.process and self.process.poll() is None:
            return self
        if answers("127.0.0.1", self.port):  # it would answer the PING meant for ours
            raise RuntimeError(f"something else listens on port {self.port} already")
        self.log_file = tempfile.NamedTemporaryFile("w+", prefix="redis-", suffix=".log")  # noqa: SIM115
        command = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no"]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        while not answers_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise RuntimeError(f"redis-server did not start: {self.log()}")
            time.sleep(0.05)
        print(f"Started redis-server (pid {self.process.pid}) at {self.url}")
        return self

    def log(self):
        """What redis-server has written since it last started."""
        return Path(self.log_file.name).read_text() if self.log_file else ""

    def stop(self):
        """Stop redis-server (SIGTERM); what it held is gone, since it saves nothing."""
        if self.process and self.process.poll() is None:
            end(self.process)
            self.log_file.close()  # a temporary file: closing it removes it
            print(f"Stopped redis-server at {self.url}")


def answers_ping(port):
    """True if a Redis server on 127.0.0.1:port answers PING (in Redis's own protocol)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis():
    """Start redis-server on a free port; its .url is for `chat.py --redis`, .stop() stops it."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError(
            "redis-server is not installed: apt-get install redis-server (Debian, Ubuntu) "
            "or brew install redis (macOS), then run this cell again"
        )
    server = RedisServer(executable, free_port()).start()
    atexit.register(server.stop)  # should the notebook end early, the kernel's exit stops it
    return server


def send(ws, message):
    """Send one message as a JSON text frame."""
    ws.send(json.dumps(message))


def receive(ws, kind=None, timeout=TIMEOUT):
    """The next message, parsed; with `kind`, the next one of that type (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        ws.settimeout(max(0.01, deadline - time.monotonic()))
        message = json.loads(ws.recv())
        if kind is None or message.get("type") == kind:
            return message


def receive_all(ws, seconds=0.5):
    """Every message that arrives within `seconds`: [] means nothing came."""
    messages = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            messages.append(receive(ws, timeout=left))
        except websocket.WebSocketTimeoutException:
            break
    return messages


def reset(ws):
    """Drop the connection as a network does: a TCP reset, and no close frame.

    SO_LINGER with a time of 0 makes closing the socket send a reset (RST) at once, so the
    server gets no goodbye, and whatever it had sent that we had not read yet is thrown away.
    """
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.shutdown()


def until_close(ws, timeout=TIMEOUT):
    """Read until the server closes: (the messages before its close frame, the close code)."""
    messages = []
    ws.settimeout(timeout)
    while True:
        frame = ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_TEXT:
            messages.append(json.loads(frame.data))
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    try:
        ws.send_close()  # answer the close frame, as RFC 6455 asks, if the server still listens
    except (OSError, websocket.WebSocketConnectionClosedException):
        pass
    ws.shutdown()
    return messages, int.from_bytes(frame.data[:2], "big")
