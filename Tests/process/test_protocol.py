"""The public protocol: ingest replies, the binary format, and bad input on every socket."""
import json
import random
import socket
import struct

import pynng

from conftest import Feed


def binary_batch(items, version=1):
    """The binary batch format, encoded independently of the Swift encoder (docs/protocol.md)."""
    out = bytearray(b"\xfeTB" + bytes([version, 0]) + struct.pack("<I", len(items)))
    for item in items:
        if "temperature" in item:
            out += struct.pack("<BQd", 0, item["sensor"], item["temperature"])
        else:
            out += struct.pack("<BQddd", 1, item["sensor"], item["desired"], item["up"], item["down"])
    return bytes(out)


def test_items_are_judged_one_by_one(cluster):
    cluster.start_coordinator()
    items = [
        {"sensor": 1, "temperature": 21.4},
        {"sensor": -1, "temperature": 20},
        {"sensor": 2, "desired": 21.0, "up": 0.5, "down": 0.5},
        {"sensor": 3, "temperature": "hot"},
        {"sensor": 4, "desired": 21.0, "up": -1, "down": 0.5},
        {"sensor": 5, "temperature": -300},
        {"sensor": 1.5, "temperature": 20},
        {"sensor": 18446744073709551616, "temperature": 20},
        {"sensor": 6},
        {"sensor": 7, "temperature": 20, "desired": 20, "up": 1, "down": 1},
        {"sensor": 8, "temprature": 20},
        "text",
    ]
    # 1e999 is valid JSON that overflows a double: not finite (json.dumps cannot write it).
    body = json.dumps(items)[:-1] + ', {"sensor": 18446744073709551615, "temperature": 1e999}]'
    reply = cluster.ingest(body.encode())
    assert reply["accepted"] == 2
    rejected = {r["index"]: r["error"] for r in reply["rejected"]}
    assert sorted(rejected) == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert "sensor" in rejected[1] and "sensor" in rejected[6] and "sensor" in rejected[7]
    assert "temperature" in rejected[3]
    assert "up" in rejected[4]
    assert "273.15" in rejected[5]
    assert "temprature" in rejected[10]
    status = cluster.status()
    assert status["counters"]["accepted"] == 2
    assert status["counters"]["rejected"] == 11


def test_single_item_and_whole_request_errors(cluster):
    cluster.start_coordinator()
    assert cluster.ingest({"sensor": 17, "temperature": 21.4}) == {"accepted": 1, "rejected": []}
    for payload in [b"not json", b"{", b"[1,2", b"\xff\xfe\x00", b"", b"[" * 100000 + b"]" * 100000]:
        reply = cluster.ingest(payload)
        assert reply["accepted"] == 0 and reply["error"], (payload[:20], reply)
    reply = cluster.ingest(b'{"sensor": 1, "temperature": 20} trailing')
    assert reply["accepted"] == 0 and reply["error"]
    assert cluster.status()["counters"]["rejected_requests"] >= 7


def test_binary_batches(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    feed = Feed(cluster, prefix=b"42 ").connect()
    items = [{"sensor": 42, "desired": 20.0, "up": 1.0, "down": 1.0}, {"sensor": 42, "temperature": 25.0},
             {"sensor": 42, "temperature": float("nan")}, {"sensor": 42, "temperature": 10.0}]
    reply = json.loads(cluster.request(cluster.ingest_url, binary_batch(items)))
    assert reply["accepted"] == 3
    assert [r["index"] for r in reply["rejected"]] == [2]
    feed.drain_until(lambda f: f.commands[42] == [1, 0])
    wrong = json.loads(cluster.request(cluster.ingest_url, binary_batch(items, version=9)))
    assert wrong["accepted"] == 0 and "version" in wrong["error"]
    truncated = json.loads(cluster.request(cluster.ingest_url, binary_batch(items)[:-3]))
    assert truncated["accepted"] == 0 and truncated["error"]
    feed.close()


def test_oversized_request_is_refused_and_the_server_goes_on(cluster):
    cluster.start_coordinator()
    big = b"[" + b",".join([b'{"sensor":1,"temperature":20.0}'] * 600000) + b"]"
    assert len(big) > 16 << 20
    reply = json.loads(cluster.request(cluster.ingest_url, big, timeout=30000))
    assert reply["accepted"] == 0 and "exceeds" in reply["error"]
    assert cluster.ingest({"sensor": 1, "temperature": 20})["accepted"] == 1


def test_random_bytes_on_every_socket(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    rng = random.Random(5)
    for _ in range(50):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        assert "error" in json.loads(cluster.request(cluster.ingest_url, garbage))
        assert "error" in json.loads(cluster.request(cluster.admin_url, garbage))
        # A cluster frame that is not one is refused with a reason (see the version test).
        assert len(cluster.request(cluster.cluster_url, garbage)) > 0
    # Raw TCP garbage (not even nng's handshake) on every port: the connection is dropped.
    for port in cluster.ports:
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(bytes(rng.randrange(256) for _ in range(512)))
                s.settimeout(2)
                try:
                    s.recv(100)
                except (socket.timeout, ConnectionResetError):
                    pass
    assert cluster.coordinator.poll() is None and cluster.workers["w1"].poll() is None
    status = cluster.status()
    assert status["counters"]["malformed_frames"] >= 50
    # The cluster is unaffected: a setting and a reading still produce a command.
    feed = Feed(cluster, prefix=b"3 ").connect()
    cluster.send_all([{"sensor": 3, "desired": 20, "up": 1, "down": 1}, {"sensor": 3, "temperature": 0}])
    feed.drain_until(lambda f: f.commands[3] == [0])
    feed.close()


def test_wrong_protocol_version_is_refused_with_a_reason(cluster):
    cluster.start_coordinator()
    name = b"impostor"
    hello = b"\xfeTC" + bytes([9, 1]) + struct.pack("<H", len(name)) + name
    reply = cluster.request(cluster.cluster_url, hello)
    # A "refused" frame (kind 19) in protocol version 1, whose reason names the versions.
    assert reply[:5] == b"\xfeTC\x01\x13", reply
    (length,) = struct.unpack("<H", reply[5:7])
    reason = reply[7:7 + length].decode()
    assert "version 9" in reason and "1" in reason
    assert cluster.status()["workers"] == []


def test_admin_errors(cluster):
    cluster.start_coordinator()
    reply = json.loads(cluster.request(cluster.admin_url, b'{"command":"explode"}'))
    assert "unknown admin command" in reply["error"]
