"""The binary command feed (`--feed binary`) and the binary command-log pages: what fast
subscribers and followers get, checked against the durable command log and the seed's
controller."""
import json
import random
import struct
import subprocess

import pynng

from conftest import BIN, reference_commands, commands_by_sensor, random_workload

RECORD = struct.Struct("<QQIQB")


def decode_feed_batch(message):
    """docs/protocol.md, 'Binary feed': magic, version, count, 29-byte records."""
    assert message[:3] == b"\xfeTF", message[:8]
    assert message[3] == 1
    (count,) = struct.unpack_from("<I", message, 4)
    assert len(message) == 8 + count * RECORD.size
    return [dict(zip(("offset", "sensor", "partition", "input_offset", "action"), RECORD.unpack_from(message, 8 + i * RECORD.size)))
            for i in range(count)]


def test_binary_feed_carries_every_command_of_the_log_in_order(cluster):
    cluster.start_coordinator("--feed", "binary")
    cluster.start_workers(2)
    with pynng.Sub0(dial=cluster.publish_url, recv_timeout=200) as sub:
        sub.recv_buffer_size = 8192
        sub.subscribe(b"")
        # The subscription is live once a sentinel's command arrives.
        sentinel = 2**64 - 1
        cluster.send_all([{"sensor": sentinel, "desired": 0, "up": 0, "down": 0}])
        received, t = [], 100
        while not received:
            cluster.send_all([{"sensor": sentinel, "temperature": t}])
            t = -t
            try:
                received = decode_feed_batch(sub.recv())
            except pynng.exceptions.Timeout:
                pass
        start = received[-1]["offset"] + 1
        items = random_workload(random.Random(4), sensors=300, count=6000)
        cluster.send_all(items, batch=500)
        cluster.wait(cluster.caught_up, what="everything is processed")
        log = cluster.commands(start)
        feed = []
        while len(feed) < len(log):
            feed.extend(c for c in decode_feed_batch(sub.recv()) if c["offset"] >= start)
    assert [c["offset"] for c in feed] == [c["offset"] for c in log], "the feed is the log, in order, without gaps"
    assert [(c["sensor"], c["action"], c["partition"], c["input_offset"]) for c in feed] == \
        [(c["sensor"], c["action"], c["partition"], c["input_offset"]) for c in log]
    expected = reference_commands(items)
    got = commands_by_sensor(log)
    assert {s: got.get(s, []) for s in expected} == dict(expected)
    assert len(log) > 500, "the workload causes commands"


def test_watch_follows_one_sensor_on_the_binary_feed(cluster):
    cluster.start_coordinator("--feed", "binary")
    cluster.start_workers(1)
    cluster.send_all([{"sensor": 42, "desired": 20.0, "up": 1.0, "down": 1.0}, {"sensor": 43, "desired": 20.0, "up": 1.0, "down": 1.0}])
    watch = subprocess.Popen([BIN, "watch", "--publish", cluster.publish_url, "--sensor", "42", "--count", "3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # 30 is above the band (off), 10 below it (on): every reading flips both heaters.
        temperature = 30.0
        for _ in range(200):
            if watch.poll() is not None:
                break
            cluster.send_all([{"sensor": 43, "temperature": temperature}, {"sensor": 42, "temperature": temperature}])
            temperature = 40.0 - temperature
            cluster.wait(cluster.caught_up, what="the readings are processed")
        out, err = watch.communicate(timeout=10)
    finally:
        watch.kill()
    assert watch.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 3 and all(e["sensor"] == 42 for e in events), out
    assert [e["heater"] for e in events[:2]] in (["off", "on"], ["on", "off"])


def test_binary_command_pages_match_the_json_ones(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    items = random_workload(random.Random(9), sensors=100, count=3000)
    cluster.send_all(items, batch=500)
    cluster.wait(cluster.caught_up, what="everything is processed")
    json_page = json.loads(cluster.request(cluster.admin_url, b'{"command":"commands","from":5,"limit":300}'))
    raw = cluster.request(cluster.admin_url, b'{"command":"commands","from":5,"limit":300,"format":"binary"}')
    assert raw[:4] == b"\xfeTL\x01"
    start, end, next_, count = struct.unpack_from("<QQQI", raw, 4)
    records = [RECORD.unpack_from(raw, 32 + i * RECORD.size) for i in range(count)]
    assert (start, end, next_) == (json_page["start"], json_page["end"], json_page["next"])
    assert [(o, s, p, i, a) for o, s, p, i, a in records] == \
        [(c["offset"], c["sensor"], c["partition"], c["input_offset"], c["action"]) for c in json_page["commands"]]
    for bad, reason in [(b'{"command":"commands","format":"xml"}', "format must be json or binary"),
                        (b'{"command":"commands","format":"binary","limit":100001}', "limit must be between 1 and 100000"),
                        (b'{"command":"commands","limit":10001}', "limit must be between 1 and 10000")]:
        reply = json.loads(cluster.request(cluster.admin_url, bad))
        assert reason in reply["error"], reply
    # The CLI reads binary pages and prints the documented NDJSON.
    out = subprocess.run([BIN, "commands", "--admin", cluster.admin_url, "--from", "5", "--json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[:len(json_page["commands"])] == json_page["commands"]
    assert len(lines) == json_page["end"] - 5
