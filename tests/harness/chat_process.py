"""Start a chat server as a process, and reach it: for the tests, the notebooks, the benchmark
and the screenshot alike.

    with ChatProcess(CHAT, UNLIMITED) as chat:  # python chat.py --port 0 --login-rate 0 ...
        status, answer = login(chat.url, "alice")  # POST /login: (200, {"token": ...})
        url = ws_url(chat.url, answer["token"], room="general")  # ws://HOST:PORT/ws?token=...

A ChatProcess waits up to STARTS_WITHIN seconds for the server's first line, `Chat running at
SCHEME://HOST:PORT/`; whatever else happens, the server is stopped and NotStarted says what it
did instead. No server started here outlives the Python that started it.
"""

import atexit
import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CHAT = ROOT / "chat.py"
FIRST_LINE = re.compile(r"Chat running at (?P<scheme>https?)://(?P<host>\S+):(?P<port>\d+)/")
STARTS_WITHIN = 10  # seconds from a server's start to its first line
TIMEOUT = 5.0  # seconds to wait for anything the server should do promptly
# chat.py's allowances per client address, turned off: every client here is 127.0.0.1
UNLIMITED = ("--login-rate", "0", "--max-connections-per-ip", "0")
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example Sec-WebSocket-Key
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; playwright never downloads a browser here
CHROMIUM_MISSING = f"{CHROMIUM} not found: install Debian's chromium package"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class NotStarted(RuntimeError):
    """The server did not print its first line; `chat` is its ChatProcess, stopped."""

    def __init__(self, chat):
        super().__init__(
            f"{chat.script.name} did not start: {chat.what_it_did()}." + chat.excerpt()
        )
        self.chat = chat


class ChatProcess:
    """One `python SCRIPT --port 0 FLAGS...` process, read up to its first line."""

    def __init__(self, script=CHAT, flags=(), env=None):
        self.script = Path(script).resolve()
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (kept open: log() reads it)
        self.proc = subprocess.Popen(
            [sys.executable, str(self.script), "--port", "0", *map(str, flags)],
            cwd=self.script.parent,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env={**os.environ, **(env or {})},
            text=True,
        )
        RUNNING.add(self.proc)
        try:  # whatever happens now, even Ctrl-C, the process does not outlive this
            self.first_line = read_first_line(self.proc)
            started = FIRST_LINE.fullmatch(self.first_line or "")
            if not started or started["port"] == "0":
                if self.first_line == "":  # its stdout closed: it is exiting, let it say how
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(2)
                self.stop(timeout=2)
                raise NotStarted(self)
        except BaseException:
            self.stop(timeout=2)
            raise
        self.url = self.first_line.removeprefix("Chat running at ")  # ends with "/"
        self.ws_url = ws_url(self.url)
        self.host, self.port = started["host"], int(started["port"])
        self.pid = self.proc.pid

    def what_it_did(self):
        """What the server did instead of printing its first line, as a clause."""
        code = self.proc.returncode
        if self.first_line is None:
            return f"it printed nothing within {STARTS_WITHIN} s, and was stopped"
        if self.first_line == "" and code is not None and code >= 0:
            return f"it exited with code {code} before printing anything"
        if self.first_line == "":
            return "it closed its standard output without printing anything"
        return f"it printed {shorten(repr(self.first_line))}"

    def log(self):
        """What the server has written to stderr so far."""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def excerpt(self):
        return stderr_excerpt(self.log())

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the server (SIGTERM, as Ctrl+C would) and wait for it; its exit code."""
        end(self.proc, sig, timeout)
        RUNNING.discard(self.proc)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.stop()


def read_first_line(proc, within=STARTS_WITHIN):
    """The first line printed; "" if stdout closed first, None if none came in time."""
    lines = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(within)
    return lines[0].rstrip("\n") if lines else None


def end(proc, sig=signal.SIGTERM, timeout=10):
    """Send `sig` to a process still running, and SIGKILL if it has not ended `timeout` s later."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


RUNNING = set()  # the servers' processes not stopped yet


@atexit.register
def stop_every_server_left():
    """Should Python end before a server was stopped (Ctrl-C, a notebook's kernel), stop it."""
    for proc in list(RUNNING):
        end(proc, timeout=2)


def shorten(text, width=120):
    return text if len(text) <= width else text[: width - 1] + "…"


def stderr_excerpt(log, head=4, tail=3):
    """A server's stderr for a failure message: its first lines (and last, if long), trimmed."""
    lines = [shorten(line.rstrip()) for line in log.splitlines() if line.strip()]
    if not lines:
        return ""
    if len(lines) > head + tail + 1:
        lines = [*lines[:head], "…", *lines[-tail:]]
    return "\nIts stderr:\n" + "\n".join("    " + line for line in lines)


def http(method, url, body=None, headers=None, context=None, timeout=TIMEOUT):
    """Any HTTP request: (status, the JSON answer or None, the headers); a 4xx is not raised.

    `body` is sent as it is if it is bytes, else as JSON.
    """
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            status, text, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, text, answer_headers = error.code, error.read(), error.headers
    try:
        answer = json.loads(text) if text else None
    except ValueError:
        answer = None
    return status, answer, answer_headers


def login(url, name, password=None, context=None):
    """POST /login for `name` to the chat at `url`: (status, the JSON answer or None)."""
    body = {"name": name} if password is None else {"name": name, "password": password}
    return http("POST", url + "login", body, context=context)[:2]


def ws_path(token=None, **query):
    """/ws, with ?token=... (when there is one) and the other parameters that are not None."""
    params = {"token": token, **query}
    pairs = [f"{key}={urllib.parse.quote(str(value), safe='')}" for key, value in params.items()]
    kept = [pair for pair, value in zip(pairs, params.values()) if value is not None]
    return "/ws" + ("?" + "&".join(kept) if kept else "")


def ws_url(url, token=None, **query):
    """The WebSocket URL of the chat at `url` (http -> ws, https -> wss), as ws_path() makes it."""
    return url.replace("http", "ws", 1).rstrip("/") + ws_path(token, **query)


def upgrade_request(host, port, path="/ws", headers=(), key=None):
    """The bytes of a WebSocket upgrade request, with a fresh Sec-WebSocket-Key unless given."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {authority}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def free_port():
    """A port on which nothing listens: bound for a moment, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resident_kib(pid):
    """A process's resident memory in KiB, from /proc/PID/status (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status: Linux only")


def launch_chromium(playwright, **options):
    """Debian's Chromium, headless, from a sync or async playwright."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, **options
    )
