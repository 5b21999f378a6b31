"""The exercises keep their word: every check accepts its reference solution and rejects the stub.

For each row of the table in exercises/README.md, the check is run as the learner runs it, in a
fresh pytest: once with CHECK_SOLUTIONS=1 (it must pass), once against the untouched stub (it
must fail, saying in plain words that the exercise is not written yet).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
RUN_TIMEOUT = 180  # seconds for one check: generous, the render check starts a browser
ROW = re.compile(r"^\| *(\d+) *\|(.*)\|$", re.MULTILINE)
NOT_WRITTEN = re.compile(r"exercises/\S+: \S+ is not written yet — see the hint in its \w+")


def table_rows():
    """(step, exercise file, check command) for each row of the table in exercises/README.md."""
    text = (EXERCISES / "README.md").read_text(encoding="utf-8")
    rows = []
    for step, rest in ROW.findall(text):
        cells = [cell.strip() for cell in rest.split("|")]
        file_name = re.search(r"\[([^\]]+)\]\(", cells[1])[1]
        command = re.search(r"`(pytest [^`]+)`", cells[3])[1]
        rows.append(pytest.param(file_name, command, id=f"{step}-{file_name}"))
    return rows


ROWS = table_rows()


def run_check(command, check_solutions):
    """Run a check command from the table with this Python; (exit code, all its output)."""
    env = {key: value for key, value in os.environ.items() if key != "CHECK_SOLUTIONS"}
    if check_solutions:
        env["CHECK_SOLUTIONS"] = "1"
    arguments = command.split()[1:]  # the words after "pytest"
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", *arguments, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,  # the exit code is what the tests look at
    )
    return finished.returncode, finished.stdout + finished.stderr


def skip_if_nothing_ran(code, output):
    """A check that skipped everything (no browser here, say) proves nothing either way."""
    if code == 0 and " passed" not in output:
        pytest.skip(f"the check skipped itself: {output.strip().splitlines()[-1]}")


def test_the_table_lists_the_ten_exercises():
    steps = [row.id.split("-")[0] for row in ROWS]
    assert steps == [str(step) for step in range(1, 11)], f"exercises/README.md lists steps {steps}"


@pytest.mark.parametrize("file_name, command", ROWS)
def test_every_exercise_has_its_three_files(file_name, command):
    check = f"exercises/test_{Path(file_name).stem}.py"
    assert command == f"pytest {check}", f"the table's command for {file_name} is {command!r}"
    for path in (f"exercises/{file_name}", f"exercises/solutions/{file_name}", check):
        assert (ROOT / path).is_file(), f"{path} is missing"


@pytest.mark.parametrize("file_name, command", ROWS)
def test_the_check_accepts_the_reference_solution(file_name, command):
    code, output = run_check(command, check_solutions=True)
    skip_if_nothing_ran(code, output)
    assert code == 0, f"CHECK_SOLUTIONS=1 {command} should pass:\n{output}"


@pytest.mark.parametrize("file_name, command", ROWS)
def test_the_check_rejects_the_untouched_stub(file_name, command):
    stub = (EXERCISES / file_name).read_text(encoding="utf-8")
    if "NotImplementedError" not in stub and "not written yet" not in stub:
        pytest.skip(f"exercises/{file_name} has been worked on: it is no longer the stub")
    code, output = run_check(command, check_solutions=False)
    skip_if_nothing_ran(code, output)
    assert code == 1, f"{command} should fail against the stub (exit code 1), got {code}:\n{output}"
    said = NOT_WRITTEN.search(output)
    assert said, f"{command} should say the exercise is not written yet:\n{output}"
    assert said[0].startswith(f"exercises/{file_name}: "), f"it should name the file: {said[0]}"
    assert "Traceback" not in output and "raise NotImplementedError" not in output, (
        f"a stub should fail with the plain sentence, not a traceback:\n{output}"
    )
