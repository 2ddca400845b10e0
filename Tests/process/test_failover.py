"""Failover: SIGKILL, heartbeat timeout (SIGSTOP), and graceful leave (SIGTERM)."""
import random
import signal
import socket
import time

import pytest

from conftest import Feed, random_workload, reference_commands


def owners_of(status, worker):
    return [p["id"] for p in status["partitions"] if p["owner"] == worker]


@pytest.mark.parametrize("cluster", ["tcp", "tls"], indirect=True)
def test_sigkill_worker_mid_stream(cluster):
    cluster.start_coordinator()
    names = cluster.start_workers(3)
    feed = Feed(cluster).connect()
    rng = random.Random(99)
    items = random_workload(rng, sensors=400, count=8000)
    half = len(items) // 2
    cluster.send_all(items[:half])
    cluster.wait(cluster.caught_up, what="the first half is processed")
    # Let a checkpoint cover part of it, then keep sending while the worker dies.
    victim = names[1]
    lost = owners_of(cluster.status(), victim)
    assert lost
    cluster.send_all(items[half:half + 1000])
    killed = time.monotonic()
    cluster.workers[victim].send_signal(signal.SIGKILL)
    status = cluster.wait(lambda s: cluster.balanced(s, [names[0], names[2]]), what="survivors own every partition")
    print(f"\nfailover: all partitions owned again {1000 * (time.monotonic() - killed):.0f} ms after SIGKILL")
    assert all(p["epoch"] >= 2 for p in status["partitions"] if p["id"] in lost)
    cluster.send_all(items[half + 1000:])
    cluster.wait(cluster.caught_up, what="everything is processed")
    expected = reference_commands(items)
    feed.drain_until(lambda f: f.total() >= sum(len(v) for v in expected.values()))
    # Settings survived (the commands after the kill follow them) and nothing was lost or repeated.
    assert dict(feed.commands) == dict(expected)
    counters = cluster.status()["counters"]
    assert counters["workers_lost"] == 1
    # Replayed items are not counted twice.
    assert counters["processed"] == counters["accepted"]
    feed.close()


def test_stopped_worker_is_detected_by_heartbeat_and_fenced(cluster):
    cluster.start_coordinator()
    names = cluster.start_workers(2)
    feed = Feed(cluster).connect()
    rng = random.Random(7)
    items = random_workload(rng, sensors=100, count=2000)
    cluster.send_all(items[:1000])
    cluster.wait(cluster.caught_up, what="processed")
    frozen = cluster.workers[names[0]]
    frozen.send_signal(signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        cluster.wait(lambda s: [w["id"] for w in s["workers"]] == [names[1]] and cluster.balanced(s), what="the silent worker is declared dead")
        print(f"\nheartbeat timeout detected and partitions moved after {1000 * (time.monotonic() - stopped):.0f} ms")
        cluster.send_all(items[1000:1500])
    finally:
        frozen.send_signal(signal.SIGCONT)
    # The old incarnation is fenced off; it registers again and gets partitions back.
    cluster.wait(lambda s: cluster.balanced(s, names), what="the resumed worker rejoins")
    cluster.send_all(items[1500:])
    cluster.wait(cluster.caught_up, what="processed")
    expected = reference_commands(items)
    feed.drain_until(lambda f: f.total() >= sum(len(v) for v in expected.values()))
    assert dict(feed.commands) == dict(expected)
    feed.close()


def test_sigterm_worker_leaves_cleanly(cluster):
    cluster.start_coordinator()
    names = cluster.start_workers(2)
    feed = Feed(cluster).connect()
    rng = random.Random(3)
    items = random_workload(rng, sensors=100, count=2000)
    cluster.send_all(items[:1000])
    leaver = cluster.workers[names[0]]
    leaver.send_signal(signal.SIGTERM)
    assert leaver.wait(timeout=20) == 0
    status = cluster.wait(lambda s: cluster.balanced(s, [names[1]]), what="the remaining worker owns every partition")
    assert status["counters"]["workers_lost"] == 0, "a clean leave is not a loss"
    cluster.send_all(items[1000:])
    cluster.wait(cluster.caught_up, what="processed")
    expected = reference_commands(items)
    feed.drain_until(lambda f: f.total() >= sum(len(v) for v in expected.values()))
    assert dict(feed.commands) == dict(expected)
    feed.close()


def test_workers_may_start_before_the_coordinator(cluster):
    """Workers started while no coordinator listens keep dialling (through a failed connection,
    too); once the coordinator starts they register by themselves and process."""
    names = ["early1", "early2"]
    port = int(cluster.cluster_url.rsplit(":", 1)[1])
    # Until the coordinator starts, a plain TCP listener holds its cluster address: each worker's
    # dialler connecting to it proves the worker runs and is trying before the coordinator exists.
    with socket.socket() as stand_in:
        stand_in.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stand_in.bind(("127.0.0.1", port))
        stand_in.listen(8)
        stand_in.settimeout(30)
        for name in names:
            cluster.start_worker(name)
        # A dialler has one connection at a time: two held connections are two workers.
        connections = [stand_in.accept()[0] for _ in names]
        assert all(cluster.workers[name].poll() is None for name in names)
        # Answer with bytes that are not an SP header: each worker drops the connection (and
        # must dial again).
        for connection in connections:
            with connection:
                connection.settimeout(30)
                connection.sendall(b"HTTP/1.0")
                while connection.recv(64):
                    pass
    cluster.start_coordinator()

    def registered(status):
        dead = [name for name in names if cluster.workers[name].poll() is not None]
        assert not dead, f"{dead} exited instead of waiting for the coordinator"
        return cluster.balanced(status, names)

    status = cluster.wait(registered, what="the early workers register")
    assert status["counters"]["workers_lost"] == 0
    feed = Feed(cluster, prefix=b"8 ").connect()
    cluster.send_all([{"sensor": 8, "desired": 20, "up": 1, "down": 1}, {"sensor": 8, "temperature": 10}])
    feed.drain_until(lambda f: f.commands[8] == [0])
    feed.close()


def test_coordinator_restart_keeps_checkpointed_settings(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    cluster.send_all([{"sensor": 9, "desired": 20, "up": 1, "down": 1}, {"sensor": 9, "temperature": 30}])
    cluster.wait(lambda s: cluster.caught_up(s) and all(p["checkpoint"] == p["head"] for p in s["partitions"]), what="checkpointed")
    cluster.coordinator.send_signal(signal.SIGTERM)
    assert cluster.coordinator.wait(timeout=20) == 0
    cluster.start_coordinator()
    cluster.wait(lambda s: cluster.balanced(s, ["w1"]), what="the worker reconnects by itself")
    feed = Feed(cluster, prefix=b"9 ").connect()
    # The setting and the last command ("off") survived: 30 again emits nothing, 10 emits "on".
    cluster.send_all([{"sensor": 9, "temperature": 30}, {"sensor": 9, "temperature": 10}])
    feed.drain_until(lambda f: f.commands[9] == [0])
    feed.close()
