#!/usr/bin/env python3
"""Chaos against a local Thermoshard cluster: one idempotent producer sends settings and
readings (producer id and sequence numbers, retrying on every error) while workers are
SIGKILLed, replaced, SIGSTOPped past the heartbeat timeout, SIGTERMed, and the coordinator is
SIGKILLed and restarted. At the end the durable command log, read from offset 0, must hold for
every sensor exactly what one failure-free controller computes from the acknowledged input.

Used by `cluster/chaos` (as long as asked) and by Tests/process/test_chaos.py (short, fixed
seed). Every loop is bounded in time."""
import argparse
import json
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pynng

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Cluster, commands_by_sensor, reference_commands  # noqa: E402


class Producer(threading.Thread):
    """Sends batches as `{"producer","seq","items"}` envelopes and retries each with the same
    seq until it is acknowledged, so a request is appended exactly once whatever crashes."""

    def __init__(self, cluster, seed, sensors, batch, rate):
        super().__init__(daemon=True)
        self.cluster, self.batch, self.rate = cluster, batch, rate
        self.rng = random.Random(seed)
        self.ids = [self.rng.randrange(0, 2**64) for _ in range(sensors)]
        self.desired = {}
        self.pending_settings = list(self.ids)
        self.acknowledged = []
        self.seq = 0
        self.retries = 0
        self.requests = 0
        self.stopping = threading.Event()
        self.error = None
        self.name_ = f"chaos-{seed}"

    def items(self):
        out = []
        while self.pending_settings and len(out) < self.batch:
            sensor = self.pending_settings.pop()
            self.desired[sensor] = round(self.rng.uniform(15, 30), 2)
            out.append({"sensor": sensor, "desired": self.desired[sensor], "up": 0.5, "down": 1.0})
        while len(out) < self.batch:
            sensor = self.rng.choice(self.ids)
            if self.rng.random() < 0.03:
                self.desired[sensor] = round(self.rng.uniform(15, 30), 2)
                out.append({"sensor": sensor, "desired": self.desired[sensor],
                            "up": round(self.rng.uniform(0, 2), 2), "down": round(self.rng.uniform(0, 2), 2)})
            else:
                out.append({"sensor": sensor, "temperature": round(self.desired[sensor] + self.rng.uniform(-4, 4), 2)})
        return out

    def _socket(self):
        sock = pynng.Req0(recv_timeout=1500, send_timeout=1500)
        sock.dial(self.cluster.ingest_url, block=False)
        return sock

    def run(self):
        sock = self._socket()
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                items = self.items()
                self.seq += 1
                payload = json.dumps({"producer": self.name_, "seq": self.seq, "items": items}).encode()
                deadline = time.monotonic() + 60
                while True:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"request seq {self.seq} not acknowledged within 60 s")
                    try:
                        sock.send(payload)
                        reply = json.loads(sock.recv())
                    except pynng.exceptions.NNGException:
                        self.retries += 1
                        sock.close()
                        sock = self._socket()
                        time.sleep(0.02)
                        continue
                    if reply.get("error"):
                        self.retries += 1
                        time.sleep(0.02)
                        continue
                    if reply["accepted"] != len(items):
                        raise RuntimeError(f"seq {self.seq}: {reply}")
                    break
                self.requests += 1
                self.acknowledged.extend(items)
                if self.rate:
                    pause = len(items) / self.rate - (time.monotonic() - started)
                    if pause > 0:
                        time.sleep(pause)
        except Exception as error:  # reported by the runner
            self.error = error
        finally:
            sock.close()


def lag_free_partitions(status, heads):
    """True once every partition is owned and has processed past `heads` (replay done)."""
    for p in status["partitions"]:
        if p["owner"] is None or p["state"] != "owned":
            return False
        if p["processed"] < heads.get(p["id"], 0):
            return False
    return True


