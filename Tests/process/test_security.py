"""Security (issue 11, docs/security.md), against the real binary: mutual TLS on the cluster
port, join tokens, workers bound to their connection, forged results, producer and admin
credentials, and the fail-closed start. Certificates are made at test time by openssl
(cluster/certs) into the test's directory; the attacking clients are pynng, with
pynng.TLSConfig where they speak TLS."""
import json
import socket
import struct
import subprocess
import time

import pynng
import pytest

from conftest import BIN, Cluster, free_port_block, make_certs
from test_bad_peers import FakeWorker, decode_reply, hello, partition_of, poll

READ_TOKEN = "read-token-0123456789abcdef"
WRITE_TOKEN = "write-token-0123456789abcdef"
JOIN_TOKEN = "join-token-0123456789abcdef"


def tls_config(certs, own=None, ca=None):
    """A pynng client TLS configuration: the server checked against `ca` (default: the
    certificates' CA), presenting `own` (a (cert, key) pair of paths) if given."""
    kwargs = {"server_name": "localhost", "ca_string": (ca or certs / "ca.pem").read_text(),
              "auth_mode": pynng.TLSConfig.AUTH_MODE_REQUIRED}
    if own:
        kwargs["own_cert_string"] = own[0].read_text()
        kwargs["own_key_string"] = own[1].read_text()
    return pynng.TLSConfig(pynng.TLSConfig.MODE_CLIENT, **kwargs)


def worker_identity(certs):
    return certs / "worker.pem", certs / "worker.key"


def items_processed(cluster, count):
    """Sends `count` readings of a sensor with a setting and waits until they are processed."""
    before = cluster.status()["counters"]["processed"]
    cluster.send_all([{"sensor": 17, "desired": 20, "up": 0.5, "down": 0.5}] + [{"sensor": 17, "temperature": 10 + (i % 2) * 20} for i in range(count - 1)])
    cluster.wait(lambda s: s["counters"]["processed"] >= before + count and cluster.caught_up(s), what=f"{count} more items processed")


def wait_for_log(cluster, name, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in cluster.log(name):
            return
        time.sleep(0.05)
    raise AssertionError(f"{name}'s log never said {text!r}:\n{cluster.log(name)[-2000:]}")


# --- mutual TLS on the cluster port ------------------------------------------------------

def test_a_worker_with_a_certificate_of_another_ca_is_refused_and_the_cluster_keeps_serving(tmp_path, tls_certs):
    other = make_certs(tmp_path / "other-ca")
    cluster = Cluster(tmp_path / "cluster", partitions=8, tls=tls_certs)
    try:
        cluster.start_coordinator()
        cluster.start_workers(1)
        # The rogue trusts the coordinator (our CA) but presents a certificate of another CA.
        cluster.start_worker("rogue", security=["--tls-cert", str(other / "worker.pem"), "--tls-key", str(other / "worker.key"),
                                                "--tls-ca", str(tls_certs / "ca.pem")])
        wait_for_log(cluster, "rogue", "no TLS connection")
        # A pynng client with that certificate gets no connection either: its request times out.
        with pynng.Req0(tls_config=tls_config(tls_certs, own=worker_identity(other)), recv_timeout=1000, send_timeout=1000) as req:
            req.dial(cluster.cluster_url, block=False)
            with pytest.raises(pynng.exceptions.Timeout):
                req.send(hello("rogue2"))
                req.recv()
        status = cluster.status()
        assert [w["id"] for w in status["workers"]] == ["w1"]
        assert all(p["owner"] == "w1" for p in status["partitions"])
        assert status["connections"]["cluster"]["open"] == 1, "no TLS pipe for the rogues"
        items_processed(cluster, 200)
        # The right certificate, over pynng: welcomed.
        fake = FakeWorker(cluster, "certified", tls_config=tls_config(tls_certs, own=worker_identity(tls_certs)))
        assert fake.hello()[0] == "welcome"
        fake.close()
    finally:
        cluster.stop()


def test_a_plaintext_client_and_half_open_handshakes_on_the_tls_port_get_nothing(tmp_path, tls_certs):
    cluster = Cluster(tmp_path, partitions=8, tls=tls_certs)
    port = cluster.ports[2]
    floods = []
    try:
        cluster.start_coordinator()
        cluster.start_workers(1)
        # Plain nng on the TLS port: no reply.
        with pynng.Req0(recv_timeout=1000, send_timeout=1000) as req:
            req.dial(f"tcp://127.0.0.1:{port}", block=False)
            with pytest.raises(pynng.exceptions.Timeout):
                req.send(hello("plain"))
                req.recv()
        # 100 connections that never finish a handshake (half a ClientHello, or nothing) and
        # 20 that send garbage: the certified workers are served meanwhile.
        for i in range(120):
            s = socket.create_connection(("127.0.0.1", port))
            if i % 3 == 0:
                s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            elif i >= 100:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 10)
            floods.append(s)
        cluster.start_worker("w2")
        cluster.wait(lambda s: cluster.balanced(s, ["w1", "w2"]), what="a second certified worker joins during the flood")
        items_processed(cluster, 500)
        status = cluster.status()
        assert status["connections"]["cluster"]["open"] == 2
        assert status["counters"]["malformed_frames"] == 0, "no plaintext frame reached the protocol"
    finally:
        for s in floods:
            s.close()
        cluster.stop()


