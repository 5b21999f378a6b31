"""Exercise 9: which connections get this message (lessons/09-rooms.md).

Write `recipients(clients, message, session)`: the connections of one room, on one process,
that a message goes to.

- `clients`: the room's connections here, a list of `(name, session)` pairs, one per
  connection; one user's two tabs are two equal pairs (one name, one session);
- `message`: the message to deliver, a dict; a chat with a `"to"` key is a direct message;
- `session`: the session of the connection that sent it (None for a join or a leave).

A message without `"to"` goes to every connection of the room. A message with `"to"` goes only
to the connections whose name is the one in `"to"`, and to the connections of the sender's
session (so that the sender's other tabs show what was sent). Return those connections, each
once, in the order of `clients`, in a new list: the very pairs from the list (equal pairs are
kept, one per connection). Change none of the arguments.

    clients = [("alice", "s1"), ("bob", "s2"), ("alice", "s1"), ("carol", "s3")]
    recipients(clients, {"type": "chat", "value": "hi"}, "s1")
        ->  all four
    recipients(clients, {"type": "chat", "value": "psst", "to": "bob"}, "s1")
        ->  [("alice", "s1"), ("bob", "s2"), ("alice", "s1")]

Why it matters: "how do I send to one user?" and "how do I make rooms?" are the questions asked
most about the Go lesson's hub. A user is not a connection: bob may have a phone and a laptop,
so a message to bob is for all of his connections; and alice's other tab should see what she
wrote. With several processes, each one delivers to its own connections only, so the name in
`"to"` may have no connection here at all; then only the sender's own tabs here get it.
chat.py's `Hub.deliver` does exactly this.

Check your answer with:  pytest exercises/test_direct.py

Hint: one list comprehension over `clients`, with a condition: "no `to` in the message, or
this connection's name is the one in `to`, or its session is the sender's". `"to" in message`
tells whether the key is there at all.
"""


def recipients(
    clients: list[tuple[str, str]], message: dict, session: str | None
) -> list[tuple[str, str]]:
    raise NotImplementedError("Your turn: choose the connections this message goes to.")
