"""Going live (lesson 11): chat.py behind a real nginx, with the very files of deploy/.

Each test starts Debian's nginx on free ports with a site config made from deploy/chat.conf or
deploy/chat-proxy-params.conf by replacing only the strings their header comments list (the
server's name, the ports, the certificate, the log folder), and a certificate the test makes; and
two chat.py processes on one Redis, started with the flags of deploy/chat@.service. What is
tested is what is shipped. Without nginx these tests skip and say why; .ci/run installs it.
"""

import ast
import contextlib
import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from importlib import metadata

import pytest
import websocket
from chat_process import CHROMIUM, CHROMIUM_MISSING, launch_chromium

from conftest import ROOT, Peer, RawPeer, free_port, make_certificate, wait_until

pytestmark = pytest.mark.going_live

DEPLOY = ROOT / "deploy"
SITES = ["chat.conf", "chat-proxy-params.conf"]
UNIT = DEPLOY / "chat@.service"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
NO_NGINX = "no nginx here: apt-get install nginx (.ci/run does) to test deploy/ through it"
SHIPPED_REDIS = "redis://127.0.0.1:6379/0"
TIMEOUT = 5.0
TLS = ssl._create_unverified_context()  # the test's own certificate, self-signed
TOKEN_MARK = "|4:chat|"  # inside every token chat.py signs (Tornado's signed value of "chat")


# What deploy/ says.


def unit_command():
    """ExecStart of chat@.service, split as systemd does (quotes aside, which it has none of)."""
    lines = UNIT.read_text().splitlines()
    (start,) = [line for line in lines if line.startswith("ExecStart=")]
    return shlex.split(start.removeprefix("ExecStart="))


def unit_flags(port, redis_url, extra=()):
    """chat.py's flags as chat@PORT.service gives them, on the test's Redis, with $CHAT_FLAGS."""
    command = unit_command()
    assert command[:2] == ["/opt/chat/.venv/bin/python", "/opt/chat/chat.py"], command
    assert SHIPPED_REDIS in command, f"chat@.service no longer names {SHIPPED_REDIS}"
    flags = []
    for word in command[2:]:
        if word == "$CHAT_FLAGS":
            flags += extra
        else:
            flags.append(word.replace("%i", str(port)).replace(SHIPPED_REDIS, redis_url))
    return flags


def flag_value(flags, name):
    return float(flags[flags.index(name) + 1])


def read_timeout(site):
    """proxy_read_timeout of a site config, in seconds."""
    (seconds,) = re.findall(
        r"^\s*proxy_read_timeout (\d+)s;", (DEPLOY / site).read_text(), re.MULTILINE
    )
    return int(seconds)


def requirement_lines(path):
    """A requirements file's requirements, comments and blanks left out."""
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def test_the_server_install_is_requirements_txt_server_part():
    """deploy/requirements.txt: the lines of requirements.txt's "# The chat server" part."""
    course = (ROOT / "requirements.txt").read_text()
    server_part = course.split("# The chat server\n", 1)[1].split("\n#", 1)[0]
    expected = [line.split("#")[0].strip() for line in server_part.splitlines() if line.strip()]
    assert requirement_lines(DEPLOY / "requirements.txt") == expected


def test_the_server_install_holds_every_package_chat_py_imports():
    """Each module chat.py imports comes with Python, or from a package of deploy/requirements.txt."""
    tree = ast.parse((ROOT / "chat.py").read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}  # fmt: skip
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and not node.level}  # fmt: skip
    third_party = modules - set(sys.stdlib_module_names)
    shipped = {re.split(r"[<>=!~\[ ;]", line)[0].lower().replace("_", "-")
               for line in requirement_lines(DEPLOY / "requirements.txt")}  # fmt: skip
    providers = metadata.packages_distributions()
    missing = {
        module
        for module in third_party
        if not {name.lower().replace("_", "-") for name in providers.get(module, [])} & shipped
    }
    assert third_party and not missing, f"chat.py imports {missing}, which no line of it installs"


