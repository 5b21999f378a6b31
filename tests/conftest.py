"""Start the real chat server as a process and talk to it over real sockets.

pytest                                 # every test, against ./chat.py
pytest -m broadcast                    # one lesson step
pytest --chat my_chat.py -m upgrade    # your own server instead
"""

import functools
import importlib.util
import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websocket
from chat_process import (  # tests/harness/chat_process.py: also the notebooks', bench's, ...
    ROOT,
    SAMPLE_KEY,
    TIMEOUT,
    ChatProcess,
    NotStarted,
    free_port,
    http,
    launch_chromium,
    shorten,
    stderr_excerpt,
    upgrade_request,
    ws_path,
    ws_url,
)


class ChatServer(ChatProcess):
    """One `python CHAT --port 0 FLAGS...` process, what it printed, and our connections to it."""

    def __init__(self, script, flags=(), env=None):
        self.peers = []
        self.tokens = {}  # name -> the token of its session, as a browser keeps it for its tabs
        try:
            super().__init__(script, flags, env)
            return
        except NotStarted:
            pass  # said below, outside this block: no traceback of it is shown
        pytest.fail(self._why_it_did_not_start(), pytrace=False)

    def connect(self, name, welcome=True, **options):
        """Log in as `name` (where the server has /login), connect, and read the welcome."""
        peer = Peer(open_socket(self, **identity(self, name), **options), name)
        self.peers.append(peer)
        if welcome:
            try:
                first = peer.recv()
            except websocket.WebSocketTimeoutException:
                first = f"nothing within {TIMEOUT:g} s"
            except (websocket.WebSocketConnectionClosedException, ConnectionError):
                first = "nothing: it closed the connection"
            if not (isinstance(first, dict) and first.get("type") == "welcome"):
                got = first if isinstance(first, str) and first.startswith("nothing") else None
                pytest.fail(
                    f"The first message to {name} should be a JSON welcome, "
                    f'{{"type": "welcome", "you": "{name}", "online": [...]}} '
                    "(lesson 4, lessons/04-hub.md); "
                    f"{self.script.name} sent {got or shorten(repr(first))}."
                    + stderr_excerpt(self.log()),
                    pytrace=False,
                )
            peer.welcome = first
        return peer

    def _why_it_did_not_start(self):
        """What went wrong before the first line, in a sentence for the learner."""
        name, log = self.script.name, self.log()
        unknown = re.search(r"unrecognized arguments: (.*)", log)
        flags = [arg for arg in unknown[1].split() if arg.startswith("-")] if unknown else []
        flags = list(dict.fromkeys(flags))  # each once, though a test gives one twice
        if flags:
            return (
                f"{name} does not take {' '.join(flags)}, which this test starts it with; "
                + "; ".join(where_taught(flag) for flag in flags)
                + "."
                + stderr_excerpt(log)
            )
        return (
            f"The first line {name} prints should be `Chat running at http://HOST:PORT/` "
            "(https:// with TLS), with the port it listens on (the tests start it with --port 0, "
            f'which picks a free one; lessons/README.md, "Running things"), but '
            f"{self.what_it_did()}." + stderr_excerpt(log)
        )

    def stop(self, *args, **kwargs):
        """Close our connections, signal the server and wait for it; its exit code."""
        for peer in self.peers:
            peer.close()
        return super().stop(*args, **kwargs)


SECURITY = "lesson 7 (lessons/07-security.md)"
WHERE_TAUGHT = {  # flag -> the lesson that adds it
    "--host": 'lessons/README.md ("Running things")',
    "--port": 'lessons/README.md ("Running things")',
    "--allow-origin": "lesson 2 (lessons/02-upgrade.md)",
    "--ping-period": "lesson 3 (lessons/03-client.md)",
    "--pong-wait": "lesson 3 (lessons/03-client.md)",
    "--password": SECURITY,
    "--secret": SECURITY,
    "--token-ttl": SECURITY,
    "--certfile": SECURITY,
    "--keyfile": SECURITY,
    "--max-message-bytes": SECURITY,
    "--rate": SECURITY,
    "--login-rate": SECURITY,
    "--max-connections-per-ip": SECURITY,
    "--allow-host": SECURITY,
    "--behind-proxy": "lesson 11 (lessons/11-going-live.md)",
    "--redis": "lesson 8 (lessons/08-scale-out.md)",
    "--max-rooms": "lesson 9 (lessons/09-rooms.md)",
    "--history": "lesson 10 (lessons/10-nothing-lost.md)",
}


