"""Metric presence and counts read from the dictionary codes match the rows themselves."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from ingest.schema import metric_counts, metrics_in

NAMES = ["electricity.kwh", "electricity.register_kwh", "gas.pressure_kpa", "water.level_m"]


@st.composite
def metric_columns(draw: st.DrawFn) -> pa.Table:
    """A metric column of one or more chunks, each with its own dictionary order."""
    chunks = []
    for _ in range(draw(st.integers(1, 3))):
        dictionary = draw(st.permutations(NAMES))[: draw(st.integers(1, len(NAMES)))]
        codes = draw(st.lists(st.integers(0, len(dictionary) - 1), max_size=30))
        chunks.append(
            pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(dictionary))
        )
    return pa.table({"metric": pa.chunked_array(chunks, chunks[0].type)})


@given(metric_columns())
def test_presence_and_counts_match_the_rows(table: pa.Table) -> None:
    rows = Counter(table["metric"].to_pylist())
    assert metrics_in(table) == set(rows)
    assert metric_counts(table) == dict(rows)


def test_plain_strings_are_counted_too() -> None:
    table = pa.table({"metric": ["gas.pressure_kpa", "electricity.kwh", "gas.pressure_kpa"]})
    assert metrics_in(table) == {"gas.pressure_kpa", "electricity.kwh"}
    assert metric_counts(table) == {"gas.pressure_kpa": 2, "electricity.kwh": 1}
