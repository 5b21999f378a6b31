"""Check for exercise 7:  pytest exercises/test_rate_limit.py

The times are chosen so that the sums are exact in floating point (quarters of a second).
"""

import pytest


@pytest.fixture
def TokenBucket(exercise):  # named as the class it stands for
    return exercise("rate_limit", "TokenBucket")


def allowed_in_a_row(bucket, now, attempts=100):
    """How many messages at the same instant pass before the first refusal."""
    for count in range(attempts):
        if not bucket.allow(now):
            return count
    return attempts


def test_a_new_bucket_allows_a_burst_of_twice_the_rate(TokenBucket):
    bucket = TokenBucket(rate=4, now=0.0)
    passed = allowed_in_a_row(bucket, 0.0)
    assert passed == 8, f"a full bucket at rate 4 holds 8 tokens: 8 should pass, {passed} did"


def test_a_refusal_answers_false(TokenBucket):
    bucket = TokenBucket(rate=1, now=0.0)
    answers = [bucket.allow(0.0) for _ in range(3)]
    assert answers == [True, True, False], f"rate 1 holds 2 tokens; answers were {answers}"


def test_the_bucket_refills_at_the_rate(TokenBucket):
    bucket = TokenBucket(rate=4, now=100.0)
    allowed_in_a_row(bucket, 100.0)  # empty it
    assert bucket.allow(100.25) is True, "a quarter second at rate 4 earns one token"
    assert bucket.allow(100.25) is False, "and only one: the second message must wait"
    passed = allowed_in_a_row(bucket, 101.25)
    assert passed == 4, f"one second at rate 4 earns 4 tokens; {passed} messages passed"


def test_the_bucket_never_holds_more_than_twice_the_rate(TokenBucket):
    bucket = TokenBucket(rate=4, now=0.0)
    allowed_in_a_row(bucket, 0.0)
    passed = allowed_in_a_row(bucket, 3600.0)  # an hour of silence
    assert passed == 8, (
        f"after a long silence the bucket is full again: 8 tokens, not more; {passed} passed"
    )


def test_refusals_do_not_cost_tokens(TokenBucket):
    bucket = TokenBucket(rate=2, now=0.0)
    allowed_in_a_row(bucket, 0.0)
    refused = [bucket.allow(0.25) for _ in range(5)]  # half a token so far: all refused
    assert refused == [False] * 5, f"a quarter second at rate 2 is half a token; got {refused}"
    assert bucket.allow(0.5) is True, (
        "the two quarters make a whole token: refused messages must neither take tokens "
        "nor lose the time that went by"
    )


def test_partial_tokens_add_up(TokenBucket):
    bucket = TokenBucket(rate=1, now=0.0)
    allowed_in_a_row(bucket, 0.0)
    answers = [bucket.allow(t) for t in (0.5, 1.0, 1.5, 2.0)]
    assert answers == [False, True, False, True], (
        f"at rate 1, half seconds earn half tokens: every second call passes; got {answers}"
    )


def test_a_steady_sender_within_the_rate_is_never_refused(TokenBucket):
    bucket = TokenBucket(rate=4, now=0.0)
    times = [i * 0.25 for i in range(1, 200)]  # exactly 4 a second, for 50 seconds
    refused = [t for t in times if not bucket.allow(t)]
    assert refused == [], f"4 messages a second at rate 4 should all pass; refused at {refused[:5]}"
