"""Exercise 2, a reference solution: chat.py's Origin rule for the WebSocket handshake."""

import urllib.parse

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_allowed(origin: str | None, host: str, allowed: list[str]) -> bool:
    if origin is None:  # no Origin header: not a browser
        return True
    if origin in allowed:  # --allow-origin, compared exactly
        return True
    try:
        page = urllib.parse.urlsplit(origin)
        server = urllib.parse.urlsplit("//" + host)  # the Host header has no scheme
        default = DEFAULT_PORTS.get(page.scheme)
        same_port = (page.port or default) == (server.port or default)
    except ValueError:  # not a URL at all, or a port that is no number
        return False
    return page.hostname == server.hostname and same_port  # a page this server sent
