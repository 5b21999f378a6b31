"""Check for exercise 9:  pytest exercises/test_direct.py

Sessions are named s1, s2, ... here; in chat.py they are random, one per login, in the token.
"""

import copy

import pytest

ALICE, ALICE_PHONE = ("alice", "s1"), ("alice", "s1")  # one user, two connections
BOB, BOB_LAPTOP = ("bob", "s2"), ("bob", "s2")
CAROL = ("carol", "s3")
ROOM = [ALICE, BOB, ALICE_PHONE, CAROL, BOB_LAPTOP]


@pytest.fixture
def recipients(exercise):
    return exercise("direct", "recipients")


def chat(value="hi", **fields):
    return {"type": "chat", "from": "alice", "value": value, "ts": 0, **fields}


def ask(recipients, clients, message, session):
    """recipients(...), with plain words for a result that is not a list of pairs."""
    got = recipients(clients, message, session)
    if not isinstance(got, list) or not all(isinstance(c, tuple) and len(c) == 2 for c in got):
        pytest.fail(
            f'return a list of (name, session) pairs from `clients`, like [("bob", "s2")]; '
            f"got {got!r}",
            pytrace=False,
        )
    return got


def test_a_chat_without_to_goes_to_the_whole_room(recipients):
    got = ask(recipients, ROOM, chat(), "s1")
    assert got == ROOM, f"a chat without 'to' is for every connection in the room; got {got}"


def test_a_join_goes_to_the_whole_room(recipients):
    got = ask(recipients, ROOM, {"type": "join", "from": "dave"}, None)
    assert got == ROOM, f"a join (no sender's session) is for everyone; got {got}"


def test_a_direct_message_goes_to_both_sides(recipients):
    got = ask(recipients, ROOM, chat("psst", to="bob"), "s1")
    assert CAROL not in got, "carol is neither the sender nor bob: she must not get it"
    assert got == [ALICE, BOB, ALICE_PHONE, BOB_LAPTOP], (
        "a direct message to bob goes to every connection of bob (his laptop too) and of the "
        f"sender's session (alice's phone too), in the order of `clients`; got {got}"
    )


def test_each_connection_once(recipients):
    got = ask(recipients, ROOM, chat("note to self", to="alice"), "s1")
    assert got == [ALICE, ALICE_PHONE], (
        "to oneself: one's own connections, each once, although each matches twice "
        f"(by name and by session); got {got}"
    )


def test_the_recipient_may_have_no_connection_here(recipients):
    got = ask(recipients, ROOM, chat("are you there?", to="erin"), "s3")
    assert got == [CAROL], (
        "erin may be connected to another process: here only the sender's own connections "
        f"get it; got {got}"
    )


def test_none_when_neither_side_is_here(recipients):
    got = ask(recipients, [CAROL], chat("psst", to="bob"), "s1")
    assert got == [], f"neither bob nor alice's session is here: nobody; got {got}"


def test_to_is_a_name_not_a_session(recipients):
    got = ask(recipients, ROOM, chat("psst", to="s2"), "s3")
    assert got == [CAROL], f"'to' names a user by name, not by session; got {got}"


def test_the_arguments_stay_as_they_were(recipients):
    clients, message = list(ROOM), chat("psst", to="bob")
    before = copy.deepcopy((clients, message))
    ask(recipients, clients, message, "s1")
    ask(recipients, clients, chat(), "s1")
    assert (clients, message) == before, "recipients must not change clients or the message"


def test_the_whole_room_is_a_new_list(recipients):
    clients = list(ROOM)
    got = ask(recipients, clients, chat(), "s1")
    assert got is not clients, (
        "return a new list: the caller may go on changing its own (a client leaves)"
    )
