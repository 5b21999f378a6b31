"""The lessons keep their word: every code block in lessons/*.md is checked as lessons/README.md says.

- ```go and ```html blocks are illustrations: only their language is checked.
- A ```python block starting with `# from chat.py` is an excerpt: its lines must be in chat.py;
  a ```js block starting with `// from index.html`, of index.html. Any other ```js block is an
  illustration.
- A ```nginx or ```ini block starting with `# from deploy/FILE` is an excerpt of that file; a
  ```python block starting with `# from steps/FILE`, of that step file.
- A ```diff block starting with `# diff OLD NEW` is what scripts/step_diff.py prints for them.
- Any other ```python block runs in a fresh `python`, with CHAT_URL naming a running server.
- In a ```console block each `$ ` line runs and exits with 0; one ending in `  # runs until Ctrl-C`
  is started, checked for its first line (chat.py's) or its port (another server's), and at the
  end of the block stopped with SIGINT, as Ctrl-C would, and must exit with 0.

And every relative link in a lesson leads to a file (or to an exercise or notebook on its way).
"""

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from chat_process import ChatProcess, NotStarted, free_port, http

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
CHAT = ROOT / "chat.py"
RUN_TIMEOUT = 60  # seconds a runnable block or a console command may take
EXCERPT_MARK = "# from chat.py"
STEP_MARK = re.compile(r"# from (steps/\w+\.py)\n")  # a ```python excerpt of a step file
DIFF_MARK = re.compile(r"# diff (\S+) (\S+)\n")  # a ```diff block: scripts/step_diff.py's output
PAGE_MARK = "// from index.html"  # a ```js excerpt of index.html
LONG_RUNNING = "  # runs until Ctrl-C"
ILLUSTRATIONS = {"go", "html", "js"}
DEPLOYED = {"nginx", "ini"}  # excerpts of the files in deploy/: `# from deploy/chat.conf`
DEPLOY_MARK = re.compile(r"# from (deploy/[\w@.-]+)\n")

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`[^`\n]*`")

EXERCISES = ["accept_key.py", "origin.py", "frames.py", "hub.py", "render.js"]
EXERCISES += ["typing_line.py", "rate_limit.py", "presence.py", "direct.py", "history.py"]
CHECKS = [f"test_{Path(name).stem}.py" for name in EXERCISES]
PENDING = {f"exercises/{name}" for name in EXERCISES + CHECKS}
PENDING |= {f"exercises/solutions/{name}" for name in EXERCISES}
PENDING_NOTEBOOK = re.compile(r"notebooks/0[1-4]-[^/]+\.ipynb")


def lesson_files():
    return sorted(LESSONS.glob("*.md"))


def code_blocks():
    """Every fenced block of every lesson as (language, body), with an id like `03-client.md:2`."""
    for path in lesson_files():
        text = path.read_text(encoding="utf-8")
        for number, match in enumerate(FENCE.finditer(text), start=1):
            yield pytest.param(match[1], match[2], id=f"{path.name}:{number}")


def chat_lines(source=CHAT):
    return [line.rstrip() for line in source.read_text(encoding="utf-8").splitlines()]


def find_run(lines, run, start):
    """The index at which the consecutive lines `run` appear in `lines`, from `start`; or -1."""
    for index in range(start, len(lines) - len(run) + 1):
        if lines[index : index + len(run)] == run:
            return index
    return -1


def check_excerpt(body, source=CHAT):
    """Each stretch between `...` lines appears whole in chat.py (or `source`), in order."""
    excerpt = [line.rstrip() for line in body.splitlines()[1:]]
    stretches, current = [], []
    for line in excerpt:
        if line.strip() == "...":
            stretches.append(current)
            current = []
        else:
            current.append(line)
    stretches.append(current)
    assert any(stretches), f"an excerpt shows at least one line of {source.name}"
    lines, position = chat_lines(source), 0
    for stretch in filter(None, stretches):
        found = find_run(lines, stretch, position)
        lost = "\n".join(stretch)
        assert found >= 0, f"these lines are not in {source.name}, in this order:\n{lost}"
        position = found + len(stretch)


def check_diff(body):
    """A ```diff block is what scripts/step_diff.py prints for the two files its first line names."""
    named = DIFF_MARK.match(body)
    assert named, "a ```diff block starts with `# diff OLD NEW` (see lessons/README.md)"
    old, new = named[1], named[2]
    expected = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "step_diff.py"), old, new],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    shown = body[named.end() :]
    assert shown == expected, (
        f"the diff of {old} and {new} is no longer this; `python scripts/step_diff.py {old} {new}` "
        f"prints it as it is now:\n{expected}"
    )


def run(command, env, shell=False, stdin=subprocess.DEVNULL):
    """Run a command in a session of its own; (exit code, output). Ends whatever it leaves running."""
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command,
            shell=shell,
            cwd=ROOT,
            env=env,
            stdin=stdin,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(RUN_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # e.g. a server the block left running
            process.wait()
        output.seek(0)
        return process.returncode, output.read().decode(errors="replace")


def run_python(body, server, tmp_path):
    script = tmp_path / "block.py"
    script.write_text(body, encoding="utf-8")
    env = {**os.environ, "CHAT_URL": server.url}
    with script.open() as source:  # `python -` puts the project's root on sys.path
        code, output = run([sys.executable, "-"], env, stdin=source)
    assert code == 0, f"the block exited with {code}:\n{output}"


def run_console(body, server):
    commands = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
    assert commands, "a console block shows at least one `$ ` command"
    redis = any(command.startswith("redis-server ") for command in commands)
    if redis and not shutil.which("redis-server"):
        pytest.skip("this block starts a redis-server, and none is installed here")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "CHAT_URL": server.url}
    running = []  # (command, what runs it) of those that run until Ctrl-C, in their order
    try:
        for command in on_ports_of_its_own(commands):
            if command.endswith(LONG_RUNNING):
                command = command.removesuffix(LONG_RUNNING)
                running.append((command, start_until_ctrl_c(command, env)))
            else:
                code, output = run(command, env, shell=True)
                assert code == 0, f"$ {command}\nexited with {code}:\n{output}"
        for command, started in reversed(running):  # the last started is stopped first
            code = started.stop(signal.SIGINT)
            assert code == 0, f"$ {command}\nexited with {code} on Ctrl-C:\n{started.log()}"
    finally:
        for _, started in running:
            started.stop(signal.SIGKILL)


def on_ports_of_its_own(commands):
    """The block's commands, each port that a `--port N` names replaced by a free one.

    A command that runs until Ctrl-C is run as written, but where it names a port (8080, 6379),
    another chat or Redis of the machine, or of a test running beside this one, may hold it. So
    each such port is replaced by a free one everywhere in the block, a `redis://...:6379/0`
    too, and the servers of one block still find each other. A chat.py given no --port is
    started with --port 0 (ChatProcess puts it first, so a --port of the command wins).
    """
    ports = {port for command in commands for port in re.findall(r"--port (\d+)", command)}
    free = {port: str(free_port()) for port in ports}
    if not free:
        return commands
    number = re.compile(r"(?<![\d.])(" + "|".join(free) + r")(?!\d)")
    return [number.sub(lambda match: free[match[1]], command) for command in commands]


def start_until_ctrl_c(command, env):
    """Start a command that runs until Ctrl-C; fail unless it starts as it should.

    chat.py or a step file must print its first line, `Chat running at ...`, with the port it
    was given, once it has taken over SIGINT (a step listens before that: a Ctrl-C as soon as
    the port answers could still end it with a traceback); any other server (redis-server)
    must come to listen on its --port.
    """
    words = shlex.split(command)
    if words[0] == "python" and (words[1] == "chat.py" or words[1].startswith("steps/")):
        try:
            chat = ChatProcess(ROOT / words[1], words[2:], env)
        except NotStarted as error:
            raise AssertionError(f"$ {command}\n{error}") from None
        wanted = re.search(r"--port (\d+)", command)
        scheme = "https" if "--certfile" in words else "http"
        if wanted and wanted[1] != "0":
            assert chat.port == int(wanted[1]), f"$ {command}\nprinted {chat.first_line!r}"
        assert chat.url.startswith(scheme + "://"), f"$ {command}\nprinted {chat.first_line!r}"
        # It answers a request, as a person's browser would before any Ctrl-C (its Host rule
        # may refuse it: an answer all the same); by then it has taken over SIGINT.
        http(
            "GET", chat.url, context=ssl._create_unverified_context() if scheme == "https" else None
        )
        return chat
    other = Started(command, env)
    port = re.search(r"--port (\d+)", command)
    deadline = time.monotonic() + 10
    while port and not other.answers(int(port[1])):
        assert time.monotonic() < deadline and other.process.poll() is None, (
            f"$ {command}\ndid not listen on port {port[1]}:\n{other.log()}"
        )
        time.sleep(0.05)
    return other


class Started:
    """A command other than chat.py, in a session of its own: Ctrl-C reaches all it started.

    It runs without a shell, which would die of the Ctrl-C itself, as a terminal's does not.
    """

    def __init__(self, command, env):
        self.output = tempfile.TemporaryFile()  # noqa: SIM115 (read by log())
        self.process = subprocess.Popen(
            shlex.split(command), cwd=ROOT, env=env, stdout=self.output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    @staticmethod
    def answers(port):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        return False

    def log(self):
        self.output.seek(0)
        return self.output.read().decode(errors="replace")

    def stop(self, sig):
        """Send `sig` to the command's whole session, as Ctrl-C would; its exit code."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        return self.process.returncode


