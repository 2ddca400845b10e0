#!/usr/bin/env python3
"""Where a reading's latency goes, hop by hop: drives a fresh local cluster (as cluster/bench's
runs: --fsync interval, checkpoints every second, the binary feed) at a fixed rate, records the
system calls that mark each hop with `perf record -a` (tracepoints, so the timestamps are the
kernel's) for a second in the middle of the run, and follows each ingest request through them:

    request sent (producer) -> journal written (coordinator) -> batch sent to its workers
    -> results sent back (each worker) -> commands written (coordinator) -> feed published

    cluster/hops.py [--rate 100000] [--seconds 4] [--partitions 64] [--workers 2]

Prints the median and p90 of each hop over the requests traced, the producer's own p50 for the
whole path, and the context switches per request of each process (the thread hand-offs the path
costs). The attribution is by order (the first journal write after a request is its, and so on),
so two requests in flight at once blur a hop by the other's share; at paced rates they are rare.
Needs root and Debian's linux-perf. What docs/benchmarks.md's latency breakdown comes from."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import BIN, Run  # noqa: E402

EVENTS = ["syscalls:sys_enter_sendmsg", "syscalls:sys_enter_pwrite64", "syscalls:sys_enter_write", "sched:sched_switch"]


def tcp_ports():
    """inode -> (local port, remote port) of every TCP socket (IPv4 and IPv6)."""
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            ports[fields[9]] = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def descriptors(pid, ports):
    """fd -> what it is: ("tcp", local port, remote port) or ("file", path)."""
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        match = re.match(r"socket:\[(\d+)\]", target)
        if match and match.group(1) in ports:
            found[int(fd)] = ("tcp", *ports[match.group(1)])
        elif target.startswith("/"):
            found[int(fd)] = ("file", target)
    return found


def roles(cluster, pids):
    """(pid, fd) -> hop marker name, from the ports and paths the processes hold."""
    ports = tcp_ports()
    port = {name: int(url.rsplit(":", 1)[1]) for name, url in
            (("ingest", cluster.ingest_url), ("publish", cluster.publish_url), ("cluster", cluster.cluster_url))}
    worker_ports = {}
    for name in cluster.workers:
        for kind in descriptors(pids[name], ports).values():
            if kind[0] == "tcp" and kind[2] == port["cluster"]:
                worker_ports[kind[1]] = name
    marks = {}
    for fd, kind in descriptors(pids["coordinator"], ports).items():
        if kind[0] == "file" and "/journal/" in kind[1]:
            marks[(pids["coordinator"], fd)] = "journal"
        elif kind[0] == "file" and "/commands/" in kind[1]:
            marks[(pids["coordinator"], fd)] = "commands"
        elif kind[0] == "tcp" and kind[1] == port["cluster"] and kind[2] in worker_ports:
            marks[(pids["coordinator"], fd)] = "deliver:" + worker_ports[kind[2]]
        elif kind[0] == "tcp" and kind[1] == port["publish"]:
            marks[(pids["coordinator"], fd)] = "feed"
    for name in cluster.workers:
        for fd, kind in descriptors(pids[name], ports).items():
            if kind[0] == "tcp" and kind[2] == port["cluster"]:
                marks[(pids[name], fd)] = "results:" + name
    for fd, kind in descriptors(pids["bench"], ports).items():
        if kind[0] == "tcp" and kind[2] == port["ingest"]:
            marks[(pids["bench"], fd)] = "request"
    return marks


def parse(script, marks, pids):
    """The hop markers in time order, per name, and context switches per process."""
    by_pid = {pid: name for name, pid in pids.items()}
    times = {}
    switches = {name: 0 for name in pids}
    line_format = re.compile(r"\s*(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)")
    for line in script.splitlines():
        match = line_format.match(line)
        if not match:
            continue
        pid, _, stamp, event, rest = match.groups()
        pid = int(pid)
        if event == "sched:sched_switch":
            if pid in by_pid:
                switches[by_pid[pid]] += 1
            continue
        fd = re.search(r"fd: (0x[0-9a-f]+)", rest)
        name = marks.get((pid, int(fd.group(1), 16))) if fd else None
        if name:
            times.setdefault(name, []).append(float(stamp))
    return times, switches


def after(series, t):
    """The first time in `series` after `t`, or None."""
    i = bisect_right(series, t)
    return series[i] if i < len(series) else None


def follow(times, workers):
    """Per request, the time of each hop after the one before it (seconds)."""
    hops = {k: [] for k in ("ingest to journal", "journal to delivery", "worker turnaround", "results to command log",
                            "command log to feed", "request to last feed message")}
    for sent in times.get("request", []):
        journal = after(times.get("journal", []), sent)
        if journal is None:
            continue
        ends = []
        for worker in workers:
            delivered = after(times.get("deliver:" + worker, []), journal)
            returned = after(times.get("results:" + worker, []), delivered) if delivered else None
            logged = after(times.get("commands", []), returned) if returned else None
            published = after(times.get("feed", []), logged) if logged else None
            if published is None:
                break
            hops["journal to delivery"].append(delivered - journal)
            hops["worker turnaround"].append(returned - delivered)
            hops["results to command log"].append(logged - returned)
            hops["command log to feed"].append(published - logged)
            ends.append(published)
        else:
            hops["ingest to journal"].append(journal - sent)
            hops["request to last feed message"].append(max(ends) - sent)
    return hops


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="thermoshard-hops-")
    with Run(root, "hops", partitions=args.partitions, workers=args.workers) as cluster:
        bench = subprocess.Popen([BIN, "bench", "--ingest", cluster.ingest_url, "--publish", cluster.publish_url, "--admin", cluster.admin_url,
                                  "--json", "--format", "binary", "--sensors", "100000", "--rate", str(args.rate), "--duration", str(args.seconds)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pids = {"coordinator": cluster.coordinator.pid, **{name: p.pid for name, p in cluster.workers.items()}, "bench": bench.pid}
        # Into the run, past the connection set-up and the first checkpoint round.
        time.sleep(min(1.5, args.seconds / 3))
        marks = roles(cluster, pids)
        data = Path(root) / "hops.data"
        subprocess.run(["perf", "record", "-a", "-e", ",".join(EVENTS), "-o", str(data), "--", "sleep", "1"],
                       check=True, capture_output=True)
        # The journal and the command log may have moved to a new segment (a new descriptor)
        # meanwhile: at 1M readings/s the command log does once a second.
        marks = {**roles(cluster, pids), **marks}
        out, err = bench.communicate(timeout=600)
        if bench.returncode != 0:
            sys.exit(f"bench failed: {err[-2000:]}")
        report = json.loads(out)
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid,tid,time,event,trace"], capture_output=True, text=True).stdout
    times, switches = parse(script, marks, pids)
    hops = follow(times, list(cluster.workers))
    requests = len(hops["request to last feed message"])
    if not requests:
        sys.exit(f"no request could be followed through every hop (markers seen: {sorted((k, len(v)) for k, v in times.items())})")
    print(f"{args.rate:,} readings/s, P={args.partitions}, {args.workers} workers: {requests} requests followed "
          f"(of {len(times.get('request', []))} in the traced second); the producer measured p50 "
          f"{report['latency_us']['p50'] / 1000:.2f} ms, p99 {report['latency_us']['p99'] / 1000:.2f} ms over the whole run")
    print(f"{'hop':34} {'median':>9} {'p90':>9}  (microseconds)")
    for name, values in hops.items():
        values = sorted(values)
        print(f"{name:34} {1e6 * statistics.median(values):9.0f} {1e6 * values[int(0.9 * (len(values) - 1))]:9.0f}")
    print("context switches per request: " + ", ".join(f"{name} {count / max(1, len(times.get('request', []))):.0f}" for name, count in switches.items()))


if __name__ == "__main__":
    main()
