#!/usr/bin/env python3
"""The standard benchmark scenarios of issue 10, on this machine: each starts a fresh local
cluster (a coordinator and two workers unless a scenario says otherwise, --fsync interval,
checkpoints every second, the binary feed), drives it with `thermoshard bench`, and records the
figures. Writes the results as JSON and regenerates docs/benchmarks.md from them (the median of
--runs runs for each figure).

    cluster/bench [--runs 3] [--quick] [--out run/bench.json] [--no-docs] [--only a,b] [--tls-cost]

Scenarios: the plain C pipeline of ../shared/limit (right before each binary throughput run,
for the ratio), max throughput (binary, JSON), latency at 100k and 1M readings/s, checkpoint
cost (throughput with and without, and checkpoint work's share of the cluster's CPU under
`perf`, if installed), throughput at P=64 and P=4096 with 2 and with 8 workers, worker memory per sensor at 1M
and 10M sensors, failover of a worker holding 1M sensors (median and max of 5), `commands
--follow` read rate, and the PUB feed at 500k commands/s. Benchmarks are never pass/fail."""
import argparse
import json
import os
import platform
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import BIN, REPO, Cluster  # noqa: E402


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench(cluster, *args, timeout=600):
    out = subprocess.run([BIN, "bench", "--ingest", cluster.ingest_url, "--publish", cluster.publish_url,
                          "--admin", cluster.admin_url, "--json", *getattr(cluster, "client_args", []), *map(str, args)],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"bench {' '.join(map(str, args))} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


class Run:
    """A fresh cluster for one measurement."""

    def __init__(self, root, name, partitions=64, workers=2, checkpoint="1s", fsync="interval", tls=None):
        """`tls`: None (plain TCP), "cluster" (mutual TLS on the cluster port, as cluster/up runs
        it) or "data" (also ingest and the feed over TLS; the bench then dials them with the
        client certificate)."""
        certs = tls_certs(root) if tls else None
        self.cluster = Cluster(Path(root) / name, partitions=partitions, checkpoint=checkpoint, heartbeat="800ms", tls=certs)
        if tls == "data":
            for kind in ("ingest", "publish"):
                self.cluster.listen[kind] = self.cluster.listen[kind].replace("tcp://", "tls+tcp://", 1)
            self.cluster.ingest_url = self.cluster.ingest_url.replace("tcp://", "tls+tcp://", 1)
            self.cluster.publish_url = self.cluster.publish_url.replace("tcp://", "tls+tcp://", 1)
            self.cluster.client_args = ["--tls-cert", str(certs / "client.pem"), "--tls-key", str(certs / "client.key"), "--tls-ca", str(certs / "ca.pem")]
        # The binary feed: the batched PUB format (the text feed is one message per command).
        self.cluster.start_coordinator("--fsync", fsync, "--max-buffered", "20000000", "--feed", "binary")
        self.names = self.cluster.start_workers(workers)

    def __enter__(self):
        return self.cluster

    def __exit__(self, *exc):
        self.cluster.stop()
        # The run's data goes with it (its logs stay): left behind, a full run's journals and
        # command logs (13 GB after the 10M-sensor run) stay in the page cache and on disk, and
        # each later run writes its own into memory the guest has not touched yet, which costs
        # it several times the CPU a page (docs/benchmarks.md). The C pipeline truncates its
        # log each run too.
        shutil.rmtree(self.cluster.data, ignore_errors=True)


def tls_certs(root):
    """A throwaway CA and certificates for the TLS runs (cluster/certs), made once per root."""
    certs = Path(root) / "certs"
    if not (certs / "client.pem").exists():
        subprocess.run([str(HERE / "certs"), str(certs)], check=True, capture_output=True)
    return certs


def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def c_floor(readings=50_000_000, sensors=100_000):
    """The plain C pipeline of ../shared/limit (the same hops with nothing else), once."""
    source = REPO.parent / "shared" / "limit" / "pipeline.c"
    binary = Path(tempfile.gettempdir()) / "thermoshard-limit-pipeline"
    if not source.exists():
        return None
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["gcc", "-O2", str(source), "-lnng", "-o", str(binary)], check=True)
    out = subprocess.run([str(binary), str(readings), str(sensors)], capture_output=True, text=True, timeout=300)
    # Its log (800 MB at the default size) would stay in the page cache, and the run measured
    # next would write into memory the guest has not touched yet (see Run.__exit__).
    Path("/tmp/limit_log").unlink(missing_ok=True)
    for line in out.stdout.splitlines():
        if line.startswith("limit:"):
            return float(line.rsplit("=", 1)[1].split()[0])
    raise RuntimeError(f"pipeline printed no figure: {out.stdout[-500:]} {out.stderr[-500:]}")