@pytest.mark.parametrize("language, body", list(code_blocks()))
def test_code_block(language, body, start_chat, tmp_path):
    if language == "js" and body.startswith(PAGE_MARK + "\n"):
        return check_excerpt(body, ROOT / "index.html")
    if language in ILLUSTRATIONS:
        return
    if language in DEPLOYED:
        deployed = DEPLOY_MARK.match(body)
        assert deployed, f"a ```{language} block starts with `# from deploy/FILE`: an excerpt"
        return check_excerpt(body, ROOT / deployed[1])
    assert language in ("python", "console", "diff"), (
        f"a block in ```{language}: use go, python, console, html or js, nginx and ini for "
        "excerpts of deploy/, or diff for a step's changes (see lessons/README.md)"
    )
    if language == "diff":
        return check_diff(body)
    if language == "python" and STEP_MARK.match(body):
        return check_excerpt(body, ROOT / STEP_MARK.match(body)[1])
    if language == "python" and body.startswith(EXCERPT_MARK + "\n"):
        check_excerpt(body)
    elif language == "python":
        if "redis-server" in body and not shutil.which("redis-server"):
            pytest.skip("this block starts a redis-server, and none is installed here")
        run_python(body, start_chat(), tmp_path)
    else:
        run_console(body, start_chat())


def relative_links(path):
    """The link targets in a lesson's prose (code blocks and inline code left out)."""
    prose = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    for target in LINK.findall(prose):
        if not re.match(r"[a-z]+:|#", target):
            yield target.split("#")[0]


@pytest.mark.parametrize("path", lesson_files(), ids=lambda path: path.name)
def test_relative_links_lead_somewhere(path):
    broken = []
    for target in relative_links(path):
        resolved = (path.parent / target).resolve()
        in_project = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else ""
        pending = in_project in PENDING or PENDING_NOTEBOOK.fullmatch(in_project)
        if not (resolved.exists() or pending):
            broken.append(target)
    assert not broken, f"{path.name} links to files that do not exist: {broken}"
