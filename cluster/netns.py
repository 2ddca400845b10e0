#!/usr/bin/env python3
"""Thermoshard across hosts, on one machine: the coordinator and each worker get their own
network namespace (ip netns), joined by veth pairs with private addresses that exist inside
the namespaces only. Under steady load from an idempotent producer, one worker's link is cut:
the coordinator must notice (heartbeat timeout), hand its partitions to the others, and fence
the cut-off worker; when the link heals the worker must learn it was fenced, register again and
get partitions back. At the end the command log must equal the reference controller's output.

    cluster/netns [--workers 3] [--cut-seconds 3] [--json]

Needs root (ip netns). Namespaces are named ts<pid>-c and ts<pid>-w<i> and removed at the end,
also on failure. The cluster port uses mutual TLS (certificates from cluster/certs); the
coordinator's other ports stay on its namespace's loopback."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


class Hosts:
    """A coordinator namespace and one namespace per worker, each worker on its own veth link:
    coordinator side 10.77.<i>.1, worker side 10.77.<i>.2."""

    def __init__(self, workers, tag=None):
        self.tag = tag or f"ts{os.getpid()}"
        self.coordinator = f"{self.tag}-c"
        self.workers = [f"{self.tag}-w{i}" for i in range(1, workers + 1)]

    def link(self, i):
        return f"{self.tag[-6:]}c{i}"  # the coordinator-side veth (names are at most 15 bytes)

    def up(self):
        sh("ip", "netns", "add", self.coordinator)
        sh("ip", "-n", self.coordinator, "link", "set", "lo", "up")
        for i, ns in enumerate(self.workers, start=1):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            peer = f"{self.tag[-6:]}w{i}"
            sh("ip", "link", "add", self.link(i), "netns", self.coordinator, "type", "veth", "peer", "name", peer, "netns", ns)
            sh("ip", "-n", self.coordinator, "addr", "add", f"10.77.{i}.1/24", "dev", self.link(i))
            sh("ip", "-n", ns, "addr", "add", f"10.77.{i}.2/24", "dev", peer)
            sh("ip", "-n", self.coordinator, "link", "set", self.link(i), "up")
            sh("ip", "-n", ns, "link", "set", peer, "up")
        return self

    def down(self):
        for ns in [self.coordinator, *self.workers]:
            sh("ip", "netns", "del", ns, check=False)

    def cut(self, i):
        sh("ip", "-n", self.coordinator, "link", "set", self.link(i), "down")

    def heal(self, i):
        sh("ip", "-n", self.coordinator, "link", "set", self.link(i), "up")


def scenario(hosts, directory, cut_seconds=3.0, log=print):
    """Runs inside the coordinator's namespace (the producer and the checks talk to it on its
    loopback; the workers reach it over their veth links)."""
    import pynng  # noqa: F401  (the harness needs it; fail early if missing)
    from chaos import Producer, wait_serving, heads_now
    from harness import Cluster, commands_by_sensor, reference_commands

    # The cluster port faces the other hosts: mutual TLS, with a throwaway CA whose coordinator
    # certificate names each link's address. The other ports stay on the namespace's loopback.
    certs = Path(directory) / "certs"
    sans = [arg for i in range(1, len(hosts.workers) + 1) for arg in ("--san", f"10.77.{i}.1")]
    sh(str(HERE / "certs"), str(certs), *sans)
    cluster = Cluster(Path(directory), partitions=24, heartbeat="800ms", checkpoint="200ms", listen_host="0.0.0.0", tls=certs)
    for kind in ("ingest", "publish", "admin"):
        cluster.listen[kind] = cluster.listen[kind].replace("0.0.0.0", "127.0.0.1")
    port = cluster.ports[2]
    verdict = {}
    try:
        cluster.start_coordinator()
        names = []
        for i, ns in enumerate(hosts.workers, start=1):
            name = f"w{i}"
            names.append(name)
            cluster.start_worker(name, coordinator_url=f"tls+tcp://10.77.{i}.1:{port}", prefix=("ip", "netns", "exec", ns))
        cluster.wait(lambda s: cluster.balanced(s, names), what="workers in their namespaces own every partition")
        log(f"{len(names)} workers in namespaces {', '.join(hosts.workers)} own every partition")
        producer = Producer(cluster, seed=5, sensors=5000, batch=200, rate=10000)
        producer.start()

        def load(more):
            target = len(producer.acknowledged) + more
            deadline = time.monotonic() + 30
            while len(producer.acknowledged) < target:
                assert producer.error is None and time.monotonic() < deadline, producer.error or "the producer stalled"
                time.sleep(0.01)

        load(3000)
        victim = names[0]
        heads = heads_now(cluster)
        cut_at = time.monotonic()
        hosts.cut(1)
        log(f"cut {victim}'s link")
        cluster.wait(lambda s: victim not in [w["id"] for w in s["workers"]], what=f"{victim} declared dead")
        verdict["detected_ms"] = round(1000 * (time.monotonic() - cut_at))
        verdict["serving_again_ms"] = round(wait_serving(cluster, heads, cut_at))
        status = cluster.wait(lambda s: cluster.balanced(s, names[1:]), what="the others own every partition")
        log(f"{victim} declared dead after {verdict['detected_ms']} ms; all partitions serving again after {verdict['serving_again_ms']} ms")
        fenced_before = status["counters"]["fenced"]
        load(3000)
        remaining = max(0.0, cut_seconds - (time.monotonic() - cut_at))
        time.sleep(remaining)  # keep the link cut for the asked time (not a synchronisation)
        hosts.heal(1)
        healed_at = time.monotonic()
        log(f"healed {victim}'s link")
        status = cluster.wait(lambda s: cluster.balanced(s, names), timeout=60, what=f"{victim} rejoins and gets partitions")
        verdict["rejoined_ms"] = round(1000 * (time.monotonic() - healed_at))
        verdict["fenced_polls"] = status["counters"]["fenced"] - fenced_before
        log(f"{victim} rejoined after {verdict['rejoined_ms']} ms with {len([p for p in status['partitions'] if p['owner'] == victim])} partitions")
        load(3000)
        producer.stopping.set()
        producer.join(timeout=60)
        if producer.error:
            raise producer.error
        cluster.wait(cluster.caught_up, what="everything is processed")
        entries = cluster.commands(0)
        expected = reference_commands(producer.acknowledged)
        verdict["acknowledged"] = len(producer.acknowledged)
        verdict["commands"] = len(entries)
        verdict["log_equals_reference"] = dict(commands_by_sensor(entries)) == dict(expected)
        verdict["duplicates"] = len(entries) - len({(c["partition"], c["input_offset"]) for c in entries})
        verdict["worker_was_told_fenced"] = "fenced off by the coordinator" in cluster.log(victim)
        verdict["ok"] = (verdict["log_equals_reference"] and verdict["duplicates"] == 0
                         and verdict["worker_was_told_fenced"] and verdict["fenced_polls"] > 0)
        return verdict
    finally:
        cluster.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--cut-seconds", type=float, default=3.0, help="how long the link stays cut")
    parser.add_argument("--dir", default=None, help="logs and data (default: a new temporary directory, kept)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--inside", default=None, help=argparse.SUPPRESS)  # internal: run the scenario in this tag's namespaces
    args = parser.parse_args()
    if args.inside:
        hosts = Hosts(args.workers, tag=args.inside)
        verdict = scenario(hosts, args.dir, args.cut_seconds, log=lambda m: print(m, file=sys.stderr, flush=True))
        print(json.dumps(verdict))
        return
    if os.geteuid() != 0:
        sys.exit("cluster/netns needs root (ip netns add)")
    directory = args.dir or tempfile.mkdtemp(prefix="thermoshard-netns-")
    hosts = Hosts(args.workers)
    try:
        hosts.up()
        result = subprocess.run(
            ["ip", "netns", "exec", hosts.coordinator, sys.executable, str(Path(__file__).resolve()),
             "--inside", hosts.tag, "--workers", str(args.workers), "--cut-seconds", str(args.cut_seconds), "--dir", directory],
            stdout=subprocess.PIPE, text=True, timeout=600)
    finally:
        hosts.down()
    if result.returncode != 0 or not result.stdout.strip():
        sys.exit(f"the scenario failed (exit {result.returncode}); logs in {directory}")
    verdict = json.loads(result.stdout.strip().splitlines()[-1])
    if args.json:
        print(json.dumps(verdict, indent=2))
    else:
        print(f"verdict: {'OK' if verdict['ok'] else 'FAILED'}")
        for key, value in verdict.items():
            print(f"  {key:<24} {value}")
        print(f"  logs and data in {directory}")
    sys.exit(0 if verdict["ok"] else 1)


if __name__ == "__main__":
    main()
