"""Fan-out benchmark: how many chats a second chat.py hands to how many clients, and how fast.

Senders say chats at a fixed total rate for a fixed time, and receivers note when each one
arrives. Every chat carries the time it was *due* to be sent, not the time it was sent, so a
late sender or a busy server shows up as latency instead of quietly lowering the rate (an
open-loop load). So that the client costs less than the server it measures, the connections
are spread over several worker processes, and each reads raw WebSocket frames in big chunks
rather than one message at a time.

Usage, from the project's root:

    python bench/fanout.py --sweep                  # starts chat.py on a free port, no limits
    python bench/fanout.py --sweep --out sweep.md --plot sweep.png
    python bench/fanout.py --receivers 100 --senders 4 --rate 500 --duration 5
    python bench/fanout.py --url http://127.0.0.1:8080/ --receivers 10 --rate 20
    python bench/fanout.py --idle 1000              # the server's memory per idle connection
    python bench/fanout.py --connect 2000           # how long 2000 users take to come in
    python bench/fanout.py --restart 2000           # how long they take to come back after a restart

--url uses a chat that is already running; mind its limits: --rate limits each sender (each
has a name of its own), and every connection comes from this machine's one address, so start
that chat with --max-connections-per-ip 0 (and --login-rate 0) for more than 50 connections.
Only plain http:// on this machine (127.0.0.1, localhost, [::1]) is accepted. bench/README.md
explains how to read the table.
"""

import argparse
import array
import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import random
import struct
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import tornado.iostream
import tornado.tcpclient
from chat_process import (
    CHAT,
    UNLIMITED,
    ChatProcess,
    login,
    resident_kib,
    upgrade_request,
    ws_path,
)

# chat.py as the benchmark starts it: no rate limit, so the senders can go fast, and none of
# the allowances per client address, since every connection comes from 127.0.0.1
NO_LIMITS = ["--rate", "0", *UNLIMITED]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SWEEP_RECEIVERS = [10, 100, 500]
SWEEP_RATES = [100, 300, 1000]  # chats a second, all senders together
CONNECT_TIMEOUT = 10.0  # seconds for one connection to open and get its welcome
CONNECTING_AT_ONCE = 50  # handshakes in flight in one worker
READY_TIMEOUT = 120.0  # seconds for every worker to have all its connections open
WORD_TIMEOUT = 180.0  # seconds a worker waits for the main process's next word
RESULT_MARGIN = 30.0  # seconds past a step's duration and drain to wait for the results
IDLE_SETTLE = 1.0  # seconds to let the server settle before reading its memory
LOGINS_AT_ONCE = 16  # POST /login in flight at once, for --connect
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 8.0  # seconds: the page's pauses before it connects again
READ_SIZE = 65536  # bytes asked of the socket at once: many frames per read
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA  # WebSocket opcodes (RFC 6455, 5.2)
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # fixed by RFC 6455, 1.3


# What the workers do: open connections, send and count chats, report.


@dataclass
class Job:
    """One worker's part of one step."""

    host: str
    port: int
    receiver_path: str  # /ws?token=..., for the receivers
    sender_paths: list  # one /ws?token=... for each of sender_ids: a name of its own each
    receivers: int  # receivers in this worker
    sender_ids: list  # which of the step's senders are in this worker
    senders: int  # senders in the whole step
    messages: int  # chats sent in the whole step
    rate: float  # chats a second, all senders together
    size: int  # bytes in each chat's value
    drain: float  # seconds to wait for late chats after the last one was due
    receiver_paths: list = None  # for --connect: a /ws?token=... per receiver, a name each
    come_back: bool = False  # for --restart: connect again as the page does once closed


class Tally:
    """What one worker's connections saw."""

    def __init__(self, senders, messages):
        self.senders = senders
        self.messages = messages
        self.sent = 0
        self.duplicates = 0
        self.reordered = 0  # chats older than one already heard from the same sender
        self.rejected = 0  # error messages from the server, e.g. over its rate limit
        self.latencies = array.array("d")  # milliseconds from due to arrival
        self.last_arrival_ns = 0

    def record(self, due_ns, arrived_ns):
        self.latencies.append((arrived_ns - due_ns) / 1e6)
        self.last_arrival_ns = max(self.last_arrival_ns, arrived_ns)


