"""Validation of the startup node addresses a user passes to the client."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

StartupNode = Union[Mapping[str, Any], Sequence[Any], str, Any]

DEFAULT_PORT = 6379


def _port(value: Any, node: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"startup node {node!r} has an invalid port {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(
            f"startup node {node!r} has an invalid port {value!r}; use an "
            f"integer from 1 to 65535"
        )
    try:
        port = int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"startup node {node!r} has an invalid port {value!r}; use an "
            f"integer from 1 to 65535"
        ) from exc
    if not 1 <= port <= 65535:
        raise ValueError(
            f"startup node {node!r} has port {port}, outside 1-65535"
        )
    return port


def _host(value: Any, node: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"startup node {node!r} has an invalid host {value!r}; use a host "
            f"name or IP address string"
        )
    return value


def parse_startup_node(node: StartupNode) -> tuple[str, int]:
    """Return (host, port) from a dict, a pair, a "host:port" string or an
    object with ``host`` and ``port`` attributes (redis-py's ClusterNode)."""
    if isinstance(node, Mapping):
        if "host" not in node or "port" not in node:
            raise ValueError(
                f"startup node {node!r} needs both 'host' and 'port' keys, as in "
                f"{{'host': '127.0.0.1', 'port': 7000}}"
            )
        return _host(node["host"], node), _port(node["port"], node)
    if isinstance(node, str):
        host, separator, port = node.rpartition(":")
        if not separator:
            raise ValueError(
                f"startup node {node!r} has no port; write it as 'host:port'"
            )
        return _host(host.strip("[]"), node), _port(port, node)
    if isinstance(node, (tuple, list)):
        if len(node) != 2:
            raise ValueError(
                f"startup node {node!r} must be a (host, port) pair"
            )
        return _host(node[0], node), _port(node[1], node)
    if hasattr(node, "host") and hasattr(node, "port"):
        return _host(node.host, node), _port(node.port, node)
    raise TypeError(
        f"startup node {node!r} of type {type(node).__name__} is not supported; "
        f"pass a dict such as {{'host': '127.0.0.1', 'port': 7000}}"
    )


def parse_startup_nodes(
    startup_nodes: Optional[Sequence[StartupNode]],
    host: Optional[str],
    port: Optional[int],
) -> list[tuple[str, int]]:
    """Return the deduplicated addresses to read the cluster layout from."""
    addresses: list[tuple[str, int]] = []
    if startup_nodes is not None:
        if isinstance(startup_nodes, (str, bytes, Mapping)):
            raise TypeError(
                f"startup_nodes must be a list of nodes, got "
                f"{type(startup_nodes).__name__} {startup_nodes!r}; wrap it in "
                f"a list"
            )
        addresses.extend(parse_startup_node(node) for node in startup_nodes)
    if host is not None:
        addresses.append(
            parse_startup_node(
                {"host": host, "port": DEFAULT_PORT if port is None else port}
            )
        )
    elif port is not None:
        addresses.append(parse_startup_node({"host": "localhost", "port": port}))
    if not addresses:
        raise ValueError(
            "no startup node given; pass startup_nodes=[{'host': ..., "
            "'port': ...}] or host= and port="
        )
    return list(dict.fromkeys(addresses))
