"""Exercise 6: the "who is typing" line (lessons/06-typing.md).

Write `typing_line(names)`: the sentence the page shows under the messages, in the element
with id `typing`, for the people typing right now.

    []                           ->  ""
    ["alice"]                    ->  "alice is typing…"
    ["bob", "alice"]             ->  "alice and bob are typing…"
    ["carol", "alice", "bob"]    ->  "alice, bob and carol are typing…"

Names come sorted, so the line does not jump around as people start and stop; the ending is
the single character "…" (U+2026), not three dots.

Why it matters: the server only relays `{"type": "typing", "from": ..., "value": true}`; the
page turns the set of typists into words. index.html does exactly this in `setTyping`.

Check your answer with:  pytest exercises/test_typing_line.py

Hint: `sorted(names)` gives a new sorted list; `", ".join(...)` glues all but the last name,
and `names[:-1]` / `names[-1]` split them.
"""


def typing_line(names: list[str]) -> str:
    raise NotImplementedError("Your turn: turn the names into the line the page shows.")
