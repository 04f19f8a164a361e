"""Tests of the LocalCluster harness against real server processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from redis.crc import key_slot

from rediscluster.testing import (
    SLOT_COUNT,
    LocalCluster,
    ServerNode,
    ServerNotFoundError,
    find_server_binary,
    remove_stale_directories,
    server_version,
)
from rediscluster.testing.cluster_state import read_cluster_info, read_slot_map


def process_running(pid: int) -> bool:
    """Return whether ``pid`` runs; a zombie waiting for init to reap it does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting until {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(masters=3, replicas=1) as running:
        yield running


def test_find_server_binary_is_executable() -> None:
    binary = find_server_binary()
    assert Path(binary).is_file()
    assert server_version(binary) >= (6, 2, 0)


def test_find_server_binary_rejects_bad_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REDIS_SERVER", str(tmp_path / "missing-server"))
    with pytest.raises(ServerNotFoundError, match="REDIS_SERVER"):
        find_server_binary()


def test_every_node_answers(cluster: LocalCluster) -> None:
    assert len(cluster.nodes) == 6
    for node in cluster.nodes:
        with node.client() as client:
            assert client.ping() is True


def test_cluster_info_ok_on_all_nodes(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        with node.client() as client:
            info = read_cluster_info(client)
        assert info["cluster_state"] == "ok"
        assert info["cluster_known_nodes"] == "6"
        assert info["cluster_slots_assigned"] == str(SLOT_COUNT)


def test_cluster_slots_cover_all_with_replicas(cluster: LocalCluster) -> None:
    masters = {node.node_id: node for node in cluster.masters}
    for node in cluster.nodes:
        with node.client() as client:
            slot_map = read_slot_map(client)
        assert slot_map[0].start == 0
        assert slot_map[-1].end == SLOT_COUNT - 1
        for previous, current in zip(slot_map, slot_map[1:]):
            assert current.start == previous.end + 1
        assert {item.master_id for item in slot_map} == set(masters)
        for item in slot_map:
            expected = {
                replica.node_id
                for replica in cluster.replicas
                if replica.master_of is masters[item.master_id]
            }
            assert item.replica_ids == expected
            assert len(item.replica_ids) == 1


def test_roles_match_layout(cluster: LocalCluster) -> None:
    assert len(cluster.masters) == 3
    assert len(cluster.replicas) == 3
    for node in cluster.masters:
        with node.client(decode_responses=True) as client:
            assert client.execute_command("ROLE")[0] == "master"
        assert node.master_of is None
    for node in cluster.replicas:
        with node.client(decode_responses=True) as client:
            role = client.execute_command("ROLE")
        assert role[0] == "slave"
        assert node.master_of is not None
        assert int(role[2]) == node.master_of.announced_port


def test_startup_nodes_and_node_for_slot(cluster: LocalCluster) -> None:
    ports = {entry["port"] for entry in cluster.startup_nodes}
    assert ports == {node.announced_port for node in cluster.nodes}
    first = cluster.node_for_slot(0)
    last = cluster.node_for_slot(SLOT_COUNT - 1)
    assert first.role == "master"
    assert last.role == "master"
    assert first is not last
    with pytest.raises(ValueError):
        cluster.node_for_slot(SLOT_COUNT)


def test_repr_shows_layout(cluster: LocalCluster) -> None:
    text = repr(cluster)
    assert "3 masters, 3 replicas" in text
    assert "running" in text
    assert str(cluster.nodes[0].port) in text


def test_proxied_cluster_announces_proxies() -> None:
    with LocalCluster(masters=3, replicas=0, proxy_delay=0.0005) as proxied:
        proxies = [node.proxy for node in proxied.nodes]
        assert all(proxy is not None for proxy in proxies)
        proxy_ports = {node.announced_port for node in proxied.nodes}
        assert proxy_ports.isdisjoint({node.port for node in proxied.nodes})
        node = proxied.nodes[0]
        with node.client(decode_responses=True) as client:
            raw_slots = client.execute_command("CLUSTER", "SLOTS")
        assert {int(entry[2][1]) for entry in raw_slots} == proxy_ports
        target = proxied.node_for_slot(key_slot(b"{a}key"))
        with redis.Redis(host=target.host, port=target.announced_port) as client:
            client.set("{a}key", "value")
            assert client.get("{a}key") == b"value"
        pids = [n.process.pid for n in proxied.nodes if n.process is not None]
        pids += [proxy.pid for proxy in proxies if proxy is not None and proxy.pid]
        directory = proxied.directory
    assert len(pids) == 6
    for pid in pids:
        assert not process_running(pid)
    assert not directory.exists()


def test_close_stops_everything(cluster: LocalCluster) -> None:
    small = LocalCluster(masters=1, replicas=1).start()
    pids = [node.process.pid for node in small.nodes if node.process is not None]
    directory = small.directory
    assert directory.exists()
    small.close()
    small.close()
    assert len(pids) == 2
    for pid in pids:
        assert not process_running(pid)
    assert not directory.exists()
    assert "closed" in repr(small)


def test_stale_directory_removed(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(finished.stdout)
    stale = tmp_path / "rediscluster-localcluster-stale"
    stale.mkdir()
    (stale / "owner.pid").write_text(f"{dead_pid}\n")
    live = tmp_path / "rediscluster-localcluster-live"
    live.mkdir()
    (live / "owner.pid").write_text(f"{psutil.Process().ppid()}\n")
    assert remove_stale_directories(tmp_path) == [stale]
    assert not stale.exists()
    assert live.exists()


def test_kill_master_promotes_replica_and_restart() -> None:
    with LocalCluster(masters=3, replicas=1, node_timeout_ms=2000) as failing:
        victim = failing.node_for_slot(0)
        replica = next(node for node in failing.replicas if node.master_of is victim)
        failing.kill(victim)
        assert not victim.alive

        def promoted() -> bool:
            with replica.client(decode_responses=True) as client:
                return bool(client.execute_command("ROLE")[0] == "master")

        wait_until(promoted, 20, f"{replica!r} is promoted")
        failing.wait_ready()
        assert failing.node_for_slot(0) is replica
        assert replica.role == "master"

        failing.restart(victim)
        assert victim.alive
        assert victim.role == "replica"
        assert victim.master_of is replica
        with victim.client(decode_responses=True) as client:
            assert client.info("replication")["master_link_status"] == "up"


def test_server_node_repr_names_role(cluster: LocalCluster) -> None:
    node: ServerNode = cluster.masters[0]
    assert "master" in repr(node)
    assert str(node.port) in repr(node)
