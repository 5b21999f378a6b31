"""Check for exercise 8:  pytest exercises/test_presence.py

Processes are named p2, p3, ... here; "this process", the one whose clients hear the messages,
has the names in `local`. In chat.py the ids are random, and the rosters come from Redis.
"""

import copy

import pytest


@pytest.fixture
def announcements(exercise):
    return exercise("presence", "announcements")


def join(name):
    return {"type": "join", "from": name}


def leave(name):
    return {"type": "leave", "from": name}


def words(messages):
    """[join("carol"), leave("bob")] as: carol joins, bob leaves."""
    if not messages:
        return "nothing"
    return ", ".join(word(message) for message in messages)


def word(message):
    if message in (join(message.get("from")), leave(message.get("from"))):
        return f"{message['from']} {message['type']}s"
    return repr(message)  # not a message the page understands: show it as it is


def ask(announcements, local, rosters, process, new_roster):
    """announcements(...), with plain words for an unknown process or a result that is no list."""
    try:
        messages = announcements(local, rosters, process, new_roster)
    except KeyError as error:
        pytest.fail(
            f"announcements raised KeyError {error}: a process missing from rosters had no names "
            "so far (rosters.get(process, set()) gives an empty set for it)",
            pytrace=False,
        )
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        pytest.fail(
            f'return a list of dicts like {{"type": "join", "from": "carol"}}; got {messages!r}',
            pytrace=False,
        )
    return messages


def check(announcements, situation, local, rosters, process, new_roster, expected):
    messages = ask(announcements, local, rosters, process, new_roster)
    if messages != expected and sorted(messages, key=lambda m: str(m.get("from"))) == expected:
        pytest.fail(
            f"{situation}: the messages are right but not in order; sort them by name, "
            f"joins and leaves together: {words(expected)}; yours: {words(messages)}",
            pytrace=False,
        )
    assert messages == expected, (
        f"{situation}: your clients should hear {words(expected)}; yours: {words(messages)}"
    )


def test_a_new_name_on_another_process_joins(announcements):
    check(
        announcements,
        "carol connects to p2 and to no other process",
        {"alice"},
        {"p2": {"bob"}},
        "p2",
        {"bob", "carol"},
        [join("carol")],
    )


def test_the_names_of_a_process_heard_of_for_the_first_time_join(announcements):
    check(
        announcements,
        "p3 starts, and bob and carol connect to it",
        {"alice"},
        {"p2": {"dave"}},
        "p3",
        {"carol", "bob"},
        [join("bob"), join("carol")],
    )


def test_a_name_connected_here_does_not_join(announcements):
    check(
        announcements,
        "alice, connected to this process, opens a second tab on p2 (she is online already)",
        {"alice"},
        {"p2": {"bob"}},
        "p2",
        {"alice", "bob"},
        [],
    )


def test_a_name_on_a_third_process_does_not_join(announcements):
    check(
        announcements,
        "bob, connected to p2, opens a second tab on p3 (he is online already)",
        set(),
        {"p2": {"bob"}, "p3": set()},
        "p3",
        {"bob"},
        [],
    )


def test_a_name_leaves_with_its_last_connection(announcements):
    check(
        announcements,
        "bob closes his only tab, on p2",
        {"alice"},
        {"p2": {"bob", "carol"}},
        "p2",
        {"carol"},
        [leave("bob")],
    )


def test_a_process_that_dies_takes_its_users_with_it(announcements):
    check(
        announcements,
        "p2 dies with alice, bob, carol and dave; bob is also connected here, carol to p3",
        {"bob"},
        {"p2": {"alice", "bob", "carol", "dave"}, "p3": {"carol"}},
        "p2",
        set(),
        [leave("alice"), leave("dave")],
    )


def test_two_tabs_on_two_processes_join_once_and_leave_once(announcements):
    local, rosters = {"bob"}, {}
    story = [  # process, its new roster, what the room should hear, what happened
        ("p2", {"alice"}, [join("alice")], "alice opens a tab on p2"),
        ("p3", {"alice"}, [], "then a second tab on p3"),
        ("p2", set(), [], "then closes the one on p2, while still connected to p3"),
        ("p3", set(), [leave("alice")], "then p3 dies with her last tab"),
    ]
    for process, new_roster, expected, situation in story:
        check(announcements, situation, local, rosters, process, new_roster, expected)
        rosters[process] = new_roster  # as chat.py does once it has announced


def test_several_changes_at_once_come_sorted_by_name(announcements):
    check(
        announcements,
        "p2's roster goes from bob, dave and frank to alice, carol, erin and frank "
        "(frank is also connected here)",
        {"frank"},
        {"p2": {"bob", "dave", "frank"}},
        "p2",
        {"erin", "carol", "alice", "frank"},
        [join("alice"), leave("bob"), join("carol"), leave("dave"), join("erin")],
    )


def test_an_unknown_process_had_no_names(announcements):
    check(
        announcements,
        "p9, never heard of before, has alice, bob and carol; alice is here and bob on p2",
        {"alice"},
        {"p2": {"bob"}},
        "p9",
        {"alice", "bob", "carol"},
        [join("carol")],
    )
    check(
        announcements,
        "p9, never heard of before, says it has nobody (a process saying goodbye)",
        {"alice"},
        {"p2": {"bob"}},
        "p9",
        set(),
        [],
    )


def test_nothing_changes_nothing_is_said(announcements):
    check(
        announcements,
        "p2 repeats the names it had (chat.py's heartbeat does that every few seconds)",
        {"alice"},
        {"p2": {"alice", "bob"}},
        "p2",
        {"bob", "alice"},
        [],
    )
    check(
        announcements,
        "p2, empty before, is still empty",
        {"alice"},
        {"p2": set()},
        "p2",
        set(),
        [],
    )


@pytest.mark.parametrize("process", ["p2", "p9"], ids=["known process", "unknown process"])
def test_the_arguments_are_not_changed(announcements, process):
    local = {"alice", "bob"}
    rosters = {"p2": {"bob", "carol"}, "p3": {"dave"}}
    new_roster = {"carol", "erin"}
    before = copy.deepcopy((local, rosters, new_roster))
    ask(announcements, local, rosters, process, new_roster)
    names = ("local_names", "rosters", "new_roster")
    for name, then, now in zip(names, before, (local, rosters, new_roster), strict=True):
        assert now == then, (
            f"announcements changed its argument {name}: it was {then}, it became {now}. "
            "Change none of the arguments: the caller stores the new roster itself"
        )
