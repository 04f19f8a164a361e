"""Address translation for clusters behind NAT or port forwarding.

Nodes announce the addresses they see themselves at. A client outside their
network reaches them elsewhere, so every address the client learns, from
CLUSTER SLOTS and from MOVED and ASK replies alike, passes through one remap
function. Two forms are accepted: ``address_remap``, a callable from
``(host, port)`` to ``(host, port)`` as in redis-py, and ``host_port_remap``,
rules as in redis-py-cluster:
``{"from_host": ..., "from_port": ..., "to_host": ..., "to_port": ...}``,
where any ``from_`` key may be left out to match every host or port.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

Address = tuple[str, int]
AddressRemap = Callable[[Address], Address]

_RULE_KEYS = frozenset({"from_host", "from_port", "to_host", "to_port"})


def _check_rule(rule: Mapping[str, Any]) -> None:
    if not isinstance(rule, Mapping):
        raise TypeError(
            f"host_port_remap rule {rule!r} must be a dict with from_host, "
            f"from_port, to_host and/or to_port"
        )
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise ValueError(
            f"host_port_remap rule {dict(rule)!r} has unknown keys "
            f"{sorted(unknown)}; use from_host, from_port, to_host, to_port"
        )
    if not {"to_host", "to_port"} & set(rule):
        raise ValueError(
            f"host_port_remap rule {dict(rule)!r} changes nothing; give "
            f"to_host and/or to_port"
        )
    for key in ("from_port", "to_port"):
        if key in rule and not isinstance(rule[key], int):
            raise ValueError(
                f"host_port_remap rule {dict(rule)!r}: {key} must be an int"
            )


def rules_remap(rules: Sequence[Mapping[str, Any]]) -> AddressRemap:
    """Return a remap function applying the first matching rule."""
    for rule in rules:
        _check_rule(rule)
    frozen = [dict(rule) for rule in rules]

    def remap(address: Address) -> Address:
        host, port = address
        for rule in frozen:
            if rule.get("from_host", host) != host:
                continue
            if rule.get("from_port", port) != port:
                continue
            return rule.get("to_host", host), rule.get("to_port", port)
        return address

    return remap


def combine_remaps(
    address_remap: Optional[AddressRemap],
    host_port_remap: Optional[Sequence[Mapping[str, Any]]],
) -> Optional[AddressRemap]:
    """Return one remap applying host_port_remap rules, then address_remap."""
    if host_port_remap is not None and isinstance(host_port_remap, (str, bytes)):
        raise TypeError("host_port_remap must be a list of rule dicts")
    rules = rules_remap(host_port_remap) if host_port_remap else None
    if rules is None:
        return address_remap
    if address_remap is None:
        return rules
    custom = address_remap

    def both(address: Address) -> Address:
        return custom(rules(address))

    return both
