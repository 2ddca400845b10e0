"""The one-machine scripts in cluster/ (up, scale, kill, status, down), run as an operator would:
from another directory, against a run directory of their own and free ports. After every step
the status must be balanced: every partition owned, counts differing by at most one, the
expected workers. The scripts wait for that themselves; the test checks it independently."""
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, REPO, free_port_block

SCRIPTS = REPO / "cluster"
PARTITIONS = 16


def pid_alive(pid):
    """True if `pid` runs and is not a zombie (the scripts' processes are not our children)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture
def ops(tmp_path):
    """Runs cluster/ scripts with cwd elsewhere (tmp_path/elsewhere), THERMOSHARD_RUN in tmp_path,
    a random free base port; stops whatever is left at the end."""
    run = tmp_path / "run"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("THERMOSHARD_")}
    env.update(THERMOSHARD_BIN=os.path.abspath(BIN), THERMOSHARD_RUN=str(run),
               THERMOSHARD_BASE_PORT=str(free_port_block()), THERMOSHARD_WAIT="30")

    def script(name, *args, check=True, timeout=90):
        result = subprocess.run([str(SCRIPTS / name), *args], cwd=cwd, env=env,
                                capture_output=True, text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, f"cluster/{name} {' '.join(args)}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    script.run = run
    yield script
    # Whatever happened, leave nothing running.
    subprocess.run([str(SCRIPTS / "down")], cwd=cwd, env=env, capture_output=True, timeout=90)
    for pid_file in (run / "pids").glob("*") if (run / "pids").exists() else []:
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ValueError, OSError):
            pass


def status(script):
    return json.loads(script("status", "--json").stdout)


def assert_balanced(s, names):
    """Every partition owned by one of exactly `names`, counts differing by at most one."""
    assert sorted(w["id"] for w in s["workers"]) == sorted(names), s["workers"]
    assert len(s["partitions"]) == PARTITIONS
    assert all(p["owner"] in names and p["state"] == "owned" for p in s["partitions"]), s["partitions"]
    counts = [sum(1 for p in s["partitions"] if p["owner"] == name) for name in names]
    assert sum(counts) == PARTITIONS and max(counts) - min(counts) <= 1, counts
    for w in s["workers"]:
        assert sorted(w["partitions"]) == sorted(p["id"] for p in s["partitions"] if p["owner"] == w["id"])


def pids(script):
    return {f.name: int(f.read_text()) for f in (script.run / "pids").glob("*")}


def test_up_scale_kill_scale_down(ops):
    up = ops("up", "2", "--partitions", str(PARTITIONS), "--heartbeat-timeout", "800ms")
    assert "worker-1" in up.stdout and "worker-2" in up.stdout
    assert_balanced(status(ops), ["worker-1", "worker-2"])
    assert set(pids(ops)) == {"coordinator", "worker-1", "worker-2"}
    text = ops("status").stdout
    assert "worker-1" in text and "processes in" in text

    # A second `up` on the same run directory is refused and changes nothing.
    again = ops("up", "3", check=False)
    assert again.returncode == 1 and "already runs" in again.stderr
    assert_balanced(status(ops), ["worker-1", "worker-2"])

    ops("scale", "3")
    assert_balanced(status(ops), ["worker-1", "worker-2", "worker-3"])

    before = pids(ops)
    killed = ops("kill")
    victim = re.search(r"SIGKILL (worker-\d+)", killed.stdout).group(1)
    assert re.search(r"every partition owned again \d+ ms after the SIGKILL", killed.stdout), killed.stdout
    assert not pid_alive(before[victim]) and victim not in pids(ops)
    survivors = sorted({"worker-1", "worker-2", "worker-3"} - {victim})
    s = status(ops)
    assert_balanced(s, survivors)
    assert s["counters"]["workers_lost"] == 1

    # Two workers run: scale 2 has nothing to do; scale 3 replaces the killed one under its
    # name (the lowest free one); scale 2 then removes worker-3 gracefully (no worker lost).
    assert "already 2 workers" in ops("scale", "2").stdout
    assert_balanced(status(ops), survivors)
    ops("scale", "3")
    assert_balanced(status(ops), ["worker-1", "worker-2", "worker-3"])
    leaving = pids(ops)["worker-3"]
    scaled = ops("scale", "2")
    assert "worker-3 left" in scaled.stdout
    assert not pid_alive(leaving)
    s = status(ops)
    assert_balanced(s, ["worker-1", "worker-2"])
    assert s["counters"]["workers_lost"] == 1

    # Draining the last worker needs --force.
    refused = ops("scale", "0", check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert_balanced(status(ops), ["worker-1", "worker-2"])

    # A stale pid file (a process that is gone) is cleaned up, not mistaken for a worker.
    (ops.run / "pids" / "worker-9").write_text("999999999\n")
    assert_balanced(status(ops), ["worker-1", "worker-2"])
    assert "worker-9" not in pids(ops)

    running = pids(ops)
    down = ops("down")
    assert "stopped coordinator" in down.stdout
    assert not any(pid_alive(pid) for pid in running.values())
    assert pids(ops) == {}
    assert (ops.run / "logs" / "coordinator.log").exists() and (ops.run / "data").is_dir()
    gone = ops("status", check=False)
    assert gone.returncode == 1 and "no cluster runs" in gone.stderr

    ops("down", "--purge")
    assert not ops.run.exists()
