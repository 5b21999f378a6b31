"""Nothing lost: each room keeps its last chats, a reconnect resumes, a chat is sent once.

Every chat gets an `id`, one more than the room's last; the welcome carries the room's `epoch`
and the kept chats this connection may see (`history`); a handshake with `since=ID&epoch=E`
gets only the chats after ID, and `recovered` says whether none it may see is missing. A chat
with a `cid` that its session sends again in the same room is not broadcast again: the sending
connection gets `{"type": "sent", "cid": ..., "id": ...}`. With `--redis` the ids and the
history live in Redis, shared by every process.
"""

import json
import socket
import struct
import time
import urllib.parse
import urllib.request

import pytest
import websocket

from conftest import TIMEOUT, Peer, handshake_status, login, wait_until, ws_path

QUIET = 0.5  # seconds of silence that stand for "nothing arrives"
PRESENCE = ("join", "leave")  # news of who is online, which these tests do not count

pytestmark = pytest.mark.history


def enter(server, name, room=None, since=None, epoch=None):
    """Log in as `name` (one session per name), connect with these parameters, read the welcome."""
    query = {"room": room, "since": since, "epoch": epoch}
    path = ws_path(login(server, name)) + "".join(
        f"&{key}={urllib.parse.quote(str(value), safe='')}"
        for key, value in query.items()
        if value is not None
    )
    url = server.ws_url.removesuffix("/ws") + path
    peer = Peer(websocket.create_connection(url, timeout=TIMEOUT), name)
    server.peers.append(peer)  # closed when the server is stopped
    first = peer.recv()
    assert isinstance(first, dict) and first.get("type") == "welcome", f"{name} got {first!r}"
    peer.welcome = first
    return peer


def resume(server, name, last, room=None):
    """Reconnect as `name`, resuming after the chat `last` in the epoch of the welcome `last` came in."""
    return enter(server, name, room, since=last["id"], epoch=last["epoch"])


def say(peer, value, **fields):
    """Send a chat; its copy that comes back to the sender, noting the epoch it was sent in.

    Chats of others that arrive first are skipped.
    """
    peer.send({"type": "chat", "value": value, **fields})
    while True:
        message = peer.recv_type("chat")
        if (message.get("from"), message.get("value")) == (peer.name, value):
            return {**message, "epoch": peer.welcome["epoch"]}


def next_message(peer, timeout=2):
    """The next message other than news of who is online."""
    while True:
        message = peer.recv(timeout)
        if not (isinstance(message, dict) and message.get("type") in PRESENCE):
            return message


def chats(peer, count, timeout=TIMEOUT):
    """The next `count` chats to a peer, skipping joins, leaves and typing."""
    return [peer.recv_type("chat", timeout) for _ in range(count)]


def as_sent(message):
    """A chat as the server sent it, without the epoch `say` noted beside it."""
    return {key: value for key, value in message.items() if key != "epoch"}


def ids(messages):
    return [message["id"] for message in messages]


def consecutive(numbers):
    return bool(numbers) and numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def reset(peer):
    """Drop the connection as a network does: a TCP reset, and no close frame."""
    peer.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.ws.shutdown()


