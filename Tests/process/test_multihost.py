"""Multi-host over network namespaces: the coordinator and each worker in their own namespace,
connected by veth links with private addresses. A worker's link is cut under load and healed;
the command log must equal the reference output (cluster/netns.py holds the scenario)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.skipif(os.geteuid() != 0, reason="ip netns needs root (CI runs as root)")
def test_cut_worker_link_is_fenced_and_rejoins(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "cluster" / "netns.py"), "--json", "--dir", str(tmp_path), "--cut-seconds", "2"],
                            capture_output=True, text=True, timeout=300)
    print(result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["log_equals_reference"] and verdict["duplicates"] == 0
    assert verdict["worker_was_told_fenced"] and verdict["fenced_polls"] > 0
    assert verdict["acknowledged"] > 5000
    # The namespaces are gone afterwards.
    assert "-w1" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
