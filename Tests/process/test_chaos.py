"""The chaos test: an idempotent producer under worker SIGKILLs, SIGSTOPs past the heartbeat
timeout, SIGTERMs and a coordinator SIGKILL; the command log must equal the reference
controller's output for the acknowledged input. Fixed seeds, printed; bounded in time."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cluster"))
import chaos  # noqa: E402


@pytest.mark.parametrize("seed,transport", [(11, "tcp"), (12, "tcp"), (13, "tls")])
def test_chaos(tmp_path, seed, transport, tls_certs):
    verdict = chaos.run(tmp_path, seed=seed, duration=10, sensors=2000, workers=3, batch=200, rate=20000,
                        partitions=16, events=["kill", "stop", "coordinator", "kill", "term"],
                        tls=tls_certs if transport == "tls" else None)
    print(verdict)
    assert set(verdict["events"]) == {"kill", "stop", "coordinator", "term"}
    assert verdict["acknowledged"] > 10_000
    assert verdict["lost"] == 0 and verdict["duplicated"] == 0 and verdict["sensors_wrong"] == 0, verdict
    assert verdict["offsets_contiguous"]
    assert verdict["ok"]
