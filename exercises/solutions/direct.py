"""Exercise 9, a reference solution: the filter in chat.py's Hub.deliver."""


def recipients(
    clients: list[tuple[str, str]], message: dict, session: str | None
) -> list[tuple[str, str]]:
    if "to" not in message:  # a chat, typing, a join or a leave: the whole room
        return list(clients)  # a new list: the caller's stays as it was
    to = message["to"]
    return [(name, of) for name, of in clients if name == to or of == session]
