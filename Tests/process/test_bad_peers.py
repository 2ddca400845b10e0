"""Bad peers on the cluster socket: a client speaking the binary cluster protocol with pynng,
as a worker would (docs/protocol.md, "Cluster protocol"), that sends garbage checkpoints,
reports partitions it cannot restore, or says hello under a live worker's name. The frames are
built here, independently of the Swift encoder."""
import random
import signal
import struct
import time

import pynng

from conftest import commands_by_sensor, random_workload, reference_commands

# --- frames ---------------------------------------------------------------------------------

HELLO, POLL, LEAVE = 1, 2, 3
WELCOME, WORK, FENCED, REFUSED = 16, 17, 18, 19


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mix64(x):
    mask = 2**64 - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def string(s):
    data = s.encode()
    return struct.pack("<H", len(data)) + data


def blob(data):
    return struct.pack("<I", len(data)) + data


def header(kind, version=1):
    return b"\xfeTC" + bytes([version, kind])


def hello(name):
    return header(HELLO) + string(name)


def poll(name, incarnation, results=(), checkpoints=(), released=(), unrestored=None):
    """A poll; `unrestored` (partition, epoch, reason) makes it a version-2 frame."""
    out = bytearray(header(POLL, 1 if unrestored is None else 2) + string(name) + struct.pack("<Q", incarnation))
    out += struct.pack("<I", len(results))
    for partition, epoch, next_offset, commands, dropped in results:
        out += struct.pack("<IQQII", partition, epoch, next_offset, dropped, len(commands))
        for input_offset, sensor, action in commands:
            out += struct.pack("<QQB", input_offset, sensor, action)
    out += struct.pack("<I", len(checkpoints))
    for partition, epoch, next_offset, state in checkpoints:
        out += struct.pack("<IQQ", partition, epoch, next_offset) + blob(state)
    out += struct.pack("<I", len(released))
    for partition, epoch in released:
        out += struct.pack("<IQ", partition, epoch)
    if unrestored is not None:
        out += struct.pack("<I", len(unrestored))
        for partition, epoch, reason in unrestored:
            out += struct.pack("<IQ", partition, epoch) + string(reason)
    return bytes(out)


def encode_state(partition, next_offset, sensors):
    """A partition state as CheckpointCodec writes it: sensors maps id -> (setting or None,
    last action or None)."""
    out = bytearray(b"TSPS" + struct.pack("<HIQI", 1, partition, next_offset, len(sensors)))
    for sensor, (setting, last) in sensors.items():
        desired, up, down = setting or (0.0, 0.0, 0.0)
        flags = (1 if setting else 0) | ({None: 0, 0: 1, 1: 2}[last] << 1)
        out += struct.pack("<QdddB", sensor, desired, up, down, flags)
    out += struct.pack("<I", crc32c(bytes(out)))
    return bytes(out)


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def string(self):
        length = self.take("H")
        self.at += length
        return self.data[self.at - length:self.at].decode()

    def blob(self):
        length = self.take("I")
        self.at += length
        return self.data[self.at - length:self.at]


def decode_reply(data):
    assert data[:3] == b"\xfeTC" and data[3] == 1, data[:8]
    kind, r = data[4], Reader(data[5:])
    if kind == WELCOME:
        return "welcome", dict(zip(["incarnation", "partitions", "poll_wait_ms", "checkpoint_ms"], r.take("QIII")))
    if kind in (FENCED, REFUSED):
        return ("fenced" if kind == FENCED else "refused"), r.string()
    assert kind == WORK, kind
    work = {"assigns": [], "batches": [], "revokes": []}
    for _ in range(r.take("I")):
        partition, epoch, offset = r.take("IQQ")
        work["assigns"].append((partition, epoch, offset, r.blob()))
    for _ in range(r.take("I")):
        partition, epoch, first = r.take("IQQ")
        items = []
        for _ in range(r.take("I")):
            kind, sensor = r.take("BQ")
            items.append({"sensor": sensor, "temperature": r.take("d")} if kind == 0
                         else dict(zip(["sensor", "desired", "up", "down"], (sensor, *r.take("ddd")))))
        work["batches"].append((partition, epoch, first, items))
    for _ in range(r.take("I")):
        work["revokes"].append(r.take("IQ"))
    work["goodbye"] = r.take("B") == 1
    assert r.at == len(r.data), "trailing bytes in a work reply"
    return "work", work


