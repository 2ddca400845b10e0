#!/usr/bin/env python3
"""Writes the figures of a cluster/bench results file into docs/benchmarks.md, between the
markers `<!-- figures:begin -->` and `<!-- figures:end -->` (the rest of the page is prose kept
by hand), against the targets of issue 10.  Usage: bench_report.py RESULTS.json docs/benchmarks.md"""
import json
import statistics
import sys
from pathlib import Path

BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def fmt(n):
    return "-" if n is None else f"{n:,.0f}"


def ms(us):
    return f"{us / 1000:.2f} ms"


def verdict(ok):
    return "met" if ok else "**missed**"


def render(r):
    m = r["machine"]
    lines = [BEGIN, "",
             f"Measured {r['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, {m['swift']}; "
             f"producer, coordinator and workers on this one machine, `--fsync interval`, checkpoints every second, `--feed binary`; "
             f"median of {r['runs']} run(s) per figure, a fresh cluster per run. Reproduce: `cluster/bench` (results in `run/bench.json`).", ""]
    rows = []

    def row(target, goal, measured, ok):
        rows.append(f"| {target} | {goal} | {measured} | {verdict(ok)} |")

    if "throughput_binary" in r:
        tb = r["throughput_binary"]
        e2e = tb["end_to_end_per_second"] or 0
        row("throughput, binary, end to end", "3,000,000 readings/s", f"{fmt(e2e)} /s (accepted {fmt(tb['accepted_per_second'])} /s)", e2e >= 3e6)
        if "ratio_to_c" in tb:
            row("the same, as a share of the plain C pipeline in the same run", ">= 0.25",
                f"{tb['ratio_to_c']:.3f} (C: {fmt(tb['c_floor_per_second'])} /s; runs {', '.join(fmt(f) for f in tb['c_floor_runs'])})", tb["ratio_to_c"] >= 0.25)
    if "throughput_json" in r:
        tj = r["throughput_json"]
        e2e = tj["end_to_end_per_second"] or 0
        row("throughput, JSON, end to end", "300,000 items/s", f"{fmt(e2e)} /s (accepted {fmt(tj['accepted_per_second'])} /s)", e2e >= 3e5)
    if "latency_100k" in r:
        u = r["latency_100k"]["latency_us"]
        row("latency at 100k readings/s, p50 / p99 / p99.9", "< 0.5 / 2 / 5 ms",
            f"{ms(u['p50'])} / {ms(u['p99'])} / {ms(u['p99_9'])} (max {ms(u['max'])})", u["p50"] < 500 and u["p99"] < 2000 and u["p99_9"] < 5000)
    if "latency_1m" in r:
        lat = r["latency_1m"]
        u = lat["latency_us"]
        sustained = lat.get("sustained_per_second") or 0
        row("latency at 1M readings/s, p99", "< 20 ms",
            f"{ms(u['p99'])} (p50 {ms(u['p50'])}, max {ms(u['max'])}; sustained {fmt(sustained)} /s)", u["p99"] < 20000 and sustained >= 0.95e6)
    for workers in (2, 8):
        low, high = r.get(f"partitions_64_workers_{workers}"), r.get(f"partitions_4096_workers_{workers}")
        if low and high:
            a, b = low["end_to_end_per_second"] or 0, high["end_to_end_per_second"] or 0
            ratio = b / a if a else 0
            row(f"flat cost in P, {workers} workers: P=4096 / P=64", ">= 0.8", f"{ratio:.2f} ({fmt(b)} /s and {fmt(a)} /s)", ratio >= 0.8)
    for key in ("memory_1m", "memory_10m"):
        if key in r:
            mem = r[key]
            row(f"worker memory at {mem['sensors']:,} sensors", "<= 64 B/sensor",
                f"{mem['bytes_per_sensor']:.0f} B/sensor ({mem['worker_rss_mib']} MiB RSS, both workers; peak {mem.get('peak_bytes_per_sensor', mem['bytes_per_sensor']):.0f} B/sensor)", mem["bytes_per_sensor"] <= 64)
    if "failover_1m" in r:
        fo = r["failover_1m"]
        row("failover of a worker holding 1M sensors, replay included", "< 300 ms (median and max of 5)",
            f"median {fo['median_ms']} ms, max {fo['max_ms']} ms ({len(fo['ms'])} runs)", fo["max_ms"] < 300)
    if "checkpoints_off" in r and "throughput_binary" in r:
        off_runs = [x["end_to_end_per_second"] or 0 for x in r["checkpoints_off"]["runs"]]
        on_runs = [x["end_to_end_per_second"] or 0 for x in r["throughput_binary"]["runs"]]
        off, on = r["checkpoints_off"]["end_to_end_per_second"] or 0, r["throughput_binary"]["end_to_end_per_second"] or 0
        cost = (1 - on / off) * 100 if off else 0
        # Fresh clusters on a shared machine spread by tens of percent: a cost inside the spread
        # of the runs is not resolved, whatever its sign.
        spread = (max(off_runs + on_runs) - min(off_runs + on_runs)) / off * 100 if off else 0
        resolved = abs(cost) > spread
        measured = (f"{cost:.1f} % ({fmt(on)} /s with, {fmt(off)} /s without; runs with {', '.join(fmt(x) for x in on_runs)}, "
                    f"without {', '.join(fmt(x) for x in off_runs)})")
        share = r.get("checkpoint_share")
        if share:
            # Measured inside each run: the difference of two sets of runs is buried in their spread.
            parts = "; ".join(f"{label} {statistics.median(p.get(label, 0.0) for p in share['parts_percent']):.2f} %"
                              for label in share["parts_percent"][0]) if share["parts_percent"] else ""
            row("checkpoint cost at 1 s", "< 3 % of throughput",
                f"{share['share_percent']:.2f} % of the cluster's CPU in checkpoint work under `perf` (runs {', '.join(f'{x:.2f}' for x in share['runs_percent'])} %; {parts}). "
                f"Throughput with and without: {measured}, a difference {'inside' if not resolved else 'outside'} the runs' spread of {spread:.0f} %",
                share["share_percent"] < 3)
        elif not resolved:
            rows.append(f"| checkpoint cost at 1 s | < 3 % of throughput | {measured}: not resolved, the runs spread by {spread:.0f} % | unresolved |")
        else:
            row("checkpoint cost at 1 s", "< 3 % of throughput", measured, cost < 3)
    if "follow" in r:
        fl = r["follow"]
        row("`commands --follow`, one reader", ">= 1,000,000 commands/s", f"{fmt(fl['per_second'])} /s (runs {', '.join(fmt(x) for x in fl['runs'])})", fl["per_second"] >= 1e6)
    if "feed_500k" in r:
        fd = r["feed_500k"]
        got = ", ".join(f"{x['commands_received']:,} of {x['commands_expected']:,}" + (f" ({x['feed_gaps']:,} gaps)" if x["feed_gaps"] else "") for x in fd["runs"])
        row("PUB feed at 500k commands/s, one subscriber", "every command", got, fd["all_received"])
    lines += ["| target | goal | measured | |", "|---|---|---|---|", *rows]

    lat_keys = [k for k in ("latency_100k", "latency_1m") if k in r]
    if lat_keys:
        lines += ["", "Latency at fixed rates (reading sent to its command received, microseconds):", "",
                  "| rate | p50 | p90 | p99 | p99.9 | max | samples | sustained |", "|---|---|---|---|---|---|---|---|"]
        for key in lat_keys:
            lat = r[key]
            u = lat["latency_us"]
            lines.append(f"| {lat['rate']:,}/s | {u['p50']} | {u['p90']} | {u['p99']} | {u['p99_9']} | {u['max']} | {lat['samples']:,} | {fmt(lat.get('sustained_per_second'))} /s |")
    parts = sorted((k for k in r if k.startswith("partitions_")), key=lambda k: (int(k.split("_")[3]), int(k.split("_")[1])))
    if parts:
        lines += ["", "Throughput by partitions and workers (binary, end to end, readings/s; the runs):", "",
                  "| workers | partitions | median | runs |", "|---|---|---|---|"]
        for k in parts:
            t = r[k]
            lines.append(f"| {t['workers']} | {t['partitions']:,} | {fmt(t['end_to_end_per_second'])} | {' · '.join(fmt(x['end_to_end_per_second']) for x in t['runs'])} |")
    if "throughput_binary" in r:
        t = r["throughput_binary"]
        lines += ["", "Binary throughput runs (end to end) beside the C pipeline run right before each: " +
                  "; ".join(f"{fmt(x['end_to_end_per_second'])} /s against C {fmt(c)} /s" for x, c in zip(t["runs"], t.get("c_floor_runs", [None] * len(t["runs"])))) + "."]
    if "failover_1m" in r:
        lines += ["", f"Failover runs: {', '.join(str(x) for x in r['failover_1m']['ms'])} ms."]
    lines += ["", "Commands behind each figure:", ""]
    for key in r:
        if isinstance(r[key], dict) and "command" in r[key]:
            lines.append(f"- {key}: `{r[key]['command']}`")
    lines.append("- the C pipeline: `gcc -O2 ../shared/limit/pipeline.c -lnng -o /tmp/thermoshard-limit-pipeline && /tmp/thermoshard-limit-pipeline 50000000 100000`")
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
