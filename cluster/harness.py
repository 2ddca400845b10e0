"""The process harness shared by the process tests (Tests/process) and cluster/chaos: start the
real `thermoshard` binary on loopback, drive it through its public protocol with pynng, and
compute what one failure-free controller would have commanded."""
import json
import os
import random
import signal
import socket
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pynng

REPO = Path(__file__).resolve().parents[1]
BIN = os.environ.get("THERMOSHARD_BIN") or str(REPO / ".build" / "release" / "thermoshard")


def free_port_block(count=4):
    """A run of `count` consecutive free TCP ports on 127.0.0.1."""
    for _ in range(200):
        base = random.randint(20000, 60000)
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                sockets.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


def reference_commands(items):
    """The seed's keyed controller, written independently: per sensor the commands that one
    failure-free controller emits for `items` in acceptance order."""
    settings, last, out = {}, {}, defaultdict(list)
    for item in items:
        sensor = item["sensor"]
        if "desired" in item:
            settings[sensor] = (item["desired"], item["up"], item["down"])
            continue
        if sensor not in settings:
            continue
        desired, up, down = settings[sensor]
        t = item["temperature"]
        action = 1 if t > desired + up else 0 if t < desired - down else None
        if action is not None and action != last.get(sensor):
            last[sensor] = action
            out[sensor].append(action)
    return out