def test_the_unit_pings_more_often_than_nginx_cuts_a_quiet_socket():
    """chat.py's pings are what keeps an idle socket open through nginx's proxy_read_timeout."""
    flags = unit_flags(8001, SHIPPED_REDIS)
    assert "--behind-proxy" in flags and flags[flags.index("--host") + 1] == "127.0.0.1"
    for site in SITES:
        assert flag_value(flags, "--ping-period") < read_timeout(site), site
    assert flag_value(flags, "--ping-period") < flag_value(flags, "--pong-wait")


def test_the_proxy_params_variant_differs_only_in_its_headers():
    """Two files, one deployment: everything but the proxy headers (and comments) is the same."""

    def directives(site):
        lines = (line.split("#")[0].strip() for line in (DEPLOY / site).read_text().splitlines())
        return [line for line in lines if line]

    ours, debians = directives(SITES[0]), directives(SITES[1])
    headers = {"proxy_set_header Host $http_host;", "proxy_set_header X-Forwarded-Proto $scheme;"}
    headers.add("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
    assert [line for line in ours if line not in headers] == [
        line for line in debians if line != "include proxy_params;"
    ]
    assert "include proxy_params;" in debians and headers <= set(ours)


# nginx, started by a test.


def can_bind(port):
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Nginx:
    """`nginx -p FOLDER -c FOLDER/nginx.conf` in the foreground, with one site from deploy/."""

    def __init__(self, folder, site, upstreams, port, replace=(), read_timeout=None):
        folder.mkdir()
        self.folder, self.port, self.http_port = folder, port, free_port()
        self.logs = folder / "logs"
        self.logs.mkdir()
        (folder / "temp").mkdir()
        cert, key = make_certificate(folder, "localhost")
        text = (DEPLOY / site).read_text()
        substitutions = [
            ("chat.example.com", "localhost"),
            ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
            ("listen [::]:443 ssl;", ""),
            ("listen [::]:80;", ""),
            ("/etc/ssl/certs/chat.pem", str(cert)),
            ("/etc/ssl/private/chat.key", str(key)),
            ("/var/log/nginx/", f"{self.logs}/"),
            ("127.0.0.1:8001", f"127.0.0.1:{upstreams[0]}"),
            ("127.0.0.1:8002", f"127.0.0.1:{upstreams[1]}"),
        ]
        if read_timeout:
            substitutions.append(
                ("proxy_read_timeout 60s;", f"proxy_read_timeout {read_timeout}s;")
            )
        for old, new in [*substitutions, *replace]:
            assert old in text, f"deploy/{site} no longer holds {old!r}, which the tests replace"
            text = text.replace(old, new)
        (folder / "site.conf").write_text(text)
        shutil.copy("/etc/nginx/proxy_params", folder / "proxy_params")  # Debian's, as it is
        temp = folder / "temp"
        (folder / "nginx.conf").write_text(
            # As Debian's nginx.conf: the site inside http { }, and an access log for every
            # server that has none of its own, in nginx's "combined" format (the whole URL).
            # As root, nginx's workers would run as nobody, who may not enter the test's folder.
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"error_log {self.logs}/error.log info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {self.logs}/access.log;\n"
            f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
            f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n"
            f"    scgi_temp_path {temp}/scgi;\n"
            f"    include {folder}/site.conf;\n"
            "}\n"
        )
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"),
             "-e", str(self.logs / "startup.log"),
             "-g", f"daemon off; pid {folder}/nginx.pid;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_until(self.listening, f"nginx to listen on {port}")
        except AssertionError:
            self.stop()
            pytest.fail(f"nginx did not start:\n{self.proc.stderr.read()}\n{self.log()}")
        self.url = f"https://localhost{'' if port == 443 else f':{port}'}/"

    def listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("nginx exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
            return True
        return False

    def log(self):
        """Every log nginx wrote, each file named."""
        return "".join(
            f"--- {path.name}\n{path.read_text()}" for path in sorted(self.logs.iterdir())
        )

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def go_live(start_chat, redis_server, tmp_path):
    """go_live(site, flags, ...) starts two chat.py as chat@.service would, and nginx in front."""
    if not NGINX:
        pytest.skip(NO_NGINX)
    proxies = []
    secret = secrets.token_hex(16)  # one for the test's processes, another for the next test's

    def start(site="chat.conf", flags=(), port=None, replace=(), scale=None):
        """scale: shorten nginx's read timeout and chat.py's ping period and pong wait by it.

        `flags` go last, after the unit's own: where they repeat one of them, they win.
        """
        ports, chats = [free_port(), free_port()], []
        timeout = read_timeout(site) * scale if scale else None
        for upstream in ports:
            unit, more = unit_flags(upstream, redis_server.url), []
            if scale:
                for name in ("--ping-period", "--pong-wait"):
                    more += [name, f"{flag_value(unit, name) * scale:g}"]
            more += flags
            chat = start_chat(*unit_flags(upstream, redis_server.url, more),
                              env={"CHAT_SECRET": secret})  # fmt: skip
            chats.append(chat)
        for chat in chats:
            wait_until(lambda chat=chat: "sharing the room" in chat.log(), "chat.py to reach Redis")
        folder = tmp_path / f"nginx{len(proxies)}"
        proxy = Nginx(folder, site, ports, port or free_port(), replace, timeout and f"{timeout:g}")
        proxies.append(proxy)
        proxy.chats = chats
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


# Clients through nginx.


def host_of(proxy):
    """The Host (and the port in an Origin) as a browser writes it: no port for 443."""
    return "localhost" if proxy.port == 443 else f"localhost:{proxy.port}"


def https(proxy, method, path, body=None, token=None, source="127.0.0.1", headers=()):
    """A request to nginx from `source` (any 127.x address is this machine); (status, JSON)."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", proxy.port, timeout=TIMEOUT, context=TLS, source_address=(source, 0)
    )
    sent = {"Host": host_of(proxy), **dict(headers)}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        text = response.read()
    finally:
        connection.close()
    with contextlib.suppress(ValueError):
        return response.status, json.loads(text)
    return response.status, text


def log_in_through(proxy, name, **options):
    status, answer = https(proxy, "POST", "/login", {"name": name}, **options)
    assert status == 200, f"POST /login through nginx: {status} {answer}"
    return answer["token"]


def socket_through(proxy, query="", source="127.0.0.1", **options):
    """A WebSocket to wss://localhost:PORT/ws through nginx; a browser's Origin by default."""
    raw = socket.create_connection(("127.0.0.1", proxy.port), TIMEOUT, (source, 0))
    tls = TLS.wrap_socket(raw, server_hostname="localhost")
    options.setdefault("host", host_of(proxy))
    options.setdefault("origin", f"https://{host_of(proxy)}")
    url = f"wss://localhost:{proxy.port}/ws{query}"
    return websocket.create_connection(url, socket=tls, timeout=TIMEOUT, **options)


def status_through(proxy, query="", **options):
    """The handshake's HTTP status through nginx: 101, or the status of the refusal."""
    try:
        socket_through(proxy, query, **options).close()
    except websocket.WebSocketBadStatusException as refused:
        return refused.status_code
    return 101


def peer_through(proxy, name, token, **options):
    peer = Peer(socket_through(proxy, f"?token={urllib.parse.quote(token)}", **options), name)
    peer.welcome = peer.recv()
    assert peer.welcome["type"] == "welcome", peer.welcome
    return peer


def process_of(proxy, name):
    """Which chat.py process holds `name`'s latest connection (by their logs)."""
    opened = [chat for chat in proxy.chats if f"open {name} " in chat.log()]
    assert len(opened) == 1, f"{name} opened on {len(opened)} processes"
    return opened[0]


def everything_logged(proxy):
    return proxy.log() + "".join(chat.log() for chat in proxy.chats)


def assert_no_usable_credential(proxy, logs):
    """No token in any log, and every ticket in one is refused when replayed."""
    assert TOKEN_MARK not in logs and "token=" not in logs
    for ticket in set(re.findall(r"ticket=([\w-]+)", logs)):
        assert status_through(proxy, f"?ticket={ticket}") == 401, f"ticket {ticket} still works"


# The table of the issue: nginx's Host line, at another port than 443 and at 443.

ORIGIN_FLAG = "--allow-origin"
HOST_LINES = {
    "http_host": (SITES[0], ()),  # as shipped
    "proxy_params": (SITES[1], ()),  # as shipped: Host $host
    "host_and_port": (SITES[0], [("Host $http_host;", "Host $host:$server_port;")]),
    "none": (SITES[0], [("proxy_set_header Host $http_host;", "")]),
    "host": (SITES[0], [("Host $http_host;", "Host $host;")]),
}
TABLE = [  # (Host line, port: "other" or 443, whether chat.py gets --allow-origin, status)
    ("http_host", "other", False, 101),
    ("http_host", 443, False, 101),
    ("proxy_params", "other", False, 403),
    ("proxy_params", "other", True, 101),
    ("proxy_params", 443, False, 101),
    ("host", "other", False, 403),
    ("host_and_port", "other", False, 101),
    ("host_and_port", 443, False, 101),  # chat.py: a default port counts as none
    ("none", "other", False, 400),  # nginx sends Host chat_servers, the upstream's name
]


UNKNOWN_HOST = "Host chat_servers is not this server's: to allow it, --allow-host chat_servers"


def real_443():
    return pytest.mark.skipif(not can_bind(443), reason="port 443 is taken, or not ours to bind")


@pytest.mark.parametrize(
    "line, port, allow, expected",
    [
        pytest.param(*row, marks=[real_443()] if row[1] == 443 else [],
                     id=f"{row[0]}-{row[1]}{'-allow-origin' if row[2] else ''}")
        for row in TABLE
    ],
)  # fmt: skip
def test_the_host_table(go_live, line, port, allow, expected):
    """A browser's handshake (its Host and Origin) through nginx, for each Host line of the issue."""
    site, replace = HOST_LINES[line]
    port = 443 if port == 443 else free_port()
    origin = f"https://{'localhost' if port == 443 else f'localhost:{port}'}"
    proxy = go_live(site, [ORIGIN_FLAG, origin] if allow else [], port=port, replace=replace)
    if expected == 400:  # no Host from nginx: it sends the upstream's name, which nobody knows
        status, answer = https(proxy, "POST", "/login", {"name": "alice"})
        assert (status, answer) == (400, {"error": UNKNOWN_HOST})
        return
    token = log_in_through(proxy, "alice")
    status = status_through(proxy, f"?token={urllib.parse.quote(token)}")
    assert status == expected, everything_logged(proxy)
    if status == 403:  # and the log says why, and which flag would let it in
        logs = everything_logged(proxy)
        assert f"origin {origin} is not allowed: it does not match Host localhost;" in logs
        assert f"to allow it, --allow-origin {origin}" in logs


# Two people, in a real browser, through nginx.


@pytest.fixture(scope="module")
def browser():
    if not NGINX:
        pytest.skip(NO_NGINX)
    if not CHROMIUM.exists():
        pytest.skip(CHROMIUM_MISSING)
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing"
    )
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser, sync_api.expect
        browser.close()


@pytest.fixture
def person(browser):
    """person(proxy, name): `name` on the chat's page through nginx, in a profile of their own.

    Each profile is closed at the test's end: a page left open would reconnect to the next test's
    chat, at the same address, and hold its names.
    """
    contexts = []

    def open_as(proxy, name):
        context = browser[0].new_context(ignore_https_errors=True)  # the test's own certificate
        contexts.append(context)
        return log_in_page(browser, context, proxy, name)

    yield open_as
    for context in contexts:
        context.close()


def log_in_page(browser, context, proxy, name):
    expect = browser[1]
    page = context.new_page()
    page.sockets = []
    page.on("websocket", lambda ws: page.sockets.append(ws.url))
    page.goto(proxy.url)
    page.locator("#name").fill(name)
    page.locator("#login").click()
    expect(page.locator("#status")).to_have_text("connected", timeout=10_000)
    return page


def say(browser, page, text, *readers):
    expect = browser[1]
    page.locator("#input").fill(text)
    page.locator("#input").press("Enter")
    for reader in readers:
        expect(reader.locator("#messages > *", has_text=text)).to_be_visible(timeout=10_000)


@pytest.mark.parametrize(
    "site, port",
    [
        pytest.param(SITES[0], "other", id="chat.conf-other-port"),
        pytest.param(SITES[1], "other", id="proxy_params-other-port-allow-origin"),
        pytest.param(SITES[0], 443, id="chat.conf-443", marks=real_443()),
        pytest.param(SITES[1], 443, id="proxy_params-443", marks=real_443()),
    ],
)
def test_two_people_chat_over_wss_through_nginx(go_live, browser, person, site, port):
    port = 443 if port == 443 else free_port()
    origin = f"https://localhost:{port}"
    flags = [ORIGIN_FLAG, origin] if site == SITES[1] and port != 443 else []
    proxy = go_live(site, flags, port=port)
    alice, bob = person(proxy, "alice"), person(proxy, "bob")
    say(browser, alice, "hello from alice, over wss", bob, alice)
    say(browser, bob, "hello alice, through nginx", alice, bob)
    opened = alice.sockets + bob.sockets
    assert opened and all(url.startswith(f"wss://{host_of(proxy)}/ws?ticket=") for url in opened)
    for url in opened:  # the page's URLs, replayed: nothing usable in them
        assert status_through(proxy, url.partition("/ws")[2]) == 401, url
    assert_no_usable_credential(proxy, everything_logged(proxy))


def test_sigterm_sends_the_pages_to_the_other_process(go_live, browser, person):
    proxy = go_live()
    alice, bob = person(proxy, "alice"), person(proxy, "bob")
    stopping = process_of(proxy, "alice")
    other = next(chat for chat in proxy.chats if chat is not stopping)
    stubborn = RawPeer(stopping, "stubborn")  # never answers the 1001: the process drains for 4 s
    token = log_in_through(proxy, "carol")
    stopping.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: healthz(stopping) == 503, "the stopping process to say 503")
    for _ in range(4):  # meanwhile new sockets come through: nginx takes the 503 to the other
        assert status_through(proxy, f"?token={urllib.parse.quote(token)}") == 101
    expect = browser[1]
    expect(alice.locator("#status")).to_have_text("connected", timeout=15_000)
    expect(bob.locator("#status")).to_have_text("connected", timeout=15_000)
    assert stopping.proc.wait(10) == 0
    stubborn.close()
    say(browser, alice, "alice, moved over", bob, alice)
    say(browser, bob, "bob sees her", alice, bob)
    assert "open alice " in other.log()


