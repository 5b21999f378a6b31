"""Exercise 2, a reference solution: chat.py's Origin rule for the WebSocket handshake."""

import urllib.parse


def origin_allowed(origin: str | None, host: str, allowed: list[str]) -> bool:
    if origin is None:  # no Origin header: not a browser
        return True
    if origin in allowed:  # --allow-origin, compared exactly
        return True
    try:
        origin_host = urllib.parse.urlsplit(origin).netloc
    except ValueError:  # not a URL at all
        return False
    return origin_host.lower() == host.lower()  # a page this server sent
