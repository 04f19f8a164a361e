"""ACL users: credentials reach every node; NOPERM stays at its own position."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis.exceptions import AuthenticationError, NoPermissionError

from rediscluster import RedisCluster
from rediscluster.testing import LocalCluster
from tests.cluster.spread import spread_keys

APP_USER, APP_PASSWORD = "app", "app-pw-41"
LIMITED_USER, LIMITED_PASSWORD = "limited", "limited-pw-73"


def set_users(cluster: LocalCluster, *rules: tuple[str, ...]) -> None:
    """Run ACL SETUSER with each rule on every node, replicas included."""
    for node in cluster.nodes:
        with node.client() as client:
            for rule in rules:
                client.execute_command("ACL", "SETUSER", *rule)


def delete_users(cluster: LocalCluster, *names: str) -> None:
    for node in cluster.nodes:
        with node.client() as client:
            client.execute_command("ACL", "DELUSER", *names)


@pytest.fixture(scope="module")
def users(cluster: LocalCluster) -> Iterator[LocalCluster]:
    set_users(
        cluster,
        (APP_USER, "on", f">{APP_PASSWORD}", "~*", "&*", "+@all"),
        (LIMITED_USER, "on", f">{LIMITED_PASSWORD}", "~allowed:*", "+@all"),
    )
    yield cluster
    delete_users(cluster, APP_USER, LIMITED_USER)


def connect(
    cluster: LocalCluster, user: str, password: str, **kw: object
) -> RedisCluster:
    return RedisCluster(
        startup_nodes=cluster.startup_nodes, username=user, password=password, **kw
    )


def users_seen(cluster: LocalCluster) -> dict[str, set[str]]:
    """Return the users with a connection open on each node."""
    seen = {}
    for node in cluster.nodes:
        with node.client(decode_responses=True) as client:
            seen[f"{node.host}:{node.port}"] = {
                entry["user"] for entry in client.client_list()
            }
    return seen


def test_acl_user_reaches_every_node(users: LocalCluster) -> None:
    with connect(users, APP_USER, APP_PASSWORD, read_from_replicas=True) as rc:
        keys = spread_keys(rc, "acl:")
        rc.mset({key: key for key in keys})
        rc.wait(1, 2000)
        with rc.pipeline() as pipe:
            for _ in range(2):
                for key in keys:
                    pipe.get(key)
            pipe.execute()
        seen = users_seen(users)
        rc.delete(*keys)
    assert all(APP_USER in names for names in seen.values()), seen


def test_acl_user_gets_values(users: LocalCluster) -> None:
    with connect(users, APP_USER, APP_PASSWORD) as rc:
        keys = spread_keys(rc, "acl:")
        rc.mset({key: key for key in keys})
        values = rc.mget(keys)
        rc.delete(*keys)
    assert values == [key.encode() for key in keys]


def run_mixed_pipeline(rc: RedisCluster) -> list[object]:
    rc.delete("allowed:a", "allowed:n")
    with rc.pipeline() as pipe:
        pipe.set("allowed:a", "1")
        pipe.set("other:b", "2")
        pipe.get("allowed:a")
        pipe.get("other:c")
        pipe.incr("allowed:n")
        pipe.delete("allowed:a")
        return pipe.execute(raise_on_error=False)


def test_noperm_at_denied_positions(users: LocalCluster) -> None:
    with connect(users, LIMITED_USER, LIMITED_PASSWORD) as rc:
        results = run_mixed_pipeline(rc)
    denied = [i for i, r in enumerate(results) if isinstance(r, NoPermissionError)]
    assert denied == [1, 3]


def test_noperm_others_unaffected(users: LocalCluster) -> None:
    with connect(users, LIMITED_USER, LIMITED_PASSWORD) as rc:
        results = run_mixed_pipeline(rc)
    assert [results[i] for i in (0, 2, 4, 5)] == [True, b"1", 1, 1]


def test_noperm_raise_names_command(users: LocalCluster) -> None:
    with connect(users, LIMITED_USER, LIMITED_PASSWORD) as rc:
        with pytest.raises(NoPermissionError) as raised:
            rc.pipeline().set("allowed:x", 1).set("other:x", 1).execute()
        rc.delete("allowed:x")
    assert "command #2 (SET other:x 1)" in str(raised.value)


def test_noperm_single_command(users: LocalCluster) -> None:
    with connect(users, LIMITED_USER, LIMITED_PASSWORD) as rc:
        with pytest.raises(NoPermissionError):
            rc.get("other:key")


def connections_received(cluster: LocalCluster) -> int:
    total = 0
    for node in cluster.nodes:
        with node.client() as client:
            total += int(client.info("stats")["total_connections_received"])
    return total


def test_wrong_password_fast(users: LocalCluster) -> None:
    started = time.monotonic()
    with pytest.raises(AuthenticationError):
        connect(users, APP_USER, "not-the-password")
    assert time.monotonic() - started < 2


def test_wrong_password_one_attempt(users: LocalCluster) -> None:
    before = connections_received(users)
    with pytest.raises(AuthenticationError):
        connect(users, APP_USER, "not-the-password")
    # Reading the counters opens one connection per node.
    assert connections_received(users) - before - len(users.nodes) <= 1


def test_wrong_password_names_node(users: LocalCluster) -> None:
    with pytest.raises(AuthenticationError) as raised:
        connect(users, APP_USER, "not-the-password")
    assert str(raised.value).startswith("authentication to 127.0.0.1:")


def test_unknown_user_rejected(users: LocalCluster) -> None:
    with pytest.raises(AuthenticationError):
        connect(users, "nobody", APP_PASSWORD)
