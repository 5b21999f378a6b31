"""Exercise 2: which pages may open a socket (lessons/02-upgrade.md).

Write `origin_allowed(origin, host, allowed)`, the rule chat.py applies to every handshake:

- `origin` is None (no Origin header: a script, not a browser): allowed;
- the Origin's host and port equal `host`, the request's Host header (the page came from this
  very server): allowed; host names are compared without regard to case, and a port left out
  is the default port of the Origin's scheme (80 for http, 443 for https), on either side:
  `https://chat.example` matches Host `chat.example:443`, `https://chat.example:443` matches
  `chat.example`;
- `origin` is exactly one of the `allowed` origins (chat.py's --allow-origin): allowed;
- anything else is refused, including the string "null" that sandboxed pages and local files send.

Why it matters: a browser attaches its cookies and credentials to a WebSocket handshake whatever
page starts it. Without this check, any web site a user visits could open the chat in that
user's name and read along (cross-site WebSocket hijacking). chat.py answers 403 instead.

    origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080", [])     -> True
    origin_allowed("https://evil.example", "127.0.0.1:8080", [])      -> False

Check your answer with:  pytest exercises/test_origin.py

Hint: `urllib.parse.urlsplit(origin)` takes an origin apart: `.scheme`, `.hostname` (in lower
case) and `.port` (None when there is none). The Host header has no scheme, so split it as
`urllib.parse.urlsplit("//" + host)`. Then compare the parts with `==`; `startswith` or `in` on
strings lets look-alike origins through. `.port` raises ValueError for a port that is not a
number: such an Origin is refused.
"""


def origin_allowed(origin: str | None, host: str, allowed: list[str]) -> bool:
    raise NotImplementedError("Your turn: decide here whether this Origin may open a socket.")
