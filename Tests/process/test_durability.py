"""Nothing lost, nothing twice: the ingest journal, the command log, idempotent producers,
coordinator crashes and damaged files on disk."""
import json
import random
import subprocess

import pytest

from conftest import BIN, commands_by_sensor, random_workload, reference_commands


def total_head(status):
    return sum(p["head"] for p in status["partitions"])


def assert_log_matches(cluster, items):
    log = cluster.commands(0)
    assert [c["offset"] for c in log] == list(range(len(log)))
    assert len({(c["partition"], c["input_offset"]) for c in log}) == len(log), "a command was logged twice"
    assert dict(commands_by_sensor(log)) == dict(reference_commands(items))
    return log


def test_coordinator_crash_keeps_every_acknowledged_item(cluster):
    cluster.start_coordinator()
    names = cluster.start_workers(2)
    items = random_workload(random.Random(5), sensors=300, count=6000)
    cluster.send_all(items[:3000])
    cluster.wait(cluster.caught_up, what="the first part is processed")
    cluster.send_all(items[3000:5000])  # acknowledged, maybe not processed or checkpointed yet
    cluster.kill_coordinator()
    cluster.restart_coordinator()
    status = cluster.wait(lambda s: cluster.balanced(s, names), what="the workers reconnect by themselves")
    assert total_head(status) == 5000, "every acknowledged item is in the journal"
    cluster.send_all(items[5000:])
    cluster.wait(cluster.caught_up, what="everything is processed")
    assert_log_matches(cluster, items)


def envelope(producer, seq, items):
    return {"producer": producer, "seq": seq, "items": items}


def test_idempotent_producer_retries_append_nothing(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    batch = [{"sensor": 1, "desired": 20, "up": 1, "down": 1}, {"sensor": 1, "temperature": "hot"}, {"sensor": 1, "temperature": 10}]
    first = cluster.ingest(envelope("p1", 7, batch))
    assert first["accepted"] == 2 and first["rejected"][0]["index"] == 1
    assert cluster.ingest(envelope("p1", 7, batch)) == first
    status = cluster.status()
    assert total_head(status) == 2
    assert status["counters"]["duplicate_requests"] == 1
    stale = cluster.ingest(envelope("p1", 6, batch))
    assert stale["accepted"] == 0 and "stale" in stale["error"]
    # Another producer's seq 7 is its own.
    assert cluster.ingest(envelope("p2", 7, batch[:1]))["accepted"] == 1
    # After a crash, the retry still gets the first reply and appends nothing.
    cluster.kill_coordinator()
    cluster._ingest.close()
    cluster._ingest = None
    cluster.restart_coordinator()
    assert cluster.ingest(envelope("p1", 7, batch)) == first
    assert total_head(cluster.status()) == 3
    assert cluster.ingest(envelope("p1", 8, batch[2:]))["accepted"] == 1
    cluster.wait(lambda s: cluster.caught_up(s) and all(p["owner"] for p in s["partitions"]), what="processed")
    assert [c["action"] for c in cluster.commands(0)] == [0]


def test_command_log_cli_and_admin_call(cluster):
    cluster.start_coordinator()
    cluster.start_workers(2)
    items = random_workload(random.Random(8), sensors=50, count=600)
    cluster.send_all(items)
    cluster.wait(cluster.caught_up, what="processed")
    log = assert_log_matches(cluster, items)
    assert len(log) > 10
    out = subprocess.run([BIN, "commands", "--admin", cluster.admin_url, "--from", "0", "--json"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == log
    assert set(lines[0]) >= {"sensor", "action", "heater", "offset", "partition", "input_offset"}
    out = subprocess.run([BIN, "commands", "--admin", cluster.admin_url, "--from", "5"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.splitlines()[0].startswith("5 sensor ")
    assert len(out.splitlines()) == len(log) - 5
    # --follow prints a command that is produced after it started.
    follow = subprocess.Popen([BIN, "commands", "--admin", cluster.admin_url, "--from", str(len(log)), "--follow", "--json"],
                              stdout=subprocess.PIPE, text=True)
    try:
        cluster.send_all([{"sensor": 424242, "desired": 20, "up": 0, "down": 0}, {"sensor": 424242, "temperature": 30}])
        line = json.loads(follow.stdout.readline())
        assert line["sensor"] == 424242 and line["heater"] == "off" and line["offset"] == len(log)
    finally:
        follow.terminate()
        follow.wait(timeout=10)
    bad = json.loads(cluster.request(cluster.admin_url, b'{"command":"commands","limit":0}'))
    assert "limit" in bad["error"]


def test_damaged_checkpoint_and_torn_journal_are_recovered(cluster):
    cluster.start_coordinator()
    names = cluster.start_workers(2)
    items = random_workload(random.Random(21), sensors=200, count=4000)
    cluster.send_all(items[:2000])
    cluster.wait(lambda s: cluster.caught_up(s) and all(p["checkpoint"] == p["head"] for p in s["partitions"]),
                 what="checkpoints cover everything")
    cluster.send_all(items[2000:3000])
    cluster.wait(lambda s: cluster.caught_up(s) and all(p["checkpoint"] == p["head"] for p in s["partitions"]),
                 what="checkpoints cover everything again")
    cluster.kill_coordinator()
    # Damage the newest checkpoint of every partition, and tear the journal's tail.
    for path in (cluster.data / "checkpoints").glob("*.ckpt"):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    segment = sorted((cluster.data / "journal").glob("*.log"))[-1]
    with open(segment, "ab") as f:
        f.write(b"\x40\x00\x00\x00torn")
    cluster.restart_coordinator()
    cluster.wait(lambda s: cluster.balanced(s, names), what="the workers reconnect")
    log = cluster.log("coordinator")
    assert "damaged" in log and "cut off" in log
    cluster.send_all(items[3000:])
    cluster.wait(cluster.caught_up, what="everything is processed")
    # Recovering from the older checkpoints replays more, and repeats no command.
    assert_log_matches(cluster, items)


def test_journal_disk_use_stays_bounded(cluster):
    cluster.start_coordinator("--segment-size", "1")
    cluster.start_workers(2)
    rng = random.Random(3)
    items = random_workload(rng, sensors=1000, count=150_000)
    cluster.send_all(items, batch=2000)
    status = cluster.wait(lambda s: cluster.caught_up(s) and s["counters"]["journal_segments_removed"] > 0
                          and s["counters"]["journal_segments"] <= 3, what="old segments are removed")
    files = list((cluster.data / "journal").glob("*.log"))
    assert len(files) == status["counters"]["journal_segments"]
    assert sum(f.stat().st_size for f in files) < 4 << 20


@pytest.mark.parametrize("policy", ["always", "never"])
def test_fsync_policies(cluster, policy):
    cluster.start_coordinator("--fsync", policy)
    cluster.start_workers(2)
    items = random_workload(random.Random(2), sensors=100, count=2000)
    cluster.send_all(items)
    status = cluster.wait(cluster.caught_up, what="processed")
    assert (status["counters"]["fsyncs"] > 0) == (policy == "always")
    assert_log_matches(cluster, items)
