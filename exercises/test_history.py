"""Check for exercise 10:  pytest exercises/test_history.py"""

import json

import pytest


@pytest.fixture
def History(exercise):  # named as the class it stands for
    return exercise("history", "History")


def chat(text, **fields):
    return {"type": "chat", "from": "alice", "value": text, "ts": 0, **fields}


def fill(history, count, start=1, now=0.0):
    """Add `count` chats to the room from alice's session; the dicts, with their ids."""
    chats = [chat(f"chat {n}") for n in range(start, start + count)]
    for message in chats:
        history.add(message, None, "s-alice", now)
    return chats


def values(texts):
    """The "value" of each kept JSON text."""
    return [json.loads(text)["value"] for text in texts]


def test_ids_count_up_by_one_from_1(History):
    history = History(keep=10, epoch="e1")
    chats = fill(history, 3)
    ids = [message.get("id") for message in chats]
    assert ids == [1, 2, 3], f'add() gives each chat chat["id"], 1, 2, 3...; they got {ids}'


def test_the_history_keeps_each_chat_as_its_json_text_with_its_id(History):
    history = History(keep=10, epoch="e1")
    chats = fill(history, 2)
    epoch, texts, _ = history.resume(None, None, "s-bob")
    assert epoch == "e1", f"resume() answers the history's epoch first; it gave {epoch!r}"
    assert all(isinstance(text, str) for text in texts), (
        f"resume() hands back the chats as the JSON texts that were kept; got {texts!r}"
    )
    assert [json.loads(text) for text in texts] == chats, (
        "each kept text is the chat as it was sent, its id included"
    )


def test_a_first_visit_gets_everything_kept_and_recovered_while_nothing_is_gone(History):
    history = History(keep=10, epoch="e1")
    assert history.resume(None, None, "s-bob") == ("e1", [], True), "an empty room"
    fill(history, 3)
    _, texts, recovered = history.resume(None, None, "s-bob")
    assert values(texts) == ["chat 1", "chat 2", "chat 3"], "oldest first, every kept chat"
    assert recovered is True, "nothing is missing yet: recovered must be True"


def test_a_resume_gets_only_the_chats_after_since(History):
    history = History(keep=10, epoch="e1")
    fill(history, 5)
    _, texts, recovered = history.resume(3, "e1", "s-bob")
    assert values(texts) == ["chat 4", "chat 5"], (
        f"since=3: the chats with ids 4 and 5; got {texts}"
    )
    assert recovered is True


def test_a_since_at_or_above_the_last_id_gets_nothing_and_is_recovered(History):
    history = History(keep=10, epoch="e1")
    fill(history, 3)
    for since in (3, 4, 1000):
        got = history.resume(since, "e1", "s-bob")
        assert got == ("e1", [], True), f"since={since}: nothing missed; got {got}"


def test_only_the_newest_keep_chats_are_kept(History):
    history = History(keep=3, epoch="e1")
    fill(history, 5)
    _, texts, _ = history.resume(None, None, "s-bob")
    assert values(texts) == ["chat 3", "chat 4", "chat 5"], f"keep=3 keeps the last 3; got {texts}"


def test_recovered_is_false_when_a_chat_after_since_is_no_longer_kept(History):
    history = History(keep=3, epoch="e1")
    fill(history, 5)  # 1 and 2 are gone
    for since, recovered in [(None, False), (0, False), (1, False), (2, True), (3, True)]:
        epoch = None if since is None else "e1"
        got = history.resume(since, epoch, "s-bob")[2]
        assert got is recovered, (
            f"chats 1 and 2 are no longer kept: since={since} must give recovered={recovered}, "
            f"not {got}"
        )
    assert values(history.resume(1, "e1", "s-bob")[1]) == ["chat 3", "chat 4", "chat 5"], (
        "a resume that is not recovered still gets what is kept"
    )


def test_a_resume_from_another_epoch_gets_everything_kept_and_is_not_recovered(History):
    history = History(keep=10, epoch="e2")
    fill(history, 3)
    for since in (0, 2, 3, 50):
        epoch, texts, recovered = history.resume(since, "e1", "s-bob")
        assert (epoch, values(texts), recovered) == ("e2", ["chat 1", "chat 2", "chat 3"], False), (
            f"ids from epoch e1 mean nothing in e2 (since={since}): everything kept, "
            "recovered False, and the epoch to use from now on"
        )


def test_a_direct_message_is_only_for_its_two_sessions(History):
    history = History(keep=10, epoch="e1")
    fill(history, 1)
    history.add(chat("psst", to="bob"), frozenset({"s-alice", "s-bob"}), "s-alice", 0.0)
    fill(history, 1, start=3)
    for session, expected in [
        ("s-alice", ["chat 1", "psst", "chat 3"]),
        ("s-bob", ["chat 1", "psst", "chat 3"]),
        ("s-carol", ["chat 1", "chat 3"]),
    ]:
        got = values(history.resume(None, None, session)[1])
        assert got == expected, f"{session} may see {expected}; got {got}"


def test_a_direct_message_no_longer_kept_matters_only_to_its_two_sessions(History):
    history = History(keep=2, epoch="e1")
    history.add(chat("psst", to="bob"), frozenset({"s-alice", "s-bob"}), "s-alice", 0.0)
    fill(history, 2, start=2)  # the direct message, id 1, is no longer kept
    assert history.resume(0, "e1", "s-carol")[2] is True, (
        "carol could never see the direct message: nothing she may see is missing"
    )
    assert history.resume(0, "e1", "s-bob")[2] is False, (
        "bob could see the direct message, and it is gone: recovered must be False for him"
    )


def test_keep_0_keeps_nothing_but_ids_still_count(History):
    history = History(keep=0, epoch="e1")
    chats = fill(history, 2)
    assert [message["id"] for message in chats] == [1, 2]
    assert history.resume(None, None, "s-bob") == ("e1", [], False), (
        "keep=0: nothing kept, and a chat was said: recovered False"
    )


def test_sent_before_names_the_chat_a_session_sent_with_a_cid(History):
    history = History(keep=10, epoch="e1")
    fill(history, 1)
    history.add(chat("lunch?", cid="c-1"), None, "s-alice", 100.0)
    assert history.sent_before("s-alice", "c-1", 101.0) == 2, (
        "alice's session sent cid c-1 as chat 2: sent_before must answer 2"
    )
    assert history.sent_before("s-bob", "c-1", 101.0) is None, (
        "the same cid from another session is another chat"
    )
    assert history.sent_before("s-alice", "c-2", 101.0) is None, "a cid never sent"
    assert history.sent_before("s-alice", None, 101.0) is None, "a chat without a cid"


def test_a_cid_is_remembered_for_ten_minutes_whatever_is_kept(History):
    history = History(keep=1, epoch="e1")
    history.add(chat("lunch?", cid="c-1"), None, "s-alice", 0.0)
    fill(history, 3, start=2, now=300.0)  # chat 1 is no longer kept
    assert history.sent_before("s-alice", "c-1", 600.0) == 1, (
        "a cid is remembered for 600 s, even once its chat is no longer kept"
    )
    assert history.sent_before("s-alice", "c-1", 600.5) is None, (
        "600.5 s after it was sent, the cid is forgotten: the same cid is a new chat"
    )
