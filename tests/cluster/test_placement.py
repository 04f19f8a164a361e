"""Keys written through RedisCluster land on the master that owns their slot."""

from __future__ import annotations

import time
from typing import Any

import redis

from rediscluster import RedisCluster
from rediscluster.testing import LocalCluster

KEY_COUNT = 10_000


def mixed_keys(count: int) -> list[Any]:
    """Return ``count`` distinct keys of every kind redis-py accepts."""
    makers = [
        lambda i: f"str:{i}",
        lambda i: f"bytes:{i}".encode(),
        lambda i: 1_000_000 + i,
        lambda i: i + 0.25,
        lambda i: f"{{tag{i % 37}}}x{i}",
        lambda i: f"ключ:{i}:鍵:🔑",
        lambda i: f"a{{b{i}",
        lambda i: f"}}x{{{i}",
        lambda i: f"{{}}y{i}",
        lambda i: f"nul\x00{i}".encode(),
        lambda i: f"{{{i}\x00}}z",
        lambda i: f"{i}}}{{",
    ]
    return [makers[i % len(makers)](i) for i in range(count)]


def read_owners(node: redis.Redis) -> dict[int, tuple[str, int]]:
    """Map each slot to the (host, port) of its master, from CLUSTER SLOTS."""
    owners: dict[int, tuple[str, int]] = {}
    for entry in node.execute_command("CLUSTER SLOTS"):
        start, end, master = int(entry[0]), int(entry[1]), entry[2]
        host = master[0].decode() if isinstance(master[0], bytes) else master[0]
        for slot in range(start, end + 1):
            owners[slot] = (host, int(master[1]))
    return owners


def test_keys_on_owning_master(cluster: LocalCluster, rc: RedisCluster) -> None:
    started = time.monotonic()
    keys = mixed_keys(KEY_COUNT)
    assert len({bytes(rc.get_encoder().encode(key)) for key in keys}) == KEY_COUNT

    for index, key in enumerate(keys):
        rc.set(key, index)

    probe = cluster.masters[0].client()
    pipe = probe.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("CLUSTER KEYSLOT", key)
    server_slots = [int(slot) for slot in pipe.execute()]
    owners = read_owners(probe)
    probe.close()

    # EXISTS on a master that does not own the slot returns MOVED whether or
    # not the key is there, so each master's whole key space is read instead.
    stored: dict[tuple[str, int], set[bytes]] = {}
    for node in cluster.masters:
        with node.client() as client:
            stored[(node.host, node.port)] = set(client.scan_iter(count=1000))

    encode = rc.get_encoder().encode
    misplaced = []
    for index, key in enumerate(keys):
        raw = bytes(encode(key))
        owner = owners[server_slots[index]]
        holders = [address for address, held in stored.items() if raw in held]
        if holders != [owner]:
            misplaced.append((key, server_slots[index], owner, holders))
    assert misplaced == []
    assert sum(len(held) for held in stored.values()) == KEY_COUNT

    missing = []
    for node in cluster.masters:
        owned = [
            key
            for index, key in enumerate(keys)
            if owners[server_slots[index]] == (node.host, node.port)
        ]
        with node.client() as client:
            pipe = client.pipeline(transaction=False)
            for key in owned:
                pipe.exists(key)
            missing += [key for key, found in zip(owned, pipe.execute()) if found != 1]
    assert missing == []
    assert time.monotonic() - started < 20


def test_keyslot_matches_server(cluster: LocalCluster, rc: RedisCluster) -> None:
    keys = mixed_keys(2_000)
    probe = cluster.masters[0].client()
    pipe = probe.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("CLUSTER KEYSLOT", key)
    server_slots = [int(slot) for slot in pipe.execute()]
    probe.close()
    client_slots = [rc.keyslot(key) for key in keys]
    mismatches = [
        (key, ours, theirs)
        for key, ours, theirs in zip(keys, client_slots, server_slots)
        if ours != theirs
    ]
    assert mismatches == []


def test_values_read_back(rc: RedisCluster) -> None:
    keys = mixed_keys(1_200)
    for index, key in enumerate(keys):
        rc.set(key, index)
    values = [rc.get(key) for key in keys]
    assert values == [str(index).encode() for index in range(len(keys))]
