"""The pytest plugin behind `pytest --chat PATH`: which chat server the tests start.

pytest decides where the project is (its rootdir and pyproject.toml) before it loads any
conftest.py, from the first argument that names an existing file. In `pytest --chat ../my_chat.py`
that is the learner's file, so a file outside this project took pytest outside it too, and
`--chat` was an "unrecognized argument". Only a plugin of an installed package is loaded before
the command line is read: `pip install -r requirements.txt` installs this one (pyproject.toml
names it), and it

- declares --chat, so that the option is understood wherever PATH is, and
- runs the same command again with `--chat=PATH`, which pytest never takes for a path, where
  `--chat` and PATH were two arguments: then pytest finds this project, whatever PATH is;
- and adds this project's tests/ where `--chat` is given without a test path, from any folder but
  the project's own: `pytest --chat my_chat.py` in the learner's own folder found no tests there.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]  # tests/, where this file is tests/harness/


def pytest_addoption(parser):
    parser.addoption(
        "--chat",
        default="chat.py",
        help="the chat server to test, e.g. --chat my_chat.py (default: this project's chat.py)",
    )


def joined(args):
    """args with each `--chat PATH` written `--chat=PATH`; None where there is no such pair."""
    result, rest = [], list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":  # the end of the options: what follows is left as it is
            result += [arg, *rest]
            break
        if arg == "--chat" and rest:
            arg = f"--chat={rest.pop(0)}"
        result.append(arg)
    return result if result != list(args) else None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config):
    """Before output is captured and any conftest.py: run again with `--chat=PATH` (and tests/)."""
    args = list(early_config.invocation_params.args)
    again = joined(args) or list(args)
    if needs_the_tests(early_config, again):
        again.append(str(TESTS))
    if again != args and args == sys.argv[1:]:  # a command line, not pytest.main() in a test
        command = [sys.executable, "-m", "pytest", *again]
        if os.name == "posix":
            os.execv(sys.executable, command)  # the same process: same pid, terminal, exit code
        raise SystemExit(subprocess.call(command))
    return (yield)


def needs_the_tests(early_config, args):
    """Whether `--chat` came without a test path, from a folder other than the project's."""
    chat_given = any(arg.startswith("--chat=") for arg in args)
    ran_in = early_config.invocation_params.dir
    return (
        chat_given
        and not early_config.known_args_namespace.file_or_dir
        and ran_in.resolve() != TESTS.parent
        and (TESTS / "conftest.py").is_file()  # this plugin runs from the project, not a copy
    )