def throughput(root, fmt, runs, seconds, sensors=100_000, batch=None, partitions=64, workers=2, checkpoint="1s", tls=None, floor=False):
    """End-to-end throughput, a fresh cluster per run. With `floor`, the C pipeline runs right
    before each run, so every run has its own ratio."""
    results, floors = [], []
    for i in range(runs):
        if floor:
            floors.append(c_floor())
        with Run(root, f"tp-{fmt}-{partitions}-{workers}-{checkpoint}-{tls}-{i}", partitions=partitions, workers=workers,
                 checkpoint=checkpoint, tls=tls) as cluster:
            args = ["--format", fmt, "--sensors", sensors, "--duration", seconds, "--connections", 2]
            if batch:
                args += ["--batch", batch]
            results.append(bench(cluster, *args))
    out = {
        "partitions": partitions, "workers": workers,
        "accepted_per_second": median_of(results, "accepted_per_second"),
        "end_to_end_per_second": median_of(results, "end_to_end_per_second"),
        "runs": [{k: r[k] for k in ("accepted_per_second", "end_to_end_per_second", "accepted")} for r in results],
        "command": f"thermoshard bench --format {fmt} --sensors {sensors} --duration {seconds} --connections 2" + (f" --batch {batch}" if batch else "")
                   + f" (P={partitions}, {workers} workers, checkpoints every {checkpoint})",
    }
    if floor and all(floors):
        ratios = [(r["end_to_end_per_second"] or 0) / f for r, f in zip(results, floors)]
        out.update(c_floor_per_second=statistics.median(floors), c_floor_runs=[round(f) for f in floors],
                   ratio_to_c=round(statistics.median(ratios), 4))
    return out


# Where checkpoint work starts, per process: the coordinator's checkpoint thread (writing the
# files, after syncing the logs they cover), its acceptance of a checkpoint (validation, the
# trim of the items it covers), a worker's snapshots (encoding). Nested closures of one root
# share its name: the largest inclusive share of each root counts, once.
CHECKPOINT_ROOTS = {
    "coordinator, writing checkpoint files": "DiskWriterC21writeCheckpointsIfDue",
    "coordinator, accepting checkpoints": "CoordinatorCoreAAV5store_4from",
    "workers, taking snapshots": "EngineV17checkpointChanged",
}


def checkpoint_share(root, runs, seconds, sensors=100_000):
    """The share of the cluster's CPU (coordinator and workers; `perf record -g` of the three
    processes during a max-throughput run, checkpoints every second) spent in checkpoint work,
    by the inclusive samples of CHECKPOINT_ROOTS: what checkpoints cost a CPU-bound cluster,
    measured inside one run rather than as the difference of two noisy ones. None without perf."""
    if subprocess.run(["sh", "-c", "command -v perf"], capture_output=True).returncode != 0:
        return None
    shares, parts, results = [], [], []
    for i in range(runs):
        data = Path(root) / f"perf-checkpoints-{i}.data"
        with Run(root, f"ckshare-{i}") as cluster:
            pids = [cluster.coordinator.pid] + [w.pid for w in cluster.workers.values()]
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", str(data), "-p", ",".join(map(str, pids)), "--", "sleep", str(seconds)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            results.append(bench(cluster, "--format", "binary", "--sensors", sensors, "--duration", seconds, "--connections", 2, "--batch", 10000))
            perf.wait()
        report = subprocess.run(["perf", "report", "-i", str(data), "--children", "--sort", "symbol", "--stdio", "-g", "none"],
                                capture_output=True, text=True).stdout
        found = {}
        for line in report.splitlines():
            fields = line.split()
            if len(fields) < 4 or not fields[0].endswith("%"):
                continue
            for label, root_symbol in CHECKPOINT_ROOTS.items():
                if root_symbol in line:
                    found[label] = max(found.get(label, 0.0), float(fields[0].rstrip("%")))
        data.unlink(missing_ok=True)
        if not found:
            # No checkpoint work in the profile at all means perf did not see it (no call
            # graphs, renamed symbols), not that it is free.
            raise RuntimeError(f"checkpoint_share: none of {list(CHECKPOINT_ROOTS.values())} in the profile of run {i}")
        parts.append(found)
        shares.append(round(sum(found.values()), 2))
    return {
        "share_percent": statistics.median(shares), "runs_percent": shares, "parts_percent": parts,
        "end_to_end_per_second": median_of(results, "end_to_end_per_second"),
        "command": f"perf record -g -p COORDINATOR,W1,W2 during thermoshard bench --format binary --sensors {sensors} --duration {seconds} --connections 2 --batch 10000 (P=64, 2 workers, checkpoints every 1s); perf report --children: inclusive samples of {', '.join(CHECKPOINT_ROOTS.values())}",
    }