class Peer:
    """One WebSocket connection, read as raw frames. A receiver counts chats; a sender too
    gets every chat, and reads them only so as not to fall behind.

    Tornado's WebSocket client spends several awaits and callbacks on each message, which
    would make the benchmark slower than the server it measures. Here one read of up to
    64 KiB is split into frames in one loop. A server's frames are never masked: a header of
    2, 4 or 10 bytes, then the payload, as chat.py's prepare_frame builds them.
    """

    def __init__(self, tally, counts):
        self.tally = tally
        self.counts = counts
        self.welcomed = asyncio.get_running_loop().create_future()
        self.stream = None  # Tornado's IOStream: the TCP connection
        self.reading = None  # the task that reads frames
        self.closed = False
        self.received = 0  # distinct chats of this step
        self.seen = bytearray(tally.messages if counts else 0)  # one flag per chat
        self.newest = [-1] * tally.senders  # the highest number heard from each sender

    async def open(self, host, port, path):
        """Connect, do the WebSocket handshake, and wait for the welcome."""
        connecting = tornado.tcpclient.TCPClient().connect(host, port)
        self.stream = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
        key = base64.b64encode(os.urandom(16))
        self.stream.write(upgrade_request(host, port, path, key=key.decode()))
        answer = self.stream.read_until(b"\r\n\r\n", max_bytes=READ_SIZE)
        head = await asyncio.wait_for(answer, CONNECT_TIMEOUT)
        if not head.startswith(b"HTTP/1.1 101 ") or accept_key(key) not in head:
            status = head.splitlines()[0].decode()
            hint = " (a chat of yours: start it with --max-connections-per-ip 0)"
            raise ConnectionError(f"no upgrade: {status}{hint if ' 429 ' in status else ''}")
        self.reading = asyncio.ensure_future(self.read_frames())
        await asyncio.wait_for(self.welcomed, CONNECT_TIMEOUT)

    async def read_frames(self):
        unfinished = b""  # the start of a frame whose end has not arrived yet
        try:
            while True:
                data = unfinished + await self.stream.read_bytes(READ_SIZE, partial=True)
                unfinished = self.take_frames(data, time.time_ns())
        except tornado.iostream.StreamClosedError:
            self.on_closed()

    def take_frames(self, data, arrived_ns):
        """Handle every whole frame in data; what is left over."""
        start = 0
        while frame := frame_at(data, start):
            opcode, payload, start = frame
            if opcode == TEXT:
                self.on_text(payload, arrived_ns)
            elif opcode == PING:
                self.stream.write(client_frame(PONG, payload))
            elif opcode == CLOSE:
                self.on_closed()
                self.stream.close()
        return data[start:]

    def on_text(self, payload, arrived_ns):
        at = payload.find(b'"t=')  # a value that starts with t=: one of our chats
        if at >= 0 and self.welcomed.done():  # a welcome's history may hold earlier chats
            if self.counts:
                self.count(payload[at + 1 :], arrived_ns)
            return
        message = json.loads(payload)  # a welcome, a join, an error...
        if message.get("type") == "welcome" and not self.welcomed.done():
            self.welcomed.set_result(message)
        elif message.get("type") == "error":
            self.tally.rejected += 1

    def on_closed(self):
        self.closed = True
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError("closed before the welcome"))

    def count(self, value, arrived_ns):
        """Note one chat: new, a duplicate, or out of order for its sender."""
        due, sender, seq, _rest = value.split(b";", 3)
        due_ns, sender, seq = int(due[2:]), int(sender[2:]), int(seq[2:])
        index = seq * self.tally.senders + sender
        if not (0 <= sender < self.tally.senders and 0 <= index < len(self.seen)):
            return  # not of this step
        if self.seen[index]:
            self.tally.duplicates += 1
            return
        self.seen[index] = 1
        self.received += 1
        if seq < self.newest[sender]:
            self.tally.reordered += 1
        else:
            self.newest[sender] = seq
        self.tally.record(due_ns, arrived_ns)

    def send_text(self, text):
        self.stream.write(client_frame(TEXT, text.encode()))

    def say_goodbye(self):
        """A close frame (1000, normal closure), if the connection is still open."""
        if not self.closed:
            with contextlib.suppress(tornado.iostream.StreamClosedError):
                self.stream.write(client_frame(CLOSE, (1000).to_bytes(2)))


