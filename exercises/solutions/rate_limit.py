"""Exercise 7, a reference solution: chat.py's token bucket, with the clock passed in."""


class TokenBucket:
    def __init__(self, rate: float, now: float):
        self.rate = rate
        self.capacity = 2 * rate
        self.tokens = self.capacity  # a new connection may send a burst at once
        self.last = now

    def allow(self, now: float) -> bool:
        elapsed, self.last = now - self.last, now
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
