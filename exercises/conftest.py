"""What every check in this folder shares: which file it checks, and plain words for a stub.

`pytest exercises/test_origin.py` checks your exercises/origin.py;
`CHECK_SOLUTIONS=1 pytest exercises/test_origin.py` checks exercises/solutions/origin.py instead.
"""

import importlib.util
import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def exercise_path(file_name):
    """The learner's file, or the reference solution when CHECK_SOLUTIONS=1."""
    folder = HERE / "solutions" if os.environ.get("CHECK_SOLUTIONS") == "1" else HERE
    return folder / file_name


def shown(path):
    """A path as the learner types it: exercises/origin.py."""
    return path.relative_to(ROOT).as_posix()


@pytest.fixture(scope="module")
def exercise_file():
    """exercise_file("render.js"): the path of that file, the learner's or the solution."""
    return exercise_path


@pytest.fixture(scope="module")
def exercise():
    """exercise("origin", "origin_allowed"): that name from exercises/origin.py, or the solution."""

    def load(module_name, attribute):
        path = exercise_path(f"{module_name}.py")
        spec = importlib.util.spec_from_file_location(f"exercise_{module_name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, attribute):
            pytest.fail(
                f"{shown(path)} has no {attribute}: keep the name the stub gives it", pytrace=False
            )
        return getattr(module, attribute)

    return load


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A stub that still raises NotImplementedError fails with one plain sentence, no traceback."""
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        report.longrepr = not_written_yet(call.excinfo.tb)
    return report


def not_written_yet(traceback):
    """Name the file and the function where the NotImplementedError was raised."""
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    code = traceback.tb_frame.f_code
    path = Path(code.co_filename)
    where = shown(path) if path.is_relative_to(ROOT) else path.name
    return f"{where}: {code.co_qualname} is not written yet — see the hint in its docstring"
