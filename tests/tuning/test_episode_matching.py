"""Matching episodes by rule, entity and overlapping time."""

from __future__ import annotations

import pandas as pd

from tuning.episodes import overlapping


def _frame(*rows: tuple[str, str, int, int]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["rule", "entity_id", "start_ms", "end_ms"])


def test_overlap_needs_the_same_rule_and_entity_and_shared_time() -> None:
    left = _frame(
        ("usage_surge", "E1", 0, 10),
        ("usage_surge", "E1", 10, 20),  # touches [0, 10) and [20, 30): no overlap
        ("usage_surge", "E2", 0, 10),  # other entity
        ("night_production", "E1", 0, 10),  # other rule
        ("usage_surge", "E1", 25, 40),
    )
    right = _frame(("usage_surge", "E1", 5, 10), ("usage_surge", "E1", 20, 30))
    assert overlapping(left, right).tolist() == [True, False, False, False, True]


def test_empty_sides_overlap_nothing() -> None:
    some = _frame(("usage_surge", "E1", 0, 10))
    assert overlapping(some, _frame()).tolist() == [False]
    assert overlapping(_frame(), some).tolist() == []