def until_close(peer, timeout=TIMEOUT):
    """The messages a peer gets until the server closes it, and the close code (None: none)."""
    messages = []
    peer.ws.settimeout(timeout)
    while True:
        try:
            opcode, frame = peer.ws.recv_data_frame(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return messages, None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return messages, int.from_bytes(frame.data[:2], "big") if frame.data else None
        if opcode == websocket.ABNF.OPCODE_TEXT:
            messages.append(json.loads(frame.data))


def log_out(server, name):
    """POST /logout for `name`'s session; the next login of `name` starts another session."""
    token = server.tokens.pop(name)
    request = urllib.request.Request(
        server.url + "logout", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
        assert answer.status == 204


def flush_redis(redis_server):
    """FLUSHALL: Redis loses everything it held, as after a restart without a saved copy."""
    redis = pytest.importorskip("redis", reason="the redis package is missing: pip install redis")
    client = redis.Redis(port=redis_server.port)
    try:
        client.flushall()
    finally:
        client.close()


# One process.


def test_a_newcomer_gets_the_rooms_last_chats_in_its_welcome(start_chat):
    server = start_chat("--history", "3")
    alice = enter(server, "alice")
    epoch = alice.welcome.get("epoch")
    assert isinstance(epoch, str) and epoch, f"the welcome's epoch: {alice.welcome!r}"
    assert (alice.welcome.get("history"), alice.welcome.get("recovered")) == ([], True)
    bob = enter(server, "bob", "general")
    say(bob, "in another room")

    alice.send({"type": "typing", "value": True})
    live = [say(alice, "one"), say(alice, "two", cid="my-2"), say(alice, "three")]
    alice.send({"type": "typing", "value": False})
    assert live[1]["cid"] == "my-2"
    assert consecutive(ids(live)), live
    carol = enter(server, "carol")
    assert carol.welcome["history"] == [as_sent(m) for m in live]  # no typing, join or leave
    assert (carol.welcome["recovered"], carol.welcome["epoch"]) == (True, epoch)

    live += [say(alice, "four"), say(alice, "five")]
    dave = enter(server, "dave")
    assert dave.welcome["history"] == [as_sent(m) for m in live[-3:]]  # the last 3, oldest first
    assert dave.welcome["epoch"] == epoch
    assert [m["value"] for m in enter(server, "erin", "general").welcome["history"]] == [
        "in another room"
    ]


def test_ids_count_up_by_one_per_chat_in_each_room_on_its_own(start_chat):
    server = start_chat()
    alice = enter(server, "alice")
    bob = enter(server, "bob", "general")
    lobby, general = [], []
    for n in range(6):
        lobby.append(say(alice, f"lobby {n}"))
        if n % 2:
            general.append(say(bob, f"general {n}"))
    lobby.append(say(alice, "to myself", to="alice"))  # a direct message takes an id too
    assert ids(lobby) == [1, 2, 3, 4, 5, 6, 7]
    assert ids(general) == [1, 2, 3]
    assert ids(enter(server, "carol", "general").welcome["history"]) == [1, 2, 3]


def test_a_direct_message_in_history_reaches_only_its_two_parties(start_chat):
    server = start_chat()
    alice, bob, carol = enter(server, "alice"), enter(server, "bob"), enter(server, "carol")
    before = say(carol, "hello all")
    dm = say(alice, "psst", to="bob")
    after = say(alice, "hello again")
    assert bob.recv_type("chat") == as_sent(before)
    assert bob.recv_type("chat") == as_sent(dm)  # the recipient got it live exactly so
    everyone, parties = [before, after], [before, dm, after]
    for viewer, sees in [
        (enter(server, "alice"), parties),  # another tab of the sender's session
        (enter(server, "bob"), parties),
        (enter(server, "carol"), everyone),
        (enter(server, "dave"), everyone),  # a later login of another name
    ]:
        assert viewer.welcome["history"] == [as_sent(m) for m in sees], viewer.name
        assert viewer.welcome["recovered"] is True, viewer.name
    # Not seeing someone else's direct message is not missing anything.
    resumed = resume(server, "carol", before)
    assert resumed.welcome["history"] == [as_sent(after)]
    assert resumed.welcome["recovered"] is True


def test_a_direct_message_in_history_is_not_shown_to_later_sessions_of_its_names(start_chat):
    server = start_chat()
    alice, bob = enter(server, "alice"), enter(server, "bob")
    say(alice, "psst", to="bob")
    public = say(alice, "hello all")
    log_out(server, "bob")
    log_out(server, "alice")
    assert bob.close_frame() == 4003 and alice.close_frame() == 4003
    for name in ("bob", "alice"):  # new sessions, which did not hold these names back then
        assert enter(server, name).welcome["history"] == [as_sent(public)], name


def test_a_reconnect_after_a_dropped_connection_gets_exactly_the_missed_chats(start_chat):
    server = start_chat()
    alice, bob = enter(server, "alice"), enter(server, "bob")
    sent = [say(alice, f"before {n}") for n in range(4)]
    seen = chats(bob, 2)  # the other two reached bob's socket, but he never read them
    reset(bob)
    assert alice.recv_type("leave") == {"type": "leave", "from": "bob"}
    sent += [say(alice, f"while away {n}") for n in range(3)]

    back = enter(server, "bob", since=seen[-1]["id"], epoch=bob.welcome["epoch"])
    assert back.welcome["history"] == [as_sent(m) for m in sent[2:]]
    assert back.welcome["recovered"] is True
    assert back.welcome["epoch"] == bob.welcome["epoch"]
    say(alice, "after")
    later = back.recv_type("chat")
    back.nothing_within(QUIET, ignore=PRESENCE)
    everything = ids(seen + back.welcome["history"] + [later])
    assert consecutive(everything), everything  # each once, in order, none missing


def test_a_gap_beyond_the_history_or_another_epoch_gets_everything_kept_and_recovered_false(
    start_chat,
):
    server = start_chat("--history", "3")
    alice = enter(server, "alice")
    epoch = alice.welcome["epoch"]
    sent = [say(alice, f"chat {n}") for n in range(5)]
    assert ids(sent) == [1, 2, 3, 4, 5]
    kept = [as_sent(m) for m in sent[2:]]

    def welcome(since, epoch):
        return enter(server, "bob", since=since, epoch=epoch).welcome

    for since, expected in [(0, False), (1, False), (2, True)]:  # chat 2 is gone after 1
        got = welcome(since, epoch)
        assert (got["history"], got["recovered"]) == (kept, expected), f"since={since}"
    got = welcome(3, epoch)
    assert (got["history"], got["recovered"]) == (kept[1:], True)
    for since in (0, 4, 5):
        got = welcome(since, "not-" + epoch)
        assert (got["history"], got["recovered"]) == (kept, False), f"another epoch, since={since}"
        assert got["epoch"] == epoch
    for since in (5, 6, 1000):
        got = welcome(since, epoch)
        assert (got["history"], got["recovered"], got["epoch"]) == ([], True, epoch), since


def test_a_newcomer_to_a_room_that_outgrew_its_history_hears_that_some_are_gone(start_chat):
    server = start_chat("--history", "3")
    alice = enter(server, "alice")
    sent = [say(alice, f"chat {n}") for n in range(4)]  # chat 1 is no longer kept
    newcomer = enter(server, "bob").welcome
    assert (newcomer["history"], newcomer["recovered"]) == ([as_sent(m) for m in sent[1:]], False)


def test_empty_rooms_keep_their_history_up_to_max_rooms_of_them_the_longest_silent_goes(
    start_chat,
):
    server = start_chat("--max-rooms", "2")
    last = {}
    for room in ("one", "two", "three"):  # each empty again once its chat is back
        peer = enter(server, "alice", room)
        last[room] = say(peer, f"in {room}")
        peer.close()
    assert enter(server, "bob", "two").welcome["history"] == [as_sent(last["two"])]
    gone = resume(server, "bob", last["one"], room="one").welcome
    assert (gone["history"], gone["recovered"]) == ([], False)
    assert gone["epoch"] != last["one"]["epoch"]


@pytest.mark.parametrize(
    "query",
    ["since=1", "epoch={epoch}", "since=-1&epoch={epoch}", "since=1.5&epoch={epoch}"]
    + ["since=one&epoch={epoch}", "since=&epoch={epoch}"],
)
def test_a_bad_since_or_epoch_gets_400_and_no_upgrade(start_chat, query):
    server = start_chat()
    epoch = enter(server, "alice").welcome["epoch"]
    path = f"{ws_path(login(server, 'bob'))}&{query.format(epoch=urllib.parse.quote(epoch))}"
    status, response = handshake_status(server, path)
    assert status == 400, f"{query} answered {response!r}"
    assert handshake_status(server, f"{ws_path(login(server, 'bob'))}&since=0&epoch=x")[0] == 101


def test_a_restart_without_redis_starts_a_new_epoch(start_chat):
    first = start_chat()
    last = say(enter(first, "alice"), "before the restart")
    first.stop()
    second = start_chat()
    back = resume(second, "alice", last)
    assert back.welcome["epoch"] != last["epoch"]
    assert (back.welcome["history"], back.welcome["recovered"]) == ([], False)
    assert say(back, "after the restart")["id"] == 1


def test_a_chat_sent_twice_with_one_cid_is_broadcast_once(start_chat):
    server = start_chat()
    alice, alice_tab, bob = enter(server, "alice"), enter(server, "alice"), enter(server, "bob")
    first = say(alice, "once", cid="c-1")
    assert first["cid"] == "c-1"
    for peer in (alice_tab, bob):
        assert peer.recv_type("chat") == as_sent(first)

    alice.send({"type": "chat", "value": "once, again", "cid": "c-1"})  # whatever its value
    assert alice.recv_type("sent") == {"type": "sent", "cid": "c-1", "id": first["id"]}
    alice_tab.send({"type": "chat", "value": "once", "cid": "c-1"})
    assert alice_tab.recv_type("sent") == {"type": "sent", "cid": "c-1", "id": first["id"]}
    for peer in (alice, alice_tab, bob):
        peer.nothing_within(QUIET, ignore=PRESENCE)  # no chat twice, no "sent" to the other tab

    reset(alice)  # she did not see her chat come back, so she sends it again after a reconnect
    again = enter(server, "alice")
    assert again.welcome["history"] == [as_sent(first)]
    again.send({"type": "chat", "value": "once", "cid": "c-1"})
    assert again.recv_type("sent") == {"type": "sent", "cid": "c-1", "id": first["id"]}
    for peer in (again, alice_tab, bob):
        peer.nothing_within(QUIET, ignore=PRESENCE)


def test_one_cid_from_another_session_or_in_another_room_is_another_chat(start_chat):
    server = start_chat()
    alice, bob = enter(server, "alice"), enter(server, "bob")
    alice_general = enter(server, "alice", "general")
    first = say(alice, "mine", cid="same")
    bobs = say(bob, "mine too", cid="same")
    assert (bobs["from"], bobs["cid"], bobs["id"]) == ("bob", "same", first["id"] + 1)
    assert [m["value"] for m in chats(alice, 1)] == ["mine too"]
    elsewhere = say(alice_general, "in general", cid="same")
    assert (elsewhere["value"], elsewhere["cid"]) == ("in general", "same")
    for peer in (alice, bob, alice_general):
        peer.nothing_within(QUIET, ignore=PRESENCE)


def test_a_refused_chat_gets_an_error_with_its_cid_and_the_cid_stays_free(start_chat):
    server = start_chat("--max-message-bytes", "8")
    alice, bob = enter(server, "alice"), enter(server, "bob")
    refused = [
        ({"value": "nine bytes"}, "too-long"),
        ({"value": ""}, "empty"),
        ({"value": "hi", "to": "nobody"}, "to-nobody"),
        ({"value": "a\x00b"}, "control"),
    ]
    for fields, cid in refused:
        alice.send({"type": "chat", **fields, "cid": cid})
        error = next_message(alice)
        assert (error.get("type"), error.get("cid")) == ("error", cid), f"{cid}: got {error!r}"
        assert isinstance(error.get("value"), str) and error["value"]
    bob.nothing_within(QUIET, ignore=PRESENCE)
    for _, cid in refused:  # never accepted, so never remembered: each is a new chat now
        assert (say(alice, "good", cid=cid)["cid"], bob.recv_type("chat")["cid"]) == (cid, cid)


def test_a_chat_over_the_rate_gets_an_error_with_its_cid_and_the_cid_stays_free(start_chat):
    server = start_chat("--rate", "1")  # a bucket of 2
    alice, bob = enter(server, "alice"), enter(server, "bob")
    for cid in ("r-1", "r-2", "r-3"):
        alice.send({"type": "chat", "value": cid, "cid": cid})
    assert [m["cid"] for m in chats(bob, 2)] == ["r-1", "r-2"]
    error = alice.recv_type("error")
    assert error.get("cid") == "r-3", f"the chat over the rate got {error!r}"
    bob.nothing_within(QUIET, ignore=PRESENCE)
    time.sleep(1.2)  # the bucket refills
    alice.send({"type": "chat", "value": "r-3", "cid": "r-3"})
    assert bob.recv_type("chat")["cid"] == "r-3"


def test_a_bad_cid_gets_an_error_and_nothing_is_sent(start_chat):
    server = start_chat()
    alice, bob = enter(server, "alice"), enter(server, "bob")
    for cid in ("", "x" * 65, 42, True, ["a"], {"a": 1}):
        alice.send({"type": "chat", "value": "hi", "cid": cid})
        error = next_message(alice)
        assert error.get("type") == "error", f"cid {cid!r}: got {error!r}"
        bob.nothing_within(0.2, ignore=PRESENCE)
    longest = say(alice, "hi", cid="x" * 64)
    assert bob.recv_type("chat") == as_sent(longest)


def test_history_0_keeps_nothing_but_ids_still_count(start_chat):
    server = start_chat("--history", "0")
    alice = enter(server, "alice")
    assert (alice.welcome["history"], alice.welcome["recovered"]) == ([], True)
    sent = [say(alice, "one"), say(alice, "two")]
    assert ids(sent) == [1, 2]
    gone = enter(server, "bob", since=1, epoch=alice.welcome["epoch"]).welcome
    assert (gone["history"], gone["recovered"]) == ([], False)
    up_to_date = resume(server, "bob", sent[-1]).welcome
    assert (up_to_date["history"], up_to_date["recovered"]) == ([], True)
    assert say(alice, "three")["id"] == 3


# Several processes on one Redis.


def test_a_newcomer_on_another_process_gets_the_history_and_ids_never_repeat(start_shared):
    a, b = start_shared(), start_shared()
    alice, bob, erin = enter(a, "alice"), enter(b, "bob"), enter(a, "erin")
    alice.recv_type("join")
    bob.recv_type("join")
    sent = [say(alice if n % 2 else bob, f"chat {n}") for n in range(6)]
    assert consecutive(ids(sent)) and sent[0]["id"] == 1, ids(sent)
    assert chats(erin, 6) == [as_sent(m) for m in sent]  # as everyone got them live
    assert alice.welcome["epoch"] == bob.welcome["epoch"]
    for server in (a, b):
        newcomer = enter(server, "carol").welcome
        assert newcomer["history"] == [as_sent(m) for m in sent], server.port
        assert (newcomer["recovered"], newcomer["epoch"]) == (True, alice.welcome["epoch"])


def test_a_direct_message_in_history_reaches_only_its_two_parties_on_any_process(start_shared):
    a, b = start_shared(), start_shared()
    alice, bob = enter(a, "alice"), enter(b, "bob")
    alice.recv_type("join")
    dm = say(alice, "psst", to="bob")
    assert bob.recv_type("chat") == as_sent(dm)
    public = say(bob, "hello all")
    for server, name, sees in [
        (b, "alice", [dm, public]),
        (a, "bob", [dm, public]),
        (b, "carol", [public]),
        (a, "carol", [public]),
    ]:
        history = enter(server, name).welcome["history"]
        assert history == [as_sent(m) for m in sees], f"{name} on {server.port}"


def test_a_dropped_connection_resumes_on_another_process(start_shared):
    a, b = start_shared(), start_shared()
    alice, bob = enter(b, "alice"), enter(a, "bob")
    alice.recv_type("join")
    seen = say(alice, "before")
    assert bob.recv_type("chat") == as_sent(seen)
    reset(bob)
    assert alice.recv_type("leave") == {"type": "leave", "from": "bob"}
    missed = [say(alice, f"while away {n}") for n in range(3)]
    back = resume(b, "bob", seen)
    assert back.welcome["history"] == [as_sent(m) for m in missed]
    assert back.welcome["recovered"] is True


def test_a_cid_sent_on_one_process_and_again_on_another_is_seen_once(start_shared):
    a, b = start_shared(), start_shared()
    alice_a, alice_b, bob = enter(a, "alice"), enter(b, "alice"), enter(b, "bob")
    first = say(alice_a, "once", cid="c-1")
    assert bob.recv_type("chat") == as_sent(first)
    assert alice_b.recv_type("chat") == as_sent(first)
    alice_b.send({"type": "chat", "value": "once", "cid": "c-1"})
    assert alice_b.recv_type("sent") == {"type": "sent", "cid": "c-1", "id": first["id"]}
    for peer in (alice_a, alice_b, bob):
        peer.nothing_within(QUIET, ignore=PRESENCE)


def test_the_history_and_its_epoch_survive_a_restart_of_every_process(start_shared):
    a, b = start_shared(), start_shared()
    alice = enter(a, "alice")
    sent = [say(alice, f"chat {n}") for n in range(3)]
    a.stop()
    b.stop()
    a, b = start_shared(), start_shared()
    newcomer = enter(a, "carol").welcome
    assert newcomer["history"] == [as_sent(m) for m in sent]
    assert (newcomer["epoch"], newcomer["recovered"]) == (sent[0]["epoch"], True)
    back = resume(b, "alice", sent[0])
    assert back.welcome["history"] == [as_sent(m) for m in sent[1:]]
    assert back.welcome["recovered"] is True
    assert say(back, "after the restart")["id"] == sent[-1]["id"] + 1


def test_redis_losing_its_data_closes_the_room_with_1012_and_starts_a_new_epoch(
    start_shared, redis_server
):
    a, b = start_shared(), start_shared()
    alice, bob = enter(a, "alice"), enter(b, "bob")
    alice.recv_type("join")
    sent = [say(alice, f"chat {n}") for n in range(3)]
    assert chats(bob, 3) == [as_sent(m) for m in sent]
    flush_redis(redis_server)
    alice.send({"type": "chat", "value": "after the flush"})
    for peer in (alice, bob):
        messages, code = until_close(peer)
        assert code == 1012, f"{peer.name} got {messages!r} and then close code {code}"
        last = sent[-1]["id"]
        lower = [m for m in messages if m.get("type") == "chat" and m.get("id", last + 1) <= last]
        assert not lower, f"{peer.name} saw ids go down before the close: {lower!r}"

    carol = enter(b, "carol")
    assert carol.welcome["epoch"] != sent[0]["epoch"]
    renewed = ids(carol.welcome["history"]) + [say(carol, "a new start")["id"]]
    assert renewed == list(range(1, len(renewed) + 1)), renewed
    back = resume(a, "bob", sent[-1])
    assert (back.welcome["epoch"], back.welcome["recovered"]) == (carol.welcome["epoch"], False)


def test_redis_back_empty_after_an_outage_closes_the_room_with_1012_and_a_resume_is_not_recovered(
    start_shared, redis_server
):
    a, b = start_shared(), start_shared()
    alice, bob = enter(a, "alice"), enter(b, "bob")
    alice.recv_type("join")
    redis_server.stop()
    assert alice.recv_type("leave") == {"type": "leave", "from": "bob"}
    redis_server.start()  # the same port, empty: the history is lost
    assert alice.recv_type("join", timeout=12) == {"type": "join", "from": "bob"}
    bob.send({"type": "chat", "value": "back"})
    assert until_close(alice)[1] == 1012  # a new epoch: resume, to learn it
    welcome = enter(a, "alice", since=0, epoch=alice.welcome["epoch"]).welcome
    assert [chat["value"] for chat in welcome["history"]] == ["back"]
    assert welcome["recovered"] is False


def test_every_receiver_gets_every_chat_in_id_order_under_load(start_shared):
    a, b = start_shared(), start_shared()
    senders = [enter(a, "alice"), enter(b, "dave"), enter(a, "erin")]
    receivers = [enter(a, "bob"), enter(b, "carol")]
    count = 300
    for n in range(count):
        for sender in senders:
            sender.send({"type": "chat", "value": f"{sender.name} {n}"})
    for peer in receivers + senders:
        got = chats(peer, len(senders) * count, timeout=20)
        assert ids(got) == list(range(1, len(got) + 1)), f"{peer.name}: ids out of order"
        for sender in senders:
            values = [m["value"] for m in got if m["from"] == sender.name]
            assert values == [f"{sender.name} {n}" for n in range(count)], peer.name


def test_while_redis_is_away_chats_reach_this_process_without_ids_and_a_resume_is_not_recovered(
    start_shared, redis_server
):
    a = start_shared()
    alice, bob = enter(a, "alice"), enter(a, "bob")
    before = say(alice, "before")
    assert bob.recv_type("chat") == as_sent(before)
    redis_server.stop()
    wait_until(lambda: "lost Redis" in a.log(), "the process to notice")
    during = say(alice, "while Redis is away")
    assert "id" not in during, during
    assert bob.recv_type("chat") == as_sent(during)

    redis_server.start()  # the same port, empty
    wait_until(lambda: a.log().count("sharing the room") == 2, "Redis again", timeout=12)
    back = resume(a, "bob", before)
    assert back.welcome["recovered"] is False
    assert back.welcome["epoch"] != before["epoch"]
    assert during["value"] not in [m["value"] for m in back.welcome["history"]]
