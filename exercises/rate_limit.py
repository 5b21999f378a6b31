"""Exercise 7: a token bucket, the chat's rate limit (lessons/07-security.md).

Write `class TokenBucket(rate, now)` with a method `allow(now) -> bool`:

- the bucket holds tokens, at most `2 * rate`, and starts full (at time `now`);
- it refills at `rate` tokens per second, as time goes by, never above `2 * rate`;
- `allow(now)` first adds the tokens earned since the last call, then, if at least one whole
  token is there, takes it and answers True; otherwise it takes nothing and answers False.

Times are plain seconds (`now` is passed in, so the check can play with the clock).

Why it matters: without a limit, one script can send thousands of messages a second, and the
server fans each one out to everyone. chat.py gives every name such a bucket, shared by all
of that name's connections (ten tabs get no more than one), with `rate` set by `--rate`
(default 20): bursts of 40 pass, then 20 a second, pings included; a message over the limit
gets an error, and ten in a row close the connection. (`--login-rate` is a bucket too, one per
client address, for POST /login.)

    bucket = TokenBucket(rate=2, now=0)
    [bucket.allow(0) for _ in range(5)]   ->  [True, True, True, True, False]
    bucket.allow(0.5)                     ->  True   (half a second earns one token)

Check your answer with:  pytest exercises/test_rate_limit.py

Hint: keep two numbers, the tokens (a float) and the time of the last call. Each call:
tokens = min(capacity, tokens + (now - last) * rate).
"""


class TokenBucket:
    def __init__(self, rate: float, now: float):
        raise NotImplementedError("Your turn: fill the bucket and note the time.")

    def allow(self, now: float) -> bool:
        raise NotImplementedError("Your turn: refill, then take a token if there is one.")
