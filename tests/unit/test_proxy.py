"""Tests of FaultProxy against a real standalone redis-server started here."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rediscluster.testing import FaultProxy, ServerNode, find_server_binary, launch_node
from rediscluster.testing.ports import pick_node_port

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerNode]:
    binary = find_server_binary()
    directory = tmp_path_factory.mktemp("standalone")

    def make_node(port: int) -> ServerNode:
        return ServerNode(
            binary=binary, directory=directory, host=HOST, port=port, cluster=False
        )

    node = launch_node(make_node, HOST)
    yield node
    node.stop()


@pytest.fixture
def proxy(server: ServerNode) -> Iterator[FaultProxy]:
    with FaultProxy(HOST, server.port) as running:
        yield running


def process_running(pid: int) -> bool:
    """Return whether ``pid`` runs; a zombie waiting for init to reap it does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def no_retry_client(port: int, socket_timeout: float | None = None) -> redis.Redis:
    """Return a client that surfaces the first error instead of retrying."""
    return redis.Redis(
        host=HOST, port=port, retry=Retry(NoBackoff(), 0), socket_timeout=socket_timeout
    )


def ping_round_trips(client: redis.Redis, count: int) -> list[float]:
    client.ping()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        client.ping()
        samples.append(time.perf_counter() - started)
    return samples


def test_proxy_forwards_commands(proxy: FaultProxy) -> None:
    with no_retry_client(proxy.port) as client:
        client.set("proxy:key", "value")
        assert client.get("proxy:key") == b"value"
    assert proxy.connections_accepted == 1


def test_proxy_port_known_after_start(server: ServerNode) -> None:
    proxy = FaultProxy(HOST, server.port)
    with pytest.raises(RuntimeError, match="start"):
        _ = proxy.port
    with proxy:
        assert proxy.port > 0
        assert proxy.running
    assert not proxy.running


def test_delay_one_ms_each_way(proxy: FaultProxy) -> None:
    proxy.set_delay(0.001)
    with no_retry_client(proxy.port) as client:
        samples = ping_round_trips(client, 200)
    median = statistics.median(samples)
    assert min(samples) >= 0.002
    assert median < 0.003


def test_delay_zero_adds_little(proxy: FaultProxy) -> None:
    with no_retry_client(proxy.port) as client:
        samples = ping_round_trips(client, 200)
    assert statistics.median(samples) < 0.001


def test_delay_one_direction_only(proxy: FaultProxy) -> None:
    proxy.set_delay(downstream=0.005)
    stats = proxy.stats()
    assert stats["upstream_delay"] == 0.0
    assert stats["downstream_delay"] == 0.005
    with no_retry_client(proxy.port) as client:
        samples = ping_round_trips(client, 20)
    assert min(samples) >= 0.005
    assert statistics.median(samples) < 0.009


def test_delay_keeps_pipeline_throughput(proxy: FaultProxy) -> None:
    proxy.set_delay(0.005)
    with no_retry_client(proxy.port) as client:
        client.ping()
        started = time.perf_counter()
        for _ in range(20):
            with client.pipeline(transaction=False) as pipe:
                for _ in range(50):
                    pipe.ping()
                pipe.execute()
        elapsed = time.perf_counter() - started
    # 20 round trips of 10 ms; delaying each request separately would take far more.
    assert elapsed >= 0.2
    assert elapsed < 0.4


def test_negative_delay_rejected(server: ServerNode) -> None:
    with pytest.raises(ValueError, match="delay"):
        FaultProxy(HOST, server.port, delay=-1)


def test_cut_after_fails_mid_reply(proxy: FaultProxy) -> None:
    value = b"x" * 100_000
    with no_retry_client(proxy.port) as client:
        client.set("proxy:big", value)
        proxy.cut_after(1000)
        with pytest.raises(redis.ConnectionError):
            client.get("proxy:big")
    with no_retry_client(proxy.port) as client:
        with pytest.raises(redis.ConnectionError):
            client.get("proxy:big")
    proxy.heal()
    with no_retry_client(proxy.port) as client:
        assert client.get("proxy:big") == value


def test_cut_after_count_clears_itself(proxy: FaultProxy) -> None:
    value = b"y" * 100_000
    with no_retry_client(proxy.port) as client:
        client.set("proxy:big", value)
        proxy.cut_after(50_000, count=1)
        with pytest.raises(redis.ConnectionError):
            client.get("proxy:big")
    with no_retry_client(proxy.port) as client:
        assert client.get("proxy:big") == value
    assert proxy.stats()["cut_nbytes"] is None


def test_blackhole_times_out_then_heals(proxy: FaultProxy) -> None:
    with no_retry_client(proxy.port, socket_timeout=0.5) as client:
        client.ping()
        proxy.blackhole(True)
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.ping()
        assert time.monotonic() - started >= 0.45
    with no_retry_client(proxy.port, socket_timeout=0.5) as client:
        with pytest.raises(redis.TimeoutError):
            client.ping()
    accepted = proxy.connections_accepted
    assert accepted == 2
    proxy.heal()
    with no_retry_client(proxy.port, socket_timeout=0.5) as client:
        assert client.ping() is True


def test_reset_connections_sends_reset(proxy: FaultProxy) -> None:
    with socket.create_connection((HOST, proxy.port), timeout=2) as raw:
        raw.sendall(b"PING\r\n")
        assert raw.recv(100) == b"+PONG\r\n"
        assert proxy.active_connections == 1
        assert proxy.reset_connections() == 1
        with pytest.raises(ConnectionResetError):
            raw.recv(100)
    deadline = time.monotonic() + 2
    while proxy.active_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proxy.active_connections == 0


def test_reset_connections_fails_blocked_command(proxy: FaultProxy) -> None:
    with no_retry_client(proxy.port) as client:
        client.ping()
        timer = threading.Timer(0.2, proxy.reset_connections)
        timer.start()
        try:
            with pytest.raises(redis.ConnectionError):
                client.blpop(["proxy:empty"], timeout=5)
        finally:
            timer.join()


def test_target_down_closes_client_connection() -> None:
    dead_port = pick_node_port(HOST)
    with FaultProxy(HOST, dead_port) as proxy:
        with no_retry_client(proxy.port, socket_timeout=1) as client:
            with pytest.raises(redis.ConnectionError):
                client.ping()
        assert proxy.connections_accepted == 1


def test_proxy_exits_when_parent_killed(server: ServerNode) -> None:
    script = textwrap.dedent(
        f"""
        from rediscluster.testing.proxy import FaultProxy
        proxy = FaultProxy({HOST!r}, {server.port}).start()
        print(proxy.pid, flush=True)
        input()
        """
    )
    root = Path(__file__).resolve().parents[2]
    environment = dict(os.environ, PYTHONPATH=str(root))
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=environment,
    )
    assert parent.stdout is not None
    proxy_pid = int(parent.stdout.readline())
    assert process_running(proxy_pid)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 3
    while process_running(proxy_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_running(proxy_pid)
