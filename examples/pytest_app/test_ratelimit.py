"""Tests of the rate limiter on a real cluster, with the rediscluster fixtures.

``cluster_client`` gives a client on a cluster shared by the session, emptied
before and after each test. ``fault_proxy`` gives clients whose traffic passes
through a proxy per node, so a test can delay, cut or stop one node.
"""

from __future__ import annotations

import time

import pytest
from ratelimit import RateLimiter
from redis.crc import key_slot

import rediscluster
from rediscluster.testing import LocalCluster
from rediscluster.testing.fault_proxies import FaultProxies

# A fixed clock keeps every hit of a test in one window.
NOW = 1_700_000_000.0


def fixed_clock() -> float:
    return NOW


def limiter_on(client: rediscluster.RedisCluster, **options: object) -> RateLimiter:
    return RateLimiter(client, limit=3, window_seconds=60, clock=fixed_clock, **options)


def test_hits_allowed_up_to_limit(cluster_client: rediscluster.RedisCluster) -> None:
    limiter = limiter_on(cluster_client)

    decisions = [limiter.hit("alice") for _ in range(4)]

    assert [d.count for d in decisions] == [1, 2, 3, 4]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert not any(d.degraded for d in decisions)


def test_cluster_empty_at_test_start(cluster_client: rediscluster.RedisCluster) -> None:
    # The previous test wrote keys; the fixture flushed every master since.
    assert cluster_client.dbsize() == 0


def test_next_window_starts_at_zero(cluster_client: rediscluster.RedisCluster) -> None:
    now = [NOW]
    limiter = RateLimiter(
        cluster_client, limit=1, window_seconds=60, clock=lambda: now[0]
    )
    assert limiter.hit("bob").allowed
    assert not limiter.hit("bob").allowed

    now[0] += 60

    assert limiter.hit("bob").count == 1


def test_hit_keys_share_slot_and_expire(
    cluster_client: rediscluster.RedisCluster,
) -> None:
    limiter = limiter_on(cluster_client)
    limiter.hit("carol")
    hits_key = limiter.hits_key("carol")
    last_hit_key = limiter.last_hit_key("carol")

    assert key_slot(hits_key.encode()) == key_slot(last_hit_key.encode())
    assert 0 < cluster_client.ttl(hits_key) <= 120
    assert cluster_client.get(last_hit_key) == repr(NOW).encode()


def test_usage_reads_every_master(
    cluster_client: rediscluster.RedisCluster, local_cluster: LocalCluster
) -> None:
    limiter = limiter_on(cluster_client)
    users = [f"user{number}" for number in range(12)]
    for number, user in enumerate(users):
        for _ in range(number % 3 + 1):
            limiter.hit(user)
    nodes = {cluster_client.get_node_from_key(limiter.hits_key(u)).name for u in users}

    usage = limiter.usage(users + ["nobody"])

    assert len(nodes) == len(local_cluster.masters)
    assert usage == {**{u: n % 3 + 1 for n, u in enumerate(users)}, "nobody": 0}


def test_small_delay_slows_but_counts(fault_proxy: FaultProxies) -> None:
    limiter = limiter_on(fault_proxy.client(socket_timeout=2.0))
    limiter.hit("dave")
    fault_proxy.for_key(limiter.hits_key("dave")).set_delay(0.05)

    started = time.monotonic()
    decision = limiter.hit("dave")
    elapsed = time.monotonic() - started

    assert decision.count == 2
    assert not decision.degraded
    # 50 ms each way: the transaction is one round trip, so at least 100 ms.
    assert elapsed >= 0.1


def test_delayed_node_fails_open(fault_proxy: FaultProxies) -> None:
    limiter = limiter_on(fault_proxy.client(socket_timeout=0.2))
    # Open the connections first. A fault during a new client's set-up is
    # retried with backoff and would take seconds, not 0.2 s.
    limiter.usage(["erin"] + [f"other{number}" for number in range(20)])
    slow_proxy = fault_proxy.for_key(limiter.hits_key("erin"))
    other = next(
        user
        for user in (f"other{number}" for number in range(20))
        if fault_proxy.for_key(limiter.hits_key(user)) is not slow_proxy
    )
    slow_proxy.set_delay(0.5)

    started = time.monotonic()
    decision = limiter.hit("erin")
    elapsed = time.monotonic() - started

    assert decision.allowed
    assert decision.degraded
    assert elapsed < 1.0
    assert limiter.hit(other).count == 1
    assert limiter.degraded_count == 1


def test_cut_reply_fails_open_once(fault_proxy: FaultProxies) -> None:
    limiter = limiter_on(fault_proxy.client(socket_timeout=2.0))
    limiter.hit("frank")
    fault_proxy.for_key(limiter.hits_key("frank")).cut_after(0, count=1)

    cut = limiter.hit("frank")
    after = limiter.hit("frank")

    assert cut.degraded
    assert cut.allowed
    # The server ran the cut transaction; only its reply was lost.
    assert after.count == 3
    assert not after.degraded


@pytest.mark.parametrize("fail_open", [True, False])
def test_blackholed_node_follows_policy(
    fault_proxy: FaultProxies, fail_open: bool
) -> None:
    limiter = limiter_on(fault_proxy.client(socket_timeout=0.2), fail_open=fail_open)
    limiter.hit("grace")
    fault_proxy.for_key(limiter.hits_key("grace")).blackhole()

    started = time.monotonic()
    decision = limiter.hit("grace")
    elapsed = time.monotonic() - started

    assert decision.allowed is fail_open
    assert decision.degraded
    assert elapsed < 1.0


def test_faults_cleared_between_tests(fault_proxy: FaultProxies) -> None:
    # Runs after the tests above, which left delays, a blackhole and a cut.
    for proxy in fault_proxy.proxies:
        stats = proxy.stats()
        assert stats["upstream_delay"] == 0
        assert stats["downstream_delay"] == 0
        assert stats["blackholed"] is False
        assert stats["cut_nbytes"] is None
    limiter = limiter_on(fault_proxy.client(socket_timeout=0.2))
    assert limiter.hit("grace").count == 1
