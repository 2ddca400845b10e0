"""The command-line clients: set, send, watch, status, drain, commands, simulate, and what the
executable says (and exits with) when something is wrong."""
import json
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import BIN, free_port_block

USAGE_ERROR = 64
RUNTIME_ERROR = 1
SUBCOMMANDS = ["coordinator", "worker", "status", "drain", "set", "send", "watch", "commands", "simulate", "bench"]


def run(*args, input=None, timeout=30):
    return subprocess.run([BIN, *args], input=input, capture_output=True, text=True, timeout=timeout)


def nowhere():
    """A tcp address on loopback where nothing listens."""
    return f"tcp://127.0.0.1:{free_port_block(1)}"


def read_line(stream, timeout):
    """The next line from a child's pipe, or None after `timeout` seconds."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else None


def test_set_send_watch_status(cluster):
    cluster.start_coordinator()
    cluster.start_workers(2)
    watcher = subprocess.Popen([BIN, "watch", "--publish", cluster.publish_url, "--sensor", "11", "--count", "2"],
                               stdout=subprocess.PIPE, text=True)
    result = run("set", "11", "--desired", "20", "--up", "1", "--down", "1", "--ingest", cluster.ingest_url)
    assert result.returncode == 0, result.stderr
    bad = run("set", "11", "--desired", "nan", "--up", "1", "--down", "1", "--ingest", cluster.ingest_url)
    assert bad.returncode != 0 and "finite" in bad.stderr
    # The watcher's subscription forms asynchronously: send alternating readings until it has
    # seen two commands.
    lines = "\n".join(json.dumps({"sensor": 11, "temperature": t}) for t in [30, 10])
    sent = 0
    while watcher.poll() is None and sent < 200:
        result = run("send", "--ingest", cluster.ingest_url, input=lines + "\n")
        assert result.returncode == 0, result.stderr
        sent += 1
        try:
            watcher.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
    out, _ = watcher.communicate(timeout=10)
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 2 and all(e["sensor"] == 11 for e in events)
    assert {e["heater"] for e in events} == {"on", "off"}

    result = run("send", "--ingest", cluster.ingest_url, input='{"sensor":1,"temperature":20}\nnot json\n{"sensor":-4,"temperature":1}\n')
    assert result.returncode == 2
    assert "line 2" in result.stderr and "line 3" in result.stderr
    assert "accepted 1, rejected 2" in result.stdout

    status = json.loads(run("status", "--admin", cluster.admin_url, "--json").stdout)
    assert sorted(w["id"] for w in status["workers"]) == ["w1", "w2"]
    assert len(status["partitions"]) == 16 and all(p["owner"] in ("w1", "w2") for p in status["partitions"])
    table = run("status", "--admin", cluster.admin_url).stdout
    assert "w1" in table and "w2" in table and "accepted" in table


def test_negative_set_points_parse_as_typed(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    # -18 ± 0.5: -10 is above the band (off), -30 below it (on). Had the set point been read
    # as anything else (18, 0, ...), -10 would switch the heater on.
    result = run("set", "17", "--desired", "-18", "--up", "0.5", "--down", "0.5", "--ingest", cluster.ingest_url)
    assert result.returncode == 0, result.stderr
    result = run("set", "18", "--desired", "-18.5", "--down", "2", "--up", "1e-1", "--ingest", cluster.ingest_url)
    assert result.returncode == 0, result.stderr
    readings = [{"sensor": 17, "temperature": -10}, {"sensor": 17, "temperature": -30},
                {"sensor": 18, "temperature": -18.3}, {"sensor": 18, "temperature": -21}]
    result = run("send", "--ingest", cluster.ingest_url, input="".join(json.dumps(r) + "\n" for r in readings))
    assert result.returncode == 0, result.stderr
    cluster.wait(lambda s: cluster.caught_up(s) and s["counters"]["processed"] == 6, what="the settings and readings are processed")
    by_sensor = {}
    for command in cluster.commands():
        by_sensor.setdefault(command["sensor"], []).append(command["heater"])
    assert by_sensor == {17: ["off", "on"], 18: ["off", "on"]}

    # A negative delta is a value the user typed: it is judged (up must not be negative), not
    # mistaken for a missing one.
    for flag in ("--up", "--down"):
        args = {"--desired": "20", "--up": "0.5", "--down": "0.5", flag: "-0.5"}
        result = run("set", "17", *[x for kv in args.items() for x in kv], "--ingest", cluster.ingest_url)
        assert result.returncode == USAGE_ERROR, result.stderr
        assert "Missing value" not in result.stderr
        assert flag.lstrip("-") in result.stderr and ">= 0" in result.stderr, result.stderr


def test_runtime_errors_exit_1_and_name_the_address(cluster):
    """Nothing listens: every client gives up after --connect-timeout, names the address, exits
    1 and prints no usage (the command line was fine)."""
    url = nowhere()
    cases = [
        ["status", "--admin", url],
        ["status", "--admin", url, "--json"],
        ["drain", "w1", "--admin", url],
        ["commands", "--admin", url],
        ["commands", "--admin", url, "--follow"],
        ["set", "1", "--desired", "20", "--up", "1", "--down", "1", "--ingest", url],
        ["send", "--ingest", url],
        ["watch", "--publish", url],
        ["simulate", "--ingest", url, "--publish", url, "--duration", "1"],
    ]
    for args in cases:
        started = time.monotonic()
        result = run(*args, "--connect-timeout", "1s", input='{"sensor":1,"temperature":20}\n')
        elapsed = time.monotonic() - started
        assert result.returncode == RUNTIME_ERROR, (args, result.returncode, result.stderr)
        assert "Usage:" not in result.stderr, (args, result.stderr)
        assert result.stderr.splitlines()[-1].startswith("error: "), (args, result.stderr)
        assert url in result.stderr.splitlines()[-1] and "1.0 seconds" in result.stderr, (args, result.stderr)
        assert 0.9 <= elapsed < 10, (args, elapsed)


def test_refusals_are_runtime_errors_and_bad_flags_usage_errors(cluster):
    cluster.start_coordinator()
    result = run("drain", "nosuch", "--admin", cluster.admin_url)
    assert result.returncode == RUNTIME_ERROR, result.stderr
    assert result.stderr.startswith("error: ") and "nosuch" in result.stderr
    assert "Usage:" not in result.stderr
    # Usage errors still exit 64 and say how to use the command.
    result = run("set", "1", "--desired", "20", "--ingest", cluster.ingest_url)
    assert result.returncode == USAGE_ERROR and "Usage:" in result.stderr and "--up" in result.stderr
    result = run("watch", "--sensor", "x")
    assert result.returncode == USAGE_ERROR and "Usage:" in result.stderr
    # The exit codes are documented.
    help_text = run("--help").stdout
    assert "exit status" in help_text.lower(), help_text
    for code, meaning in ((0, r"success"), (1, r"runtime\s+error"), (2, r"rejected"), (64, r"usage\s+error")):
        assert re.search(rf"\b{code}\W[^.;]*{meaning}", help_text, re.I), (code, help_text)


@pytest.mark.parametrize("args, flag", [
    (["status", "--admin"], "--admin"),
    (["drain", "w1", "--admin"], "--admin"),
    (["commands", "--admin"], "--admin"),
    (["set", "1", "--desired", "20", "--up", "1", "--down", "1", "--ingest"], "--ingest"),
    (["send", "--ingest"], "--ingest"),
    (["watch", "--publish"], "--publish"),
    (["simulate", "--ingest"], "--ingest"),
    (["simulate", "--publish"], "--publish"),
    (["bench", "--ingest"], "--ingest"),
    (["bench", "--ingest", "tcp://127.0.0.1:1", "--admin"], "--admin"),
    (["worker", "--coordinator"], "--coordinator"),
    (["coordinator", "--data", "DATA", "--cluster"], "--cluster"),
])
def test_address_without_scheme_names_the_address_and_the_form(tmp_path, args, flag):
    args = [str(tmp_path / "d") if a == "DATA" else a for a in args]
    for bad in ("127.0.0.1:7602", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "tcp://:7602", "ipc://"):
        if bad == "tcp://:7602" and args[0] == "coordinator":
            continue  # an empty host is a listener's "every interface"
        result = run(*args, bad, timeout=10)
        assert result.returncode == USAGE_ERROR, (args, bad, result.stderr)
        assert f"invalid address '{bad}' for {flag}" in result.stderr, result.stderr
        assert "tcp://HOST:PORT" in result.stderr and "ipc:///path" in result.stderr, result.stderr
    assert not (tmp_path / "d").exists(), "a refused command line starts nothing"


def test_watch_and_simulate_say_what_they_wait_for(cluster):
    url = nowhere()
    for args in (["watch", "--publish", url], ["simulate", "--publish", url, "--ingest", nowhere()]):
        started = time.monotonic()
        process = subprocess.Popen([BIN, *args, "--connect-timeout", "2s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = read_line(process.stderr, timeout=10)
            assert first is not None and first.startswith("waiting for the coordinator") and url in first, first
            assert process.wait(timeout=20) == RUNTIME_ERROR
            rest = process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        elapsed = time.monotonic() - started
        assert elapsed >= 1.9, "it waited for --connect-timeout"
        assert rest.startswith("error: ") and url in rest and "Usage:" not in rest, rest
    # The default is documented.
    for command in ("watch", "simulate", "status"):
        assert re.search(r"--connect-timeout.*\(default: 10s\)", run(command, "--help").stdout, re.S), command


def test_version_and_unknown_subcommands():
    result = run("--version")
    assert result.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\S*( .*)?\n", result.stdout), result.stdout
    result = run("stauts")
    assert result.returncode == USAGE_ERROR
    assert "unknown subcommand 'stauts'" in result.stderr and "did you mean 'status'" in result.stderr, result.stderr
    for name in SUBCOMMANDS:
        assert re.search(rf"^\s+{name}\b", result.stderr, re.M), (name, result.stderr)
    # `help SUBCOMMAND` still works.
    assert run("help", "set").returncode == 0


def partitions_of(status, worker):
    return {p["id"] for p in status["partitions"] if p["owner"] == worker}


def worker_row(table, worker):
    return next(line for line in table.splitlines() if line.startswith(worker + " "))


def test_status_table_shows_checkpoints_behind_silent_workers_and_losses(tmp_path):
    from conftest import Cluster
    # A long heartbeat timeout keeps a stopped worker a member, silent, for the whole test.
    cluster = Cluster(tmp_path, heartbeat="60s", checkpoint="100ms")
    try:
        cluster.start_coordinator()
        cluster.start_workers(2)
        settings = [{"sensor": s, "desired": 20, "up": 1, "down": 1} for s in range(200)]
        cluster.send_all(settings)
        status = cluster.wait(lambda s: cluster.caught_up(s) and all(p["checkpoint"] == p["head"] for p in s["partitions"]),
                              what="everything is checkpointed")
        table = run("status", "--admin", cluster.admin_url).stdout
        # Idle and checkpointed: nothing to worry about, however old the checkpoints are.
        assert "all checkpoints current" in table, table
        assert "oldest" not in table, table
        assert re.search(r"workers lost 0\b", table) and re.search(r"fenced 0\b", table), table
        assert "active" in worker_row(table, "w1") and "active" in worker_row(table, "w2"), table

        frozen = cluster.workers["w1"]
        frozen.send_signal(signal.SIGSTOP)
        try:
            w1 = partitions_of(status, "w1")
            cluster.send_all(settings)
            # w2 processes and checkpoints its share; w1's stays behind, its checkpoints aging.
            before = cluster.wait(
                lambda s: all(p["checkpoint"] == p["head"] for p in s["partitions"] if p["id"] not in w1)
                and next(w for w in s["workers"] if w["id"] == "w1")["last_heard_ms"] > 1000,
                what="w1 is silent and only its partitions are behind")
            table = run("status", "--admin", cluster.admin_url).stdout
            after = cluster.status()
            behind = [p for p in before["partitions"] if p["checkpoint"] < p["head"]]
            assert behind and {p["id"] for p in behind} <= w1
            found = re.search(r"checkpoints behind head: (\d+) partitions?, oldest (\d+) ms", table)
            assert found, table
            assert int(found.group(1)) == len(behind), table
            oldest_before = max(p["checkpoint_age_ms"] for p in behind)
            oldest_after = max(p["checkpoint_age_ms"] for p in after["partitions"] if p["checkpoint"] < p["head"])
            assert oldest_before <= int(found.group(2)) <= oldest_after, (table, oldest_before, oldest_after)
            assert "silent" in worker_row(table, "w1"), table
            assert "active" in worker_row(table, "w2"), table
        finally:
            frozen.send_signal(signal.SIGCONT)
        cluster.wait(lambda s: cluster.caught_up(s) and next(w for w in s["workers"] if w["id"] == "w1")["last_heard_ms"] < 300,
                     what="w1 is heard again and catches up")
        assert "silent" not in run("status", "--admin", cluster.admin_url).stdout

        cluster.workers["w2"].send_signal(signal.SIGKILL)
        cluster.workers["w2"].wait()
        status = cluster.wait(lambda s: s["counters"]["workers_lost"] == 1 and cluster.balanced(s, ["w1"]), what="w2 is declared lost")
        table = run("status", "--admin", cluster.admin_url).stdout
        assert re.search(r"workers lost 1\b", table), table
        assert re.search(rf"fenced {status['counters']['fenced']}\b", table), table
    finally:
        cluster.stop()


def test_bad_flags_are_refused(cluster, tmp_path):
    result = run("coordinator", "--data", str(tmp_path / "d"), "--partitions", "0")
    assert result.returncode == USAGE_ERROR and "partitions" in result.stderr
    result = run("coordinator", "--data", str(tmp_path / "d2"), "--heartbeat-timeout", "soon")
    assert result.returncode == USAGE_ERROR
