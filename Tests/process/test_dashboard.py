"""The dashboard in a real browser: Debian's headless Chromium, driven through the DevTools
protocol (browser.py), opens the coordinator's page while a cluster runs the simulator, and
the rendered DOM shows the workers, every partition owned, charts with points and control
quality; a worker killed with SIGKILL shows up as a failover. Waits for what the page shows,
never for a fixed time. A screenshot of each stage is kept in the test's directory."""
import re
import signal
import subprocess

import pytest

from browser import Browser
from conftest import BIN, Cluster


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, partitions=64)
    yield c
    c.stop()


def test_page_is_self_contained(cluster):
    cluster.start_coordinator()
    status, html = cluster.http("/")
    assert status == 200 and "<canvas" in html and "EventSource" in html
    # Nothing is fetched from elsewhere at run time: no external scripts, styles, fonts or images.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the page loads something from outside"
    assert not re.search(r"""(import|url)\s*\(\s*["']?(https?:)?//""", html)


def test_dashboard_shows_the_cluster_live_and_a_failover(cluster, tmp_path):
    cluster.start_coordinator()
    names = cluster.start_workers(3)
    simulator = subprocess.Popen(
        [BIN, "simulate", "--sensors", "300", "--rate", "2000", "--ingest", cluster.ingest_url,
         "--publish", cluster.publish_url, "--admin", cluster.admin_url, "--observe", "6"],
        stdout=open(tmp_path / "simulator.log", "wb"), stderr=subprocess.STDOUT)
    browser = Browser(width=1400, height=1300)
    try:
        browser.open(cluster.http_url + "/")
        rows = browser.wait("Array.from(document.querySelectorAll('#workers tr[data-worker]')).map(r => r.dataset.worker).join(',')",
                            what="the page lists the workers")
        assert sorted(rows.split(",")) == names
        browser.wait("document.getElementById('partition-summary').dataset.owned === '64'", what="every partition owned")
        assert browser.evaluate("document.getElementById('ready').textContent") == "ready"
        browser.wait("Number(document.getElementById('throughput').dataset.points) >= 8", what="the throughput chart has points")
        browser.wait("Number(document.getElementById('latency').dataset.points) >= 2", what="the latency chart has points")
        browser.wait("Number(document.getElementById('control').dataset.points) >= 3", what="control quality is drawn")
        assert browser.evaluate("document.querySelectorAll('#sensor-picker input').length") == 6
        assert int(browser.evaluate("document.getElementById('c-accepted').textContent.replace(/[^0-9]/g, '')") or 0) > 0
        browser.screenshot(str(tmp_path / "dashboard.png"))

        cluster.workers["w2"].send_signal(signal.SIGKILL)
        failover = browser.wait("Array.from(document.querySelectorAll('#events li.failover')).map(li => li.textContent).join('\\n')",
                                what="the page shows the failover")
        assert "w2 lost" in failover
        browser.wait("document.querySelectorAll('#workers tr[data-worker]').length === 2", what="w2 is gone from the members")
        browser.wait("document.getElementById('partition-summary').dataset.owned === '64'", what="the survivors own every partition")
        assert browser.evaluate("Number(document.getElementById('timeline').dataset.points)") >= 4  # 3 joins and the failover
        assert browser.evaluate("Number(document.getElementById('c-failovers').textContent)") == 1
        browser.screenshot(str(tmp_path / "failover.png"))
    finally:
        browser.close()
        simulator.send_signal(signal.SIGINT)
        simulator.wait(timeout=20)
