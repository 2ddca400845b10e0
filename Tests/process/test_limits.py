"""Limits and refusals: every refusal carries a stable code and a retryable flag, and clients
retry by it."""
import json
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
