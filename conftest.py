"""pytest's --chat option where the project is not installed; tests/harness/pytest_chat.py has it.

`pip install -r requirements.txt` installs that plugin, and pytest loads it first: then
`pytest --chat PATH` works with any PATH. Without it this file declares the option, and only
`--chat=PATH`, or a PATH inside this project, is understood.
"""

import importlib.util
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent / "tests" / "harness" / "pytest_chat.py"


def pytest_addoption(parser, pluginmanager):
    if pluginmanager.has_plugin("pytest_chat"):  # installed: it declared --chat already
        return
    spec = importlib.util.spec_from_file_location("pytest_chat", PLUGIN)
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    plugin.pytest_addoption(parser)