class Cluster:
    """A coordinator and workers started from `BIN`, with logs and data under `directory`."""

    def __init__(self, directory, partitions=16, heartbeat="800ms", checkpoint="200ms", listen_host="127.0.0.1", tls=None, token=None,
                 admin_tokens=None, producers=None):
        """`tls`: a directory of certificates from cluster/certs: the cluster port is then
        tls+tcp:// with mutual TLS (coordinator.pem for the coordinator, worker.pem for the
        workers, ca.pem for both). `token`: a join token, given to the coordinator and every
        worker as --token-file. `admin_tokens`: (read, write) for --admin-token-file (the
        harness's own status and command-log calls send the read token). `producers`: the text
        of a --producers-file."""
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.tls = Path(tls) if tls else None
        self.token_file = None
        if token is not None:
            self.token_file = self.dir / "join.token"
            self.token_file.write_text(token + "\n")
        self.admin_token = None
        self.extra_security = []
        if admin_tokens is not None:
            read, write = admin_tokens
            self.admin_token = read
            path = self.dir / "admin.tokens"
            path.write_text(f"read {read}\nwrite {write}\n")
            self.extra_security += ["--admin-token-file", str(path)]
        if producers is not None:
            path = self.dir / "producers"
            path.write_text(producers)
            self.extra_security += ["--producers-file", str(path)]
        base = free_port_block(5)
        cluster_scheme = "tls+tcp" if self.tls else "tcp"
        self.ingest_url = f"tcp://127.0.0.1:{base}"
        self.publish_url = f"tcp://127.0.0.1:{base + 1}"
        self.cluster_url = f"{cluster_scheme}://127.0.0.1:{base + 2}"
        self.admin_url = f"tcp://127.0.0.1:{base + 3}"
        self.ports = list(range(base, base + 4))
        # The coordinator's HTTP listener (/metrics, /healthz, /readyz, /api/status, the dashboard).
        self.http_port = base + 4
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        # Where the coordinator listens (0.0.0.0 to be reachable from other hosts or namespaces).
        self.listen = {kind: f"tcp://{listen_host}:{base + i}" for i, kind in enumerate(["ingest", "publish", "cluster", "admin"])}
        self.listen["cluster"] = f"{cluster_scheme}://{listen_host}:{base + 2}"
        self.partitions = partitions
        self.heartbeat = heartbeat
        self.checkpoint = checkpoint
        self.coordinator = None
        self.workers = {}
        self._ingest = None

    # processes -------------------------------------------------------------
    def _spawn(self, name, *args, prefix=()):
        log = open(self.dir / f"{name}.log", "ab")
        return subprocess.Popen([*prefix, BIN, *args], stdout=log, stderr=subprocess.STDOUT)

    def start_coordinator(self, *extra, wait=True):
        self.coordinator_args = extra
        self.coordinator = self._spawn(
            "coordinator", "coordinator", "--data", str(self.data),
            "--partitions", str(self.partitions),
            "--ingest", self.listen["ingest"], "--publish", self.listen["publish"],
            "--cluster", self.listen["cluster"], "--admin", self.listen["admin"],
            "--heartbeat-timeout", self.heartbeat, "--checkpoint-interval", self.checkpoint,
            "--http", f"127.0.0.1:{self.http_port}", *self.security_args("coordinator"), *extra)
        if wait:
            self.wait(lambda s: True, what="the coordinator answers")
        return self.coordinator

    def security_args(self, role):
        """The TLS and token flags of `role` ("coordinator" or "worker") in this cluster."""
        args = []
        if self.tls:
            args += ["--tls-cert", str(self.tls / f"{role}.pem"), "--tls-key", str(self.tls / f"{role}.key"), "--tls-ca", str(self.tls / "ca.pem")]
        if self.token_file:
            args += ["--token-file", str(self.token_file)]
        if role == "coordinator":
            args += self.extra_security
        return args

    def start_worker(self, name, coordinator_url=None, prefix=(), security=None, extra=()):
        """Starts a worker; `prefix` runs it through another command (`ip netns exec NS`);
        `security` replaces the cluster's TLS and token flags (a worker with wrong credentials)."""
        security = self.security_args("worker") if security is None else security
        process = self._spawn(name, "worker", "--coordinator", coordinator_url or self.cluster_url, "--id", name, *security, *extra, prefix=prefix)
        self.workers[name] = process
        return process

    def start_workers(self, count, prefix="w"):
        names = [f"{prefix}{i}" for i in range(1, count + 1)]
        for name in names:
            self.start_worker(name)
        self.wait(lambda s: self.balanced(s, names), what=f"{count} workers own every partition")
        return names

    def stop(self):
        """Stops workers first (each leaves gracefully), then the coordinator."""
        for group in (list(self.workers.values()), [self.coordinator]):
            for process in group:
                if process and process.poll() is None:
                    process.send_signal(signal.SIGCONT)
                    process.send_signal(signal.SIGTERM)
            for process in group:
                if process:
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
        if self._ingest:
            self._ingest.close()

    def kill_coordinator(self):
        """SIGKILLs the coordinator (a crash: nothing is flushed, nothing said)."""
        self.coordinator.send_signal(signal.SIGKILL)
        self.coordinator.wait()

    def restart_coordinator(self):
        """Starts the coordinator again on the same data directory and addresses."""
        return self.start_coordinator(*getattr(self, "coordinator_args", ()))

    def log(self, name):
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # public protocol -------------------------------------------------------
    def request(self, url, payload, timeout=5000):
        with pynng.Req0(recv_timeout=timeout, send_timeout=timeout) as req:
            req.dial(url, block=False)
            req.send(payload)
            return req.recv()

    def admin_request(self, request):
        """An admin call (a dict) with the harness's admin token, if the cluster has one."""
        if self.admin_token is not None:
            request = {**request, "token": self.admin_token}
        return json.loads(self.request(self.admin_url, json.dumps(request).encode()))

    def status(self):
        return self.admin_request({"command": "status"})

    def http(self, path, port=None, timeout=5):
        """GET http://127.0.0.1:PORT/PATH (the coordinator's listener by default): (status, body)."""
        import urllib.error
        import urllib.request
        url = f"http://127.0.0.1:{port or self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def ingest(self, payload):
        """Sends JSON (any value, or raw bytes) to the ingest socket and returns the reply."""
        if not isinstance(payload, (bytes, bytearray)):
            payload = json.dumps(payload).encode()
        if self._ingest is None:
            self._ingest = pynng.Req0(recv_timeout=10000, send_timeout=10000)
            self._ingest.dial(self.ingest_url, block=False)
        self._ingest.send(payload)
        return json.loads(self._ingest.recv())

    def send_all(self, items, batch=200):
        """Sends items in batches; every one must be accepted."""
        for i in range(0, len(items), batch):
            chunk = items[i:i + batch]
            reply = self.ingest(chunk)
            assert reply.get("error") is None, reply
            assert reply["accepted"] == len(chunk), reply

    def commands(self, start=0):
        """The durable command log from `start`, read through the admin protocol."""
        out, offset = [], start
        while True:
            page = self.admin_request({"command": "commands", "from": offset})
            assert "error" not in page, page
            out.extend(page["commands"])
            offset = page["next"]
            if offset >= page["end"]:
                return out

    def wait(self, predicate, timeout=30, what="condition"):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            if self.coordinator is not None and self.coordinator.poll() is not None:
                raise AssertionError(f"the coordinator exited ({self.coordinator.returncode}) while waiting until {what}\n"
                                     + self.log("coordinator")[-3000:])
            try:
                status = self.status()
                if predicate(status):
                    return status
            except (pynng.exceptions.NNGException, json.JSONDecodeError) as error:
                last_error = error
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting until {what} (last error: {last_error})\n"
                             + self.log("coordinator")[-3000:])

    def balanced(self, status, names=None):
        owners = [p["owner"] for p in status["partitions"]]
        if any(o is None for o in owners) or any(p["state"] != "owned" for p in status["partitions"]):
            return False
        live = [w["id"] for w in status["workers"]]
        if names is not None and sorted(live) != sorted(names):
            return False
        counts = [owners.count(w) for w in live]
        return bool(counts) and max(counts) - min(counts) <= 1

    def caught_up(self, status):
        """Every accepted item processed, and every command it caused in the command log."""
        return all(p["lag"] == 0 for p in status["partitions"]) and status["counters"]["commands_unwritten"] == 0


def random_workload(rng, sensors, count, setting_share=0.05, unset_share=0.02):
    """Settings for every sensor, then readings around their bands with occasional setting
    changes and readings for sensors that have no setting."""
    items = []
    ids = [rng.randrange(0, 2**64) for _ in range(sensors)]
    desired = {}
    for sensor in ids:
        desired[sensor] = round(rng.uniform(15, 30), 2)
        items.append({"sensor": sensor, "desired": desired[sensor], "up": 0.5, "down": 1.0})
    for _ in range(count):
        r = rng.random()
        sensor = rng.choice(ids)
        if r < setting_share:
            desired[sensor] = round(rng.uniform(15, 30), 2)
            items.append({"sensor": sensor, "desired": desired[sensor], "up": round(rng.uniform(0, 2), 2), "down": round(rng.uniform(0, 2), 2)})
        elif r < setting_share + unset_share:
            items.append({"sensor": rng.randrange(0, 2**64), "temperature": 20.0})
        else:
            items.append({"sensor": sensor, "temperature": round(desired[sensor] + rng.uniform(-4, 4), 2)})
    return items


def commands_by_sensor(log):
    """The command log's actions per sensor, in log order."""
    out = defaultdict(list)
    for command in log:
        out[command["sensor"]].append(command["action"])
    return out
