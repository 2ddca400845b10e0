"""Elastic scaling with live handoff: joins, drains, kills under steady load; the drain command;
configuration from flags, the environment and a config file."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import BIN, commands_by_sensor, reference_commands

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cluster"))
from chaos import Producer  # noqa: E402


def owners(status):
    return {p["id"]: p["owner"] for p in status["partitions"]}


def counts(status):
    held = {w["id"]: len(w["partitions"]) for w in status["workers"]}
    return sorted(held.values())


def drain(cluster, worker, *extra):
    return subprocess.run([BIN, "drain", worker, "--admin", cluster.admin_url, *extra],
                          capture_output=True, text=True, timeout=30)


def test_scaling_under_steady_load_moves_only_what_it_must(cluster):
    cluster.partitions = 32
    cluster.start_coordinator()
    cluster.start_workers(1)
    producer = Producer(cluster, seed=31, sensors=3000, batch=200, rate=15000)
    producer.start()
    live = ["w1"]
    status = cluster.status()

    def load(more=3000, timeout=30):
        """Waits until the producer has `more` items acknowledged since now: steady load."""
        import time
        target = len(producer.acknowledged) + more
        deadline = time.monotonic() + timeout
        while len(producer.acknowledged) < target:
            assert producer.error is None and time.monotonic() < deadline, producer.error or "the producer stalled"
            time.sleep(0.01)

    def step(description, expected_moves, names):
        nonlocal status
        load()
        before = owners(status)
        status = cluster.wait(lambda s: cluster.balanced(s, names), what=description)
        after = owners(status)
        moved = sum(1 for p, owner in after.items() if before[p] is not None and before[p] != owner)
        print(f"{description}: {len(names)} workers, counts {counts(status)}, moved {moved}")
        assert max(counts(status)) - min(counts(status)) <= 1
        assert moved == expected_moves, f"{description}: moved {moved}, the minimum is {expected_moves}"

    for n in range(2, 5):
        name = f"w{n}"
        cluster.start_worker(name)
        live.append(name)
        # The newcomer takes its fair share and nothing else moves.
        step(f"join {name}", 32 // n, live)
    victim = "w2"
    held = len([p for p, o in owners(status).items() if o == victim])
    result = drain(cluster, victim)
    assert result.returncode == 0, result.stderr
    assert cluster.workers[victim].wait(timeout=30) == 0
    live.remove(victim)
    step(f"drain {victim}", held, live)
    victim = "w3"
    held = len([p for p, o in owners(status).items() if o == victim])
    cluster.workers[victim].send_signal(signal.SIGKILL)
    live.remove(victim)
    step(f"SIGKILL {victim}", held, live)

    load()
    producer.stopping.set()
    producer.join(timeout=60)
    assert producer.error is None, producer.error
    cluster.wait(cluster.caught_up, what="everything is processed")
    log = cluster.commands(0)
    assert dict(commands_by_sensor(log)) == dict(reference_commands(producer.acknowledged))
    assert len({(c["partition"], c["input_offset"]) for c in log}) == len(log)
    pauses = cluster.status()["pauses"]
    print(f"pauses of moved partitions: {pauses}")
    assert pauses["count"] >= sum(32 // n for n in range(2, 5))


def test_drain_hands_over_and_refuses_the_last_worker(cluster):
    cluster.start_coordinator()
    cluster.start_workers(2)
    result = drain(cluster, "w1")
    assert result.returncode == 0 and "draining w1" in result.stdout, result.stderr
    assert cluster.workers["w1"].wait(timeout=30) == 0
    cluster.wait(lambda s: cluster.balanced(s, ["w2"]), what="w2 owns everything")
    result = drain(cluster, "w2")
    assert result.returncode != 0 and "last worker" in result.stderr and "--force" in result.stderr
    result = drain(cluster, "nobody")
    assert result.returncode != 0 and "no worker 'nobody'" in result.stderr
    assert drain(cluster, "w2", "--force").returncode == 0
    assert cluster.workers["w2"].wait(timeout=30) == 0
    status = cluster.wait(lambda s: not s["workers"], what="no workers left")
    assert all(p["owner"] is None for p in status["partitions"])
    # Items wait for the next worker.
    cluster.send_all([{"sensor": 9, "desired": 20, "up": 1, "down": 1}, {"sensor": 9, "temperature": 30}])
    cluster.start_worker("w3")
    cluster.wait(lambda s: cluster.balanced(s, ["w3"]) and cluster.caught_up(s), what="w3 processes the waiting items")
    assert [c["action"] for c in cluster.commands(0)] == [1]


def test_configuration_precedence_flag_environment_file_default(cluster, tmp_path):
    config = tmp_path / "thermoshard.json"
    config.write_text(json.dumps({"log-level": "info", "coordinator": {"partitions": 8, "heartbeat-timeout": "2s"},
                                  "worker": {"id": "from-file"}}))

    def partitions_with(name, env, *flags):
        data = tmp_path / name
        process = subprocess.Popen(
            [BIN, "coordinator", "--data", str(data), "--ingest", cluster.ingest_url, "--publish", cluster.publish_url,
             "--cluster", cluster.cluster_url, "--admin", cluster.admin_url, *flags],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return cluster.wait(lambda s: True, what="the coordinator answers")["partition_count"]
        finally:
            process.terminate()
            process.wait(timeout=20)

    assert partitions_with("default", {}) == 64
    assert partitions_with("file", {"THERMOSHARD_CONFIG": str(config)}) == 8
    assert partitions_with("env", {"THERMOSHARD_PARTITIONS": "12"}, "--config", str(config)) == 12
    assert partitions_with("flag", {"THERMOSHARD_PARTITIONS": "12"}, "--config", str(config), "--partitions", "16") == 16
    # A mistake in the file is a clear error naming the file and the key.
    config.write_text(json.dumps({"coordinator": {"heartbeat": "1s"}}))
    result = subprocess.run([BIN, "coordinator", "--data", str(tmp_path / "bad"), "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 64 and str(config) in result.stderr and "coordinator.heartbeat" in result.stderr
    assert "did you mean 'heartbeat-timeout'" in result.stderr
    help_text = subprocess.run([BIN, "coordinator", "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "THERMOSHARD_" in help_text and "Precedence: flag, then environment, then file, then default" in " ".join(help_text.split())
    # The worker reads its id from the file.
    cluster.start_coordinator()
    worker = subprocess.Popen([BIN, "worker", "--coordinator", cluster.cluster_url, "--config", str(tmp_path / "w.json")],
                              env={**os.environ, "THERMOSHARD_LEAVE_TIMEOUT": "1s"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) if (tmp_path / "w.json").write_text('{"worker": {"id": "from-file"}}') else None
    try:
        cluster.wait(lambda s: [w["id"] for w in s["workers"]] == ["from-file"], what="the worker registers as from-file")
    finally:
        worker.terminate()
        assert worker.wait(timeout=20) == 0


def test_configuration_errors_name_the_key_and_the_file(tmp_path):
    config = tmp_path / "thermoshard.json"

    def error_with(contents, env=None):
        config.write_text(contents if isinstance(contents, str) else json.dumps(contents))
        result = subprocess.run([BIN, "coordinator", "--data", str(tmp_path / "data"), "--config", str(config)],
                                capture_output=True, text=True, timeout=30, env={**os.environ, **(env or {})})
        assert result.returncode == 64, result
        assert not (tmp_path / "data").exists()
        return result.stderr

    # Unknown keys: at the top level, in a section, and a section that is no subcommand.
    stderr = error_with({"heartbeat-timout": "1s"})
    assert str(config) in stderr and "'heartbeat-timout'" in stderr and "did you mean 'heartbeat-timeout'" in stderr
    stderr = error_with({"worker": {"leave": "1s"}})
    assert str(config) in stderr and "'worker.leave'" in stderr and "not an option of worker" in stderr
    stderr = error_with({"coordinater": {"partitions": 8}})
    assert str(config) in stderr and "'coordinater'" in stderr
    # Bad values: one the parser refuses, one validation refuses, one of the wrong JSON type.
    stderr = error_with({"coordinator": {"partitions": "lots"}})
    assert "'lots'" in stderr and f"config file {config}, key coordinator.partitions" in stderr
    stderr = error_with({"heartbeat-timeout": "10ms"})
    assert "--heartbeat-timeout must be at least 100ms" in stderr and f"config file {config}, key heartbeat-timeout" in stderr
    stderr = error_with({"coordinator": {"partitions": True}})
    assert str(config) in stderr and "'coordinator.partitions'" in stderr and "not true" in stderr
    # The environment wins over the file, and a bad value from it names the variable.
    stderr = error_with({"coordinator": {"partitions": 8}}, {"THERMOSHARD_PARTITIONS": "0"})
    assert "--partitions must be between 1 and 65536" in stderr and "environment variable THERMOSHARD_PARTITIONS" in stderr
    # A file in the old format is not JSON: the error says which file.
    stderr = error_with('[coordinator]\npartitions = 8 # comment\n')
    assert f"config file {config} is not valid JSON" in stderr