def paced(root, name, rate, runs, seconds, sensors=100_000, tls=None):
    """`runs` bench runs paced at `rate` readings/s, a fresh cluster each: their raw results."""
    results = []
    for i in range(runs):
        with Run(root, f"{name}-{rate}-{tls}-{i}", tls=tls) as cluster:
            results.append(bench(cluster, "--format", "binary", "--sensors", sensors, "--rate", rate, "--duration", seconds))
    return results, f"thermoshard bench --format binary --sensors {sensors} --rate {rate} --duration {seconds}"


def latency(root, rate, runs, seconds, sensors=100_000, tls=None):
    results, command = paced(root, "lat", rate, runs, seconds, sensors, tls)
    keys = ["p50", "p90", "p99", "p99_9", "max"]
    return {
        "rate": rate,
        "latency_us": {k: statistics.median(r["latency_us"][k] for r in results) for k in keys},
        "samples": sum(r["latency_us"]["count"] for r in results),
        "sustained_per_second": median_of(results, "end_to_end_per_second"),
        "command": command,
    }


def memory(root, sensors):
    """Resident memory of both workers per sensor, minus the empty processes: sampled 20 times
    over 2 s after the load (checkpoint rounds come and go: the median is the steady size, the
    maximum its peak)."""
    with Run(root, f"mem-{sensors}") as cluster:
        before = sum(rss_kib(p.pid) for p in cluster.workers.values())
        bench(cluster, "--format", "binary", "--sensors", sensors, "--readings", sensors, "--batch", 10000, timeout=1200)
        time.sleep(1.5)  # a checkpoint round has covered every partition
        samples = []
        for _ in range(20):
            samples.append(sum(rss_kib(p.pid) for p in cluster.workers.values()))
            time.sleep(0.1)
        after, peak = statistics.median(samples), max(samples)
        return {"sensors": sensors, "worker_rss_mib": round(after / 1024, 1), "peak_rss_mib": round(peak / 1024, 1),
                "baseline_rss_mib": round(before / 1024, 1),
                "bytes_per_sensor": round((after - before) * 1024 / sensors, 1),
                "peak_bytes_per_sensor": round((peak - before) * 1024 / sensors, 1),
                "command": f"thermoshard bench --sensors {sensors} --readings {sensors} --batch 10000; VmRSS of both workers, minus before, median of 20 samples over 2 s"}


def failover(root, sensors_per_worker, runs):
    samples = []
    for i in range(runs):
        with Run(root, f"failover-{i}") as cluster:
            bench(cluster, "--format", "binary", "--sensors", 2 * sensors_per_worker, "--readings", 2 * sensors_per_worker,
                  "--batch", 10000, timeout=1200)
            time.sleep(1.5)  # a checkpoint covers most of the state; the rest is replayed
            background = threading.Thread(target=lambda: bench(cluster, "--format", "binary", "--sensors", 10_000,
                                                                "--rate", 50_000, "--duration", 4), daemon=True)
            background.start()
            time.sleep(1.0)
            heads = {p["id"]: p["head"] for p in cluster.status()["partitions"]}
            started = time.monotonic()
            cluster.workers["w1"].send_signal(signal.SIGKILL)
            while True:
                status = cluster.status()
                if all(p["owner"] == "w2" and p["processed"] >= heads[p["id"]] for p in status["partitions"]):
                    break
                if time.monotonic() - started > 60:
                    raise RuntimeError("no failover within 60 s")
                time.sleep(0.002)
            samples.append(1000 * (time.monotonic() - started))
            background.join(timeout=30)
    return {"sensors_on_killed_worker": sensors_per_worker, "ms": [round(s, 1) for s in samples],
            "median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1),
            "command": f"bench --sensors {2 * sensors_per_worker} --readings {2 * sensors_per_worker}; 50k readings/s in the background; SIGKILL w1; poll status until w2 owns every partition and has processed past the heads at the kill"}