def healthz(chat):
    connection = http.client.HTTPConnection(chat.host, chat.port, timeout=TIMEOUT)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


# Scripts through nginx.


def test_the_logs_hold_the_real_address_and_no_credential(go_live):
    """From 127.0.0.2, with a forged X-Forwarded-For and X-Real-IP: chat.py logs 127.0.0.2."""
    proxy = go_live()
    forged = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.7"}
    token = log_in_through(proxy, "alice", source="127.0.0.2", headers=forged)
    quoted = urllib.parse.quote(token)
    by_query = peer_through(proxy, "alice", token, source="127.0.0.2", header=forged)
    bearer = {"Authorization": f"Bearer {token}", **forged}
    by_header = Peer(socket_through(proxy, source="127.0.0.2", header=bearer), "alice")
    assert by_header.recv()["type"] == "welcome"
    status, ticket = https(proxy, "POST", "/ticket", token=token, source="127.0.0.2")
    assert status == 200
    by_ticket = Peer(socket_through(proxy, f"?ticket={ticket['ticket']}", source="127.0.0.2"), "a")
    assert by_ticket.recv()["type"] == "welcome"
    assert status_through(proxy, f"?ticket={ticket['ticket']}") == 401  # good for one handshake
    assert status_through(proxy, "?token=forged") == 401  # a refusal is logged too
    for peer in (by_query, by_header, by_ticket):
        peer.close()
    wait_until(lambda: everything_logged(proxy).count("close alice 127.0.0.2") == 3, "the closes")
    logs = everything_logged(proxy)
    chats = "".join(chat.log() for chat in proxy.chats)
    assert "POST /login (127.0.0.2)" in chats and "open alice 127.0.0.2 room lobby" in chats
    assert re.search(r"^127\.0\.0\.2 .*\"GET /ws HTTP/1\.1\" 101 ", proxy.log(), re.MULTILINE)
    assert "6.6.6.6" not in logs and "6.6.6.7" not in logs
    assert quoted not in logs and token not in logs
    default_log = proxy.logs / "access.log"  # nginx's "combined", with whole URLs: unused here
    assert "/ws" not in (default_log.read_text() if default_log.exists() else "")
    assert_no_usable_credential(proxy, logs)


