"""The harness that explains: `pytest --chat PATH -m STEP` against a learner's broken server.

Each test reads one run of pytest itself, started as a learner starts it, from this project's
folder (one from the server's own), against a small broken server written outside the project:
what pytest printed should be a sentence saying what was expected, what the server did and which
lesson teaches it, never a traceback of websocket-client's insides, and no process of that server
may be left running.
The runs are started all at once, so that they take the time of the slowest one.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

INNER = "CHAT_HARNESS_INNER"  # set in the runs started here: they must not start runs again
pytestmark = pytest.mark.skipif(INNER in os.environ, reason="a run that test_harness.py started")

# Each server appends its pid to $PID_FILE (its --help run's too), then reads its flags.
PREAMBLE = """\
import argparse, asyncio, os, signal, time
with open(os.environ["PID_FILE"], "a") as pids:
    print(os.getpid(), file=pids)
parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8080)
args = parser.parse_args()
"""

SERVERS = {
    "wrong_first_line": """
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # and a stubborn one
        print("Hello, I am a chat", flush=True)
        while True:
            time.sleep(1)
    """,
    "exits_at_once": """
        raise RuntimeError("a bug in the learner's server")
    """,
    "silent": """
        while True:
            time.sleep(1)
    """,
    "no_welcome": """
        import tornado.httpserver, tornado.netutil, tornado.web, tornado.websocket

        class Socket(tornado.websocket.WebSocketHandler):
            def open(self):
                pass  # it upgrades, and forgets the welcome

        async def main():
            sockets = tornado.netutil.bind_sockets(args.port, args.host)
            app = tornado.web.Application([("/ws", Socket)])
            tornado.httpserver.HTTPServer(app).add_sockets(sockets)
            print(f"Chat running at http://{args.host}:{sockets[0].getsockname()[1]}/", flush=True)
            await asyncio.Event().wait()

        asyncio.run(main())
    """,
}
SERVERS["no_rate"] = SERVERS["no_welcome"]  # a server of lesson 4, without lesson 7's --rate

ONE_UPGRADE_TEST = ["-m", "upgrade", "-k", "handshake_answers_101"]
RUNS = {  # run -> (its server, how --chat names it, pytest's other arguments)
    "wrong_first_line": ("wrong_first_line", "absolute", ONE_UPGRADE_TEST),
    "exits_at_once": ("exits_at_once", "relative", ONE_UPGRADE_TEST),
    "silent": ("silent", "absolute", ONE_UPGRADE_TEST),
    "no_rate": ("no_rate", "relative", ["-m", "security", "-k", "rate_0_turns_the_limit_off"]),
    "no_welcome": ("no_welcome", "absolute", ["-m", "broadcast", "-k", "welcome_comes_first"]),
    "notebooks": ("no_welcome", "relative", ["-rs", "-m", "upgrade", "-k", "notebook"]),
    "interrupted": ("no_welcome", "absolute", ["-m", "broadcast", "-k", "welcome_comes_first"]),
    "missing": ("missing", "absolute", ONE_UPGRADE_TEST),  # no such file is written
    "early_steps": (
        "no_welcome",
        "relative",
        ["-m", "upgrade or page or broadcast", "-k", "root or exactly or welcomed"],
    ),
    "page_first": ("no_welcome", "absolute", ["-m", "page", "-x"]),  # stops at the first failure
    "in_its_folder": (
        "no_welcome",
        "in its folder",
        ["-m", "broadcast", "-k", "welcome_comes_first"],
    ),
}


@dataclass
class Run:
    chat: str  # as --chat named the server
    output: str
    returncode: int
    pids: list


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every run of RUNS, started at once; {name: Run}."""
    folder = tmp_path_factory.mktemp("learner")  # outside the project
    assert ROOT not in folder.resolve().parents
    for name, body in SERVERS.items():
        (folder / f"{name}.py").write_text(PREAMBLE + textwrap.dedent(body))
    started = {}
    for run, (server, naming, args) in RUNS.items():
        path = folder / f"{server}.py"
        cwd = folder if naming == "in its folder" else ROOT  # as a learner runs it: from there
        chat = str(path) if naming == "absolute" else os.path.relpath(path, cwd)
        # --chat first with an absolute path, last with a relative one: both orders
        args = ["--chat", chat, *args] if naming == "absolute" else [*args, "--chat", chat]
        if run != "notebooks":
            args.append(f"--ignore={ROOT / 'tests/test_notebooks.py'}")  # its imports take seconds
        pid_file = folder / f"{run}.pids"
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        env.update({INNER: "1", "PID_FILE": str(pid_file)})
        output = (folder / f"{run}.out").open("w+")
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        started[run] = (chat, process, output, pid_file)
    interrupt(*started["interrupted"][1::2])
    results = {}
    for run, (chat, process, output, pid_file) in started.items():
        try:
            process.wait(180)
        finally:
            process.kill()  # nothing, unless it hangs
            process.wait()
        output.seek(0)
        pids = [int(pid) for pid in pid_file.read_text().split()] if pid_file.exists() else []
        results[run] = Run(chat, output.read(), process.returncode, pids)
        output.close()
    return results


