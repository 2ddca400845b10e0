"""SIGTERM ends every process promptly and cleanly, whatever it is doing: a coordinator with
workers, a command-log follower and items flowing; a worker with a coordinator, and one whose
coordinator is not there (never started, or gone). Each must exit 0 within 5 s, 50 times in a
row (THERMOSHARD_SIGTERM_ROUNDS overrides the count)."""
import os
import shutil
import signal
import subprocess
import threading
import time

import pynng

from conftest import BIN

ROUNDS = int(os.environ.get("THERMOSHARD_SIGTERM_ROUNDS", "50"))
EXIT_WITHIN = 5.0


def backtraces(pid):
    """Every thread's stack of a hung process (gdb), to say where it hangs."""
    if not shutil.which("gdb"):
        return "(no gdb for a backtrace)"
    out = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                         capture_output=True, text=True, timeout=60)
    return "\n".join(line for line in out.stdout.splitlines() if line.startswith(("#", "Thread")))


def terminate(process, what):
    """SIGTERMs `process` and asserts it exits 0 within EXIT_WITHIN seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        stacks = backtraces(process.pid)
        process.kill()
        process.wait()
        raise AssertionError(f"{what} still running {EXIT_WITHIN} s after SIGTERM\n{stacks}")
    assert code == 0, f"{what} exited {code} after SIGTERM"


class Producer(threading.Thread):
    """Sends readings for as long as it runs, riding through coordinator restarts."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.stopped = threading.Event()
        self.acknowledged = 0

    def run(self):
        with pynng.Req0(recv_timeout=500, send_timeout=500, resend_time=250) as req:
            req.dial(self.url, block=False)
            items = b"[" + b",".join(b'{"sensor":%d,"temperature":%d}' % (s, 10 + s % 20) for s in range(100)) + b"]"
            while not self.stopped.is_set():
                try:
                    req.send(items)
                    if b'"accepted":100' in req.recv():
                        self.acknowledged += 1
                except pynng.exceptions.NNGException:
                    time.sleep(0.01)

    def stop(self):
        self.stopped.set()
        self.join(timeout=5)


def test_coordinator_exits_promptly_on_sigterm_under_load(cluster):
    cluster.start_coordinator()
    workers = cluster.start_workers(2)
    cluster.send_all([{"sensor": s, "desired": 20, "up": 1, "down": 1} for s in range(100)])
    producer = Producer(cluster.ingest_url)
    producer.start()
    follower_log = open(cluster.dir / "follower.log", "ab")
    try:
        for round in range(ROUNDS):
            if round:
                cluster.start_coordinator()
            cluster.wait(lambda s: cluster.balanced(s, workers), what=f"round {round}: both workers own every partition")
            follower = subprocess.Popen([BIN, "commands", "--admin", cluster.admin_url, "--from", "0", "--follow"],
                                        stdout=subprocess.DEVNULL, stderr=follower_log)
            # Items flow: wait until this coordinator has acknowledged some.
            before = producer.acknowledged
            deadline = time.monotonic() + 10
            while producer.acknowledged < before + 3:
                assert time.monotonic() < deadline, f"round {round}: no items acknowledged"
                time.sleep(0.005)
            terminate(cluster.coordinator, f"round {round}: the coordinator")
            follower.kill()
            follower.wait()
    finally:
        producer.stop()
        follower_log.close()
    log = cluster.log("coordinator")
    assert log.count("coordinator stopped") == ROUNDS, log[-2000:]
    assert "panic" not in log, log[-2000:]


def test_worker_exits_promptly_on_sigterm_with_a_coordinator(cluster):
    cluster.start_coordinator()
    cluster.send_all([{"sensor": s, "desired": 20, "up": 1, "down": 1} for s in range(50)])
    for round in range(ROUNDS):
        name = f"w{round % 2}"
        worker = cluster.start_worker(name)
        cluster.wait(lambda s: cluster.balanced(s, [name]), what=f"round {round}: {name} owns every partition")
        terminate(worker, f"round {round}: worker {name}")
        cluster.wait(lambda s: not s["workers"], what=f"round {round}: {name} has left")


def test_worker_exits_promptly_on_sigterm_without_a_coordinator(cluster):
    # Nothing listens on the cluster port: the worker never registers.
    for round in range(ROUNDS):
        worker = cluster.start_worker(f"w{round}")
        # Wait until it has started (its first log line), then ask it to stop.
        deadline = time.monotonic() + 10
        while "worker started" not in cluster.log(f"w{round}"):
            assert time.monotonic() < deadline, cluster.log(f"w{round}")
            time.sleep(0.005)
        terminate(worker, f"round {round}: a worker with no coordinator")


def test_worker_exits_promptly_on_sigterm_after_its_coordinator_died(cluster):
    cluster.start_coordinator()
    for round in range(min(ROUNDS, 10)):
        if cluster.coordinator.poll() is not None:
            cluster.start_coordinator()
        worker = cluster.start_worker("w1")
        cluster.wait(lambda s: cluster.balanced(s, ["w1"]), what=f"round {round}: w1 owns every partition")
        cluster.kill_coordinator()
        terminate(worker, f"round {round}: a worker whose coordinator was SIGKILLed")


def test_worker_exits_within_its_leave_timeout_when_the_coordinator_is_stopped(cluster):
    # The coordinator is SIGSTOPped: its connection stays open, nothing answers the leave.
    cluster.start_coordinator()
    log = open(cluster.dir / "w1.log", "ab")
    worker = subprocess.Popen([BIN, "worker", "--coordinator", cluster.cluster_url, "--id", "w1", "--leave-timeout", "2s"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        cluster.wait(lambda s: cluster.balanced(s, ["w1"]), what="w1 owns every partition")
        cluster.coordinator.send_signal(signal.SIGSTOP)
        start = time.monotonic()
        terminate(worker, "a worker whose coordinator is stopped")
        elapsed = time.monotonic() - start
        # It waited for the handover as long as it was told to, and no longer than that by much.
        assert elapsed >= 1.5, f"gave up after {elapsed:.1f} s, before its --leave-timeout"
        assert "leave timed out" in cluster.log("w1")
    finally:
        cluster.coordinator.send_signal(signal.SIGCONT)
        log.close()
