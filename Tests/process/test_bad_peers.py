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

    def __init__(self, cluster, name, tls_config=None):
        self.name = name
        self.socket = pynng.Req0(recv_timeout=10000, send_timeout=10000, **({"tls_config": tls_config} if tls_config else {}))
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


# --- item A: checkpoints that are not what they claim, restores that fail --------------------

def test_bad_checkpoints_are_refused_counted_and_the_previous_one_kept(cluster):
    # The fake polls only between the test's steps: a long heartbeat keeps it a member.
    cluster.partitions, cluster.heartbeat = 4, "5s"
    cluster.start_coordinator()
    fake = FakeWorker(cluster, "fake")
    assert fake.hello()[0] == "welcome"
    poll_until(fake, lambda f: len(f.owned) == 4, "the fake worker owns every partition")
    rng = random.Random(11)
    items = random_workload(rng, sensors=60, count=1500)
    half = len(items) // 2
    cluster.send_all(items[:half])
    poll_until(fake, lambda f: sum(p["next"] for p in f.owned.values()) >= half, "the fake processed the first half")
    cluster.wait(cluster.caught_up, what="the fake's results are in")
    # A good checkpoint of every partition: stored.
    fake.poll(checkpoints=[fake.checkpoint(p) for p in range(4)])
    status = cluster.wait(lambda s: all(p["checkpoint"] == p["head"] for p in s["partitions"]), what="checkpoints stored")
    good = {p["id"]: p["checkpoint"] for p in status["partitions"]}

    # More items, processed and reported, then checkpoints that lie.
    cluster.send_all(items[half:half + 300])
    poll_until(fake, lambda f: sum(p["next"] for p in f.owned.values()) >= half + 300, "the fake processed more")
    cluster.wait(cluster.caught_up, what="the fake's results are in")
    target = max(range(4), key=lambda p: len(fake.owned[p]["sensors"]))
    part = fake.owned[target]
    epoch, offset = part["epoch"], part["next"]
    assert offset > good[target]
    # Items the fake receives but does not report: a checkpoint past them would drop their commands.
    cluster.send_all(items[half + 300:half + 340])
    unreported = cluster.status()["partitions"][target]["head"]
    assert unreported > offset
    honest = encode_state(target, offset, part["sensors"])
    foreign = next(s for s in range(10**6) if partition_of(s, 4) != target)
    known = next(iter(part["sensors"]))
    lies = [  # (offset claimed, state)
        (offset, bytes(rng.randrange(256) for _ in range(200))),                                    # garbage
        (offset, honest[:-5] + bytes([honest[-5] ^ 0xFF]) + honest[-4:]),                            # bit flip (checksum)
        (offset, encode_state((target + 1) % 4, offset, part["sensors"])),                          # another partition's
        (offset, encode_state(target, offset - 1, part["sensors"])),                                # another offset
        (offset, encode_state(target, offset, {**part["sensors"], foreign: ((20.0, 1.0, 1.0), None)})),  # a foreign sensor
        (offset, encode_state(target, offset, {**part["sensors"], known: ((float("nan"), 1.0, 1.0), None)})),  # a NaN setting
        (good[target] - 1, encode_state(target, good[target] - 1, part["sensors"])),                # before the stored one
        (unreported, encode_state(target, unreported, part["sensors"])),                           # beyond the results
    ]
    for claimed, lie in lies:
        fake.poll(checkpoints=[(target, epoch, claimed, lie)])
    status = cluster.status()
    entry = status["partitions"][target]
    assert entry["checkpoint"] == good[target], "a bad checkpoint replaced the previous one"
    assert entry["owner"] == "fake" and entry["state"] == "owned"
    assert status["counters"]["checkpoints"] == 4
    assert status["counters"]["bad_checkpoints"] == len(lies), status["counters"]
    assert "checkpoint" in cluster.log("coordinator")

    # The fake disappears; a real worker takes over from the kept checkpoints, replays the rest
    # and the command log is exactly one failure-free controller's.
    fake.close()
    cluster.wait(lambda s: s["workers"] == [], what="the fake is gone")
    cluster.start_worker("w1")
    cluster.wait(lambda s: cluster.balanced(s, ["w1"]), what="w1 owns every partition")
    cluster.send_all(items[half + 340:])
    cluster.wait(cluster.caught_up, what="everything is processed")
    assert dict(commands_by_sensor(cluster.commands())) == dict(reference_commands(items))
    assert "cannot restore" not in cluster.log("w1")


def test_a_partition_that_cannot_be_restored_moves_to_another_worker(cluster):
    cluster.partitions, cluster.heartbeat = 8, "5s"
    cluster.start_coordinator()
    cluster.start_workers(1)
    rng = random.Random(12)
    items = random_workload(rng, sensors=80, count=2000)
    cluster.send_all(items[:1000])
    cluster.wait(cluster.caught_up, what="w1 processed the first half")
    before = counters(cluster)
    fake = FakeWorker(cluster, "fake")
    assert fake.hello()[0] == "welcome"
    # Report every assignment as impossible to restore: each goes back to w1 and never to the
    # fake again (it is one incarnation that could not restore it).
    refused = set()
    deadline = time.monotonic() + 30
    quiet_polls = 0
    while time.monotonic() < deadline and quiet_polls < 20:
        work = fake.poll(unrestored=[(p, e, "test: cannot decode") for p, e in fake.assigned if (p, e) not in refused])
        refused.update(fake.assigned)
        fake.assigned = []
        fake.step(work)
        quiet_polls = quiet_polls + 1 if not work["assigns"] else 0
    assert refused, "the fake was never given a partition"
    partitions = [p for p, _ in refused]
    assert len(partitions) == len(set(partitions)), f"a partition was given again to the worker that could not restore it: {sorted(refused)}"
    status = cluster.wait(lambda s: all(p["owner"] == "w1" and p["state"] == "owned" for p in s["partitions"]), what="w1 owns everything")
    assert status["counters"]["restore_failures"] - before.get("restore_failures", 0) == len(refused)
    assert [w["partitions"] for w in status["workers"] if w["id"] == "fake"] == [[]]
    cluster.send_all(items[1000:])
    cluster.wait(cluster.caught_up, what="everything is processed")
    assert dict(commands_by_sensor(cluster.commands())) == dict(reference_commands(items))
    # Lines about the failures stay few (rate limited), however many polls the fake made.
    assert cluster.log("coordinator").count("could not restore") <= len(refused) + 2
    fake.close()


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