# The WebSocket protocol, as much of it as a client needs here (RFC 6455).


def accept_key(key):
    """The Sec-WebSocket-Accept the server must answer our key with."""
    return base64.b64encode(hashlib.sha1(key + ACCEPT_GUID).digest())


def frame_at(data, start):
    """(opcode, payload, where the next frame starts) for a whole frame at data[start:], or None."""
    if len(data) - start < 2:
        return None
    opcode, size, header = data[start] & 0x0F, data[start + 1] & 0x7F, 2
    if size == 126:
        size, header = int.from_bytes(data[start + 2 : start + 4]), 4
    elif size == 127:
        size, header = int.from_bytes(data[start + 2 : start + 10]), 10
    end = start + header + size
    if len(data) < end or len(data) - start < header:
        return None
    return opcode, data[start + header : end], end


def client_frame(opcode, payload):
    """A whole frame from a client: a client masks its payload with a fresh 4-byte key."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)  # FIN, opcode; MASK, length
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    key = os.urandom(4)
    key_repeated = (key * (size // 4 + 1))[:size]
    masked = int.from_bytes(payload) ^ int.from_bytes(key_repeated)  # XOR, all bytes at once
    return header + key + masked.to_bytes(size)


def chat_message(due_ns, sender, seq, size):
    """A chat whose value says when it was due, who sends it and its number, padded to size."""
    value = f"t={due_ns};s={sender};n={seq};"
    return json.dumps({"type": "chat", "value": value.ljust(size, "x")})


async def open_peers(job, paths, tally, counts):
    """One connection for each path, CONNECTING_AT_ONCE at a time, each with its welcome."""
    at_once = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def open_one(path):
        peer = Peer(tally, counts)
        async with at_once:
            await peer.open(job.host, job.port, path)
        return peer

    return await asyncio.gather(*(open_one(path) for path in paths))


async def send_chats(peer, sender, job, start_ns, tally):
    """Chats number sender, sender + S, sender + 2S, ... of the step, each at its due time."""
    period_ns = 1e9 / job.rate
    for seq, index in enumerate(range(sender, job.messages, job.senders)):
        due_ns = start_ns + round(index * period_ns)
        await asyncio.sleep(max(0.0, (due_ns - time.time_ns()) / 1e9))  # late: send at once
        if peer.closed:
            return
        try:
            peer.send_text(chat_message(due_ns, sender, seq, job.size))
        except tornado.iostream.StreamClosedError:
            return
        tally.sent += 1


async def wait_for_stragglers(receivers, job, start_ns):
    """Until every receiver has every chat, or the drain time after the last due time is over."""
    deadline_ns = start_ns + round((job.messages / job.rate + job.drain) * 1e9)
    while time.time_ns() < deadline_ns:
        if all(peer.closed or peer.received >= job.messages for peer in receivers):
            return
        await asyncio.sleep(0.01)


async def word_from_main(pipe):
    """The main process's next (word, value), waited for without stopping the connections."""
    deadline = time.monotonic() + WORD_TIMEOUT
    while not pipe.poll():
        if time.monotonic() > deadline:
            raise TimeoutError("no word from the main process")
        await asyncio.sleep(0.01)
    return pipe.recv()


async def run_worker(pipe, job):
    """Open the connections, run the step when told to "go", then report."""
    tally = Tally(job.senders, job.messages)
    paths = job.receiver_paths or [job.receiver_path] * job.receivers
    receivers = await open_peers(job, paths, tally, True)
    opening = (open_peers(job, [path], tally, False) for path in job.sender_paths)
    senders = [peer for (peer,) in await asyncio.gather(*opening)]
    pipe.send(("ready", None))
    if job.come_back:
        return pipe.send(("result", await come_back(job, paths, receivers, tally)))
    word, start_ns = await word_from_main(pipe)
    cpu, wall = time.process_time(), time.perf_counter()
    if word == "go":
        sending = (send_chats(p, s, job, start_ns, tally) for p, s in zip(senders, job.sender_ids))
        await asyncio.gather(*sending)
        await wait_for_stragglers(receivers, job, start_ns)
    report = {
        "sent": tally.sent,
        "delivered": sum(peer.received for peer in receivers),
        "duplicates": tally.duplicates,
        "reordered": tally.reordered,
        "rejected": tally.rejected,
        "dropped": sum(peer.closed for peer in receivers + senders),
        "latencies": tally.latencies,
        "last_arrival_ns": tally.last_arrival_ns,
        "cpu": (time.process_time() - cpu) / max(1e-9, time.perf_counter() - wall),
    }
    pipe.send(("result", report))
    for peer in receivers + senders:
        peer.say_goodbye()
    await asyncio.sleep(0.2)  # a moment for the server to answer; the process's end closes all


