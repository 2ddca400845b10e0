"""The HTTP listener against the real binary: /healthz and /readyz, /metrics parsed with
prometheus_client's own parser while load runs (counters move, and agree with `status` once
the load has stopped), worker metrics, /api/status, refusals by reason."""
import json
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BIN, Cluster, free_port_block


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, partitions=16)
    yield c
    c.stop()


def scrape(cluster, port=None):
    """Every sample of /metrics: {(name, frozenset(labels)): value}, and the family types."""
    status, text = cluster.http("/metrics", port=port)
    assert status == 200, text
    samples, types = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def wait_for(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def test_health_and_readiness(cluster):
    cluster.start_coordinator()
    assert cluster.http("/healthz") == (200, "ok\n")
    status, body = cluster.http("/readyz")
    assert status == 503 and "no worker" in body, body
    cluster.start_workers(2)
    status, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(cluster.http("/readyz")), "readyz turns 200")
    assert "every partition owned" in body
    # Both workers gone: partitions without owner, not ready again.
    for process in cluster.workers.values():
        process.kill()
    wait_for(lambda: cluster.http("/readyz")[0] == 503, "readyz turns 503 without workers")


def test_metrics_move_under_load_and_agree_with_status(cluster, tmp_path):
    cluster.start_coordinator()
    worker_ports = {}
    for name in ("w1", "w2"):
        worker_ports[name] = free_port_block(1)
        cluster.start_worker(name, extra=("--http", f"127.0.0.1:{worker_ports[name]}"))
    cluster.wait(lambda s: cluster.balanced(s, ["w1", "w2"]), what="two workers own every partition")

    simulator = subprocess.Popen(
        [BIN, "simulate", "--sensors", "200", "--rate", "3000", "--duration", "6", "--ingest", cluster.ingest_url,
         "--publish", cluster.publish_url, "--admin", cluster.admin_url],
        stdout=open(tmp_path / "simulator.log", "wb"), stderr=subprocess.STDOUT)
    try:
        # While the load runs, two scrapes apart: the counters move.
        first = wait_for(lambda: (lambda s: s if value(s[0], "thermoshard_items_accepted_total") > 0 else None)(scrape(cluster)),
                         "items are accepted")[0]
        second = wait_for(lambda: (lambda s: s if value(s[0], "thermoshard_items_accepted_total")
                                   > value(first, "thermoshard_items_accepted_total")
                                   and value(s[0], "thermoshard_items_processed_total") > 0 else None)(scrape(cluster)),
                          "the accepted and processed counters move")
        samples, types = second
        assert simulator.poll() is None, "the load was still running during the scrapes"
        assert types["thermoshard_items_accepted"] == "counter"
        assert types["thermoshard_ingest_request_seconds"] == "histogram"
        assert types["thermoshard_members"] == "gauge"
        assert value(samples, "thermoshard_members", state="active") == 2
        assert value(samples, "thermoshard_worker_partitions", worker="w1") + value(samples, "thermoshard_worker_partitions", worker="w2") == 16
        assert value(samples, "thermoshard_ingest_request_seconds_count") > 0
        assert value(samples, "thermoshard_group_commit_seconds_count") > 0
        assert value(samples, "thermoshard_ready") == 1
        assert sum(1 for (name, _) in samples if name == "thermoshard_partition_lag_items") == 16
    finally:
        assert simulator.wait(timeout=30) == 0, (tmp_path / "simulator.log").read_text()

    status = cluster.wait(cluster.caught_up, what="every item processed")
    samples, _ = scrape(cluster)
    counters = status["counters"]
    for metric, key in [("thermoshard_items_accepted_total", "accepted"), ("thermoshard_items_processed_total", "processed"),
                        ("thermoshard_commands_total", "commands"), ("thermoshard_partition_moves_total", "partition_moves")]:
        assert value(samples, metric) == counters[key] > 0, (metric, key, value(samples, metric), counters[key])
    # The status was read before the scrape: checkpoints may have grown since, nothing else.
    assert value(samples, "thermoshard_checkpoints_total") >= counters["checkpoints"] > 0
    assert value(samples, "thermoshard_reading_to_command_seconds_count") > 0

    # Each worker's own metrics: together they processed at least every item the coordinator counts.
    worker_items = 0
    for name, port in worker_ports.items():
        worker_samples, _ = scrape(cluster, port=port)
        assert value(worker_samples, "thermoshard_worker_registered") == 1
        worker_items += value(worker_samples, "thermoshard_worker_items_total")
        code, body = cluster.http("/api/status", port=port)
        assert code == 200 and json.loads(body)["id"] == name
    assert worker_items >= counters["processed"]


def test_api_status_is_the_status_json(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    code, body = cluster.http("/api/status")
    assert code == 200
    over_http = json.loads(body)
    cli = json.loads(subprocess.run([BIN, "status", "--admin", cluster.admin_url, "--json"], capture_output=True, text=True, check=True).stdout)
    assert set(over_http) == set(cli)
    assert over_http["partition_count"] == cli["partition_count"] == 16
    assert [w["id"] for w in over_http["workers"]] == [w["id"] for w in cli["workers"]] == ["w1"]
    assert set(over_http["counters"]) == set(cli["counters"])


def test_refusals_are_counted_by_reason(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    assert "error" in cluster.ingest(b"this is not json")
    reply = cluster.ingest([{"sensor": 1, "temperature": "warm"}, {"sensor": 2, "colour": "red"}])
    assert len(reply["rejected"]) == 2
    samples, _ = scrape(cluster)
    assert value(samples, "thermoshard_requests_refused_total", reason="invalid") == 1
    assert value(samples, "thermoshard_bad_frames_total", socket="ingest") == 1
    assert value(samples, "thermoshard_items_rejected_total", reason="invalid_value") == 1
    assert value(samples, "thermoshard_items_rejected_total", reason="unknown_field") == 1


def test_http_flag_is_checked_and_can_be_off(tmp_path):
    bad = subprocess.run([BIN, "coordinator", "--data", str(tmp_path / "d"), "--http", "nowhere"], capture_output=True, text=True, timeout=20)
    assert bad.returncode == 64 and "--http" in bad.stderr, bad.stderr
    c = Cluster(tmp_path / "off", partitions=4)
    try:
        c.start_coordinator("--http", "off")
        with pytest.raises(OSError):
            c.http("/healthz", timeout=1)
    finally:
        c.stop()