def where_taught(flag):
    """Where a learner finds this flag of chat.py, as a clause."""
    lesson = WHERE_TAUGHT.get(flag)
    return f"{lesson} adds {flag}" if lesson else f"`python chat.py --help` describes {flag}"


@functools.cache
def help_text(script):
    """What `python SCRIPT --help` prints: which flags a learner's server has so far."""
    try:
        result = subprocess.run(
            [sys.executable, str(script), "--help"],
            check=False,
            capture_output=True,
            text=True,
            timeout=5,  # a server that has no --help yet runs on instead: it is killed
        )
    except subprocess.TimeoutExpired:
        return ""
    return result.stdout


def chat_script(config):
    """The server the tests start: --chat, relative to where pytest runs; by default chat.py."""
    chat = config.getoption("--chat")
    if chat == "chat.py":
        return ROOT / "chat.py"
    return Path(config.invocation_params.dir, chat).resolve()


@pytest.fixture
def start_chat(request):
    """start_chat(*flags) starts a chat server; all are stopped after the test."""
    script = chat_script(request.config)
    if not script.is_file():
        pytest.fail(
            f"--chat names {script}, and there is no such file (a relative path starts "
            f"where pytest runs, {request.config.invocation_params.dir}).",
            pytrace=False,
        )
    servers = []

    def start(*flags, env=None, unlimited=False):
        """unlimited=True adds --rate 0 where the server has that flag (the security step).

        The allowances per client address are off unless a test sets them: every test
        client comes from 127.0.0.1.
        """
        if unlimited and "--rate" in help_text(script):
            flags = ("--rate", "0", *flags)
        for limit in ("--login-rate", "--max-connections-per-ip"):
            if limit in help_text(script) and limit not in flags:
                flags = (limit, "0", *flags)
        server = ChatServer(script, flags, env)
        servers.append(server)
        return server

    start.has_flag = lambda flag: flag in help_text(script)
    yield start
    for server in servers:
        server.stop()
    for server in servers:  # bad input gets an answer, never an exception inside the server
        crash = re.search(r"^Traceback.*?^\S.*$", server.log(), re.MULTILINE | re.DOTALL)
        if crash:
            pytest.fail(
                f"{server.script.name} raised, during this test:\n{crash[0]}", pytrace=False
            )


