"""redis-py command methods return the same values through RedisCluster as
through a plain redis.Redis on one standalone server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import redis

from rediscluster import RedisCluster
from rediscluster.testing import (
    LocalCluster,
    ServerNode,
    find_server_binary,
    launch_node,
    server_version,
)

# Keys of multi-key commands share the hash tag {p}, so they are in one slot.
A, B, C, D = "{p}a", "{p}b", "{p}c", "{p}d"

Case = Callable[[redis.Redis], Any]

CASES: list[tuple[str, Case]] = [
    # Strings
    ("set_get", lambda r: (r.set(A, "v1"), r.get(A), r.get(B))),
    ("set_options", lambda r: (r.set(A, "1", nx=True), r.set(A, "2", nx=True),
                               r.set(A, "3", xx=True, get=True), r.get(A))),
    ("mset_mget", lambda r: (r.mset({A: "1", B: "2"}), r.mget(A, B, C))),
    ("msetnx", lambda r: (r.msetnx({A: "1", B: "2"}), r.msetnx({B: "x", C: "y"}),
                          r.mget(A, B, C))),
    ("incr_decr", lambda r: (r.incr(A), r.incrby(A, 10), r.decr(A), r.decrby(A, 3))),
    ("incrbyfloat", lambda r: (r.incrbyfloat(A, 1.5), r.incrbyfloat(A, -0.25))),
    ("append_strlen", lambda r: (r.append(A, "abc"), r.append(A, "de"), r.strlen(A))),
    ("getrange_setrange", lambda r: (r.set(A, "Hello World"), r.setrange(A, 6, "Redis"),
                                     r.getrange(A, 0, 4), r.get(A))),
    ("getset", lambda r: (r.set(A, "old"), r.getset(A, "new"), r.get(A))),
    ("getex", lambda r: (r.set(A, "v"), r.getex(A, ex=1000), r.ttl(A),
                         r.getex(A, persist=True), r.ttl(A))),
    ("getdel", lambda r: (r.set(A, "v"), r.getdel(A), r.exists(A), r.getdel(A))),
    ("setex_setnx", lambda r: (r.setex(A, 1000, "v"), r.ttl(A), r.setnx(A, "w"),
                               r.setnx(B, "w"), r.get(B))),
    ("lcs", lambda r: (r.mset({A: "ohmytext", B: "mynewtext"}), r.lcs(A, B),
                       r.lcs(A, B, len=True))),
    # Hashes
    ("hset_hgetall", lambda r: (r.hset(A, mapping={"f1": "1", "f2": "2"}),
                                r.hgetall(A), r.hget(A, "f1"), r.hget(A, "nope"))),
    ("hincrby", lambda r: (r.hincrby(A, "n", 5), r.hincrbyfloat(A, "x", 2.5),
                           r.hmget(A, ["n", "x", "y"]))),
    ("hkeys_hvals", lambda r: (r.hset(A, mapping={"a": "1", "b": "2", "c": "3"}),
                               sorted(r.hkeys(A)), sorted(r.hvals(A)), r.hlen(A))),
    ("hdel_hexists", lambda r: (r.hset(A, "f", "v"), r.hexists(A, "f"), r.hdel(A, "f", "g"),
                                r.hexists(A, "f"))),
    ("hsetnx_hstrlen", lambda r: (r.hsetnx(A, "f", "abc"), r.hsetnx(A, "f", "x"),
                                  r.hstrlen(A, "f"))),
    # Lists
    ("rpush_lrange", lambda r: (r.rpush(A, 1, 2, 3), r.lpush(A, 0), r.lrange(A, 0, -1))),
    ("lpop_rpop_count", lambda r: (r.rpush(A, *range(6)), r.lpop(A, 2), r.rpop(A),
                                   r.lpop(B))),
    ("linsert_lindex", lambda r: (r.rpush(A, "a", "c"), r.linsert(A, "before", "c", "b"),
                                  r.lindex(A, 1), r.lset(A, 0, "z"), r.lrange(A, 0, -1))),
    ("lrem_ltrim", lambda r: (r.rpush(A, "x", "y", "x", "z", "x"), r.lrem(A, 2, "x"),
                              r.ltrim(A, 0, 1), r.lrange(A, 0, -1), r.llen(A))),
    ("lmove_rpoplpush", lambda r: (r.rpush(A, 1, 2, 3), r.lmove(A, B, "LEFT", "RIGHT"),
                                   r.rpoplpush(A, B), r.lrange(B, 0, -1))),
    ("lpos", lambda r: (r.rpush(A, "a", "b", "c", "b"), r.lpos(A, "b"),
                        r.lpos(A, "b", count=0), r.lpos(A, "q"))),
    ("blpop_ready", lambda r: (r.rpush(B, "v"), r.blpop([A, B], timeout=1))),
    # Sets
    ("sadd_smembers", lambda r: (r.sadd(A, "x", "y", "x"), r.smembers(A), r.scard(A))),
    ("set_algebra", lambda r: (r.sadd(A, 1, 2, 3), r.sadd(B, 2, 3, 4), r.sinter(A, B),
                               r.sunion(A, B), r.sdiff(A, B))),
    ("set_store", lambda r: (r.sadd(A, 1, 2, 3), r.sadd(B, 2, 3, 4),
                             r.sinterstore(C, [A, B]), r.sunionstore(D, [A, B]),
                             r.smembers(C), r.scard(D))),
    ("sismember_smove", lambda r: (r.sadd(A, "m"), r.sismember(A, "m"),
                                   r.smismember(A, ["m", "n"]), r.smove(A, B, "m"),
                                   r.smembers(B), r.srem(B, "m", "q"))),
    ("sintercard", lambda r: (r.sadd(A, 1, 2, 3), r.sadd(B, 2, 3), r.sintercard(2, [A, B]))),
    # Sorted sets
    ("zadd_zrange", lambda r: (r.zadd(A, {"a": 1, "b": 2.5, "c": 0}),
                               r.zrange(A, 0, -1, withscores=True), r.zrevrange(A, 0, 1))),
    ("zincrby_zscore", lambda r: (r.zadd(A, {"a": 1}), r.zincrby(A, 2.5, "a"),
                                  r.zscore(A, "a"), r.zmscore(A, ["a", "b"]))),
    ("zrank_zcount", lambda r: (r.zadd(A, {"a": 1, "b": 2, "c": 3}), r.zrank(A, "c"),
                                r.zrevrank(A, "c"), r.zcount(A, 2, "+inf"), r.zcard(A))),
    ("zrangebyscore", lambda r: (r.zadd(A, {"a": 1, "b": 2, "c": 3}),
                                 r.zrangebyscore(A, "(1", 3, withscores=True),
                                 r.zrevrangebyscore(A, 3, 2))),
    ("zpopmin_zpopmax", lambda r: (r.zadd(A, {"a": 1, "b": 2, "c": 3}), r.zpopmin(A),
                                   r.zpopmax(A, 2), r.zpopmin(A))),
    ("zunion_zinter_store", lambda r: (r.zadd(A, {"a": 1, "b": 2}), r.zadd(B, {"b": 3, "c": 4}),
                                       r.zunionstore(C, [A, B]), r.zinterstore(D, {A: 2, B: 1}),
                                       r.zrange(C, 0, -1, withscores=True),
                                       r.zrange(D, 0, -1, withscores=True))),
    ("zrangestore_zlex", lambda r: (r.zadd(A, {"a": 0, "b": 0, "c": 0}),
                                    r.zrangestore(B, A, 0, 1), r.zlexcount(A, "[b", "+"),
                                    r.zrangebylex(A, "-", "(c"), r.zrem(A, "a"))),
    # Streams
    ("xadd_xrange", lambda r: (r.xadd(A, {"f": "1"}, id="1-1"), r.xadd(A, {"f": "2"}, id="2-1"),
                               r.xrange(A), r.xrevrange(A, count=1), r.xlen(A))),
    ("xdel_xtrim", lambda r: ([r.xadd(A, {"n": i}, id=f"{i}-0") for i in range(1, 6)],
                              r.xdel(A, "2-0"), r.xtrim(A, maxlen=2), r.xrange(A))),
    ("xread", lambda r: (r.xadd(A, {"f": "1"}, id="5-0"), r.xadd(B, {"g": "2"}, id="6-0"),
                         r.xread({A: "0-0", B: "0-0"}))),
    ("xgroup_xreadgroup", lambda r: (r.xadd(A, {"f": "1"}, id="7-0"),
                                     r.xgroup_create(A, "grp", id="0"),
                                     r.xreadgroup("grp", "c1", {A: ">"}),
                                     r.xpending(A, "grp"), r.xack(A, "grp", "7-0"))),
    # Bitmaps
    ("setbit_bitcount", lambda r: (r.setbit(A, 7, 1), r.setbit(A, 100, 1), r.getbit(A, 7),
                                   r.bitcount(A), r.bitpos(A, 1), r.bitpos(A, 1, 1))),
    ("bitop", lambda r: (r.set(A, "abc"), r.set(B, "xyz"), r.bitop("AND", C, A, B),
                         r.bitop("XOR", D, A, B), r.mget(C, D))),
    ("bitfield", lambda r: (r.bitfield(A).set("u8", 0, 200).incrby("u8", 0, 100).get("u8", 0)
                            .execute(),)),
    # HyperLogLog
    ("pfadd_pfcount", lambda r: (r.pfadd(A, *"abcdefg"), r.pfadd(A, "a"), r.pfcount(A))),
    ("pfmerge", lambda r: (r.pfadd(A, "a", "b"), r.pfadd(B, "b", "c"), r.pfmerge(C, A, B),
                           r.pfcount(C), r.pfcount(A, B))),
    # Geo
    ("geoadd_geopos", lambda r: (r.geoadd(A, [13.361389, 38.115556, "Palermo",
                                              15.087269, 37.502669, "Catania"]),
                                 r.geopos(A, "Palermo", "Nowhere"), r.geohash(A, "Catania"))),
    ("geodist_geosearch", lambda r: (r.geoadd(A, [13.361389, 38.115556, "Palermo",
                                                  15.087269, 37.502669, "Catania"]),
                                     r.geodist(A, "Palermo", "Catania", unit="km"),
                                     r.geosearch(A, longitude=15, latitude=37, radius=200,
                                                 unit="km", withdist=True, sort="ASC"))),
    # Expiry
    ("expire_ttl", lambda r: (r.set(A, "v"), r.expire(A, 1000), r.ttl(A), r.persist(A),
                              r.ttl(A), r.ttl(B))),
    ("expireat_expiretime", lambda r: (r.set(A, "v"), r.expireat(A, 4102444800),
                                       r.expiretime(A), r.pexpiretime(A))),
    ("pexpire_flags", lambda r: (r.set(A, "v"), r.pexpire(A, 900000), r.expire(A, 10, gt=True),
                                 r.expire(A, 10, lt=True), r.ttl(A))),
    # Generic key commands, scripts and keyless commands
    ("copy_same_slot", lambda r: (r.set(A, "v"), r.copy(A, B), r.copy(A, B),
                                  r.copy(A, B, replace=True), r.get(B))),
    ("rename_tagged", lambda r: (r.set(A, "v"), r.rename(A, B), r.get(B), r.exists(A),
                                 r.set(C, "w"), r.renamenx(B, C))),
    ("type_object", lambda r: (r.set(A, "123"), r.rpush(B, "x"), r.zadd(C, {"m": 1}),
                               r.type(A), r.type(B), r.type(C), r.type(D),
                               r.object("encoding", A), r.object("refcount", B))),
    ("sort", lambda r: (r.rpush(A, 3, 1, 2), r.sort(A), r.sort(A, desc=True, start=0, num=2),
                        r.rpush(B, "b", "a"), r.sort(B, alpha=True))),
    ("sort_store", lambda r: (r.rpush(A, 3, 1, 2), r.sort(A, store=B), r.lrange(B, 0, -1))),
    ("exists_delete", lambda r: (r.mset({A: "1", B: "2"}), r.exists(A, B, C), r.touch(A, B),
                                 r.delete(A, C), r.unlink(B), r.exists(A, B))),
    ("dump_restore", lambda r: (r.rpush(A, "x", "y"), r.restore(B, 0, r.dump(A)),
                                r.lrange(B, 0, -1))),
    ("eval_keys", lambda r: (r.set(A, "v"), r.eval("return redis.call('GET', KEYS[1])", 1, A),
                             r.eval("return {KEYS[1], ARGV[1]}", 1, B, "arg"))),
    ("echo_ping", lambda r: (r.echo("hello"), r.ping())),
    ("strlen_missing", lambda r: (r.strlen(A), r.llen(A), r.scard(A), r.zcard(A), r.hlen(A))),
]


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerNode]:
    directory: Path = tmp_path_factory.mktemp("standalone")
    binary = find_server_binary()
    node = launch_node(
        lambda port: ServerNode(
            binary=binary,
            directory=directory / str(port),
            host="127.0.0.1",
            port=port,
            cluster=False,
        ),
        "127.0.0.1",
    )
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(params=[False, True], ids=["bytes", "decoded"])
def clients(
    request: pytest.FixtureRequest, cluster: LocalCluster, standalone: ServerNode
) -> Iterator[tuple[RedisCluster, redis.Redis]]:
    decode = request.param
    cluster_client = RedisCluster(
        startup_nodes=cluster.startup_nodes, decode_responses=decode
    )
    plain = standalone.client(decode_responses=decode)
    plain.flushall()
    for node in cluster.masters:
        with node.client() as client:
            client.flushall()
    yield cluster_client, plain
    cluster_client.close()
    plain.close()
    for node in cluster.masters:
        with node.client() as client:
            client.flushall()


# Cases whose commands or options first shipped in Redis 7.0.
NEEDS_REDIS_7 = {"lcs", "sintercard", "expireat_expiretime", "pexpire_flags"}


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_command_parity(
    clients: tuple[RedisCluster, redis.Redis], name: str, case: Case
) -> None:
    if name in NEEDS_REDIS_7 and server_version(find_server_binary()) < (7, 0, 0):
        pytest.skip(f"{name} needs Redis 7.0 or later")
    cluster_client, plain = clients
    assert case(cluster_client) == case(plain)


def test_case_table_size() -> None:
    assert len(CASES) >= 40


def test_cluster_client_is_redis(rc: RedisCluster) -> None:
    assert isinstance(rc, redis.Redis)


def test_pipeline_parity(clients: tuple[RedisCluster, redis.Redis]) -> None:
    cluster_client, plain = clients
    results = []
    for client in (cluster_client, plain):
        pipe = client.pipeline(transaction=False)
        pipe.set(A, "1").incr(A).rpush(B, "x", "y").lrange(B, 0, -1)
        pipe.hset("h", mapping={"f": "v"}).hgetall("h").get("missing").zadd("z", {"m": 2})
        pipe.zrange("z", 0, -1, withscores=True).type(B)
        results.append(pipe.execute())
    assert results[0] == results[1]
