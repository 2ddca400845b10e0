"""Limits and refusals: every refusal carries a stable code and a retryable flag; the
idempotent-producer table stays bounded, and at its limit it survives a coordinator crash with
every acknowledged item while retries are answered, not appended twice."""
import json
import re
import struct
import subprocess

import pynng

from conftest import BIN


def total_head(status):
    return sum(p["head"] for p in status["partitions"])


def envelope(producer, seq, items):
    return json.dumps({"producer": producer, "seq": seq, "items": items}).encode()


def binary_readings(count, sensor=1, temperature=20.0):
    return b"\xfeTB\x01\x00" + struct.pack("<I", count) + struct.pack("<BQd", 0, sensor, temperature) * count


class Client:
    """One REQ socket to the ingest address; replies as raw bytes and as JSON."""

    def __init__(self, cluster, timeout=30000):
        self.socket = pynng.Req0(recv_timeout=timeout, send_timeout=timeout)
        self.socket.dial(cluster.ingest_url, block=False)

    def raw(self, body):
        self.socket.send(body)
        return self.socket.recv()

    def send(self, body):
        return json.loads(self.raw(body))

    def close(self):
        self.socket.close()


def assert_refused(reply, code, retryable):
    assert reply["accepted"] == 0, reply
    assert reply["code"] == code, reply
    assert reply["retryable"] is retryable, reply
    assert isinstance(reply["error"], str) and reply["error"], reply
    assert "rejected" not in reply, reply


def test_every_refusal_carries_its_code_and_whether_to_retry(cluster):
    cluster.start_coordinator("--max-buffered", "50")
    client = Client(cluster)
    try:
        # Bytes past the request limit (16 MiB).
        assert_refused(client.send(b" " * ((16 << 20) + 1)), "too_large", False)
        # More items than a request may carry, in JSON and in the binary format.
        assert_refused(client.send(json.dumps([{"sensor": 1, "temperature": 20}] * 100_001).encode()), "too_large", False)
        # Not a request at all.
        for body in [b"not json", b"[1,2", b"\xfeTB\x09\x00\x00\x00\x00\x00", b"\xfeTB\x01\x00\x05\x00\x00\x00",
                     json.dumps({"producer": "p", "items": []}).encode()]:
            assert_refused(client.send(body), "invalid", False)
        # A seq below the producer's last one.
        assert client.send(envelope("p1", 5, [{"sensor": 1, "temperature": 20}]))["accepted"] == 1
        assert_refused(client.send(envelope("p1", 4, [{"sensor": 1, "temperature": 20}])), "stale", False)
        # Too many items waiting for workers (there are none): retry later.
        assert client.send(json.dumps([{"sensor": 2, "temperature": 20}] * 49).encode())["accepted"] == 49
        before = cluster.status()
        assert_refused(client.send(json.dumps([{"sensor": 3, "temperature": 20}] * 2).encode()), "overloaded", True)
        assert_refused(client.send(binary_readings(2)), "overloaded", True)
        # Refusals append nothing, and are counted.
        status = cluster.status()
        assert total_head(status) == total_head(before) == 50
        assert status["counters"]["rejected_requests"] >= 10
        # Item-level rejections are no refusal: no code, the request goes through.
        reply = client.send(json.dumps([{"sensor": 4, "temprature": 20}]).encode())
        assert reply == {"accepted": 0, "rejected": [{"index": 0, "error": "unknown field 'temprature'"}]}
    finally:
        client.close()
    # Admin errors have codes too.
    bad = json.loads(cluster.request(cluster.admin_url, b'{"command":"commands","limit":0}'))
    assert bad["code"] == "invalid" and bad["retryable"] is False and "limit" in bad["error"]
    unknown = json.loads(cluster.request(cluster.admin_url, b'{"command":"explode"}'))
    assert isinstance(unknown["code"], str) and unknown["retryable"] is False


