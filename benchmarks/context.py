"""The state every scenario needs: the cluster, the plan and the peers."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Optional

from benchmarks.cluster import Target
from benchmarks.peers import Peer, PeerFactory
from benchmarks.plan import Plan
from rediscluster.testing import LocalCluster


@dataclass
class Bench:
    """One benchmark run's cluster, plan and peer factories."""

    cluster: LocalCluster
    plan: Plan
    factories: dict[str, Optional[PeerFactory]]

    def open_peers(
        self, target: Target, stack: contextlib.ExitStack
    ) -> dict[str, Optional[Peer]]:
        """Connect every installed peer; ``stack`` closes them. None: not installed."""
        peers: dict[str, Optional[Peer]] = {}
        for name, factory in self.factories.items():
            if factory is None:
                peers[name] = None
                continue
            peer = factory(target)
            stack.callback(peer.close)
            peers[name] = peer
        return peers
