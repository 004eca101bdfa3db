"""canonical_json: always the text of json.dumps with sorted keys and no whitespace.

Evidence hashes are sha256 of this text, so it may never change, whichever encoder writes it
(orjson on the fast path, json.dumps where orjson's text could differ).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.detection import Detection, canonical_json


def _reference(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too, which orjson refuses
    st.floats(),  # NaN, infinities, subnormals, every exponent
    st.text(),  # control characters, non-ASCII, lone surrogates
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
    ),
    max_leaves=30,
)


@settings(max_examples=500)
@given(value=_values)
def test_text_is_exactly_json_dumps(value: Any) -> None:
    assert canonical_json(value) == _reference(value)


@pytest.mark.parametrize(
    "value",
    [
        1e-07,  # orjson: 1e-7
        1.5e-05,  # orjson: 0.000015
        -2.5e-09,
        0.0001,
        1e16,
        1.2345678901234568e17,
        5e-324,
        -0.0,
        float("nan"),  # orjson: null
        float("inf"),
        2**64,  # orjson refuses
        {"b": [1e-05, {"a": 'é\u2028\x00\x7f"'}], "a": (1, 2)},
        {3: "int keys", 1: None},  # orjson refuses non-string keys
    ],
    ids=repr,
)
def test_values_where_orjson_would_write_other_text(value: Any) -> None:
    assert canonical_json(value) == _reference(value)


@pytest.mark.parametrize("value", [dt.date(2025, 1, 1), {"at": dt.datetime(2025, 1, 1)}, {1, 2}])
def test_what_json_dumps_refuses_stays_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        canonical_json(value)


def test_a_detection_reads_back_as_it_was_nan_included() -> None:
    d = Detection(
        rule="night_production",
        entity_id="E00001",
        county="370102",
        episode_start_ms=1_750_000_000_000,
        start_ms=1_750_000_000_000,
        end_ms=1_750_003_600_000,
        severity="high",
        score=2.5,
        observed=40.0,
        baseline=1e-05,
        thresholds={"ratio": 0.3},
        thresholds_version="2025-06",
        explanation="夜间生产 / Night production",
        evidence={"values": [1e-07, None, float("nan")], "slot_minutes": 15},
    )
    back = Detection.from_json(d.to_json())
    assert back.to_dict() | {"evidence": None} == d.to_dict() | {"evidence": None}
    first, missing, nan = back.evidence["values"]
    assert (first, missing, math.isnan(nan)) == (1e-07, None, True)
    assert d.to_json() == _reference(d.to_dict())
