"""A password never shows in reprs, error messages or log records.

One run collects every text a user could see, on success and after faults,
and the tests scan it for the password.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from rediscluster import RedisCluster
from rediscluster.testing import LocalCluster
from tests.cluster.fake_server import FakeServer
from tests.cluster.spread import spread_keys
from tests.cluster.test_acl import delete_users, set_users
from tests.cluster.test_errors import closed_port

USER, PASSWORD = "keeper", "pw-Zq81-never-shown"


class Collector(logging.Handler):
    """Keeps every record's message and traceback text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[list[str]]:
    collector = Collector()
    loggers = [logging.getLogger(name) for name in ("rediscluster", "redis")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(collector)
        logger.setLevel(logging.DEBUG)
    yield collector.texts
    for logger, level in zip(loggers, levels):
        logger.removeHandler(collector)
        logger.setLevel(level)


@pytest.fixture
def keeper(proxied_cluster: LocalCluster) -> Iterator[LocalCluster]:
    rule = (USER, "on", f">{PASSWORD}", "~*", "&*", "+@all")
    set_users(proxied_cluster, rule)
    yield proxied_cluster
    for node in proxied_cluster.nodes:
        node.proxy.heal()
    delete_users(proxied_cluster, USER)


def error_text(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except RedisError as exc:
        texts = [repr(exc), str(exc)]
        cause = exc.__cause__
        while cause is not None:
            texts += [repr(cause), str(cause)]
            cause = cause.__cause__
        return "\n".join(texts)
    raise AssertionError(f"{call!r} raised nothing")


def client(
    cluster: LocalCluster, password: str = PASSWORD, **kw: object
) -> RedisCluster:
    return RedisCluster(
        startup_nodes=cluster.startup_nodes, username=USER, password=password,
        retry=Retry(NoBackoff(), 0), socket_timeout=0.5, **kw,
    )


def visible_texts(rc: RedisCluster) -> list[str]:
    texts = [repr(rc), str(rc), repr(rc.connection_pool)]
    for node in rc.get_nodes():
        texts += [repr(node), repr(node.pool)]
        texts += [repr(connection) for connection in node.pool._idle]
    pipe = rc.pipeline().set("a", 1)
    texts += [repr(pipe), repr(rc.pipeline(transaction=True))]
    return texts


def outcome_unknown_text(rc: RedisCluster, cluster: LocalCluster) -> str:
    key = "secret:cut"
    rc.get(key)  # opens a pooled connection to the key's node
    owner = rc.topology.table.primary_for(rc.keyslot(key)).port
    proxy = next(n.proxy for n in cluster.nodes if n.announced_port == owner)
    proxy.cut_after(0, count=1)
    text = error_text(lambda: rc.set(key, 1))
    assert "OutcomeUnknownError" in text
    return text


def timeout_text(rc: RedisCluster, cluster: LocalCluster) -> str:
    for node in cluster.nodes:
        node.proxy.blackhole()
    return error_text(lambda: rc.get("secret:slow"))


def collect(cluster: LocalCluster) -> list[str]:
    texts = []
    with client(cluster) as rc:
        keys = spread_keys(rc, "secret:")
        rc.mset({key: key for key in keys})
        rc.pipeline().get(keys[0]).set(keys[1], 2).execute()
        texts += visible_texts(rc)
        texts.append(outcome_unknown_text(rc, cluster))
        texts.append(timeout_text(rc, cluster))
    for node in cluster.nodes:
        node.proxy.heal()
    wrong = "wrong-" + PASSWORD[::-1]
    texts.append(error_text(lambda: client(cluster, password=wrong)))
    texts.append(error_text(lambda: RedisCluster(
        host="127.0.0.1", port=closed_port(), password=PASSWORD
    )))
    with FakeServer(answer=lambda c: None) as silent:
        texts.append(error_text(lambda: RedisCluster(
            host="127.0.0.1", port=silent.port, password=PASSWORD,
            socket_timeout=0.3,
        )))
    return texts


def test_no_password_anywhere(keeper: LocalCluster, logs: list[str]) -> None:
    texts = collect(keeper) + logs
    leaks = [text for text in texts if PASSWORD in text]
    assert leaks == []


def test_scan_saw_log_records(keeper: LocalCluster, logs: list[str]) -> None:
    collect(keeper)
    assert any("opened a connection" in text for text in logs)
