"""Check for exercise 6:  pytest exercises/test_typing_line.py"""

import pytest

LINES = [  # names typing -> what the page shows
    ([], ""),
    (["alice"], "alice is typing…"),
    (["alice", "bob"], "alice and bob are typing…"),
    (["alice", "bob", "carol"], "alice, bob and carol are typing…"),
    (["alice", "bob", "carol", "dave"], "alice, bob, carol and dave are typing…"),
]


@pytest.fixture
def typing_line(exercise):
    return exercise("typing_line", "typing_line")


@pytest.mark.parametrize("names, expected", LINES, ids=[str(len(n)) for n, _ in LINES])
def test_the_line_for_sorted_names(typing_line, names, expected):
    line = typing_line(list(names))
    assert isinstance(line, str), f"return a str, got {line!r}"
    if line.endswith("..."):
        pytest.fail('end with the single character "…" (U+2026), not three dots', pytrace=False)
    assert line == expected, f"for {names} the page shows {expected!r}; yours: {line!r}"


def test_names_are_sorted(typing_line):
    line = typing_line(["carol", "alice", "bob"])
    assert line == "alice, bob and carol are typing…", (
        f"names come in any order but are shown sorted; yours: {line!r}"
    )


def test_two_names_are_sorted(typing_line):
    line = typing_line(["bob", "alice"])
    assert line == "alice and bob are typing…", f"sort the names first; yours: {line!r}"