def follow(root, runs, readings=3_000_000):
    """`thermoshard commands --from 0 --follow` read by one process: commands/s until it has
    printed every command of a bench run (every bench reading causes one)."""
    rates = []
    for i in range(runs):
        with Run(root, f"follow-{i}") as cluster:
            expected = bench(cluster, "--format", "binary", "--sensors", 100_000, "--readings", readings, "--batch", 10000,
                             timeout=600)["accepted"]
            reader = subprocess.Popen([BIN, "commands", "--admin", cluster.admin_url, "--from", "0", "--follow"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            started, lines = time.monotonic(), 0
            try:
                while lines < expected:
                    chunk = reader.stdout.read1(1 << 20)
                    if not chunk:
                        raise RuntimeError(f"commands --follow ended after {lines} of {expected} commands")
                    lines += chunk.count(b"\n")
                    if time.monotonic() - started > 120:
                        raise RuntimeError(f"commands --follow: {lines} of {expected} after 120 s")
                rates.append(lines / (time.monotonic() - started))
            finally:
                reader.kill()
                reader.wait()
    return {"commands": readings, "per_second": round(statistics.median(rates)), "runs": [round(r) for r in rates],
            "command": f"bench --readings {readings}; then thermoshard commands --from 0 --follow (text), timed until it printed every command"}


def feed(root, rate, runs, seconds):
    """The binary PUB feed at a fixed command rate (every bench reading causes a command): how
    many of the commands one subscriber (the bench's own) received, and the gaps it saw."""
    results, command = paced(root, "feed", rate, runs, seconds)
    return {"rate": rate,
            "runs": [{k: r[k] for k in ("commands_expected", "commands_received", "feed_gaps", "feed_per_second", "end_to_end_per_second")} for r in results],
            "all_received": all(r["commands_received"] == r["commands_expected"] and r["feed_gaps"] == 0 for r in results),
            "command": f"{command} (coordinator --feed binary)"}


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")), "0")
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(mem) / 1024 / 1024), "kernel": platform.release(),
            "swift": swift[0] if swift else "?"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--quick", action="store_true", help="one run each, short, 1M sensors only (a smoke run)")
    parser.add_argument("--out", default=str(REPO / "run" / "bench.json"))
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--only", help="comma-separated scenario name prefixes (e.g. throughput_binary,latency); implies --no-docs")
    parser.add_argument("--tls-cost", action="store_true",
                        help="only the cost of TLS: throughput and latency at 10k/s, plain, TLS on the cluster port, TLS on the data path (JSON to --out; docs untouched)")
    args = parser.parse_args()
    runs, seconds = (1, 2) if args.quick else (args.runs, args.seconds)
    root = tempfile.mkdtemp(prefix="thermoshard-bench-")
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "runs": runs}
    if args.tls_cost:
        for tls in (None, "cluster", "data"):
            name = tls or "plain"
            print(f"== {name}", flush=True)
            results[f"throughput_binary_{name}"] = throughput(root, "binary", runs, seconds, batch=10000, tls=tls)
            results[f"latency_10k_{name}"] = latency(root, 10_000, runs, seconds, tls=tls)
            print(f"   {json.dumps(results[f'throughput_binary_{name}'])[:300]}\n   {json.dumps(results[f'latency_10k_{name}'])[:300]}", flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
        print(f"results: {args.out}")
        return

    only = set(args.only.split(",")) if args.only else None

    def step(name, fn, *a, **k):
        if only is not None and not any(name.startswith(o) for o in only):
            return
        print(f"== {name}", flush=True)
        started = time.monotonic()
        results[name] = fn(*a, **k)
        print(f"   {json.dumps(results[name])[:300]} ({time.monotonic() - started:.0f} s)", flush=True)

    step("throughput_binary", throughput, root, "binary", runs, seconds, batch=10000, floor=True)
    step("throughput_json", throughput, root, "json", runs, seconds, batch=1000)
    step("latency_100k", latency, root, 100_000, runs, seconds)
    step("latency_1m", latency, root, 1_000_000, runs, seconds)
    step("checkpoints_off", throughput, root, "binary", runs, seconds, batch=10000, checkpoint="60m")
    step("checkpoint_share", checkpoint_share, root, runs, seconds)
    for workers in (2, 8):
        for partitions in (64, 4096):
            step(f"partitions_{partitions}_workers_{workers}", throughput, root, "binary", runs, seconds, batch=10000,
                 partitions=partitions, workers=workers)
    step("memory_1m", memory, root, 1_000_000)
    if not args.quick:
        step("memory_10m", memory, root, 10_000_000)
    step("failover_1m", failover, root, 1_000_000, 1 if args.quick else max(runs, 5))
    step("follow", follow, root, runs)
    step("feed_500k", feed, root, 500_000, runs, seconds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"results: {args.out}")
    if not args.no_docs and not args.only:
        subprocess.run([sys.executable, str(HERE / "bench_report.py"), args.out, str(REPO / "docs" / "benchmarks.md")], check=True)


if __name__ == "__main__":
    main()