async def come_back(job, paths, peers, tally):
    """Once the server closes them, each peer connects again as the page does; when all are back.

    The page waits 0.5 s, then twice as long after each failed try, at most 8 s, each pause
    taken at random between half and one and a half of it: a crowd comes back spread out.
    """

    async def again(peer, path):
        await peer.reading  # until the server closes the connection
        pause, tries = FIRST_PAUSE, 0
        while True:
            await asyncio.sleep(pause * (0.5 + random.random()))
            tries += 1
            fresh = Peer(tally, False)
            try:
                await fresh.open(job.host, job.port, path)
                return time.time_ns(), tries
            except OSError:  # refused, closed, timed out, or no upgrade (all OSErrors)
                if fresh.stream:  # e.g. a 503 from the server that is stopping
                    fresh.stream.close()
                pause = min(pause * 2, LONGEST_PAUSE)

    back = await asyncio.wait_for(
        asyncio.gather(*(again(peer, path) for peer, path in zip(peers, paths))), READY_TIMEOUT
    )
    return {"back_ns": max(at for at, _ in back), "tries": sum(tries for _, tries in back)}


def worker_main(pipe, job):
    """A worker process's whole life; any failure goes to the main process as one line."""
    try:
        asyncio.run(run_worker(pipe, job))
    except Exception as error:  # noqa: BLE001 (whatever it is, the main process hears of it)
        with contextlib.suppress(OSError):
            pipe.send(("failed", f"{type(error).__name__}: {error}"))


# What the main process does: start the chat, hand out the jobs, add up the results.


@contextlib.contextmanager
def worker_processes(jobs):
    """One process per job; yields a pipe to each, and makes sure they all end."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited state
    pipes, processes = [], []
    try:
        for job in jobs:
            ours, theirs = context.Pipe()
            process = context.Process(target=worker_main, args=(theirs, job), daemon=True)
            process.start()
            theirs.close()
            pipes.append(ours)
            processes.append(process)
        yield pipes
    finally:
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop", None))  # a worker still waiting for "go" ends now
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join()


def tell_all(pipes, word, value=None):
    for pipe in pipes:
        pipe.send((word, value))


def hear_all(pipes, expected, timeout):
    """Wait for every worker to say `expected`; what each said with it."""
    deadline = time.monotonic() + timeout
    answers = []
    for pipe in pipes:
        if not pipe.poll(max(0.0, deadline - time.monotonic())):
            raise RuntimeError(f"a worker did not say {expected!r} within {timeout:g} s")
        try:
            word, value = pipe.recv()
        except EOFError:
            raise RuntimeError("a worker died") from None
        if word != expected:
            raise RuntimeError(f"a worker failed: {value}")
        answers.append(value)
    return answers


def share(total, parts, index):
    """Part `index` of `total` split as evenly as possible into `parts`."""
    return total // parts + (index < total % parts)


TOKENS = {}  # (url, name) -> its token: one login per name, as the tabs of one browser
RUN = os.urandom(3).hex()  # in every name: a name stays held for 30 s after a run's last socket


def token(url, name):
    """The token for `name` in this run: POST /login once, then the same token for every step.

    A name is held by its login's session: a second login of it while that session holds it
    (until 30 s after its last connection closed) would be refused with 409. So every step
    uses the same token, and every run names its peers afresh, e.g. bench-receiver-1a2b3c.
    """
    name = f"{name}-{RUN}"
    if (url, name) not in TOKENS:
        status, answer = login(url, name)
        if status != 200:
            raise RuntimeError(f"POST /login for {name} answered {status}: {answer}")
        TOKENS[url, name] = answer["token"]
    return TOKENS[url, name]


def plan_jobs(url, receivers, senders, rate, duration, size, drain, workers, name="bench-receiver"):
    """Split one step's receivers and senders over the workers."""
    count = max(1, min(workers, receivers + senders))
    address = urllib.parse.urlsplit(url)
    common = {
        "host": address.hostname,
        "port": address.port or 80,
        "receiver_path": ws_path(token(url, name)),  # one name for all: one join, not hundreds
        "senders": senders,
        "messages": round(rate * duration),
        "rate": rate,
        "size": size,
        "drain": drain,
    }
    jobs = []
    for i in range(count):
        sender_ids = list(range(i, senders, count))
        # --rate is per name: each sender has its own, as each would be a person
        paths = [ws_path(token(url, f"bench-sender-{sender}")) for sender in sender_ids]
        jobs.append(
            Job(
                receivers=share(receivers, count, i),
                sender_ids=sender_ids,
                sender_paths=paths,
                **common,
            )
        )
    return jobs