def interrupt(process, pid_file):
    """Ctrl-C for pytest alone, while its test waits for the welcome that never comes."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if pid_file.exists() and len(pid_file.read_text().split()) >= 2:  # --help, then the server
            time.sleep(1)  # it has printed its first line: the test waits 5 s for the welcome
            process.send_signal(signal.SIGINT)
            return
        time.sleep(0.1)


def is_running(pid):
    """Whether the process is there and not a zombie (whose parent is gone: it is over)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def check(run, *sentences, ran=True):
    """The run failed with these words, as a learner should read them, and left nothing behind."""
    for words in sentences:
        assert words in run.output, f"{words!r} is not in pytest's output:\n{run.output}"
    assert run.returncode == 1, run.output  # tests failed: not a usage error, not a crash
    assert f"rootdir: {ROOT}" in run.output  # pytest found the project, whatever --chat named
    # pytest's own usage error; a traceback through the harness or websocket-client
    for noise in ("arguments: --chat", "conftest.py:", "AttributeError", "site-packages"):
        assert noise not in run.output, f"{noise!r} in pytest's output:\n{run.output}"
    assert run.pids or not ran, "the server never ran"
    left = [pid for pid in run.pids if is_running(pid)]
    assert not left, f"{run.chat} is still running: pid {left}"


def test_a_wrong_first_line_says_what_it_should_be(runs):
    check(
        runs["wrong_first_line"],
        "The first line wrong_first_line.py prints should be `Chat running at http://HOST:PORT/`",
        "the tests start it with --port 0",
        'lessons/README.md, "Running things"',
        "but it printed 'Hello, I am a chat'.",
    )


def test_a_server_that_exits_at_once_shows_its_error(runs):
    check(
        runs["exits_at_once"],
        "The first line exits_at_once.py prints should be `Chat running at http://HOST:PORT/`",
        "but it exited with code 1 before printing anything.",
        "Its stderr:",
        "RuntimeError: a bug in the learner's server",
    )


def test_a_server_that_prints_nothing_is_stopped(runs):
    check(
        runs["silent"],
        "The first line silent.py prints should be `Chat running at http://HOST:PORT/`",
        "but it printed nothing within 10 s, and was stopped.",
    )


def test_a_flag_the_server_lacks_is_named_with_its_lesson(runs):
    check(
        runs["no_rate"],
        "no_rate.py does not take --rate, which this test starts it with; "
        "lesson 7 (lessons/07-security.md) adds --rate.",
        "error: unrecognized arguments: --rate 0",  # argparse's own words, under "Its stderr:"
    )


def test_a_missing_welcome_is_a_sentence_not_a_websocket_traceback(runs):
    check(
        runs["no_welcome"],
        'The first message to carol should be a JSON welcome, {"type": "welcome", "you": "carol"',
        "(lesson 4, lessons/04-hub.md); no_welcome.py sent nothing within 5 s.",
    )
    assert "WebSocketTimeoutException" not in runs["no_welcome"].output


def test_a_run_in_the_servers_own_folder_runs_this_projects_tests(runs):
    """`pytest --chat my_chat.py` where my_chat.py is: the project's checks, not "no tests ran"."""
    check(
        runs["in_its_folder"],
        'The first message to carol should be a JSON welcome, {"type": "welcome", "you": "carol"',
        "1 failed",
    )


def test_a_file_that_does_not_exist_is_named(runs):
    run = runs["missing"]
    check(run, f"--chat names {run.chat}, and there is no such file", ran=False)


def test_the_early_steps_say_what_a_server_lacks(runs):
    check(
        runs["early_steps"],
        "GET / should answer 200 with the chat page, index.html (lesson 5, lessons/05-page.md); "
        "no_welcome.py answered 404. Is index.html where it looks? A step file serves it from the "
        "folder above its own (PAGE_FOLDER), chat.py from its own;",
        "no_welcome.py does not take --allow-origin, which this test starts it with; "
        "lesson 2 (lessons/02-upgrade.md) adds --allow-origin.",  # once, though given twice
        'The first message to alice should be a JSON welcome, {"type": "welcome", "you": "alice"',
    )
    assert "WebSocketTimeoutException" not in runs["early_steps"].output


def test_the_first_page_test_to_fail_says_where_the_page_is_looked_for(runs):
    """No index.html where the server looks: the browser tests say so, not a timeout."""
    check(
        runs["page_first"],
        "no_welcome.py answered 404. Is index.html where it looks?",
        "1 failed",
    )
    assert "Timeout" not in runs["page_first"].output


def test_the_notebooks_skip_for_another_server_and_say_why(runs):
    run = runs["notebooks"]
    assert run.returncode == 0, run.output
    assert f"rootdir: {ROOT}" in run.output
    assert "2 skipped" in run.output
    assert "the notebooks are checked with this project's chat.py only, not with --chat" in (
        run.output
    )


def test_an_interrupted_run_leaves_no_server_behind(runs):
    run = runs["interrupted"]
    assert run.returncode == 2 and "KeyboardInterrupt" in run.output, run.output  # interrupted
    assert len(run.pids) == 2
    left = [pid for pid in run.pids if is_running(pid)]
    assert not left, f"{run.chat} is still running: pid {left}"
