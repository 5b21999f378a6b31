"""The notebooks run top to bottom without an error, and are stored clean.

Each notebook asserts what it demonstrates, so running it checks the chat too.
"""

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT, chat_script, free_port, post_login

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NEEDS_REDIS_SERVER = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="no redis-server here: apt-get install redis-server (or brew install redis)",
)
STEPS = {
    "01-handshake.ipynb": pytest.mark.upgrade,
    "02-broadcast.ipynb": pytest.mark.broadcast,
    "03-typing.ipynb": pytest.mark.typing,
    "04-security.ipynb": pytest.mark.security,
    "05-scale-out.ipynb": (pytest.mark.scale_out, NEEDS_REDIS_SERVER),
    "06-performance.ipynb": (),  # no lesson step: no marker
    "07-rooms.ipynb": pytest.mark.rooms,
    "08-nothing-lost.ipynb": pytest.mark.history,
}
STARTS_ITS_OWN = {"05-scale-out.ipynb"}  # its chats and its Redis: CHAT_URL plays no part


@pytest.fixture(autouse=True)
def only_with_this_projects_chat(request):
    if chat_script(request.config) != ROOT / "chat.py":
        pytest.skip("the notebooks are checked with this project's chat.py only, not with --chat")


def notebooks(names):
    """pytest parameters for these notebooks, in STEPS order, each with its marks."""
    return [pytest.param(name, marks=STEPS[name]) for name in STEPS if name in names]


def notebook_client(name):
    """An nbclient runner for one notebook, its kernel working in notebooks/."""
    return NotebookClient(
        nbformat.read(NOTEBOOKS / name, as_version=4),
        timeout=60,  # seconds per cell
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )


def kernel_env(chat_url):
    """The kernel's environment: ours, with CHAT_URL naming the chat to use."""
    return {**os.environ, "CHAT_URL": chat_url}


def printed(notebook):
    """Everything the notebook's cells printed."""
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def is_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("name", notebooks(STEPS.keys() - STARTS_ITS_OWN))
def test_the_notebook_runs_against_a_running_chat(start_chat, name):
    server = start_chat()
    client = notebook_client(name)
    client.execute(env=kernel_env(server.url))  # a failing cell raises CellExecutionError
    assert f"Using the chat at {server.url}" in printed(client.nb)
    assert server.proc.poll() is None, "the notebook stopped a chat it had not started"


@pytest.mark.parametrize("name", notebooks(STARTS_ITS_OWN))
def test_the_notebook_runs_and_stops_every_process_it_started(start_chat, name):
    bystander = start_chat()  # at CHAT_URL, where this notebook must not look
    client = notebook_client(name)
    client.reset_execution_trackers()
    with client.setup_kernel(env=kernel_env(bystander.url)):
        for index, cell in enumerate(client.nb.cells):
            client.execute_cell(cell, index)  # a failing cell raises CellExecutionError
        # Checked while the kernel still runs: its exit would stop them anyway.
        output = printed(client.nb)
        started = re.findall(r"Started (chat\.py|redis-server) \(pid (\d+)\)", output)
        assert {program for program, pid in started} == {"chat.py", "redis-server"}
        running = [f"{program} (pid {pid})" for program, pid in started if is_running(int(pid))]
        assert not running, f"still running after the last cell: {running}"
    assert "Using the chat at" not in output
    assert bystander.proc.poll() is None, "the notebook stopped a chat it had not started"


@pytest.mark.upgrade
def test_a_notebook_starts_and_stops_its_own_chat_when_none_answers():
    client = notebook_client("01-handshake.ipynb")
    client.reset_execution_trackers()
    with client.setup_kernel(env=kernel_env(f"http://127.0.0.1:{free_port()}")):
        for index, cell in enumerate(client.nb.cells):
            client.execute_cell(cell, index)
        # Checked while the kernel still runs: its exit would stop the chat anyway.
        started = re.search(r"Started chat\.py \(pid (\d+)\) at (\S+)", printed(client.nb))
        assert started, "the notebook did not start a chat of its own"
        pid, url = int(started[1]), started[2]
        assert f"Stopped the chat at {url}" in printed(client.nb)
        assert not is_running(pid), f"chat.py (pid {pid}) is still running"


def test_the_performance_notebook_measures_its_own_chat_fully():
    """With a chat of its own, 06 has the server's pid: CPU and memory are measured too."""
    client = notebook_client("06-performance.ipynb")
    client.execute(env=kernel_env(f"http://127.0.0.1:{free_port()}"))
    output = printed(client.nb)
    assert "Started chat.py" in output and "not measured" not in output
    assert re.search(r"\| 300 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 0 \|", output), output


def test_notebooks_are_stored_without_outputs():
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {path.name for path in paths} >= set(STEPS)
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == "python3", path.name
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name}: a cell holds outputs"
                assert cell.execution_count is None, f"{path.name}: a cell has a count"


@pytest.mark.typing
def test_a_notebook_says_what_to_do_when_a_page_holds_its_name(start_chat):
    """A learner who chatted as alice in the browser, then runs a notebook on the same chat."""
    from nbclient.exceptions import CellExecutionError

    server = start_chat()
    status, _ = post_login(server, {"name": "alice"})  # the page's login: another session
    assert status == 200
    client = notebook_client("03-typing.ipynb")
    with pytest.raises(CellExecutionError) as refused:
        client.execute(env=kernel_env(server.url))
    message = str(refused.value)
    assert "409" in message
    assert "Log out" in message and "30 s" in message and "CHAT_URL" in message, message


@pytest.mark.typing
def test_a_notebook_run_again_in_its_kernel_logs_in_again(start_chat):
    """Run All twice: the names its first run holds are its own, as a page reloaded finds."""
    server = start_chat()
    client = notebook_client("03-typing.ipynb")
    client.reset_execution_trackers()
    with client.setup_kernel(env=kernel_env(server.url)):
        for _ in range(2):
            for index, cell in enumerate(client.nb.cells):
                client.execute_cell(cell, index)  # a failing cell raises CellExecutionError
