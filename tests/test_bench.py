"""The fan-out benchmark still runs, and what it reports adds up (tiny numbers, no timings)."""

import subprocess
import sys

from conftest import ROOT

BENCH = ROOT / "bench" / "fanout.py"
PATIENCE = 120  # seconds: generous, the runs take a few


def run_bench(*flags):
    """Run bench/fanout.py with these flags; the rows of the Markdown table it prints."""
    finished = subprocess.run(
        [sys.executable, str(BENCH), "--workers", "2", *flags],
        check=False,  # a failure is shown with its stderr below
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        cwd=ROOT,
    )
    assert finished.returncode == 0, finished.stderr
    return table_rows(finished.stdout)


def table_rows(text):
    """A Markdown table's rows as dicts, heading -> cell, numbers without their commas."""
    lines = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("|")]
    headings = [cell.strip() for cell in lines[0]]
    return [
        {heading: cell.strip().replace(",", "") for heading, cell in zip(headings, line)}
        for line in lines[2:]  # after the headings and the |---:| line
    ]


def test_a_small_fanout_reaches_every_receiver_once_and_in_order(start_chat):
    server = start_chat("--rate", "0")
    (row,) = run_bench(
        "--url", server.url, "--receivers", "5", "--senders", "2",
        "--rate", "20", "--duration", "1", "--drain", "5",
    )  # fmt: skip
    assert int(row["sent"]) == 20  # 20 chats a second for 1 second
    assert int(row["lost"]) == 0
    assert int(row["reordered"]) == 0
    assert int(row["duplicates"]) == 0
    assert int(row["dropped"]) == 0
    assert int(row["rejected"]) == 0
    assert int(row["receivers"]) == 5
    assert row["p99 ms"] != "n/a", "every chat arrived, so there are latencies"
    assert row["server µs per delivery"] == "n/a", "a chat it did not start: no CPU to read"


def test_a_fanout_on_its_own_chat_says_what_a_delivery_costs_the_server():
    # Ten deliveries cost the server about a millisecond: less than a clock tick of
    # /proc/PID/stat (10 ms), so the CPU must be read finer than that.
    (row,) = run_bench("--receivers", "2", "--senders", "1", "--rate", "5", "--duration", "1")
    assert int(row["lost"]) == 0
    assert float(row["server µs per delivery"]) > 0


def test_users_coming_in_at_once_are_all_welcomed_and_timed():
    (row,) = run_bench("--connect", "20")
    assert int(row["users"]) == 20
    assert int(row["dropped"]) == 0
    assert float(row["logins, s"]) > 0
    assert float(row["in all, s"]) >= float(row["handshakes and welcomes, s"]) > 0


def test_users_come_back_after_the_server_restarts():
    (row,) = run_bench("--restart", "20")
    assert int(row["users"]) == 20
    assert int(row["tries to connect"]) >= 20, "each of them connected again at least once"
    assert float(row["all back after the new one listened, s"]) > 0
    assert float(row["new server CPU, s"]) > 0, "the welcomes came from a new chat.py"


def test_idle_connections_cost_the_server_memory():
    (row,) = run_bench("--idle", "20")
    assert int(row["idle connections"]) == 20
    assert int(row["dropped"]) == 0
    assert float(row["KiB per connection"]) > 0
