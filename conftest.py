"""pytest's command-line option, here at the top so that `pytest --chat FILE` is always understood."""


def pytest_addoption(parser):
    parser.addoption(
        "--chat",
        default="chat.py",
        help="the chat server to test, e.g. --chat my_chat.py (default: this project's chat.py)",
    )
