"""Running the server: its flags, its first line, and a clean shutdown."""

import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, RawPeer

pytestmark = pytest.mark.server


def run_chat(*flags):
    return subprocess.run(
        [sys.executable, str(ROOT / "chat.py"), *flags],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_it_prints_exactly_one_line_with_its_url(start_chat):
    server = start_chat("--host", "127.0.0.1")
    assert re.fullmatch(r"Chat running at http://127\.0\.0\.1:\d+/", server.first_line)
    assert server.port != 0
    server.stop()
    assert server.proc.stdout.read() == ""


def test_help_explains_every_flag():
    result = run_chat("--help")
    assert result.returncode == 0
    for flag in [
        "--host", "--port", "--allow-origin", "--password", "--secret", "--token-ttl",
        "--certfile", "--keyfile", "--max-message-bytes", "--rate", "--ping-period", "--pong-wait", "--redis",
    ]:  # fmt: skip
        assert flag in result.stdout, f"--help does not mention {flag}"


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--ping-period", "10", "--pong-wait", "10"], "--pong-wait must be greater"),
        (["--ping-period", "20", "--pong-wait", "10"], "--pong-wait must be greater"),
        (["--certfile", "cert.pem"], "--certfile and --keyfile go together"),
        (["--rate", "-1"], "--rate must be 0 or more"),
        (["--redis", "localhost:6379"], "--redis takes a URL like redis://"),
    ],
)
def test_it_refuses_to_start_with_flags_that_cannot_work(flags, words):
    result = run_chat("--port", "0", *flags)
    assert result.returncode != 0 and words in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_every_socket_with_1001_and_exits_0(start_chat, signum):
    server = start_chat()
    alice, bob = server.connect("alice"), server.connect("bob")
    server.proc.send_signal(signum)
    assert alice.close_frame() == 1001
    assert bob.close_frame() == 1001
    assert server.proc.wait(5) == 0


def test_shutdown_waits_no_longer_than_5_s_for_a_client_that_does_not_answer(start_chat):
    server = start_chat()
    silent = RawPeer(server, "silent")  # reads nothing, answers nothing
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 5
    silent.close()


def run_chat_without_redis_package(*flags):
    """chat.py in a Python where `import redis` fails, as where only tornado is installed."""
    start = "import runpy, sys; sys.modules['redis'] = None; sys.argv[0] = 'chat.py'; "
    start += "runpy.run_path('chat.py', run_name='__main__')"
    return subprocess.run(
        [sys.executable, "-c", start, *flags],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_only_redis_flag_needs_the_redis_package():
    assert run_chat_without_redis_package("--help").returncode == 0
    result = run_chat_without_redis_package("--redis", "redis://127.0.0.1:6379/0")
    assert result.returncode != 0
    assert "--redis needs the redis package: pip install redis" in result.stderr