# --- join tokens ---------------------------------------------------------------------------

def test_the_right_join_token_joins_and_a_wrong_one_is_refused_and_counted(tmp_path):
    cluster = Cluster(tmp_path, partitions=8, token=JOIN_TOKEN)
    try:
        cluster.start_coordinator()
        cluster.start_workers(1)
        wrong = tmp_path / "wrong.token"
        wrong.write_text("not-the-join-token-0123456789\n")
        rogue = cluster.start_worker("rogue", security=["--token-file", str(wrong)])
        assert rogue.wait(timeout=30) != 0, "a refusal for a wrong token is final"
        assert "wrong join token" in cluster.log("rogue")
        tokenless = cluster.start_worker("tokenless", security=[])
        assert tokenless.wait(timeout=30) != 0
        assert "requires a join token" in cluster.log("tokenless")
        # A hand-written hello without a token, from pynng.
        with pynng.Req0(dial=cluster.cluster_url, recv_timeout=5000) as req:
            req.send(hello("rogue-pynng"))
            kind, reason = decode_reply(req.recv())
            assert kind == "refused" and "join token" in reason
        status = cluster.status()
        assert status["counters"]["hellos_unauthorized"] == 3
        assert [w["id"] for w in status["workers"]] == ["w1"]
        assert all(p["owner"] == "w1" for p in status["partitions"])
        items_processed(cluster, 200)
        # The status table shows the counter too.
        table = subprocess.run([BIN, "status", "--admin", cluster.admin_url], capture_output=True, text=True, timeout=30).stdout
        assert "hellos unauthorized 3" in table
    finally:
        cluster.stop()


# --- one connection per worker ---------------------------------------------------------------

