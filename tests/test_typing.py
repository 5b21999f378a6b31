"""Lesson step 6, typing: who hears that someone is typing, and when it ends."""

import pytest

pytestmark = pytest.mark.typing


def test_typing_goes_to_every_connection_but_the_sending_one(connect):
    alice_tab1, alice_tab2, bob = connect("alice"), connect("alice"), connect("bob")
    alice_tab1.send({"type": "typing", "value": True})
    expected = {"type": "typing", "from": "alice", "value": True}
    assert bob.recv_type("typing") == expected
    assert alice_tab2.recv_type("typing") == expected
    alice_tab1.nothing_within(0.3, ignore=("join",))


def test_typing_false_is_passed_on_too(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.send({"type": "typing", "value": True})
    alice.send({"type": "typing", "value": False})
    assert bob.recv_type("typing")["value"] is True
    assert bob.recv_type("typing")["value"] is False


def test_typing_then_chat_arrive_in_order(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.send({"type": "typing", "value": True})
    alice.send({"type": "chat", "value": "done typing"})
    assert bob.recv_type("typing")["value"] is True
    assert bob.recv()["type"] == "chat"


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_typing_needs_true_or_false(connect, value):
    alice, bob = connect("alice"), connect("bob")
    alice.recv_type("join")
    alice.send({"type": "typing", "value": value})
    error = alice.recv()
    assert error["type"] == "error" and "true or false" in error["value"]
    bob.nothing_within(0.3)


def test_a_user_who_leaves_while_typing_leaves(connect):
    alice, bob = connect("alice"), connect("bob")
    bob.send({"type": "typing", "value": True})
    assert alice.recv_type("typing")["value"] is True
    bob.close()
    assert alice.recv() == {"type": "leave", "from": "bob"}


def test_closing_one_of_two_tabs_while_typing_ends_typing(connect):
    alice, bob_tab1 = connect("alice"), connect("bob")
    connect("bob")  # a second tab keeps bob online
    bob_tab1.send({"type": "typing", "value": True})
    assert alice.recv_type("typing")["value"] is True
    bob_tab1.close()
    assert alice.recv_type("typing") == {"type": "typing", "from": "bob", "value": False}
