"""Metric counts and presence, read off the dictionary codes, agree with counting names."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.schema import metric_counts, metrics_in

NAMES = [f"m{i}" for i in range(12)]

chunks = st.lists(
    st.lists(st.one_of(st.none(), st.sampled_from(NAMES)), max_size=30), min_size=1, max_size=3
)


def _batch(parts: list[list[str | None]], encoded: bool) -> pa.Table:
    arrays = [pa.array(p, pa.string()) for p in parts]
    if encoded:  # each chunk its own dictionary, in first-seen order
        arrays = [a.dictionary_encode() for a in arrays]
    return pa.table({"metric": pa.chunked_array(arrays, arrays[0].type)})


@settings(deadline=None)
@given(chunks, st.booleans())
def test_counts_and_presence_match_the_names(parts, encoded):
    batch = _batch(parts, encoded)
    expected = Counter(name for part in parts for name in part if name is not None)
    assert metric_counts(batch) == dict(expected)
    assert metrics_in(batch) == set(expected)


@st.composite
def catalogue_like(draw: st.DrawFn) -> pa.Table:
    """Chunks sharing no dictionary order, with unused entries between the used codes."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        dictionary = draw(st.permutations(NAMES))[: draw(st.integers(1, len(NAMES)))]
        codes = draw(st.lists(st.integers(0, len(dictionary) - 1), max_size=30))
        parts.append(
            pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(dictionary))
        )
    return pa.table({"metric": pa.chunked_array(parts, parts[0].type)})


@given(catalogue_like())
def test_codes_skipping_dictionary_entries_are_counted_right(batch):
    expected = Counter(batch["metric"].to_pylist())
    assert metric_counts(batch) == dict(expected)
    assert metrics_in(batch) == set(expected)
