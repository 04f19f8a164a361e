"""The figures of one scenario, and the ratios the table and targets use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Result:
    """Medians of one scenario per peer name, with the limit measured alongside.

    A value of None means the peer is not installed. ``higher_is_better`` is
    true for rates (operations per second) and false for times and memory.
    """

    scenario: str
    title: str
    unit: str
    values: dict[str, Optional[float]]
    limit: Optional[float]
    limit_name: str
    higher_is_better: bool = False
    details: dict[str, str] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def ratio(self, peer: str, other: str) -> Optional[float]:
        """Return peer's figure divided by other's (a peer name or "limit")."""
        mine = self.values.get(peer)
        theirs = self.limit if other == "limit" else self.values.get(other)
        if mine is None or theirs is None or theirs == 0:
            return None
        return mine / theirs