def poll_for_batches(fake, timeout=30):
    """Polls until a reply carries item batches (a poll may come back empty after its wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        work = fake.poll()
        if work["batches"]:
            return work
    raise AssertionError("no batches came")


def sensor_in(partition, partitions, start=1):
    return next(s for s in range(start, 10**6) if partition_of(s, partitions) == partition)


def test_a_second_connection_cannot_report_results_for_a_registered_worker(tmp_path, tls_certs):
    # Over TLS with a valid worker certificate: a compromised certified host still cannot speak
    # for another worker.
    cluster = Cluster(tmp_path, partitions=4, heartbeat="5s", tls=tls_certs)
    identity = worker_identity(tls_certs)
    try:
        cluster.start_coordinator()
        fake = FakeWorker(cluster, "fake", tls_config=tls_config(tls_certs, own=identity))
        assert fake.hello()[0] == "welcome"
        work = fake.poll()
        assert len(work["assigns"]) == 4
        fake.step(work)
        sensor = 17
        part = partition_of(sensor, 4)
        cluster.send_all([{"sensor": sensor, "desired": 20, "up": 0.5, "down": 0.5}, {"sensor": sensor, "temperature": 10}])
        results = fake.step(poll_for_batches(fake))
        epoch = fake.owned[part]["epoch"]
        # The intruder knows the name and the incarnation and sends the fake's own results, and
        # a forged command on top.
        forged = [(part, epoch, 2, [(1, sensor, 0)], 0)]
        with pynng.Req0(tls_config=tls_config(tls_certs, own=identity), recv_timeout=5000, send_timeout=5000) as intruder:
            intruder.dial(cluster.cluster_url, block=True)
            intruder.send(poll("fake", fake.incarnation, results=forged))
            kind, reason = decode_reply(intruder.recv())
            assert kind == "fenced" and "another connection" in reason, (kind, reason)
            intruder.send(struct.pack("<3sBB", b"\xfeTC", 1, 3) + struct.pack("<H", 4) + b"fake" + struct.pack("<Q", fake.incarnation))
            kind, _ = decode_reply(intruder.recv())
            assert kind == "fenced", "nor can it make the worker leave"
        status = cluster.status()
        assert status["counters"]["other_connection_requests"] == 2
        assert status["counters"]["commands"] == 0
        assert cluster.commands() == []
        assert [w["id"] for w in status["workers"]] == ["fake"] and not status["workers"][0]["leaving"]
        # The worker itself reports on its own connection: taken.
        fake.poll(results=results)
        cluster.wait(lambda s: s["counters"]["commands"] == 1, what="the fake's own command is logged")
        assert [(c["sensor"], c["input_offset"]) for c in cluster.commands()] == [(sensor, 1)]
        fake.close()
    finally:
        cluster.stop()


# --- forged results --------------------------------------------------------------------------

FORGERIES = ["on_and_off_for_one_offset", "sensor_of_another_partition", "sensor_never_sent",
             "sensor_max_at_a_settings_offset", "next_offset_past_what_was_sent"]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_results_reach_no_command_log_and_fence_the_worker(tmp_path, forgery):
    partitions = 4
    cluster = Cluster(tmp_path, partitions=partitions, heartbeat="5s")
    try:
        cluster.start_coordinator()
        fake = FakeWorker(cluster, "fake")
        assert fake.hello()[0] == "welcome"
        fake.step(fake.poll())
        part = 0
        sensor = sensor_in(part, partitions)
        stranger = sensor_in(1, partitions)
        # Offsets of partition 0: 0 setting, 1 reading (cold: "on"), 2 reading (hot: "off").
        cluster.send_all([{"sensor": sensor, "desired": 20, "up": 0.5, "down": 0.5}, {"sensor": sensor, "temperature": 10},
                          {"sensor": sensor, "temperature": 30}])
        work = poll_for_batches(fake)
        assert [(b[0], len(b[3])) for b in work["batches"]] == [(part, 3)]
        fake.step(work)
        epoch = fake.owned[part]["epoch"]
        commands = {
            "on_and_off_for_one_offset": (3, [(1, sensor, 0), (1, sensor, 1)]),
            "sensor_of_another_partition": (3, [(1, stranger, 0)]),
            "sensor_never_sent": (3, [(1, 424242, 0)]),
            "sensor_max_at_a_settings_offset": (3, [(0, 2**64 - 1, 1)]),
            "next_offset_past_what_was_sent": (4, []),
        }
        if forgery == "next_offset_past_what_was_sent":
            # A reading that is accepted but not yet sent to the worker: claiming it processed
            # would make its command vanish.
            cluster.send_all([{"sensor": sensor, "temperature": 10}])
        next_offset, forged = commands[forgery]
        fake.socket.send(poll("fake", fake.incarnation, results=[(part, epoch, next_offset, forged, 0)]))
        kind, reason = decode_reply(fake.socket.recv())
        assert kind == "fenced" and reason.startswith("results refused"), (kind, reason)
        status = cluster.status()
        assert status["counters"]["results_refused"] == 1
        assert status["counters"]["commands"] == 0
        assert status["workers"] == [], "the forger is no member any more"
        assert cluster.commands() == []
        # An honest worker takes over and the controller's own commands follow (none vanished).
        cluster.start_worker("honest")
        cluster.wait(lambda s: cluster.balanced(s, ["honest"]) and cluster.caught_up(s), what="an honest worker took over")
        expected = [(sensor, 0), (sensor, 1)] + ([(sensor, 0)] if forgery == "next_offset_past_what_was_sent" else [])
        assert [(c["sensor"], c["action"]) for c in cluster.commands()] == expected
        fake.close()
    finally:
        cluster.stop()


# --- producers and operators ------------------------------------------------------------------

PRODUCERS = """# token                          name      may send
reader-token-0123456789abcdef      plant-7   readings
operator-token-0123456789abcdef    operator  both
"""


def credential(token, body):
    data = token.encode()
    return b"\xfeTA\x01" + struct.pack("<H", len(data)) + data + body


def test_a_producer_without_credentials_cannot_change_a_setting(tmp_path):
    cluster = Cluster(tmp_path, partitions=4, producers=PRODUCERS)
    try:
        cluster.start_coordinator()
        cluster.start_workers(1)
        setting = json.dumps({"sensor": 17, "desired": 21, "up": 0.5, "down": 0.5}).encode()
        for body, why in [(setting, "requires a producer credential"), (credential("a-guessed-token-0123456789", setting), "unknown producer token"),
                          (credential("reader-token-0123456789abcdef", setting), "may send readings only")]:
            reply = cluster.ingest(body)
            assert reply["code"] == "unauthorized" and reply["retryable"] is False and why in reply["error"], reply
            assert reply["accepted"] == 0
        # The CLI, without and with the operator's token.
        without = subprocess.run([BIN, "set", "17", "--desired", "21", "--up", "0.5", "--down", "0.5", "--ingest", cluster.ingest_url],
                                 capture_output=True, text=True, timeout=30)
        assert without.returncode == 1 and "credential" in without.stderr, without
        token = tmp_path / "operator.token"
        token.write_text("operator-token-0123456789abcdef\n")
        with_token = subprocess.run([BIN, "set", "17", "--desired", "21", "--up", "0.5", "--down", "0.5", "--ingest", cluster.ingest_url,
                                     "--token-file", str(token)], capture_output=True, text=True, timeout=30)
        assert with_token.returncode == 0, with_token
        status = cluster.status()
        assert status["counters"]["ingest_unauthorized"] == 4
        assert status["counters"]["accepted"] == 1, "only the operator's setting was appended"
        assert sum(p["head"] for p in status["partitions"]) == 1
        # The reader's readings go in.
        reply = cluster.ingest(credential("reader-token-0123456789abcdef", json.dumps({"sensor": 17, "temperature": 25}).encode()))
        assert reply["accepted"] == 1 and "error" not in reply
    finally:
        cluster.stop()


def test_drain_and_status_need_the_admin_credentials(tmp_path):
    cluster = Cluster(tmp_path, partitions=4, admin_tokens=(READ_TOKEN, WRITE_TOKEN))
    try:
        cluster.start_coordinator()
        cluster.start_workers(2)
        drain = [BIN, "drain", "w1", "--admin", cluster.admin_url]
        refused = subprocess.run(drain, capture_output=True, text=True, timeout=30)
        assert refused.returncode == 1 and "admin token" in refused.stderr, refused
        read, write = tmp_path / "read.token", tmp_path / "write.token"
        read.write_text(READ_TOKEN + "\n")
        write.write_text(WRITE_TOKEN + "\n")
        with_read = subprocess.run(drain + ["--token-file", str(read)], capture_output=True, text=True, timeout=30)
        assert with_read.returncode == 1 and "write token" in with_read.stderr, with_read
        raw = json.loads(cluster.request(cluster.admin_url, b'{"command":"status"}'))
        assert raw["code"] == "unauthorized" and "partitions" not in raw
        status = cluster.status()
        assert sorted(w["id"] for w in status["workers"]) == ["w1", "w2"], "nothing was drained"
        assert status["counters"]["admin_unauthorized"] == 3
        assert subprocess.run([BIN, "status", "--admin", cluster.admin_url, "--token-file", str(read)], capture_output=True, timeout=30).returncode == 0
        done = subprocess.run(drain + ["--token-file", str(write)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done
        assert cluster.workers["w1"].wait(timeout=30) == 0
    finally:
        cluster.stop()


# --- fail closed ---------------------------------------------------------------------------------

def run(*args, timeout=30):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def test_a_non_loopback_listener_without_protection_refuses_to_start(tmp_path, tls_certs):
    base = free_port_block()
    addresses = ["--ingest", f"tcp://127.0.0.1:{base}", "--publish", f"tcp://127.0.0.1:{base + 1}",
                 "--cluster", f"tcp://0.0.0.0:{base + 2}", "--admin", f"tcp://127.0.0.1:{base + 3}"]
    refused = run("coordinator", "--data", str(tmp_path / "data"), *addresses)
    assert refused.returncode == 64, refused
    assert "refusing to start" in refused.stderr and "--cluster" in refused.stderr and "--insecure" in refused.stderr
    assert not (tmp_path / "data").exists(), "nothing was started"
    # Every exposed socket is named with what would protect it.
    exposed = run("coordinator", "--data", str(tmp_path / "data"), "--ingest", f"tcp://0.0.0.0:{base}", "--admin", f"tcp://0.0.0.0:{base + 3}",
                  "--publish", f"tcp://0.0.0.0:{base + 1}", "--cluster", f"tcp://127.0.0.1:{base + 2}")
    assert exposed.returncode == 64 and "--producers-file" in exposed.stderr and "--admin-token-file" in exposed.stderr and "tls+tcp" in exposed.stderr
    # A worker dialing another host in plain TCP without a token, too.
    worker = run("worker", "--coordinator", "tcp://10.1.2.3:7602")
    assert worker.returncode == 64 and "--insecure" in worker.stderr
    # Protected, it starts: the cluster port on all interfaces with mutual TLS.
    cluster = Cluster(tmp_path / "protected", partitions=4, listen_host="0.0.0.0", tls=tls_certs)
    for kind in ("ingest", "publish", "admin"):
        cluster.listen[kind] = cluster.listen[kind].replace("0.0.0.0", "127.0.0.1")
    try:
        cluster.start_coordinator()
        cluster.start_workers(1)
    finally:
        cluster.stop()
    # With --insecure it starts, and says so nowhere else than in its flags.
    insecure = Cluster(tmp_path / "insecure", partitions=4, listen_host="0.0.0.0")
    try:
        insecure.start_coordinator("--insecure")
    finally:
        insecure.stop()


@pytest.mark.parametrize("flags,problem", [
    (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"], "does not exist"),
    (["--tls-cert", "CERT", "--tls-key", "CERT"], "not a PEM key"),
    (["--tls-cert", "CERT"], "go together"),
    (["--token-file", "/nonexistent/token"], "no such file"),
    (["--token-file", "SHORT"], "at least 16"),
    (["--producers-file", "SHORT"], "expected 'TOKEN NAME"),
    (["--admin-token-file", "SHORT"], "expected 'read TOKEN'"),
])
def test_bad_credential_files_stop_the_coordinator_at_start(tmp_path, tls_certs, flags, problem):
    short = tmp_path / "short"
    short.write_text("short\n")
    flags = [str(tls_certs / "coordinator.pem") if f == "CERT" else str(short) if f == "SHORT" else f for f in flags]
    result = run("coordinator", "--data", str(tmp_path / "data"), *flags)
    assert result.returncode == 64, result
    assert problem in result.stderr, result.stderr