class FakeWorker:
    """A worker written against docs/protocol.md: it registers, polls, steps the controller on
    the batches it gets and reports results, so that the commands it causes are real ones.
    Checkpoints and restore failures are sent only when a test says so."""

    def __init__(self, cluster, name):
        self.name = name
        self.socket = pynng.Req0(recv_timeout=10000, send_timeout=10000)
        self.socket.dial(cluster.cluster_url, block=True)
        self.incarnation = None
        self.owned = {}  # partition -> {"epoch", "next", "sensors"}
        self.assigned = []  # every (partition, epoch) ever assigned

    def exchange(self, frame):
        self.socket.send(frame)
        return decode_reply(self.socket.recv())

    def hello(self):
        kind, body = self.exchange(hello(self.name))
        if kind == "welcome":
            self.incarnation = body["incarnation"]
            self.owned.clear()
        return kind, body

    def poll(self, checkpoints=(), unrestored=None, results=None):
        kind, body = self.exchange(poll(self.name, self.incarnation, results=results or (), checkpoints=checkpoints, unrestored=unrestored))
        assert kind == "work", (kind, body)
        return body

    def step(self, work):
        """Applies a work reply like a worker; returns the results for the next poll."""
        for partition, epoch, offset, _state in work["assigns"]:
            self.assigned.append((partition, epoch))
            self.owned[partition] = {"epoch": epoch, "next": offset, "sensors": {}}
        results = []
        for partition, epoch, first, items in work["batches"]:
            part = self.owned.get(partition)
            if part is None or part["epoch"] != epoch:
                continue
            commands, dropped = [], 0
            for index, item in enumerate(items):
                offset = first + index
                if offset < part["next"]:
                    continue
                part["next"] = offset + 1
                sensor = item["sensor"]
                if "desired" in item:
                    last = part["sensors"].get(sensor, (None, None))[1]
                    part["sensors"][sensor] = ((item["desired"], item["up"], item["down"]), last)
                    continue
                setting, last = part["sensors"].get(sensor, (None, None))
                if setting is None:
                    dropped += 1
                    continue
                desired, up, down = setting
                t = item["temperature"]
                action = 1 if t > desired + up else 0 if t < desired - down else None
                if action is not None and action != last:
                    part["sensors"][sensor] = (setting, action)
                    commands.append((offset, sensor, action))
            results.append((partition, epoch, part["next"], commands, dropped))
        return results

    def checkpoint(self, partition):
        part = self.owned[partition]
        return (partition, part["epoch"], part["next"], encode_state(partition, part["next"], part["sensors"]))

    def close(self):
        self.socket.close()


def counters(cluster):
    return cluster.status()["counters"]


def partition_of(sensor, partitions):
    return mix64(sensor) % partitions


def poll_until(fake, predicate, what, timeout=30):
    """Polls (stepping each reply and reporting its results) until `predicate(fake)` holds."""
    deadline = time.monotonic() + timeout
    results = []
    while time.monotonic() < deadline:
        results = fake.step(fake.poll(results=results))
        if predicate(fake):
            fake.poll(results=results)
            return
    raise AssertionError(f"timed out waiting until {what}")


# --- item B: a hello under a live worker's name ----------------------------------------------

def refused_reason(reply):
    kind, body = reply
    assert kind == "refused", reply
    return body


def test_hello_with_a_live_workers_name_is_refused_and_the_worker_keeps_its_partitions(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    rng = random.Random(13)
    items = random_workload(rng, sensors=60, count=1000)
    cluster.send_all(items[:500])
    cluster.wait(cluster.caught_up, what="w1 processed the first half")
    status = cluster.status()
    incarnation = status["workers"][0]["incarnation"]
    lost = status["counters"]["workers_lost"]
    # 40 hellos on one connection and 20 on fresh ones.
    impostor = FakeWorker(cluster, "w1")
    for _ in range(40):
        reason = refused_reason(impostor.hello())
        assert reason.startswith("name in use"), reason
        assert "w1" in reason
    impostor.close()
    for _ in range(20):
        impostor = FakeWorker(cluster, "w1")
        assert refused_reason(impostor.hello()).startswith("name in use")
        impostor.close()
    status = cluster.status()
    assert status["counters"]["workers_lost"] == lost
    assert status["counters"]["hellos_refused"] == 60
    assert [(w["id"], w["incarnation"]) for w in status["workers"]] == [("w1", incarnation)]
    assert cluster.balanced(status, ["w1"])
    cluster.send_all(items[500:])
    cluster.wait(cluster.caught_up, what="w1 processed the rest")
    assert dict(commands_by_sensor(cluster.commands())) == dict(reference_commands(items))
    assert cluster.status()["workers"][0]["incarnation"] == incarnation
    # One log line per second at most, not one per hello.
    assert cluster.log("coordinator").count("name in use") < 10
    assert "fenced" not in cluster.log("w1")


def test_a_name_is_free_again_once_its_holder_is_dead(cluster):
    cluster.heartbeat = "1500ms"
    cluster.start_coordinator()
    cluster.start_workers(1)
    lost = counters(cluster)["workers_lost"]
    # A stopped worker holds its name until its heartbeat times out, then the newcomer gets it.
    cluster.workers["w1"].send_signal(signal.SIGSTOP)
    try:
        newcomer = FakeWorker(cluster, "w1")
        assert refused_reason(newcomer.hello()).startswith("name in use")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kind, body = newcomer.hello()
            if kind == "welcome":
                break
            assert body.startswith("name in use"), body
            time.sleep(0.05)
        assert kind == "welcome"
        status = counters(cluster)
        assert status["workers_lost"] == lost + 1
        # The same process saying hello again on its connection gets a new incarnation.
        first = newcomer.incarnation
        assert newcomer.hello()[0] == "welcome" and newcomer.incarnation != first
        assert [w["incarnation"] for w in cluster.status()["workers"]] == [newcomer.incarnation]
        newcomer.close()
        cluster.wait(lambda s: s["workers"] == [], what="the newcomer's closed connection ends it")
    finally:
        cluster.workers["w1"].send_signal(signal.SIGCONT)
    # The resumed w1 is fenced and registers again under its name, which is free.
    cluster.wait(lambda s: cluster.balanced(s, ["w1"]), what="the resumed w1 registers again")
    # A killed worker's closed connection frees its name at once: a restart registers.
    cluster.workers["w1"].send_signal(signal.SIGKILL)
    cluster.workers["w1"].wait()
    cluster.wait(lambda s: s["workers"] == [], what="the killed w1 is gone")
    cluster.start_worker("w1")
    cluster.wait(lambda s: cluster.balanced(s, ["w1"]), what="the restarted w1 registers")
    assert counters(cluster)["hellos_refused"] >= 1
