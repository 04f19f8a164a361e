"""A fourth master joins the cluster and takes 2,048 slots under a pipeline load.

The pipelines must keep succeeding while their keys move, and the client must
learn the new master from the MOVED replies it gets, with no refresh call from the test.
"""

from __future__ import annotations

import shutil
import time

import rediscluster
from rediscluster.testing import LocalCluster, ServerNode, launch_node

from .conftest import (
    KeyLoad,
    keys_in_slots,
    migrate_slots,
    run,
    slot_owners,
    text,
    write_figures,
)

MOVING = range(0, 2048)
PREFILLED_KEYS = 1500


def start_extra_master(cluster: LocalCluster) -> ServerNode:
    """Start a cluster-mode node in the cluster's directory, not yet a member."""

    def make_node(port: int) -> ServerNode:
        return ServerNode(
            binary=cluster.server_binary,
            directory=cluster.directory / "node-extra",
            host=cluster.host,
            port=port,
            node_timeout_ms=cluster.node_timeout_ms,
            extra_config=cluster.extra_config,
        )

    return launch_node(
        make_node, cluster.host, exclude={node.port for node in cluster.nodes}
    )


def wait_member_everywhere(
    nodes: list[ServerNode], node_id: str, timeout: float
) -> None:
    """Block until every node lists node_id as a settled member and is ok.

    A node that just joined reports cluster_state:fail for about 2 s (seen with
    Redis 6.2.14), and meanwhile rejects a MIGRATE into it with CLUSTERDOWN.
    """
    deadline = time.monotonic() + timeout
    while True:
        unaware = []
        for node in nodes:
            lines = text(run(node, "CLUSTER", "NODES")).splitlines()
            entry = next((line for line in lines if line.startswith(node_id)), "")
            state = text(run(node, "CLUSTER", "INFO"))
            if (
                not entry
                or "handshake" in entry
                or "noaddr" in entry
                or "cluster_state:ok" not in state
            ):
                unaware.append(node.port)
        if not unaware:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"nodes on ports {unaware} do not list {node_id} as a member "
                f"or report cluster_state other than ok"
            )
        time.sleep(0.05)


def wait_client_sees(
    rc: rediscluster.RedisCluster, port: int, timeout: float
) -> float | None:
    """Poll the client's slot map for a master on port.

    Returns the time.monotonic() it appeared, or None after timeout seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = {node.port for node in rc.topology.table.primary_nodes()}
        if port in ports:
            return time.monotonic()
        time.sleep(0.02)
    return None


def test_scale_out_workload(chaos_cluster: LocalCluster) -> None:
    from conftest import track

    cluster = chaos_cluster
    source = slot_owners(cluster)[MOVING.start]
    masters = list(cluster.masters)
    extra = start_extra_master(cluster)
    try:
        extra.node_id = text(run(extra, "CLUSTER", "MYID"))
        # close() of the cluster stops every node in its list, and track()
        # lets the suite's leak check see the extra process and directory.
        cluster.nodes.append(extra)
        track(cluster)
        run(extra, "CLUSTER", "MEET", source.host, source.port)
        wait_member_everywhere([*cluster.nodes], extra.node_id, timeout=20.0)

        rc = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes[:6])
        filled = keys_in_slots("fill", MOVING, PREFILLED_KEYS)
        rc.mset({key: f"{key}=fill" for key in filled})
        load = KeyLoad(rc, MOVING, threads=4, multi_key=False, prefix="scale")
        load.start()
        try:
            load.wait_rounds(5, timeout=30.0)
            started = time.monotonic()
            moved = migrate_slots([*masters, extra], source, extra, list(MOVING))
            migrated_at = time.monotonic()
            seen_at = wait_client_sees(rc, extra.port, timeout=10.0)
            load.wait_rounds(5, timeout=30.0)
        finally:
            load.stop()
        primaries = {node.port for node in rc.topology.table.primary_nodes()}
        rc.close()

        keys = [key for thread_keys in load.singles for key in thread_keys] + filled
        with extra.client(socket_timeout=5.0) as direct:
            values = [direct.get(key) for key in keys]
    finally:
        extra.stop()
        shutil.rmtree(extra.directory, ignore_errors=True)

    errors = [error for thread_errors in load.errors for error in thread_errors]
    figures = {
        "slots_moved": len(MOVING),
        "keys_moved": moved,
        "migration_seconds": round(migrated_at - started, 3),
        "client_saw_new_master_after_seconds": (
            None if seen_at is None else round(seen_at - migrated_at, 3)
        ),
        "rounds_per_thread": load.rounds,
        "pipeline_redirects": load.redirects,
        "pipeline_retries": load.retries,
        "errors": len(errors),
        "errors_first_5": errors[:5],
        "stale_reads": len(load.stale_reads),
        "server": f"{cluster.server_name} {cluster.server_version}",
    }
    write_figures("scale_out", figures)

    for index, thread_errors in enumerate(load.errors):
        assert thread_errors == [], f"thread {index} saw errors"
    assert load.stale_reads == [], "reads that missed their own write"
    assert seen_at is not None, "the client never listed the new master"
    assert extra.port in primaries, f"the client's masters are on ports {primaries}"
    missing = [key for key, value in zip(keys, values) if value is None]
    assert missing == [], f"{len(missing)} moved keys are not on the new master"
    assert not extra.alive, "the extra node still runs"
    assert not extra.directory.exists(), "the extra node's directory remains"
