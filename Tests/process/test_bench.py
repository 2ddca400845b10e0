"""`thermoshard bench` against a real cluster: the report's shape and its accounting. No timing
thresholds: a benchmark's figures are never pass/fail."""
import json
import subprocess

from conftest import BIN


def bench(cluster, *args, timeout=180):
    return subprocess.run(
        [BIN, "bench", "--ingest", cluster.ingest_url, "--publish", cluster.publish_url, "--admin", cluster.admin_url, *args],
        capture_output=True, text=True, timeout=timeout)


def test_bench_reports_throughput_and_latency(cluster):
    cluster.start_coordinator()
    cluster.start_workers(2)
    result = bench(cluster, "--sensors", "200", "--readings", "5000", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    for key in ["sensors", "format", "batch", "connections", "sent", "accepted", "rejected", "refused_requests",
                "accepted_seconds", "accepted_per_second", "end_to_end_seconds", "end_to_end_per_second",
                "latency_us", "request_us", "commands_expected", "commands_received", "feed_gaps"]:
        assert key in report, key
    assert report["sensors"] == 200 and report["format"] == "binary" and report["readings"] == 5000
    assert report["sent"] == 5000
    assert report["accepted"] == report["sent"]
    assert report["rejected"] == 0
    assert report["accepted_per_second"] > 0
    assert report["end_to_end_seconds"] >= report["accepted_seconds"] > 0
    latency = report["latency_us"]
    assert set(latency) == {"p50", "p90", "p99", "p99_9", "max", "count"}
    assert latency["count"] > 0
    assert latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p99_9"] <= latency["max"]
    assert report["request_us"]["count"] == 5
    # Every reading flips its sensor's heater: one command each (the feed is best effort).
    assert report["commands_expected"] == 5000
    assert report["commands_received"] + report["feed_gaps"] >= 5000

    # The coordinator saw exactly what the report says, after the setup's settings and priming.
    counters = cluster.status()["counters"]
    assert counters["processed"] == counters["accepted"]
    assert counters["rejected"] == 0

    # JSON requests and the table.
    result = bench(cluster, "--sensors", "50", "--readings", "1000", "--format", "json", "--connections", "3")
    assert result.returncode == 0, result.stderr
    assert "accepted" in result.stdout and "end-to-end" in result.stdout and "p99.9" in result.stdout


def test_bench_refuses_bad_flags(cluster):
    for args, word in [(["--sensors", "0"], "--sensors"), (["--readings", "10", "--duration", "1"], "exclude"),
                       (["--connections", "5", "--sensors", "2"], "--connections"), (["--batch", "0"], "--batch"),
                       (["--format", "xml"], "format"), (["--rate", "0"], "--rate")]:
        result = bench(cluster, *args)
        assert result.returncode != 0 and word in result.stderr, (args, result.stderr)


def test_bench_without_coordinator_is_a_clear_error(cluster):
    result = bench(cluster, "--readings", "10")
    assert result.returncode != 0 and "coordinator" in result.stderr