def run_step(url, receivers, senders, rate, duration, size, drain, workers, server_pid=None):
    """One step: open everything, send for `duration` seconds, drain; its row of the table."""
    jobs = plan_jobs(url, receivers, senders, rate, duration, size, drain, workers)
    with worker_processes(jobs) as pipes:
        hear_all(pipes, "ready", READY_TIMEOUT)
        server_cpu, wall = cpu_seconds(server_pid), time.perf_counter()
        start_ns = time.time_ns() + 200_000_000  # a moment for the word to reach every worker
        tell_all(pipes, "go", start_ns)
        results = hear_all(pipes, "result", duration + drain + RESULT_MARGIN)
        if server_pid:
            server_cpu = (cpu_seconds(server_pid) - server_cpu) / (time.perf_counter() - wall)
    return summarize(receivers, senders, rate, duration, start_ns, results, server_cpu)


def summarize(receivers, senders, rate, duration, start_ns, results, server_cpu):
    """Add up the workers' results into one row of the table."""
    total = {key: sum(r[key] for r in results) for key in ("sent", "delivered", "duplicates")}
    latencies = sorted(ms for r in results for ms in r["latencies"])
    last_arrival_ns = max(r["last_arrival_ns"] for r in results)
    seconds = max(duration, (last_arrival_ns - start_ns) / 1e9)  # to the last arrival
    return {
        "receivers": receivers,
        "senders": senders,
        "rate": rate,
        **total,
        "wanted_per_s": rate * receivers,
        "delivered_per_s": total["delivered"] / seconds if seconds > 0 else 0.0,
        "lost": total["sent"] * receivers - total["delivered"],
        "reordered": sum(r["reordered"] for r in results),
        "dropped": sum(r["dropped"] for r in results),
        "rejected": sum(r["rejected"] for r in results),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else None,
        "client_cpu": max(r["cpu"] for r in results),  # the busiest worker
        "server_cpu": server_cpu,  # None for a chat we did not start
        "server_us_per_delivery": per_delivery_us(server_cpu, total["delivered"] / seconds),
    }


def per_delivery_us(server_cpu, delivered_per_s):
    """The server's CPU time per delivery, in µs: its cores used over the deliveries a second."""
    if server_cpu is None or not delivered_per_s:
        return None
    return server_cpu / delivered_per_s * 1e6


def percentile(ordered, fraction):
    """The nearest-rank percentile of an already sorted list; None when it is empty."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def sweep(
    url,
    receivers,
    rates,
    senders=4,
    duration=3.0,
    size=100,
    drain=2.0,
    workers=None,
    server_pid=None,
):
    """Every (receivers, rate) pair, one step each; the rows of the table."""
    workers = workers or os.cpu_count() or 1
    pairs = [(count, rate) for count in receivers for rate in rates]
    rows = []
    for number, (count, rate) in enumerate(pairs, 1):
        print(
            f"step {number}/{len(pairs)}: {count} receivers, {rate:g} chats/s",
            file=sys.stderr,
            flush=True,
        )
        row = run_step(url, count, senders, rate, duration, size, drain, workers, server_pid)
        rows.append(row)
    return rows


def measure_idle(url, server_pid, count, workers):
    """Open `count` idle connections; the server's resident memory before and after."""
    before = resident_kib(server_pid)
    nothing_to_send = {"senders": 0, "rate": 1, "duration": 0, "size": 1, "drain": 0}
    jobs = plan_jobs(url, count, workers=workers, name="bench-idle", **nothing_to_send)
    with worker_processes(jobs) as pipes:
        hear_all(pipes, "ready", READY_TIMEOUT)
        time.sleep(IDLE_SETTLE)
        after = resident_kib(server_pid)
        tell_all(pipes, "stop")
        results = hear_all(pipes, "result", RESULT_MARGIN)
    return {
        "connections": count,
        "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024,
        "kib_per_connection": (after - before) / count,
        "dropped": sum(r["dropped"] for r in results),
    }


