"""Address remap rules and how they combine with a remap function."""

from __future__ import annotations

from typing import Any

import pytest

from rediscluster.remap import combine_remaps, rules_remap

RULES = [
    {"from_host": "10.0.0.1", "from_port": 7000,
     "to_host": "127.0.0.1", "to_port": 17000},
    {"from_host": "10.0.0.1", "to_host": "localhost"},
    {"from_port": 7001, "to_port": 17001},
    {"from_port": 7001, "to_port": 27001},
    {"from_host": "10.0.0.2", "from_port": 7002, "to_port": 17002},
]

MATCHES = [
    (("10.0.0.1", 7000), ("127.0.0.1", 17000)),
    (("10.0.0.1", 7005), ("localhost", 7005)),
    (("10.0.0.9", 7001), ("10.0.0.9", 17001)),
    (("10.0.0.1", 7001), ("localhost", 7001)),
    (("10.0.0.2", 7002), ("10.0.0.2", 17002)),
    (("10.0.0.3", 7002), ("10.0.0.3", 7002)),
    (("10.0.0.9", 7009), ("10.0.0.9", 7009)),
]


@pytest.mark.parametrize(
    ("address", "expected"), MATCHES, ids=[f"{h}:{p}" for (h, p), _ in MATCHES]
)
def test_rules_table(address: tuple[str, int], expected: tuple[str, int]) -> None:
    assert rules_remap(RULES)(address) == expected


def test_first_rule_wins() -> None:
    remap = rules_remap([{"to_port": 1}, {"to_port": 2}])
    assert remap(("h", 9)) == ("h", 1)


def test_rule_without_from_matches_all() -> None:
    assert rules_remap([{"to_host": "x"}])(("anything", 5)) == ("x", 5)


def test_empty_rules_change_nothing() -> None:
    assert rules_remap([])(("h", 9)) == ("h", 9)


def test_rules_copied_at_creation() -> None:
    rule = {"from_port": 1, "to_port": 2}
    remap = rules_remap([rule])
    rule["to_port"] = 3
    assert remap(("h", 1)) == ("h", 2)


INVALID = [
    ({"from_port": 1, "to_port": 2, "via": 3}, ValueError, "via"),
    ({"from_port": 1}, ValueError, "changes nothing"),
    ({}, ValueError, "changes nothing"),
    ({"from_port": "7000", "to_port": 1}, ValueError, "from_port"),
    ({"to_port": "7000"}, ValueError, "to_port"),
    ("from_port=1", TypeError, "from_port=1"),
    (("to_port", 1), TypeError, "to_port"),
]


@pytest.mark.parametrize(
    ("rule", "error", "shown"), INVALID, ids=[repr(case[0]) for case in INVALID]
)
def test_invalid_rule_raises(rule: Any, error: type, shown: str) -> None:
    with pytest.raises(error, match=shown):
        rules_remap([{"to_port": 1}, rule])


def test_invalid_rule_named() -> None:
    with pytest.raises(ValueError) as raised:
        rules_remap([{"from_port": 5, "to_port": 6, "via": 7}])
    assert "'from_port': 5" in str(raised.value)


def test_combine_none() -> None:
    assert combine_remaps(None, None) is None


def test_combine_empty_rules() -> None:
    assert combine_remaps(None, []) is None


def test_combine_function_only() -> None:
    def shift(address: tuple[str, int]) -> tuple[str, int]:
        return address[0], address[1] + 1

    assert combine_remaps(shift, None) is shift


def test_combine_rules_only() -> None:
    remap = combine_remaps(None, [{"from_port": 1, "to_port": 2}])
    assert remap(("h", 1)) == ("h", 2)


def test_combine_rules_then_function() -> None:
    remap = combine_remaps(
        lambda a: (a[0].upper(), a[1] * 10), [{"from_port": 1, "to_port": 2}]
    )
    assert remap(("h", 1)) == ("H", 20)


def test_combine_function_sees_unmatched() -> None:
    remap = combine_remaps(
        lambda a: (a[0], a[1] + 100), [{"from_port": 1, "to_port": 2}]
    )
    assert remap(("h", 5)) == ("h", 105)


@pytest.mark.parametrize("rules", ["from_port", b"from_port"], ids=["str", "bytes"])
def test_combine_rejects_string(rules: Any) -> None:
    with pytest.raises(TypeError, match="host_port_remap"):
        combine_remaps(None, rules)


def test_combine_checks_rules() -> None:
    with pytest.raises(ValueError, match="changes nothing"):
        combine_remaps(lambda a: a, [{"from_port": 1}])
