"""Exercise 6, a reference solution: the line index.html shows for who is typing."""


def typing_line(names: list[str]) -> str:
    names = sorted(names)
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    return f"{', '.join(names[:-1])} and {names[-1]} are typing…"
