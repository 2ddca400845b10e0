"""End to end: the cluster's heater commands equal the reference controller's."""
import random

from conftest import Feed, random_workload, reference_commands


def test_commands_match_reference_controller(cluster):
    cluster.start_coordinator()
    cluster.start_workers(3)
    feed = Feed(cluster).connect()
    rng = random.Random(1234)
    items = random_workload(rng, sensors=300, count=6000)
    cluster.send_all(items)
    expected = reference_commands(items)
    total = sum(len(v) for v in expected.values())
    assert total > 500, "the workload must exercise the controller"
    feed.drain_until(lambda f: f.total() >= total)
    status = cluster.wait(cluster.caught_up, what="every item is processed")
    assert dict(feed.commands) == dict(expected)
    unset = sum(1 for i in items if "temperature" in i and i["sensor"] not in {x["sensor"] for x in items if "desired" in x})
    assert status["counters"]["dropped_no_setting"] == unset
    assert status["counters"]["commands"] >= total
    feed.close()


def test_setting_changes_take_effect_without_restart(cluster):
    cluster.start_coordinator()
    cluster.start_workers(1)
    feed = Feed(cluster, prefix=b"17 ").connect()
    cluster.send_all([{"sensor": 17, "desired": 20, "up": 1, "down": 1}, {"sensor": 17, "temperature": 25}])
    feed.drain_until(lambda f: f.commands[17] == [1])
    # A new setting keeps the last command: 25 under desired 30 is "on" (0).
    cluster.send_all([{"sensor": 17, "desired": 30, "up": 1, "down": 1}, {"sensor": 17, "temperature": 25}])
    feed.drain_until(lambda f: f.commands[17] == [1, 0])
    # Inside the band: nothing; the same command again: nothing; a change: one command.
    cluster.send_all([{"sensor": 17, "temperature": 30}, {"sensor": 17, "temperature": 20}, {"sensor": 17, "temperature": 40}])
    feed.drain_until(lambda f: f.commands[17] == [1, 0, 1])
    # Subscribing to "17 " never delivers sensor 170. 170's command is published (it is in the
    # command log) before a later command for 17 is caused; the feed delivers in publish order,
    # so once 17's arrives, 170's would have arrived before it.
    cluster.send_all([{"sensor": 170, "desired": 20, "up": 1, "down": 1}, {"sensor": 170, "temperature": 0}])
    cluster.wait(lambda s: cluster.caught_up(s) and any(c["sensor"] == 170 for c in cluster.commands()),
                 what="170's command is in the command log")
    cluster.send_all([{"sensor": 17, "temperature": 0}])
    feed.drain_until(lambda f: f.commands[17] == [1, 0, 1, 0])
    assert 170 not in feed.commands
    feed.close()


def test_items_wait_for_a_worker(cluster):
    """Items accepted while no worker runs are processed once one joins, in order."""
    cluster.start_coordinator()
    feed = Feed(cluster)
    items = [{"sensor": 5, "desired": 20, "up": 1, "down": 1}, {"sensor": 5, "temperature": 10}, {"sensor": 5, "temperature": 30}]
    cluster.send_all(items)
    status = cluster.status()
    assert sum(p["lag"] for p in status["partitions"]) == 3
    cluster.start_workers(1)
    feed.connect()
    cluster.wait(cluster.caught_up, what="the waiting items are processed")
    feed.drain_until(lambda f: f.commands[5] == [0, 1], timeout=10)
    feed.close()
