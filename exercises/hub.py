"""Exercise 4: the hub, and what it does with a slow client (lessons/04-hub.md).

Write `class Hub` with three methods:

- `register(client)`: from now on, the client gets every broadcast;
- `unregister(client)`: it gets nothing more; unregistering a client that is not (or no
  longer) registered does nothing, since a dropped client unregisters again when it closes;
- `broadcast(message, skip=None)`: hand `message` to every registered client but `skip`,
  by calling `client.queue(message)`. That returns False when the client's queue is full:
  such a client is too slow to keep up, so the hub unregisters it on the spot.
  `broadcast` returns nothing.

A client is any object with a `queue(message) -> bool` method; in chat.py it is the
connection, whose `queue` returns False once 256 frames wait for a peer that stopped reading.

Why it matters: one person on a bad network must not slow the chat down for everyone. The
hub never waits for a client: a client that cannot take the next message is dropped, and the
others carry on.

Check your answer with:  pytest exercises/test_hub.py

Hint: keep the clients in a `set`. Do not remove clients from the set while a `for` loop is
walking over it (Python raises "Set changed size during iteration"): first collect the slow
ones in a list, then unregister them. `set.discard` removes without complaining about a
missing member.
"""


class Hub:
    def __init__(self):
        self.clients = set()

    def register(self, client):
        raise NotImplementedError("Your turn: remember this client.")

    def unregister(self, client):
        raise NotImplementedError("Your turn: forget this client, if the hub knows it.")

    def broadcast(self, message, skip=None):
        raise NotImplementedError("Your turn: queue the message for everyone; drop the slow.")
