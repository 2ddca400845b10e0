"""Input that must cost neither data nor service: a second coordinator on the same data
directory, a worker pointed at the wrong port, floods of idle connections, half-sent frames
announcing huge sizes, and command-log followers crowding the admin port."""
import json
import resource
import socket
import struct
import subprocess
import threading
import time

import pynng

from conftest import BIN


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def sp_connect(url, protocol=0x30):
    """A raw TCP connection that completes nng's SP handshake as `protocol` (0x30: REQ)."""
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    connection = socket.create_connection((host, int(port)), timeout=5)
    connection.sendall(b"\x00SP\x00" + struct.pack(">H", protocol) + b"\x00\x00")
    reply = connection.recv(8)
    assert reply[:4] == b"\x00SP\x00", reply
    return connection


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


def test_a_second_coordinator_on_the_same_data_directory_is_refused(cluster):
    cluster.start_coordinator()
    second = subprocess.run(
        [BIN, "coordinator", "--data", str(cluster.data), "--ingest", "tcp://127.0.0.1:0", "--publish", "tcp://127.0.0.1:0",
         "--cluster", "tcp://127.0.0.1:0", "--admin", "tcp://127.0.0.1:0"],
        capture_output=True, text=True, timeout=20)
    assert second.returncode != 0
    output = second.stdout + second.stderr
    assert "in use by another coordinator" in output, output
    assert f"pid {cluster.coordinator.pid}" in output, output
    # The first one is unharmed, and once it stops the directory can be used again.
    assert cluster.status()["partition_count"] == cluster.partitions
    cluster.coordinator.terminate()
    assert cluster.coordinator.wait(timeout=10) == 0
    cluster.start_coordinator()
    assert cluster.status()["partition_count"] == cluster.partitions


def test_a_worker_pointed_at_the_ingest_port_backs_off(cluster):
    cluster.start_coordinator()
    worker = cluster.start_worker("lost", coordinator_url=cluster.ingest_url)
    wait_for(lambda: "not a cluster protocol reply" in cluster.log("lost"), what="the worker reports the wrong port")
    start = cluster.status()["counters"]["rejected_requests"]
    time.sleep(3)  # the quantity under test is what happens over time
    refused = cluster.status()["counters"]["rejected_requests"] - start
    # Capped exponential backoff (50 ms doubling to 2 s): a handful of attempts, not thousands.
    assert refused <= 20, f"{refused} requests in 3 s"
    log = cluster.log("lost")
    assert log.count("not a cluster protocol reply") <= 2, log[-2000:]
    assert "7602" in log  # it names the port it probably meant
    worker.terminate()
    assert worker.wait(timeout=5) == 0


def test_idle_connections_neither_exhaust_descriptors_nor_stop_the_coordinator(cluster):
    # The coordinator runs with 1024 descriptors and may not raise the limit.
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    cluster._spawn = _spawn_with(cluster, low_limit)
    cluster.start_coordinator()
    cluster.start_workers(2)
    settings = [{"sensor": s, "desired": 20, "up": 1, "down": 1} for s in range(200)]
    cluster.send_all(settings)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    idle = []
    try:
        for _ in range(1100):
            idle.append(sp_connect(cluster.cluster_url))
        status = wait_for(lambda: (lambda s: s if s["connections"]["cluster"]["refused"] > 0 else None)(cluster.status()),
                          what="connections beyond the limit are refused")
        limit = status["connections"]["cluster"]["limit"]
        assert status["connections"]["cluster"]["open"] <= limit
        # Checkpoints keep being written (they need new descriptors) while the flood holds.
        before = status["counters"]["checkpoints"]
        cluster.send_all([{"sensor": s, "temperature": 30} for s in range(200)])
        cluster.wait(lambda s: s["counters"]["checkpoints"] > before + 4 and cluster.caught_up(s), what="checkpoints during the flood")
        # Silent connections are closed after the silent timeout (5 s).
        cluster.wait(lambda s: s["connections"]["cluster"]["closed_silent"] > 0, what="silent connections closed")
    finally:
        for connection in idle:
            connection.close()
    assert cluster.coordinator.poll() is None, cluster.log("coordinator")[-2000:]
    assert "Too many open files" not in cluster.log("coordinator")
    cluster.wait(lambda s: cluster.balanced(s, ["w1", "w2"]), what="both workers still own every partition")


