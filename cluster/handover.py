#!/usr/bin/env python3
"""Measures how long moved partitions pause during live scaling: starts a local cluster with
one worker, runs an idempotent producer at a steady rate, grows to 4 workers one at a time,
drains one and SIGKILLs one, then prints the coordinator's pause statistics (from a
partition's revocation, or its owner's death being noticed, until its new owner has restored
it, processed what waited and polled again) and checks the command log against the reference.

    python3 cluster/handover.py [--sensors 100000] [--rate 20000] [--partitions 64]"""
import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chaos import Producer  # noqa: E402
from harness import BIN, Cluster, commands_by_sensor, reference_commands  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    directory = Path(args.dir or tempfile.mkdtemp(prefix="thermoshard-handover-"))
    cluster = Cluster(directory, partitions=args.partitions, checkpoint="1s")
    try:
        cluster.start_coordinator()
        cluster.start_workers(1)
        producer = Producer(cluster, seed=3, sensors=args.sensors, batch=1000, rate=args.rate)
        producer.start()

        def settle(names, what):
            deadline = time.monotonic() + 60
            while len(producer.acknowledged) < args.sensors + 20_000:  # settings for every sensor, then readings
                assert producer.error is None and time.monotonic() < deadline, producer.error
                time.sleep(0.05)
            target = len(producer.acknowledged) + int(args.rate)  # about a second of load per step
            while len(producer.acknowledged) < target:
                assert producer.error is None and time.monotonic() < deadline, producer.error
                time.sleep(0.05)
            status = cluster.wait(lambda s: cluster.balanced(s, names), what=what)
            counts = sorted(len(w["partitions"]) for w in status["workers"])
            print(f"{what}: partition counts {counts}", flush=True)

        names = ["w1"]
        settle(names, "1 worker")
        for n in range(2, 5):
            cluster.start_worker(f"w{n}")
            names.append(f"w{n}")
            settle(names, f"join w{n}")
        subprocess.run([BIN, "drain", "w2", "--admin", cluster.admin_url], check=True, capture_output=True)
        cluster.workers["w2"].wait(timeout=60)
        names.remove("w2")
        settle(names, "drain w2")
        cluster.workers["w3"].send_signal(signal.SIGKILL)
        names.remove("w3")
        settle(names, "SIGKILL w3")
        producer.stopping.set()
        producer.join(timeout=60)
        cluster.wait(cluster.caught_up, timeout=60, what="everything is processed")
        status = cluster.status()
        log = cluster.commands(0)
        same = dict(commands_by_sensor(log)) == dict(reference_commands(producer.acknowledged))
        print(json.dumps({"sensors": args.sensors, "acknowledged": len(producer.acknowledged), "commands": len(log),
                          "log_equals_reference": same, "pauses": status["pauses"]}, indent=2))
        sys.exit(0 if same else 1)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
