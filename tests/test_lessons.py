"""The lessons keep their word: every code block in lessons/*.md is checked as lessons/README.md says.

- ```go, ```html and ```js blocks are illustrations: only their language is checked.
- A ```python block starting with `# from chat.py` is an excerpt: its lines must be in chat.py.
- A ```nginx or ```ini block starting with `# from deploy/FILE` is an excerpt of that file.
- Any other ```python block runs in a fresh `python`, with CHAT_URL naming a running server.
- In a ```console block each `$ ` line runs, except those ending in `  # runs until Ctrl-C`.

And every relative link in a lesson leads to a file (or to an exercise or notebook on its way).
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
CHAT = ROOT / "chat.py"
RUN_TIMEOUT = 60  # seconds a runnable block or a console command may take
EXCERPT_MARK = "# from chat.py"
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
    quick = [command for command in commands if not command.endswith(LONG_RUNNING)]
    if not quick:
        pytest.skip("every command here runs until Ctrl-C")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "CHAT_URL": server.url}
    for command in quick:
        code, output = run(command, env, shell=True)
        assert code == 0, f"$ {command}\nexited with {code}:\n{output}"


@pytest.mark.parametrize("language, body", list(code_blocks()))
def test_code_block(language, body, start_chat, tmp_path):
    if language in ILLUSTRATIONS:
        return
    if language in DEPLOYED:
        deployed = DEPLOY_MARK.match(body)
        assert deployed, f"a ```{language} block starts with `# from deploy/FILE`: an excerpt"
        return check_excerpt(body, ROOT / deployed[1])
    assert language in ("python", "console"), (
        f"a block in ```{language}: use go, python, console, html or js, or nginx and ini for "
        "excerpts of deploy/ (see lessons/README.md)"
    )
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