def test_http_is_sent_to_https(go_live):
    proxy = go_live()
    connection = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=TIMEOUT)
    connection.request("GET", "/rooms?x=1", headers={"Host": "localhost"})
    response = connection.getresponse()
    assert (response.status, response.getheader("Location")) == (301, "https://localhost/rooms?x=1")
    connection.close()


def test_an_idle_socket_outlives_nginx_read_timeout(go_live):
    """With both timeouts shortened as much: chat.py's pings keep a quiet socket open."""
    scale = 1 / 15
    proxy = go_live(scale=scale)
    cut_after = read_timeout(SITES[0]) * scale
    alice = peer_through(proxy, "alice", log_in_through(proxy, "alice"))
    alice.nothing_within(2.5 * cut_after)  # reading, so websocket-client answers the pings
    alice.send({"type": "chat", "value": "still here"})
    assert alice.recv_type("chat")["value"] == "still here"
    alice.close()


def test_a_ping_period_over_nginx_read_timeout_is_cut_without_a_close_frame(go_live):
    """The trap of the issue: pings less often than nginx's read timeout, and a silent cut."""
    scale = 1 / 15
    cut_after = read_timeout(SITES[0]) * scale
    proxy = go_live(scale=scale, flags=["--ping-period", f"{cut_after * 2:g}", "--pong-wait", "60"])
    alice = peer_through(proxy, "alice", log_in_through(proxy, "alice"))
    started = time.monotonic()
    assert alice.close_frame(timeout=4 * cut_after) is None  # no 1000, no 1001: just gone
    assert cut_after - 0.5 < time.monotonic() - started < 2 * cut_after


def test_two_processes_behind_one_upstream_are_one_room(go_live):
    proxy = go_live()
    names = ["alice", "bob", "carol", "dave"]
    tokens = [log_in_through(proxy, name) for name in names]
    peers = [peer_through(proxy, name, token) for name, token in zip(names, tokens, strict=True)]
    for chat in proxy.chats:  # nginx took turns: each process holds some of them
        assert "open " in chat.log(), "nginx sent every socket to one process"
    assert peers[-1].welcome["online"] == sorted(names)  # who is online, over both processes
    for sender in peers:
        sender.send({"type": "chat", "value": f"from {sender.name}"})
        for reader in peers:
            chat = reader.recv_type("chat")
            assert (chat["from"], chat["value"]) == (sender.name, f"from {sender.name}")
    for peer in peers:
        peer.close()