def measure_connect(url, server_pid, count, workers):
    """`count` users come in at once, a name each: login, handshake, welcome; how long it takes.

    Each name's first connection is announced to everyone already in the room, as the page's
    users would be: `count` joins, each for up to `count` clients.
    """
    cpu, start = cpu_seconds(server_pid), time.perf_counter()
    tokens = log_in_users(url, count)
    logged_in = time.perf_counter()
    with worker_processes(crowd_jobs(url, tokens, workers)) as pipes:
        hear_all(pipes, "ready", READY_TIMEOUT)
        welcomed = time.perf_counter()
        server_cpu = cpu_seconds(server_pid)
        tell_all(pipes, "stop")
        results = hear_all(pipes, "result", RESULT_MARGIN)
    return {
        "connections": count,
        "login_s": logged_in - start,
        "connect_s": welcomed - logged_in,
        "total_s": welcomed - start,
        "server_cpu_s": None if cpu is None else server_cpu - cpu,
        "dropped": sum(r["dropped"] for r in results),
    }


def log_in_users(url, count):
    """The tokens of `count` users, a name each, LOGINS_AT_ONCE logins at a time."""
    names = [f"bench-user-{i}" for i in range(count)]
    with concurrent.futures.ThreadPoolExecutor(LOGINS_AT_ONCE) as pool:
        return list(pool.map(lambda name: token(url, name), names))


def crowd_jobs(url, tokens, workers, come_back=False):
    """The users of these tokens, idle, shared out over the workers."""
    nothing_to_send = {"senders": 0, "rate": 1, "duration": 0, "size": 1, "drain": 0}
    jobs = plan_jobs(url, len(tokens), workers=workers, name="bench-idle", **nothing_to_send)
    for index, job in enumerate(jobs):
        job.receiver_paths = [ws_path(t) for t in tokens[index :: len(jobs)]]
        job.receivers, job.come_back = len(job.receiver_paths), come_back
    return jobs


def measure_restart(count, workers):
    """`count` users in; the server restarts; how long until every one is welcomed again.

    chat.py is started with a --secret of its own, so that the tokens it signed before the
    restart are still good after it, as with a deployed chat (lesson 11).
    """
    flags = [*NO_LIMITS, "--secret", os.urandom(16).hex()]
    with ChatProcess(CHAT, flags) as first:
        tokens = log_in_users(first.url, count)
        with worker_processes(crowd_jobs(first.url, tokens, workers, come_back=True)) as pipes:
            hear_all(pipes, "ready", READY_TIMEOUT)
            stopping = time.perf_counter()
            first.stop()  # SIGTERM: it says 1001 (going away) to everyone, then exits
            stopped = time.perf_counter()
            with ChatProcess(CHAT, [*flags, "--port", first.port]) as second:
                listening_ns, cpu = time.time_ns(), cpu_seconds(second.pid)
                results = hear_all(pipes, "result", READY_TIMEOUT + RESULT_MARGIN)
                server_cpu = cpu_seconds(second.pid) - cpu
    return {
        "connections": count,
        "stop_s": stopped - stopping,
        "back_s": (max(r["back_ns"] for r in results) - listening_ns) / 1e9,
        "tries": sum(r["tries"] for r in results),
        "server_cpu_s": server_cpu,
    }


# The chat server, when we start it ourselves, and what /proc says about it.


def loopback_url(url):
    """The URL, ending in "/", if it is plain http on this machine; otherwise stop."""
    address = urllib.parse.urlsplit(url)
    if address.scheme != "http" or address.hostname not in LOOPBACK:
        raise SystemExit(f"{url}: only http:// on 127.0.0.1, localhost or [::1] is benchmarked")
    return url.rstrip("/") + "/"


@contextlib.contextmanager
def chat_server(url=None):
    """(url, pid): the chat at `url` (pid None), or chat.py NO_LIMITS started here and stopped."""
    if url:
        yield loopback_url(url), None
        return
    with ChatProcess(CHAT, NO_LIMITS) as chat:  # stopped with SIGTERM, as Ctrl+C would
        yield chat.url, chat.pid


