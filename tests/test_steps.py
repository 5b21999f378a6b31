"""The step files: each server of steps/ passes the checks of its lesson step and of every
earlier one, and fails the next step's with sentences that name the lesson it needs.

This is what a learner does with their own server, `pytest --chat FILE -m STEP`, done with the
project's own step files. The runs start at once, two at a time, each a pytest of its own.
"""

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_harness import INNER

from conftest import ROOT

pytestmark = pytest.mark.skipif(INNER in os.environ, reason="a run that test_steps.py started")

STEPS = [  # (the step's file, its marker, what the next step's checks say it lacks)
    ("02_upgrade.py", "upgrade", "lesson 3 (lessons/03-client.md) adds --ping-period"),
    ("03_client.py", "client", "should be a JSON welcome"),
    ("04_hub.py", "broadcast", "GET / should answer 200 with the chat page"),
    ("05_page.py", "page", "lesson 6 (lessons/06-typing.md) adds it"),
    ("06_typing.py", "typing", "lesson 7 (lessons/07-security.md)"),
    ("07_security.py", "security", "lesson 8 (lessons/08-scale-out.md)"),
    ("08_scale_out.py", "scale_out", "lesson 9 (lessons/09-rooms.md)"),
    ("09_rooms.py", "rooms", "lesson 10 (lessons/10-nothing-lost.md)"),
    ("10_nothing_lost.py", "history", "lesson 11 (lessons/11-going-live.md)"),
]
MARKERS = [marker for _, marker, _ in STEPS] + ["going_live"]  # in the lessons' order


def pytest_run(file, markers):
    """`pytest --chat steps/FILE -m "A or B ..."`, as a learner runs it: (exit code, output)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env[INNER] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "--chat", f"steps/{file}", "-m", " or ".join(markers)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=2400, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def runs():
    """{(file, "own" | "next"): (exit code, output)}, for every step file."""
    jobs = {}
    for index, (file, _, _) in enumerate(STEPS):
        jobs[file, "own"] = MARKERS[: index + 1]
        jobs[file, "next"] = [MARKERS[index + 1]]
    longest_first = sorted(jobs.items(), key=lambda job: -len(job[1]))
    with ThreadPoolExecutor(2) as pool:  # two cores: two runs at a time
        futures = {key: pool.submit(pytest_run, key[0], markers) for key, markers in longest_first}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("file", [file for file, _, _ in STEPS])
def test_a_step_file_passes_its_step_and_every_earlier_one(runs, file):
    code, output = runs[file, "own"]
    assert code == 0, f"steps/{file} against its own and the earlier steps' checks:\n{output}"
    assert re.search(r"\d+ passed", output) and "failed" not in output, output


@pytest.mark.parametrize(("file", "lacks"), [(file, lacks) for file, _, lacks in STEPS])
def test_a_step_file_fails_the_next_step_saying_what_it_lacks(runs, file, lacks):
    code, output = runs[file, "next"]
    assert code == 1, f"steps/{file} should fail the next step's checks:\n{output}"
    assert lacks in output, f"{lacks!r} is not in what the next step's checks said:\n{output}"
    for noise in ("arguments: --chat", "AttributeError"):
        assert noise not in output, f"{noise!r} in pytest's output:\n{output}"
