"""Exercise 8, a reference solution: chat.py's set_roster, without Redis and without changes."""


def announcements(
    local_names: set[str], rosters: dict[str, set[str]], process: str, new_roster: set[str]
) -> list[dict]:
    def is_online(name, rosters):
        return name in local_names or any(name in names for names in rosters.values())

    after = {**rosters, process: new_roster}  # a new dict: the caller's stays as it was
    changed = rosters.get(process, set()) ^ new_roster  # only these names can come or go
    messages = []
    for name in sorted(changed):
        if is_online(name, rosters) != is_online(name, after):
            kind = "join" if is_online(name, after) else "leave"
            messages.append({"type": kind, "from": name})
    return messages
