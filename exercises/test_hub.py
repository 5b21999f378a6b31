"""Check for exercise 4:  pytest exercises/test_hub.py

The clients here are plain objects that note what they were given: the hub only ever calls
their `queue` method, so that is all they need.
"""

import pytest


class FakeClient:
    """A client whose queue holds `room` messages; queue() answers False once it is full."""

    def __init__(self, name, room=256):
        self.name = name
        self.room = room
        self.received = []

    def queue(self, message):
        if len(self.received) >= self.room:
            return False
        self.received.append(message)
        return True

    def __repr__(self):
        return self.name


@pytest.fixture
def hub(exercise):
    return exercise("hub", "Hub")()


def joined(hub, *clients):
    for client in clients:
        hub.register(client)
    return clients


def broadcast(hub, message):
    """hub.broadcast(message), with plain words for the usual mistake of dropping too early."""
    try:
        hub.broadcast(message)
    except RuntimeError as error:
        pytest.fail(
            f"broadcast raised {error!r}: collect the slow clients in a list while looping, "
            "then unregister them after the loop",
            pytrace=False,
        )


def unregister(hub, client):
    """hub.unregister(client), with plain words for a client the hub does not have."""
    try:
        hub.unregister(client)
    except (KeyError, ValueError) as error:
        pytest.fail(
            f"unregister({client}) raised {error!r}: unregistering a client the hub does not "
            "have should do nothing (set.discard does that)",
            pytrace=False,
        )


def test_everyone_gets_a_broadcast_in_order(hub):
    alice, bob, carol = joined(hub, FakeClient("alice"), FakeClient("bob"), FakeClient("carol"))
    hub.broadcast("first")
    hub.broadcast("second")
    for client in (alice, bob, carol):
        assert client.received == ["first", "second"], (
            f"{client} should get every broadcast once, in order; got {client.received}"
        )


def test_broadcast_hands_over_the_message_itself(hub):
    (alice,) = joined(hub, FakeClient("alice"))
    message = {"type": "chat", "from": "bob", "value": "hi"}
    hub.broadcast(message)
    assert alice.received == [message], "call client.queue(message) with the message as given"


def test_broadcast_returns_nothing(hub):
    joined(hub, FakeClient("alice"))
    assert hub.broadcast("hi") is None, "broadcast returns nothing (None): it only hands out"


def test_skip_leaves_one_client_out(hub):
    alice, bob = joined(hub, FakeClient("alice"), FakeClient("bob"))
    hub.broadcast({"type": "typing", "from": "alice", "value": True}, skip=alice)
    assert alice.received == [], "the skipped client (the one typing) should get nothing"
    assert len(bob.received) == 1, "everyone but the skipped client should get the message"


def test_an_unregistered_client_gets_nothing_more(hub):
    alice, bob = joined(hub, FakeClient("alice"), FakeClient("bob"))
    hub.broadcast("before")
    hub.unregister(bob)
    hub.broadcast("after")
    assert bob.received == ["before"], f"bob left before 'after', yet got {bob.received}"
    assert alice.received == ["before", "after"], "alice stayed and should get both messages"


def test_unregistering_twice_or_a_stranger_does_nothing(hub):
    alice, bob = joined(hub, FakeClient("alice"), FakeClient("bob"))
    unregister(hub, bob)
    unregister(hub, bob)  # a dropped client unregisters again when its connection closes
    unregister(hub, FakeClient("stranger"))  # never registered
    hub.broadcast("still here")
    assert alice.received == ["still here"], "the hub should carry on for the clients it has"


def test_a_client_with_a_full_queue_is_dropped(hub):
    alice, slow = joined(hub, FakeClient("alice"), FakeClient("slow", room=1))
    broadcast(hub, "one")  # fills slow's queue
    broadcast(hub, "two")  # no room: slow is dropped
    broadcast(hub, "three")
    assert alice.received == ["one", "two", "three"], "a slow client must not cost alice anything"
    assert slow.received == ["one"], "the slow client got what fitted, then nothing more"
    slow.room = 100  # even if it catches up later, it is gone: it has missed a message
    hub.broadcast("four")
    assert slow.received == ["one"], (
        "a client whose queue was full must be unregistered at once, not just skipped once"
    )


def test_many_slow_clients_are_dropped_in_one_broadcast(hub):
    slow = [FakeClient(f"slow{i}", room=0) for i in range(20)]
    fast = [FakeClient(f"fast{i}") for i in range(20)]
    joined(hub, *slow, *fast)
    broadcast(hub, "hi")
    for client in slow:
        client.room = 100
    hub.broadcast("again")
    assert all(c.received == [] for c in slow), "every client with a full queue should be dropped"
    assert all(c.received == ["hi", "again"] for c in fast), (
        "every client with room should get both messages, however many slow ones were dropped"
    )


def test_a_dropped_client_can_come_back(hub):
    (client,) = joined(hub, FakeClient("alice", room=0))
    broadcast(hub, "lost")
    client.room = 100
    hub.register(client)  # a reconnection
    hub.broadcast("welcome back")
    assert client.received == ["welcome back"], "a client registered again gets broadcasts again"
