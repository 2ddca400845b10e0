#!/usr/bin/env python3
"""CPU per reading of each process, and optionally a perf profile of one of them, while
`thermoshard bench` drives a fresh local cluster (as cluster/bench's runs: --fsync interval,
checkpoints every second, the binary feed). What docs/benchmarks.md's profiles come from.

    cluster/profile.py [--partitions 64] [--workers 2] [--seconds 4] [--perf coordinator|w1|w2...]

Prints readings/s end to end and, per process, CPU seconds and microseconds a reading. With
--perf, `perf record -g` samples that process during the run into perf.data-NAME-P (read it
with `perf report -i FILE --no-children`). Needs the release binary (THERMOSHARD_BIN or
.build/release/thermoshard) and, for --perf, Debian's linux-perf."""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import Run, bench  # noqa: E402


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--perf", help="the process to profile: coordinator, w1, w2, ...")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="thermoshard-profile-")
    with Run(root, "profile", partitions=args.partitions, workers=args.workers) as cluster:
        pids = {"coordinator": cluster.coordinator.pid, **{name: p.pid for name, p in cluster.workers.items()}}
        if args.perf and args.perf not in pids:
            parser.error(f"--perf {args.perf}: no such process (one of {', '.join(pids)})")
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        perf = None
        if args.perf:
            out = f"perf.data-{args.perf}-{args.partitions}"
            perf = subprocess.Popen(["perf", "record", "-g", "-o", out, "-p", str(pids[args.perf]), "--", "sleep", str(args.seconds)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = bench(cluster, "--format", "binary", "--sensors", 100_000, "--duration", args.seconds, "--connections", 2, "--batch", 10_000)
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        if perf:
            perf.wait()
        readings = result["accepted"]
        print(f"P={args.partitions}, {args.workers} workers: {result['end_to_end_per_second']:,} readings/s end to end ({readings:,} readings)")
        for name in pids:
            spent = after[name] - before[name]
            print(f"  {name}: {spent:.2f} CPU-s, {1e6 * spent / readings:.3f} us a reading")
        if perf:
            print(f"profile: {out} (perf report -i {out} --no-children)")


if __name__ == "__main__":
    main()
