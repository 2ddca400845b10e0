"""Process tests: start the real `thermoshard` binary on loopback and drive it through its
public protocol with a real nng client (pynng). They wait for events (status changes, feed
messages), never for fixed sleeps. The harness itself lives in cluster/harness.py, shared with
cluster/chaos."""
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import pynng
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cluster"))
from harness import BIN, REPO, Cluster, commands_by_sensor, free_port_block, random_workload, reference_commands  # noqa: E402,F401


class Feed:
    """A subscriber to the command feed that collects commands per sensor."""

    SENTINEL = 2**64 - 1

    def __init__(self, cluster, prefix=b""):
        self.cluster = cluster
        self.sub = pynng.Sub0(dial=cluster.publish_url, recv_timeout=100)
        self.sub.recv_buffer_size = 8192
        self.sub.subscribe(prefix)
        if prefix:
            self.sub.subscribe(f"{self.SENTINEL} ".encode())
        self.commands = defaultdict(list)
        self.events = []

    def connect(self):
        """Waits until the subscription is live: toggles a sentinel sensor until one of its
        commands arrives (no sleep-and-hope)."""
        sensor = self.SENTINEL
        self.cluster.send_all([{"sensor": sensor, "desired": 0, "up": 0, "down": 0}])
        deadline = time.monotonic() + 30
        t = 100
        while time.monotonic() < deadline:
            self.cluster.send_all([{"sensor": sensor, "temperature": t}])
            t = -100 if t == 100 else 100
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                if self._recv_one() == sensor:
                    return self
        raise AssertionError("the feed never delivered the sentinel's command")

    def _recv_one(self):
        try:
            message = self.sub.recv()
        except pynng.exceptions.Timeout:
            return None
        prefix, _, body = message.partition(b" ")
        event = json.loads(body)
        assert int(prefix) == event["sensor"], message
        assert event["heater"] == ("off" if event["action"] == 1 else "on"), message
        if event["sensor"] != self.SENTINEL:
            self.commands[event["sensor"]].append(event["action"])
            self.events.append(event)
        return event["sensor"]

    def drain_until(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            self._recv_one()
        raise AssertionError("timed out waiting for commands")

    def total(self):
        return sum(len(v) for v in self.commands.values())

    def close(self):
        self.sub.close()


def make_certs(directory, *sans):
    """A throwaway CA and certificates (cluster/certs, openssl) in `directory`."""
    import subprocess
    args = [str(REPO / "cluster" / "certs"), str(directory)]
    for san in sans:
        args += ["--san", san]
    subprocess.run(args, check=True, capture_output=True)
    return Path(directory)


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory):
    """Certificates made at test time by openssl: ca.pem, coordinator, worker, client."""
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def cluster(request, tmp_path):
    """A cluster; parametrized indirectly with "tls", its cluster port uses mutual TLS."""
    tls = request.getfixturevalue("tls_certs") if getattr(request, "param", "tcp") == "tls" else None
    c = Cluster(tmp_path, tls=tls)
    yield c
    c.stop()
