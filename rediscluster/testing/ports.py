"""Pick loopback TCP ports for cluster nodes.

A cluster node listens on its client port P and on its cluster bus port P + 10000, so
both must be free. Ports come from 11000-22000, below the Linux ephemeral range
(32768-60999 by default), so that outgoing connections and proxies bound to port 0
never take them, and are picked at random so that concurrent runs rarely collide.
"""

from __future__ import annotations

import random
import socket

__all__ = ["BUS_PORT_OFFSET", "pick_node_port", "port_is_free"]

BUS_PORT_OFFSET = 10000
_LOWEST_PORT = 11000
_HIGHEST_PORT = 22000
_MAX_ATTEMPTS = 200


def port_is_free(host: str, port: int) -> bool:
    """Return whether a TCP socket can bind ``host:port`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR matches what redis-server sets, so a port in TIME_WAIT counts as
        # free because the server will be able to bind it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def pick_node_port(host: str, exclude: set[int] | frozenset[int] = frozenset()) -> int:
    """Return a port P such that P and its bus port P + 10000 are both free.

    Ports in ``exclude`` and their bus ports are skipped, so a caller can reserve
    ports for nodes that are not started yet.

    Raises:
        RuntimeError: no free pair was found after 200 random tries.
    """
    rng = random.Random()
    for _ in range(_MAX_ATTEMPTS):
        port = rng.randint(_LOWEST_PORT, _HIGHEST_PORT)
        taken = {port, port + BUS_PORT_OFFSET} & (
            set(exclude) | {p + BUS_PORT_OFFSET for p in exclude}
        )
        if taken:
            continue
        if port_is_free(host, port) and port_is_free(host, port + BUS_PORT_OFFSET):
            return port
    raise RuntimeError(
        f"no free port pair (P, P+{BUS_PORT_OFFSET}) on {host} with P in "
        f"{_LOWEST_PORT}-{_HIGHEST_PORT} after {_MAX_ATTEMPTS} tries; "
        "stop leftover redis-server processes or free ports in that range"
    )