def cpu_seconds(pid):
    """User plus system CPU seconds a process has used so far, to the ns; None without a pid.

    Linux gives every process a CPU clock that others may read: its id is ~pid << 3 | 2
    (what clock_getcpuclockid(3) returns). /proc/PID/stat counts in ticks of 10 ms,
    more than a short run costs.
    """
    if pid is None:
        return None
    return time.clock_gettime(~pid << 3 | 2)


# The report.

COLUMNS = [  # heading, key, format
    ("receivers", "receivers", "{:,}"),
    ("chats/s offered", "rate", "{:,.0f}"),
    ("sent", "sent", "{:,}"),
    ("delivered", "delivered", "{:,}"),
    ("deliveries/s wanted", "wanted_per_s", "{:,.0f}"),
    ("delivered/s", "delivered_per_s", "{:,.0f}"),
    ("lost", "lost", "{:,}"),
    ("reordered", "reordered", "{:,}"),
    ("duplicates", "duplicates", "{:,}"),
    ("dropped", "dropped", "{:,}"),
    ("rejected", "rejected", "{:,}"),
    ("p50 ms", "p50_ms", "{:,.1f}"),
    ("p99 ms", "p99_ms", "{:,.1f}"),
    ("max ms", "max_ms", "{:,.1f}"),
    ("client CPU", "client_cpu", "{:.0%}"),
    ("server CPU", "server_cpu", "{:.0%}"),
    ("server µs per delivery", "server_us_per_delivery", "{:,.1f}"),
]

IDLE_COLUMNS = [
    ("idle connections", "connections", "{:,}"),
    ("server RSS before, MiB", "rss_before_mib", "{:,.1f}"),
    ("server RSS after, MiB", "rss_after_mib", "{:,.1f}"),
    ("KiB per connection", "kib_per_connection", "{:,.1f}"),
    ("dropped", "dropped", "{:,}"),
]


CONNECT_COLUMNS = [
    ("users", "connections", "{:,}"),
    ("logins, s", "login_s", "{:,.2f}"),
    ("handshakes and welcomes, s", "connect_s", "{:,.2f}"),
    ("in all, s", "total_s", "{:,.2f}"),
    ("server CPU, s", "server_cpu_s", "{:,.2f}"),
    ("dropped", "dropped", "{:,}"),
]


RESTART_COLUMNS = [
    ("users", "connections", "{:,}"),
    ("old server stopping, s", "stop_s", "{:,.2f}"),
    ("all back after the new one listened, s", "back_s", "{:,.2f}"),
    ("tries to connect", "tries", "{:,}"),
    ("new server CPU, s", "server_cpu_s", "{:,.2f}"),
]


def markdown_table(rows, columns=COLUMNS):
    lines = [
        "| " + " | ".join(heading for heading, _, _ in columns) + " |",
        "|" + "---:|" * len(columns),
    ]
    for row in rows:
        cells = ["n/a" if row[key] is None else form.format(row[key]) for _, key, form in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows):
    """p99 latency and delivered/s against receivers, one line per offered rate; the figure."""
    import matplotlib.pyplot as plt

    figure, (latency, delivered) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for rate in sorted({row["rate"] for row in rows}):
        mine = [row for row in rows if row["rate"] == rate]
        receivers = [row["receivers"] for row in mine]
        p99 = [math.nan if row["p99_ms"] is None else row["p99_ms"] for row in mine]
        line = latency.plot(receivers, p99, marker="o", label=f"{rate:,g} chats/s")[0]
        delivered.plot(
            receivers,
            [row["delivered_per_s"] for row in mine],
            marker="o",
            color=line.get_color(),
            label=f"{rate:,g} chats/s",
        )
        delivered.plot(
            receivers, [row["wanted_per_s"] for row in mine], linestyle=":", color=line.get_color()
        )
    latency.set(title="p99 latency", xlabel="receivers", ylabel="ms", xscale="log", ylim=(0, None))
    delivered.set(
        title="delivered/s (dotted: wanted)",
        xlabel="receivers",
        ylabel="deliveries per second",
        xscale="log",
        yscale="log",
    )
    for axes in (latency, delivered):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    return figure


# The command line.


def int_list(text):
    return [int(part) for part in text.split(",")]


