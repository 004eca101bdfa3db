"""Text and typed columns become numbers and times, and no input makes them raise."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest import coerce

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def ms(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(milliseconds=1)


def masks(n, *ms_):
    return [np.zeros(n, bool) if m is None else m for m in ms_]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=30))
def test_any_text_is_values_or_flagged_never_an_exception(texts):
    col = pa.array(texts, pa.string())
    n = len(texts)
    values, missing, bad = coerce.numbers(col, n)
    missing, bad = masks(n, missing, bad)
    assert values.shape == (n,) and not (missing & bad).any()
    assert missing.tolist() == [t is None or not t.strip() for t in texts]
    stamps, missing, bad = coerce.timestamps(col, n)
    missing, bad = masks(n, missing, bad)
    assert stamps.shape == (n,) and not (missing & bad).any()
    assert missing.tolist() == [t is None or not t.strip() for t in texts]
    codes = coerce.text_codes(col, n)
    assert codes.codes.shape == (n,)


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=20), st.booleans())
def test_numbers_round_trip_through_text(values, spaced):
    texts = [f" {v!r} " if spaced else repr(v) for v in values]
    parsed, missing, bad = coerce.numbers(pa.array(texts), len(texts))
    assert missing is None and bad is None
    assert parsed.tolist() == values


def test_nan_text_parses_and_junk_does_not():
    parsed, missing, bad = coerce.numbers(pa.array(["nan", "1e999", "1,5", "", "0x10"]), 5)
    assert math.isnan(parsed[0]) and parsed[1] == math.inf
    assert missing.tolist() == [False, False, False, True, False]
    assert bad.tolist() == [False, False, True, False, True]


@given(
    st.lists(
        st.tuples(
            instants, st.sampled_from(["Z", "offset", "naive", "epoch"]), st.integers(-12, 14)
        ),
        min_size=1,
        max_size=20,
    )
)
def test_timestamps_in_every_accepted_form(items):
    texts = []
    for instant, form, hours in items:
        if form == "Z":
            texts.append(instant.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        elif form == "offset":
            texts.append(instant.astimezone(timezone(timedelta(hours=hours))).isoformat())
        elif form == "naive":
            texts.append(instant.replace(tzinfo=None).isoformat())
        else:
            texts.append(str(ms(instant)))
    stamps, missing, bad = coerce.timestamps(pa.array(texts), len(texts))
    assert missing is None and bad is None, texts
    assert stamps.tolist() == [ms(i) for i, _, _ in items]


def test_typed_timestamps_of_any_unit_and_zone():
    instant = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    cols = [
        pa.array([instant], pa.timestamp("s", "UTC")),
        pa.array([instant.replace(tzinfo=None)], pa.timestamp("ns")),
        pa.array([instant], pa.timestamp("us", "Asia/Shanghai")),
        pa.array([ms(instant)], pa.int64()),
        pa.array([instant.replace(tzinfo=None)], pa.timestamp("ms")).cast(pa.string()),
    ]
    for col in cols:
        stamps, missing, bad = coerce.timestamps(col, 1)
        assert (stamps.tolist(), missing, bad) == ([ms(instant)], None, None), col.type


def test_dictionary_columns_are_decoded_once_per_value():
    col = pa.array(["1.5", None, "x", "1.5"]).dictionary_encode()
    values, missing, bad = coerce.numbers(col, 4)
    assert values[0] == values[3] == 1.5
    assert missing.tolist() == [False, True, False, False]
    assert bad.tolist() == [False, False, True, False]


def test_text_codes_trim_and_treat_blank_as_missing():
    codes = coerce.text_codes(pa.array([" E1", "E1", "  ", None, "E2"]), 5)
    values = codes.values.to_pylist()
    assert [values[c] if c >= 0 else None for c in codes.codes] == ["E1", "E1", None, None, "E2"]
    assert codes.missing.tolist() == [False, False, True, True, False]
    assert codes.trimmed


def test_columns_of_unusable_types_are_flagged():
    nested = pa.array([{"a": 1}, {"a": 2}])
    assert coerce.text_codes(nested, 2).unusable.tolist() == [True, True]
    _, missing, bad = coerce.numbers(nested, 2)
    assert missing is None and bad.tolist() == [True, True]
    _, missing, bad = coerce.timestamps(pa.array([True, None]), 2)
    assert missing.tolist() == [False, True] and bad.tolist() == [True, False]