def test_send_retries_while_overloaded_and_goes_on_once_workers_catch_up(cluster, tmp_path):
    cluster.start_coordinator("--max-buffered", "100")
    cluster.send_all([{"sensor": 7, "temperature": 20}] * 100)
    lines = tmp_path / "lines.ndjson"
    lines.write_text("".join(json.dumps({"sensor": 8, "temperature": 20 + i % 3}) + "\n" for i in range(40)))
    with open(lines) as stdin:
        send = subprocess.Popen([BIN, "send", "--ingest", cluster.ingest_url, "--batch", "40"],
                                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The coordinator refuses it (overloaded) at least once before any worker is there...
    cluster.wait(lambda s: s["counters"]["rejected_requests"] >= 1, what="send is refused as overloaded")
    assert send.poll() is None, send.communicate()
    # ...and a worker's checkpoints free the buffer: send's retry of the same lines goes through.
    cluster.start_workers(1)
    out, err = send.communicate(timeout=60)
    assert send.returncode == 0, (out, err)
    assert out.strip() == "accepted 40, rejected 0", (out, err)
    assert total_head(cluster.status()) == 140


LONG_FIELD = "f" * 70  # an item with this unknown field is rejected with an ~85-byte reason


def fill_request(i, seq=1):
    """A producer with the longest ID whose request holds one valid item and twelve rejected
    ones: its kept reply is near the 1 KiB a kept reply may take."""
    producer = f"fill-{i:06d}-".ljust(256, "x")
    items = [{"sensor": 1_000_000 + i, "temperature": 20.0}] + [{"sensor": i, LONG_FIELD: 1}] * 12
    return producer, envelope(producer, seq, items)


def check_kept(kept, first):
    """A retry's reply: the first one word for word, or its counts and first rejections."""
    if kept == first:
        return
    assert len(kept) <= 1024
    kept, first = json.loads(kept), json.loads(first)
    assert kept["accepted"] == first["accepted"]
    assert kept["truncated"] is True and kept["rejected_total"] == len(first["rejected"])
    assert 0 < len(kept["rejected"]) < len(first["rejected"])
    for mine, theirs in zip(kept["rejected"], first["rejected"]):
        assert mine["index"] == theirs["index"]
        assert mine["error"] == theirs["error"] or (mine["error"].endswith("...") and theirs["error"].startswith(mine["error"][:-3]))


def test_a_full_producer_table_survives_a_crash_and_retries_are_answered(cluster):
    cluster.start_coordinator("--segment-size", "1")
    client = Client(cluster)
    acknowledged = 0
    first_replies = {}  # producer -> (request bytes, first reply bytes)

    # The report's scenario, smaller: producers whose requests are rejected item by item.
    bad = [{"sensor": n, "temperature": "hot"} for n in range(20_000)]
    for p in range(10):
        producer = f"rejected-{p}"
        body = envelope(producer, 1, [{"sensor": 5, "temperature": 21.0}] * 10 + bad)
        first = client.raw(body)
        reply = json.loads(first)
        assert reply["accepted"] == 10 and len(reply["rejected"]) == 20_000
        acknowledged += 10
        first_replies[producer] = (body, first)
        check_kept(client.raw(body), first)

    # Producers with the longest IDs and kept replies until the table (16 MiB) is full.
    segments_before = cluster.status()["counters"]["journal_segments"]
    refused = None
    for i in range(40_000):
        producer, body = fill_request(i)
        first = client.raw(body)
        reply = json.loads(first)
        if reply.get("code") == "too_many_producers":
            refused = (producer, body, reply)
            break
        assert reply["accepted"] == 1 and len(reply["rejected"]) == 12, reply
        acknowledged += 1
        first_replies[producer] = (body, first)
    assert refused is not None, "the producer table never filled"
    producers = len(first_replies)
    # At least 16 MiB / 1,294 bytes (the largest entry) are always kept (docs/guarantees.md).
    assert producers >= (16 << 20) // 1294
    assert_refused(refused[2], "too_many_producers", True)
    assert total_head(cluster.status()) == acknowledged, "a refused request appends nothing"
    # Known producers go on while new ones are refused.
    known, body = fill_request(0, seq=2)
    first = client.raw(body)
    assert json.loads(first)["accepted"] == 1
    acknowledged += 1
    first_replies[known] = (body, first)

    # A big table does not make every request roll a segment (1 MiB here) and rewrite it.
    status = cluster.status()
    assert status["counters"]["journal_segments"] - segments_before < 40, status["counters"]

    # Acknowledged plain items until a new segment opens with the full table, then more after it.
    segments = status["counters"]["journal_segments"]
    while cluster.status()["counters"]["journal_segments"] == segments:
        assert client.send(binary_readings(50_000, sensor=11))["accepted"] == 50_000
        acknowledged += 50_000
    for n in range(400):
        assert client.send(json.dumps({"sensor": 12, "temperature": 20.0 + n % 5}).encode())["accepted"] == 1
        acknowledged += 1
    newest = sorted((cluster.data / "journal").glob("*.log"))[-1]
    (length,) = struct.unpack("<I", newest.read_bytes()[:4])
    assert (16 << 20) - 1294 < length <= (16 << 20) + 5, "the newest segment opens with the full table"
    # Retries before the crash, to compare with after it.
    kept_before = {producer: client.raw(body) for producer, (body, _) in list(first_replies.items())[::97]}
    client.close()

    cluster.kill_coordinator()
    cluster._ingest = None
    cluster.restart_coordinator()
    log = cluster.log("coordinator")
    assert "damaged" not in log and "cut off" not in log, log[-2000:]
    recovered = re.findall(r"journal: \d+ records in \d+ segments, (\d+) producers \((\d+) bytes\)", log)[-1]
    assert int(recovered[0]) == len(first_replies) and int(recovered[1]) <= 16 << 20, recovered
    status = cluster.status()
    assert total_head(status) == acknowledged, "every acknowledged item is in the journal"

    client = Client(cluster)
    try:
        for producer, (body, first) in first_replies.items():
            kept = client.raw(body)
            check_kept(kept, first)
            if producer in kept_before:
                assert kept == kept_before[producer], "a retry gets the same reply across the crash"
        status = cluster.status()
        assert total_head(status) == acknowledged, "a retry appends nothing"
        assert status["counters"]["duplicate_requests"] == len(first_replies)
        # Still full of producers heard within the retention: the new one is still refused.
        assert_refused(client.send(refused[1]), "too_many_producers", True)
        assert total_head(cluster.status()) == acknowledged
    finally:
        client.close()
