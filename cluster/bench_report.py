#!/usr/bin/env python3
"""Writes the figures of a cluster/bench results file into docs/benchmarks.md, between the
markers `<!-- figures:begin -->` and `<!-- figures:end -->` (the rest of the page is prose kept
by hand).  Usage: bench_report.py RESULTS.json docs/benchmarks.md"""
import json
import sys
from pathlib import Path

BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def fmt(n):
    return "-" if n is None else f"{n:,.0f}"


def verdict(ok):
    return "met" if ok else "**missed**"


def render(r):
    m = r["machine"]
    lines = [BEGIN, "",
             f"Measured {r['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, {m['swift']}; "
             f"producer, coordinator and two workers on this one machine, `--fsync interval`, checkpoints every second; "
             f"median of {r['runs']} run(s) per figure. Reproduce: `cluster/bench` (results in `run/bench.json`).", ""]
    tb, tj = r["throughput_binary"], r["throughput_json"]
    l100 = r["latency_100k"]["latency_us"]
    lines += ["| target | goal | measured | |", "|---|---|---|---|"]
    lines.append(f"| throughput, binary, end to end | 3,000,000 readings/s | {fmt(tb['end_to_end_per_second'])} /s (accepted {fmt(tb['accepted_per_second'])} /s) | {verdict((tb['end_to_end_per_second'] or 0) >= 3e6)} |")
    lines.append(f"| throughput, JSON, end to end | 100,000 items/s | {fmt(tj['end_to_end_per_second'])} /s (accepted {fmt(tj['accepted_per_second'])} /s) | {verdict((tj['end_to_end_per_second'] or 0) >= 1e5)} |")
    lines.append(f"| latency p50 at 100k readings/s | < 0.5 ms | {l100['p50'] / 1000:.3f} ms | {verdict(l100['p50'] < 500)} |")
    lines.append(f"| latency p99 at 100k readings/s | < 2 ms | {l100['p99'] / 1000:.3f} ms (p99.9 {l100['p99_9'] / 1000:.3f}, max {l100['max'] / 1000:.3f}) | {verdict(l100['p99'] < 2000)} |")
    for key in ("memory_1m", "memory_10m"):
        if key in r:
            mem = r[key]
            lines.append(f"| worker memory at {mem['sensors']:,} sensors | <= 100 B/sensor | {mem['bytes_per_sensor']:.0f} B/sensor ({mem['worker_rss_mib']} MiB RSS, both workers) | {verdict(mem['bytes_per_sensor'] <= 100)} |")
    fo = r["failover_1m"]
    lines.append(f"| failover of a worker holding 1M sensors, replay included | < 500 ms | median {fo['median_ms']} ms, max {fo['max_ms']} ms | {verdict(fo['max_ms'] < 500)} |")
    off = r["checkpoints_off"]["end_to_end_per_second"] or 0
    on = tb["end_to_end_per_second"] or 0
    cost = (1 - on / off) * 100 if off else 0
    lines.append(f"| checkpoint cost at 1 s | < 5 % of throughput | {cost:.1f} % ({fmt(on)} /s with, {fmt(off)} /s without) | {verdict(cost < 5)} |")
    parts = [k for k in r if k.startswith("partitions_")]
    flat = ", ".join(f"P={k.split('_')[1]}: {fmt(r[k]['end_to_end_per_second'])} /s" for k in sorted(parts, key=lambda k: int(k.split('_')[1])))
    lines.append(f"| coordinator cost flat in P | flat | {flat} | see below |")
    lines += ["", "Latency at fixed rates (reading sent to its command received, microseconds):", "",
              "| rate | p50 | p90 | p99 | p99.9 | max | samples |", "|---|---|---|---|---|---|---|"]
    for key in ("latency_10k", "latency_100k"):
        lat = r[key]
        u = lat["latency_us"]
        lines.append(f"| {lat['rate']:,}/s | {u['p50']} | {u['p90']} | {u['p99']} | {u['p99_9']} | {u['max']} | {lat['samples']:,} |")
    lines += ["", "Commands behind each figure:", ""]
    for key in ("throughput_binary", "throughput_json", "latency_100k", "memory_1m", "failover_1m"):
        lines.append(f"- {key}: `{r[key]['command']}`")
    lines += ["", END]
    return "\n".join(lines)


def main():
    results = json.loads(Path(sys.argv[1]).read_text())
    doc = Path(sys.argv[2])
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    start, end = text.index(BEGIN), text.index(END) + len(END)
    doc.write_text(text[:start] + render(results) + text[end:])
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
