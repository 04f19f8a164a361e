"""Property tests against a live cluster: slot parity and pipeline results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rediscluster import RedisCluster
from rediscluster.testing import LocalCluster

FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

braced = st.builds(
    lambda a, b, c: f"{a}{{{b}}}{c}", st.text(max_size=5), st.text(max_size=5),
    st.text(max_size=5),
)
keys = st.one_of(
    st.text(max_size=20),
    st.binary(max_size=20),
    st.integers(),
    st.floats(allow_nan=False),
    braced,
    st.text(alphabet="{}\x00ab", max_size=10),
)


@pytest.fixture(scope="module")
def slot_client(cluster: LocalCluster) -> Iterator[redis.Redis]:
    with cluster.masters[0].client() as client:
        yield client


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURE_OK)
@given(batch=st.lists(keys, min_size=100, max_size=100))
def test_keyslot_parity(
    rc: RedisCluster, slot_client: redis.Redis, batch: list[Any]
) -> None:
    pipe = slot_client.pipeline(transaction=False)
    for key in batch:
        pipe.execute_command("CLUSTER", "KEYSLOT", key)
    assert [rc.keyslot(key) for key in batch] == pipe.execute()


KEY_SPACE = [f"fz:{n}" for n in range(6)] + ["{fz}:a", "{fz}:b"]
key = st.sampled_from(KEY_SPACE)
value = st.one_of(st.integers(-5, 5).map(str), st.text("xy", max_size=3))
command = st.one_of(
    st.tuples(st.just("set"), key, value),
    st.tuples(st.just("get"), key),
    st.tuples(st.just("append"), key, value),
    st.tuples(st.just("strlen"), key),
    st.tuples(st.just("incrby"), key, st.integers(-3, 3)),
    st.tuples(st.just("delete"), key),
    st.tuples(st.just("exists"), key),
)


@pytest.fixture(scope="module")
def plain(cluster: LocalCluster) -> Iterator[dict[str, redis.Redis]]:
    clients = {f"{n.host}:{n.port}": n.client() for n in cluster.masters}
    yield clients
    for client in clients.values():
        client.close()


def outcome(result: Any) -> Any:
    if isinstance(result, Exception):
        return (type(result).__name__, str(result))
    return result


def one_by_one(
    rc: RedisCluster, plain: dict[str, redis.Redis], commands: list[tuple[Any, ...]]
) -> list[Any]:
    results = []
    for name, *args in commands:
        owner = rc.get_node_from_key(args[0]).name
        try:
            results.append(getattr(plain[owner], name)(*args))
        except redis.ResponseError as exc:
            results.append(exc)
    return results


@settings(max_examples=300, deadline=None, suppress_health_check=FIXTURE_OK)
@given(commands=st.lists(command, min_size=1, max_size=40))
def test_pipeline_matches_reference(
    rc: RedisCluster, plain: dict[str, redis.Redis], commands: list[tuple[Any, ...]]
) -> None:
    rc.delete(*KEY_SPACE)
    with rc.pipeline() as pipe:
        for name, *args in commands:
            getattr(pipe, name)(*args)
        piped = pipe.execute(raise_on_error=False)
    rc.delete(*KEY_SPACE)
    expected = one_by_one(rc, plain, commands)
    assert [outcome(r) for r in piped] == [outcome(r) for r in expected]