@pytest.fixture
def server(start_chat):
    return start_chat()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium (Debian's) for a module of page tests; each test makes its contexts."""
    from playwright.sync_api import sync_playwright  # only the page tests need playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


def page_served(server, answered):
    """Fail, saying what a learner can do, unless GET / answered `answered` 200 (the page)."""
    if answered == 200:
        return
    hint = ""
    folders = (server.script.parent, server.script.parent.parent)
    if answered == 404 and not any((folder / "index.html").exists() for folder in folders):
        hint = (
            " Is index.html where it looks? A step file serves it from the folder above"
            f" its own (PAGE_FOLDER), chat.py from its own; neither {folders[0]} nor"
            f" {folders[1]} has one: copy the project's index.html beside your server,"
            " and point PAGE_FOLDER there."
        )
    pytest.fail(
        f"GET / should answer 200 with the chat page, index.html (lesson 5, "
        f"lessons/05-page.md); {server.script.name} answered {answered}.{hint}",
        pytrace=False,
    )


def post_login(server, body, raw=None):
    """POST /login; (status, parsed JSON answer or None)."""
    return http_json(server, "POST", "login", raw if raw is not None else body)


def http_json(server, method, path, body=None, headers=None):
    """An HTTP request to the server; (status, parsed JSON answer or None)."""
    return http(method, server.url + path.lstrip("/"), body, headers, server_tls(server))[:2]


def make_certificate(folder, name):
    """A self-signed certificate and key for `name` (an IP address or a host name)."""
    if not shutil.which("openssl"):
        pytest.skip("the openssl command is needed to make a test certificate")
    kind = "IP" if name[0].isdigit() else "DNS"
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName={kind}:{name}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(server):
    """Our test servers' certificates are self-made, so HTTPS clients skip verification."""
    if server.url.startswith("https"):
        import ssl

        return ssl._create_unverified_context()
    return None


def login(server, name, password=None):
    """A token for `name`, or None where the server has no /login yet (an early lesson step).

    Like the tabs of one browser, every login of one name on one server shares one session:
    the first login's token is kept and used again.
    """
    if name in server.tokens:
        return server.tokens[name]
    body = {"name": name} if password is None else {"name": name, "password": password}
    status, answer = post_login(server, body)
    if status == 404:
        return None
    assert status == 200, f"POST /login for {name!r} answered {status} {answer}"
    server.tokens[name] = answer["token"]
    return answer["token"]


TAUGHT_IN = {  # a message type -> the lesson that adds it, as a clause
    **dict.fromkeys(("welcome", "join", "leave", "chat"), "; lesson 4 (lessons/04-hub.md) adds it"),
    "typing": "; lesson 6 (lessons/06-typing.md) adds it",
    "error": "; lesson 6 (lessons/06-typing.md) answers a message it cannot take with one",
}


FIELD_TAUGHT = {  # a field of the server's messages -> the lesson that adds it
    "expires": SECURITY,
    "room": "lesson 9 (lessons/09-rooms.md)",
    "to": "lesson 9 (lessons/09-rooms.md)",
    **dict.fromkeys(
        ("id", "cid", "epoch", "recovered", "history"), "lesson 10 (lessons/10-nothing-lost.md)"
    ),
}


class Message(dict):
    """A JSON object from the server: a field it lacks fails the test in a sentence, not a KeyError."""

    def __missing__(self, field):
        lesson = FIELD_TAUGHT.get(field)
        pytest.fail(
            f"The server's {self.get('type', 'message')!r} has no {field!r} field"
            + (f"; {lesson} adds it" if lesson else "")
            + f": {shorten(repr(dict(self)))}",
            pytrace=False,
        )


class NothingCame(websocket.WebSocketTimeoutException):
    """Nothing arrived in time: one sentence, not websocket-client's traceback."""


class Peer:
    """A websocket-client connection with JSON helpers."""

    def __init__(self, ws, name):
        self.ws = ws
        self.name = name

    def send(self, message):
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self, timeout=TIMEOUT):
        """The next message, parsed as JSON when it is JSON."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            # Short reads: websocket-client answers each ping and reads on, and every
            # ping would start a long timeout afresh.
            self.ws.settimeout(min(left, 0.1))
            try:
                text = self.ws.recv()
                break
            except websocket.WebSocketTimeoutException:
                continue
        else:
            raise NothingCame(f"{self.name} got nothing within {timeout:g} s")
        try:
            return json.loads(text, object_hook=Message)
        except ValueError:
            return text

    def recv_type(self, kind, timeout=TIMEOUT):
        """Skip ahead to the next message of this type; fail if none comes within `timeout`."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:  # short reads: websocket-client keeps reading past each ping it answers
                message = self.recv(min(left, 0.1))
            except websocket.WebSocketTimeoutException:
                continue
            if isinstance(message, dict) and message.get("type") == kind:
                return message
        raise AssertionError(
            f"{self.name} got no {kind!r} message within {timeout:g} s{TAUGHT_IN.get(kind, '')}"
        )

    def nothing_within(self, seconds=0.5, ignore=()):
        """Assert that no message (other than the types in `ignore`) arrives for a while."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:  # short reads: websocket-client keeps reading past each ping it answers
                message = self.recv(min(left, 0.1))
            except websocket.WebSocketTimeoutException:
                continue  # silent so far: listen on until the deadline
            if isinstance(message, dict) and message.get("type") in ignore:
                continue
            raise AssertionError(f"{self.name} got {message!r}, expected nothing")

    def close_frame(self, timeout=TIMEOUT):
        """Read until the server closes; the close code it sent (None: closed without a frame)."""
        self.ws.settimeout(timeout)
        while True:
            try:
                opcode, frame = self.ws.recv_data_frame(control_frame=True)
            except websocket.WebSocketConnectionClosedException:
                return None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(frame.data[:2], "big") if frame.data else None

    def close(self):
        self.ws.close(timeout=0.2)


def identity(server, name):
    """Who a connection is, as /ws's query arguments: {"token": ...} from a login, or
    {"name": name} on a server that has no /login yet (lesson 4 takes the name so)."""
    token = login(server, name)
    return {"token": token} if token else {"name": name}


def open_socket(server, token=None, name=None, **options):
    """A raw websocket-client connection to /ws, with ?token= (or ?name=) when given."""
    url = ws_url(server.url, token, name=name)
    options.setdefault("timeout", TIMEOUT)
    if server.url.startswith("https"):
        options.setdefault("sslopt", {"cert_reqs": 0})
    return websocket.create_connection(url, **options)


@pytest.fixture
def connect(server):
    """connect(name) logs in (where the server has /login), connects and reads the welcome."""
    return server.connect


def handshake_status(server, path="/ws", headers=()):
    """Send an upgrade request by hand; the HTTP status the server answers with."""
    request = upgrade_request(server.host, server.port, path, headers, key=SAMPLE_KEY)
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
    status_line = response.split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1]), response.decode(errors="replace")


class RawPeer:
    """A WebSocket client on a bare socket, which answers nothing and reads only when told."""

    def __init__(self, server, name, receive_buffer=None):
        self.sock = socket.socket()
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((server.host, server.port))
        self.sock.sendall(
            upgrade_request(server.host, server.port, ws_path(**identity(server, name)))
        )
        self.buffer = b""
        head = self.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def read_until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def read_exactly(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_frame(self):
        """(opcode, payload) of the next frame from the server (server frames are unmasked)."""
        first, second = self.read_exactly(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self.read_exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self.read_exactly(8))
        return first & 0x0F, self.read_exactly(size)

    def close(self):
        self.sock.close()


@pytest.fixture
def alice_and_slowpoke(start_chat):
    """(server, alice, slowpoke): alice reads all, slowpoke a RawPeer that reads nothing.

    Its receive buffer is 4 KiB, so the kernel holds little of what it is sent, and the
    256-frame rule is what stops the server's queue for it from growing.
    """
    server = start_chat(unlimited=True)
    alice = server.connect("alice")
    slowpoke = RawPeer(server, "slowpoke", receive_buffer=4096)
    assert alice.recv_type("join")["from"] == "slowpoke"
    yield server, alice, slowpoke
    slowpoke.close()


# Several chat.py processes on one Redis (lesson 8).

REDIS_SERVER = shutil.which("redis-server")


def wait_until(condition, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.05)


@pytest.fixture
def redis_server():
    if REDIS_SERVER is None:
        pytest.skip("no redis-server here: apt-get install redis-server")
    chatlab = load_module(ROOT / "notebooks" / "chatlab.py")  # notebook 05 starts Redis so too
    server = chatlab.RedisServer(REDIS_SERVER, free_port()).start()
    yield server
    server.stop()


def load_module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def start_shared(start_chat, redis_server):
    """start_shared() starts a chat.py on the test's Redis, with the secret all of them share.

    A server without --redis fails to start, and the harness says which lesson adds it.
    """
    tokens = {}  # one session per name on all of them, like one browser's tabs

    def start(*flags):
        server = start_chat(
            "--redis", redis_server.url, "--secret", "shared", *flags, unlimited=True
        )
        server.redis_url = redis_server.url
        server.tokens = tokens
        wait_until(lambda: "sharing the room" in server.log(), "the process to reach Redis")
        return server

    return start