def float_list(text):
    return [float(part) for part in text.split(",")]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Fan-out benchmark for chat.py (loopback only).",
        epilog="bench/README.md explains the table.",
    )
    add = parser.add_argument
    add("--url", help="a chat already running here (default: start chat.py without limits)")
    add("--sweep", action="store_true",
        help=f"every receivers x rate pair (defaults {SWEEP_RECEIVERS} x {SWEEP_RATES})")  # fmt: skip
    add("--receivers", type=int_list, metavar="LIST",
        help="receivers, e.g. 100 or 10,100 (default 10)")  # fmt: skip
    add("--rate", type=float_list, metavar="LIST",
        help="chats a second, all senders together, e.g. 100 or 100,1000 (default 100)")  # fmt: skip
    add("--senders", type=int, default=4, metavar="N",
        help="connections that share the rate (default %(default)s)")  # fmt: skip
    add("--duration", type=float, default=3.0, metavar="SECONDS",
        help="how long each step sends (default %(default)s)")  # fmt: skip
    add("--size", type=int, default=100, metavar="BYTES",
        help="bytes in each chat's value (default %(default)s)")  # fmt: skip
    add("--drain", type=float, default=2.0, metavar="SECONDS",
        help="how long to wait for late chats (default %(default)s)")  # fmt: skip
    add("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
        help="client processes (default: one per core, %(default)s)")  # fmt: skip
    add("--idle", type=int, metavar="N", help="hold N idle connections; memory per connection")
    add("--connect", type=int, metavar="N",
        help="N users, a name each, come in at once: how long until all are welcomed")  # fmt: skip
    add("--restart", type=int, metavar="N",
        help="N users in, then chat.py restarts: how long until all are back")  # fmt: skip
    add("--out", metavar="FILE", help="also write the report to this file")
    add("--plot", metavar="FILE", help="save a plot here (PNG)")
    args = parser.parse_args(argv)
    args.receivers = args.receivers or (SWEEP_RECEIVERS if args.sweep else [10])
    args.rate = args.rate or (SWEEP_RATES if args.sweep else [100])
    if min(args.receivers) < 1 or args.senders < 1 or args.workers < 1:
        parser.error("--receivers, --senders and --workers must be at least 1")
    if min(args.rate) <= 0 or args.duration <= 0 or args.drain < 0:
        parser.error("--rate and --duration must be more than 0, --drain at least 0")
    if not 1 <= args.size <= 60000:
        parser.error("--size must be 1 to 60000")
    if args.idle is not None and (args.idle < 1 or args.url):
        parser.error("--idle needs N >= 1 and a chat started here (no --url): it reads its memory")
    if args.connect is not None and args.connect < 1:
        parser.error("--connect needs N >= 1")
    if args.restart is not None and (args.restart < 1 or args.url):
        parser.error("--restart needs N >= 1 and a chat started here (no --url): it restarts it")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        report, rows = run(args)
    except (OSError, RuntimeError) as error:  # no chat at --url, a worker that failed, ...
        raise SystemExit(f"fanout.py: {error}") from None
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n")
    if args.plot and rows:
        import matplotlib

        matplotlib.use("Agg")  # a file, no window
        plot(rows).savefig(args.plot, dpi=100)


def run(args):
    """The report as Markdown, and the sweep's rows (None for --idle, --connect, --restart)."""
    if args.restart:
        return markdown_table([measure_restart(args.restart, args.workers)], RESTART_COLUMNS), None
    rows = None
    with chat_server(args.url) as (url, pid):
        if args.idle:
            row = measure_idle(url, pid, args.idle, args.workers)
            report = markdown_table([row], IDLE_COLUMNS)
        elif args.connect:
            row = measure_connect(url, pid, args.connect, args.workers)
            report = markdown_table([row], CONNECT_COLUMNS)
        else:
            rows = sweep(
                url,
                args.receivers,
                args.rate,
                senders=args.senders,
                duration=args.duration,
                size=args.size,
                drain=args.drain,
                workers=args.workers,
                server_pid=pid,
            )
            setup = (
                f"chat.py at {url}; {args.senders} senders, {args.size}-byte chats, "
                f"{args.duration:g} s per step, {args.workers} client processes\n\n"
            )
            report = setup + markdown_table(rows)
    return report, rows


if __name__ == "__main__":
    main()
