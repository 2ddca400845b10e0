"""Control quality as the simulator sees it: its reports reach the coordinator (`/api/control`,
admin `observe`), and `simulate --report FILE.svg` writes the picture (parsed here with
xml.etree: a panel per sampled sensor with its band, temperature and heater, and the fleet out
of band)."""
import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import BIN, Cluster

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, partitions=16)
    yield c
    c.stop()


def points(element):
    return [tuple(map(float, pair.split(","))) for pair in element.get("points").split()]


def test_simulator_reports_control_quality_and_writes_the_svg(cluster, tmp_path):
    cluster.start_coordinator()
    cluster.start_workers(2)
    report = tmp_path / "control.svg"
    result = subprocess.run(
        [BIN, "simulate", "--sensors", "100", "--rate", "1000", "--speed", "120", "--duration", "7", "--observe", "5",
         "--report", str(report), "--ingest", cluster.ingest_url, "--publish", cluster.publish_url, "--admin", cluster.admin_url],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

    # The coordinator kept what the simulator saw.
    code, body = cluster.http("/api/control")
    assert code == 200
    reports = json.loads(body)
    assert len(reports) >= 4
    assert all(len(r["samples"]) == 5 for r in reports)
    assert [s["sensor"] for s in reports[-1]["samples"]] == [1, 21, 41, 61, 81]
    assert all(0 <= r["out_of_band"] <= 1 and 0 <= r["out_of_band_time"] <= 1 for r in reports)
    assert any(s["heating"] for r in reports for s in r["samples"]) or any(not s["heating"] for r in reports for s in r["samples"])
    times = [r["simulated_s"] for r in reports]
    assert times == sorted(times) and times[-1] > times[0]

    root = ET.parse(report).getroot()
    assert root.tag == SVG + "svg"
    sensors = root.findall(f"{SVG}g[@class='sensor']")
    assert [g.get("data-sensor") for g in sensors] == ["1", "21", "41", "61"]  # the first four sampled
    for g in sensors:
        temperature = g.find(f"{SVG}polyline[@class='temperature']")
        assert temperature is not None and len(points(temperature)) >= 4
        xs = [x for x, _ in points(temperature)]
        assert xs == sorted(xs)
        band = g.find(f"{SVG}path[@class='band']")
        assert band is not None and band.get("d").startswith("M") and band.get("d").endswith("Z")
        assert g.find(f"{SVG}g[@class='heater']") is not None
    fleet = root.find(f"{SVG}g[@class='fleet']")
    for name in ("out-of-band", "out-of-band-time"):
        line = fleet.find(f"{SVG}polyline[@class='{name}']")
        assert line is not None and len(points(line)) >= 4


def test_observe_refuses_too_many_samples(cluster):
    cluster.start_coordinator()
    sample = {"sensor": 1, "temperature": 20, "desired": 21, "up": 1, "down": 1, "heating": True}
    control = {"source": "t", "time_ms": 1, "simulated_s": 0, "samples": [sample] * 65, "sensors": 65,
               "out_of_band": 0, "out_of_band_time": 0, "heating": 0, "mean_error": 0}
    reply = json.loads(cluster.request(cluster.admin_url, json.dumps({"command": "observe", "control": control}).encode()))
    assert reply.get("code") == "too_large", reply
    control["samples"] = [sample]
    reply = json.loads(cluster.request(cluster.admin_url, json.dumps({"command": "observe", "control": control}).encode()))
    assert reply == {"ok": "observed"}
    assert len(json.loads(cluster.http("/api/control")[1])) == 1