def wait_serving(cluster, heads, started, timeout=60):
    """Milliseconds from `started` until every partition serves again, replay included."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if lag_free_partitions(cluster.status(), heads):
                return 1000 * (time.monotonic() - started)
        except (pynng.exceptions.NNGException, json.JSONDecodeError):
            pass
        time.sleep(0.005)
    raise AssertionError("partitions did not serve again within %d s\n%s" % (timeout, cluster.log("coordinator")[-3000:]))


def heads_now(cluster):
    return {p["id"]: p["head"] for p in cluster.status()["partitions"]}


def run(directory, seed=1, duration=20.0, sensors=2000, workers=3, batch=200, rate=20000, partitions=16,
        events=None, log=print, tls=None):
    """Runs chaos for about `duration` seconds and returns the verdict (a dict). `tls`: a
    directory from cluster/certs, for a cluster port with mutual TLS."""
    rng = random.Random(seed)
    log(f"chaos: seed {seed}, {sensors} sensors, {workers} workers, {partitions} partitions, {duration:.0f} s, dir {directory}{', TLS' if tls else ''}")
    cluster = Cluster(Path(directory), partitions=partitions, heartbeat="600ms", checkpoint="200ms", tls=tls)
    verdict = {"seed": seed}
    kinds = {"kill": "worker SIGKILL", "stop": "worker SIGSTOP", "coordinator": "coordinator SIGKILL", "term": "worker SIGTERM"}
    failovers = {kind: [] for kind in kinds.values()}
    kills = Counter()
    try:
        cluster.start_coordinator()
        serial = 0

        def add_worker():
            nonlocal serial
            serial += 1
            cluster.start_worker(f"c{serial}")

        for _ in range(workers):
            add_worker()
        cluster.wait(lambda s: cluster.balanced(s), what="the workers own every partition")
        producer = Producer(cluster, seed, sensors, batch, rate)
        producer.start()
        plan = events or ["kill", "stop", "kill", "coordinator", "term", "kill"]
        end = time.monotonic() + duration
        step = 0
        while time.monotonic() < end and producer.error is None:
            event = plan[step % len(plan)]
            step += 1
            time.sleep(rng.uniform(0.3, 1.0))
            live = [name for name, process in cluster.workers.items() if process.poll() is None]
            victim = rng.choice(live)
            heads = heads_now(cluster)
            if event == "kill":
                started = time.monotonic()
                cluster.workers[victim].send_signal(signal.SIGKILL)
                cluster.workers[victim].wait()
                failovers["worker SIGKILL"].append(wait_serving(cluster, heads, started))
                add_worker()
            elif event == "stop":
                started = time.monotonic()
                cluster.workers[victim].send_signal(signal.SIGSTOP)
                cluster.wait(lambda s: victim not in [w["id"] for w in s["workers"]], what=f"{victim} declared dead")
                failovers["worker SIGSTOP"].append(wait_serving(cluster, heads, started))
                cluster.workers[victim].send_signal(signal.SIGCONT)
                # It learns it was fenced and registers again.
                cluster.wait(lambda s: victim in [w["id"] for w in s["workers"]], what=f"{victim} rejoined")
            elif event == "coordinator":
                started = time.monotonic()
                cluster.kill_coordinator()
                cluster.restart_coordinator()
                failovers["coordinator SIGKILL"].append(wait_serving(cluster, heads, started))
            elif event == "term":
                started = time.monotonic()
                cluster.workers[victim].send_signal(signal.SIGTERM)
                code = cluster.workers[victim].wait(timeout=30)
                assert code == 0, f"{victim} exited {code} after SIGTERM"
                failovers["worker SIGTERM"].append(wait_serving(cluster, heads, started))
                add_worker()
            kills[event] += 1
            log(f"  {event:<11} {victim:<4} -> serving again after {failovers[kinds[event]][-1]:.0f} ms;"
                f" acknowledged {len(producer.acknowledged)}")
        producer.stopping.set()
        producer.join(timeout=90)
        if producer.error:
            raise producer.error
        assert not producer.is_alive(), "the producer did not finish its last request"
        cluster.wait(lambda s: cluster.caught_up(s) and all(p["owner"] for p in s["partitions"]), timeout=60, what="everything is processed")
        expected = reference_commands(producer.acknowledged)
        log_entries = cluster.commands(0)
        actual = commands_by_sensor(log_entries)
        lost = duplicated = wrong = 0
        for sensor in set(expected) | set(actual):
            e, a = expected.get(sensor, []), actual.get(sensor, [])
            if e != a:
                wrong += 1
                lost += max(0, len(e) - len(a))
                duplicated += max(0, len(a) - len(e))
        keys = Counter((c["partition"], c["input_offset"]) for c in log_entries)
        duplicated += sum(n - 1 for n in keys.values() if n > 1)
        offsets_ok = [c["offset"] for c in log_entries] == list(range(len(log_entries)))
        counters = cluster.status()["counters"]
        all_failovers = [ms for values in failovers.values() for ms in values]
        verdict.update({
            "acknowledged": len(producer.acknowledged),
            "requests": producer.requests,
            "retries": producer.retries,
            "duplicate_requests_answered": counters["duplicate_requests"],
            "commands": len(log_entries),
            "expected_commands": sum(len(v) for v in expected.values()),
            "sensors_wrong": wrong,
            "lost": lost,
            "duplicated": duplicated,
            "offsets_contiguous": offsets_ok,
            "events": dict(kills),
            "fenced": counters["fenced"],
            "suppressed_replayed_commands": counters["duplicate_commands_suppressed"],
            "failover_ms": {kind: {"median": round(statistics.median(v)), "max": round(max(v)), "count": len(v)}
                            for kind, v in failovers.items() if v},
            "failover_ms_all": {"median": round(statistics.median(all_failovers)), "max": round(max(all_failovers))} if all_failovers else None,
        })
        verdict["ok"] = lost == 0 and duplicated == 0 and wrong == 0 and offsets_ok and len(log_entries) > 0
        return verdict
    finally:
        cluster.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30, help="seconds of chaos (default 30)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    parser.add_argument("--sensors", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--rate", type=float, default=20000, help="items per second the producer aims at (0: as fast as it can)")
    parser.add_argument("--batch", type=int, default=500, help="items per request")
    parser.add_argument("--dir", default=None, help="run directory (default: a new temporary one, kept)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1, 1_000_000)
    directory = args.dir or tempfile.mkdtemp(prefix="thermoshard-chaos-")
    verdict = run(directory, seed=seed, duration=args.duration, sensors=args.sensors, workers=args.workers,
                  batch=args.batch, rate=args.rate, partitions=args.partitions)
    if args.json:
        print(json.dumps(verdict, indent=2))
    else:
        print(f"verdict: {'OK' if verdict['ok'] else 'FAILED'} (seed {seed})")
        for key in ["acknowledged", "requests", "retries", "duplicate_requests_answered", "commands", "expected_commands",
                    "lost", "duplicated", "sensors_wrong", "offsets_contiguous", "events", "fenced", "suppressed_replayed_commands"]:
            print(f"  {key:<30} {verdict[key]}")
        for kind, figures in verdict["failover_ms"].items():
            print(f"  failover {kind:<21} median {figures['median']} ms, max {figures['max']} ms ({figures['count']}x)")
        print(f"  logs and data in {directory}")
    sys.exit(0 if verdict["ok"] else 1)


if __name__ == "__main__":
    main()
