"""Exercise 8: who joins and who leaves when the room spans processes (lessons/08-scale-out.md).

Write `announcements(local_names, rosters, process, new_roster)`: the messages one chat.py
process tells its own clients in a room when it learns that another process's names in that
room have changed. (Each room has its own hub, with its own names and rosters: all of the
arguments are about one room.)

- `local_names`: the names connected to this process in the room (a set);
- `rosters`: for each other process, the names connected to it in the room (a dict: process
  id -> set);
- `process`, `new_roster`: the names connected to `process` are now `new_roster` instead of
  `rosters[process]`. A process missing from `rosters` had no names so far.

A name is online when it is connected somewhere: in `local_names` or in any of the rosters.
Return `{"type": "join", "from": name}` for each name that was offline and is now online, and
`{"type": "leave", "from": name}` for each name that was online and is now offline: one message
per name whose state really changed, in a list sorted by name; an empty list when there is none.
Change none of the arguments: the caller stores the new roster itself, once you have answered.

    announcements({"alice"}, {"p2": {"bob"}}, "p2", {"bob", "carol"})
        ->  [{"type": "join", "from": "carol"}]
    announcements({"alice"}, {"p2": {"alice", "bob"}}, "p2", set())
        ->  [{"type": "leave", "from": "bob"}]        (alice is still connected here)

Why it matters: with `--redis`, each process only hears about the others ("bob joined p2" on
the room's channel, "p2's names in this room are now ..." from p2's presence key, or silence
once p2 has died and its presence key expires), and each one works out for itself what the
whole room should see. A process that dies takes its users
with it: they leave all at once, except those still connected to another process. Someone with
tabs open on two processes joins once, with the first tab, and leaves once, with the last.
chat.py's `RedisHub.set_roster` does exactly this.

Check your answer with:  pytest exercises/test_presence.py

Hint: write a small `is_online(name, rosters)`. Only the names in one of the old and new
rosters but not the other can change (`old ^ new_roster`); for each, ask whether it is online
with `rosters`, then with `{**rosters, process: new_roster}`, a new dict with that one entry
replaced. `rosters.get(process, set())` is the old roster, or an empty set for a new process.
"""


def announcements(
    local_names: set[str], rosters: dict[str, set[str]], process: str, new_roster: set[str]
) -> list[dict]:
    raise NotImplementedError("Your turn: compare who is online before and after the change.")