def _spawn_with(cluster, preexec):
    original = cluster._spawn

    def spawn(name, *args, prefix=()):
        if name != "coordinator":
            return original(name, *args, prefix=prefix)
        log = open(cluster.dir / f"{name}.log", "ab")
        return subprocess.Popen([*prefix, BIN, *args], stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec)
    return spawn


def test_half_sent_frames_cannot_make_the_coordinator_hold_much_memory(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    pid = cluster.coordinator.pid
    before = rss_bytes(pid)

    def half_send(announced, body):
        """A frame header announcing `announced` bytes, then `body` bytes of it; never the rest."""
        connection = sp_connect(cluster.cluster_url)
        try:
            connection.sendall(struct.pack(">Q", announced))
            chunk = b"\x00" * (1 << 20)
            for _ in range(body >> 20):
                connection.sendall(chunk)
        except OSError:
            pass  # the coordinator closed it: refused
        return connection

    # Six frames announcing 400 MB with 100 MB sent: over the 64 MiB frame limit, refused at
    # the header (before the limit was 512 MiB and each allocated and filled its buffer).
    refused = [half_send(400_000_000, 100 << 20) for _ in range(6)]
    try:
        held = rss_bytes(pid) - before
        assert held < 100 << 20, f"{held >> 20} MiB held by six half-sent 400 MB frames"
    finally:
        for connection in refused:
            connection.close()
    # Frames under the limit, half sent, are held only until the silent timeout closes them.
    pending = [half_send(60 << 20, 30 << 20) for _ in range(3)]
    try:
        cluster.wait(lambda s: s["connections"]["cluster"]["closed_silent"] >= 3, what="half-sent frames closed")
        wait_for(lambda: rss_bytes(pid) - before < 64 << 20, what="the memory of closed frames is given back")
        cluster.wait(lambda s: cluster.balanced(s, ["w1"]), what="the worker unaffected")
    finally:
        for connection in pending:
            connection.close()


def test_status_answers_promptly_while_followers_wait(cluster):
    cluster.start_coordinator()
    followers = [subprocess.Popen([BIN, "commands", "--admin", cluster.admin_url, "--from", "0", "--follow"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(24)]
    try:
        # Let every follower get its first long poll in.
        time.sleep(1.5)  # the condition under test is a crowd of waiting followers
        for _ in range(10):
            # Served beside the long polls, not behind them: with one context for everything
            # 24 followers holding it up to 1 s each made status time out.
            status = json.loads(cluster.request(cluster.admin_url, b'{"command":"status"}', timeout=2000))
            assert status["partition_count"] == cluster.partitions
        assert all(f.poll() is None for f in followers), "a follower died"
    finally:
        for follower in followers:
            follower.kill()
            follower.wait()


def test_a_second_worker_with_a_live_workers_name_waits_and_takes_over_when_it_dies(cluster):
    cluster.start_coordinator()
    first = cluster.start_worker("w1")
    cluster.wait(lambda s: cluster.balanced(s, ["w1"]), what="w1 owns every partition")
    incarnation = cluster.status()["workers"][0]["incarnation"]
    log = open(cluster.dir / "second.log", "ab")
    second = subprocess.Popen([BIN, "worker", "--coordinator", cluster.cluster_url, "--id", "w1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "name in use" in cluster.log("second"), what="the newcomer is told the name is in use")
        status = cluster.status()
        assert second.poll() is None, "the newcomer gave up"
        assert [w["incarnation"] for w in status["workers"]] == [incarnation], "the incumbent was thrown out"
        assert status["counters"]["workers_lost"] == 0
        first.kill()
        first.wait()
        cluster.wait(lambda s: cluster.balanced(s, ["w1"]) and s["workers"][0]["incarnation"] != incarnation,
                     what="the newcomer registers once the incumbent is gone")
        assert cluster.log("second").count("name in use") <= 3, cluster.log("second")[-2000:]
    finally:
        second.terminate()
        assert second.wait(timeout=5) == 0
        log.close()
