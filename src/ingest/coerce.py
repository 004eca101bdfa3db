"""Raw columns of any type to the typed arrays validation checks, with per-row failures.

Text (CSV, JSON fallback) is parsed here; typed columns (Parquet, Arrow, inferred JSON)
are converted. Nothing raises on bad data: every function returns, next to the values, a
mask of the rows whose field is missing (absent column, null, empty text) and a mask of
the rows whose field could not be read. A mask is ``None`` when no row is flagged, so
the clean path costs no allocation.

Text rules: surrounding whitespace is ignored. Numbers as pyarrow or pandas read them
(``nan`` / ``inf`` parse and are caught later as not finite). Timestamps are ISO 8601
with ``Z`` or an offset, without one meaning UTC, or integer epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Mask = np.ndarray | None

_INT_TEXT = r"^[+-]?[0-9]{1,18}$"
_NAN_TEXT = r"^[+-]?nan$"


@dataclass(frozen=True, slots=True)
class TextCodes:
    """A text column as codes into its distinct values (trimmed)."""

    codes: np.ndarray  # int32 per row; -1 where the field is missing
    values: pa.StringArray  # distinct values, whitespace trimmed
    missing: Mask
    unusable: Mask  # the column has a type that is not text (struct, list, ...)
    trimmed: bool = False  # trimming changed some value


def text_codes(col: pa.Array | None, n: int) -> TextCodes:
    """Dictionary codes of a text-like column (strings, dictionary, numbers as text)."""
    if col is None or pa.types.is_null(col.type):
        return TextCodes(np.full(n, -1, np.int32), pa.array([], pa.string()), _all(n), None)
    if not pa.types.is_dictionary(col.type):
        try:
            col = pc.dictionary_encode(_as_string(col))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return TextCodes(np.full(n, -1, np.int32), pa.array([], pa.string()), None, _all(n))
    try:
        raw_values = _as_string(col.dictionary)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return TextCodes(np.full(n, -1, np.int32), pa.array([], pa.string()), None, _all(n))
    values = pc.utf8_trim_whitespace(raw_values)
    trimmed = not values.equals(raw_values)
    codes = _indices(col.indices)
    usable = (pc.fill_null(pc.utf8_length(values), 0).to_numpy() > 0).astype(bool)
    if col.indices.null_count or not usable.all():
        ok = np.append(usable, False)[codes]  # code -1 lands on the appended False
        codes = np.where(ok, codes, -1).astype(np.int32)
        missing: Mask = ~ok
    else:
        missing = None
    return TextCodes(codes, values, missing, None, trimmed)


def numbers(col: pa.Array | None, n: int) -> tuple[np.ndarray, Mask, Mask]:
    """``(float64 values, missing, unparsable)``."""
    if col is None or pa.types.is_null(col.type):
        return np.zeros(n), _all(n), None
    t = col.type
    if pa.types.is_dictionary(t) and _is_text(t.value_type):
        values, missing, bad = numbers(col.dictionary, len(col.dictionary))
        return _through_codes(col.indices, values, missing, bad)
    if _is_text(t):
        return _text_numbers(col)
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        missing = _nulls(col)
        values = pc.cast(col, pa.float64(), safe=False)
        if missing is not None:
            values = pc.fill_null(values, 0.0)
        return values.to_numpy(zero_copy_only=False), missing, None
    missing = _nulls(col)
    bad = _all(n) if missing is None else ~missing
    return np.zeros(n), missing, bad


def timestamps(col: pa.Array | None, n: int) -> tuple[np.ndarray, Mask, Mask]:
    """``(int64 epoch milliseconds UTC, missing, unparsable)``; naive times count as UTC."""
    if col is None or pa.types.is_null(col.type):
        return np.zeros(n, np.int64), _all(n), None
    t = col.type
    if pa.types.is_dictionary(t) and _is_text(t.value_type):
        values, missing, bad = timestamps(col.dictionary, len(col.dictionary))
        return _through_codes(col.indices, values, missing, bad)
    if _is_text(t):
        return _text_timestamps(col)
    missing = _nulls(col)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        ms = pc.cast(col, pa.timestamp("ms", getattr(t, "tz", None)), safe=False)
        return _int64(pc.cast(ms, pa.int64())), missing, None
    if pa.types.is_integer(t):
        return _int64(pc.cast(col, pa.int64(), safe=False)), missing, None
    if pa.types.is_floating(t):
        f = pc.fill_null(pc.cast(col, pa.float64()), 0.0).to_numpy(zero_copy_only=False)
        finite = np.isfinite(f) & (np.abs(f) < 2.0**62)
        ms = np.where(finite, f, 0.0).astype(np.int64)
        bad = ~finite if missing is None else ~finite & ~missing
        return ms, missing, bad if bad.any() else None
    bad = _all(n) if missing is None else ~missing
    return np.zeros(n, np.int64), missing, bad


# -- text --------------------------------------------------------------------------------


def _text_numbers(col: pa.Array) -> tuple[np.ndarray, Mask, Mask]:
    missing = _nulls(col)
    try:  # the common case: clean numbers, no blanks
        values = pc.cast(col, pa.float64())
        if missing is not None:
            values = pc.fill_null(values, 0.0)
        return values.to_numpy(zero_copy_only=False), missing, None
    except pa.ArrowInvalid:
        pass
    trimmed = pc.utf8_trim_whitespace(col)
    missing = _empty(trimmed)
    present = trimmed if missing is None else pc.if_else(pa.array(missing), "0", trimmed)
    try:
        return pc.cast(present, pa.float64()).to_numpy(zero_copy_only=False), missing, None
    except pa.ArrowInvalid:
        pass
    texts = present.to_numpy(zero_copy_only=False)
    values = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce")
    values = np.asarray(values, dtype=np.float64)
    failed = np.isnan(values)
    if failed.any():
        nan_text = pc.match_substring_regex(present, _NAN_TEXT, ignore_case=True)
        failed &= ~nan_text.to_numpy(zero_copy_only=False)
    values = np.where(failed, 0.0, values)
    return values, missing, failed if failed.any() else None


def _text_timestamps(col: pa.Array) -> tuple[np.ndarray, Mask, Mask]:
    missing = _nulls(col)
    fast = _cast_timestamps(col)
    if fast is not None:
        return fast, missing, None
    trimmed = pc.utf8_trim_whitespace(col)
    missing = _empty(trimmed)
    n = len(col)
    ms = np.zeros(n, np.int64)
    bad = np.zeros(n, bool)
    is_int = pc.fill_null(pc.match_substring_regex(trimmed, _INT_TEXT), False)
    is_int_np = is_int.to_numpy(zero_copy_only=False)
    if is_int_np.any():
        ms[is_int_np] = pc.cast(trimmed.filter(is_int), pa.int64()).to_numpy()
    rest = ~is_int_np if missing is None else ~is_int_np & ~missing
    if rest.any():
        texts = trimmed.filter(pa.array(rest))
        parsed = _cast_timestamps(texts)
        if parsed is not None:
            ms[rest] = parsed
        else:
            stamps = pd.to_datetime(
                pd.Series(texts.to_numpy(zero_copy_only=False), dtype=object),
                format="ISO8601",
                utc=True,
                errors="coerce",
            )
            nat = stamps.isna().to_numpy()
            ms[rest] = np.where(nat, 0, _epoch_ms(stamps.array))
            bad[rest] = nat
    return ms, missing, bad if bad.any() else None


def _cast_timestamps(col: pa.Array) -> np.ndarray | None:
    """Whole-column casts that succeed on clean data; None if any value refuses."""
    first = _first_valid(col)
    if first is not None and first.strip().lstrip("+-").isdigit():
        targets: tuple[pa.DataType, ...] = (pa.int64(),)
    else:
        targets = (pa.timestamp("us", "UTC"), pa.timestamp("us"))
    for target in targets:
        try:
            cast = pc.cast(col, target)
        except pa.ArrowInvalid:
            continue
        if pa.types.is_timestamp(target):
            cast = pc.cast(cast, pa.timestamp("ms", target.tz), safe=False)
        return _int64(pc.cast(cast, pa.int64()))
    return None


# -- helpers -----------------------------------------------------------------------------

_PER_MS = {"s": None, "ms": 1, "us": 1_000, "ns": 1_000_000}


def _epoch_ms(stamps: pd.api.extensions.ExtensionArray) -> np.ndarray:
    """Epoch milliseconds of a pandas datetime array in whatever unit pandas chose."""
    raw = np.asarray(stamps.asi8, dtype=np.int64)
    per_ms = _PER_MS[stamps.unit]
    if per_ms is None:
        return np.clip(raw, -(2**52), 2**52) * 1000
    return np.floor_divide(raw, per_ms)


def _through_codes(
    indices: pa.Array, values: np.ndarray, missing: Mask, bad: Mask
) -> tuple[np.ndarray, Mask, Mask]:
    """Per-row results from per-dictionary-entry results."""
    codes = _indices(indices)
    null_row = codes < 0
    safe = np.where(null_row, 0, codes) if null_row.any() else codes
    if len(values) == 0:
        values = np.zeros(1, values.dtype)
    out = values[safe]
    row_missing = None if missing is None else missing[safe]
    if null_row.any():
        row_missing = null_row if row_missing is None else row_missing | null_row
    row_bad = None if bad is None else bad[safe] & ~null_row
    return out, row_missing, row_bad


def _indices(indices: pa.Array) -> np.ndarray:
    if indices.null_count:
        indices = pc.fill_null(indices, -1)
    return indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def _int64(arr: pa.Array) -> np.ndarray:
    if arr.null_count:
        arr = pc.fill_null(arr, 0)
    return arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _as_string(arr: pa.Array) -> pa.Array:
    return arr if arr.type == pa.string() else pc.cast(arr, pa.string())


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _nulls(col: pa.Array) -> Mask:
    return col.is_null().to_numpy(zero_copy_only=False) if col.null_count else None


def _empty(trimmed: pa.Array) -> Mask:
    empty = pc.fill_null(pc.equal(pc.utf8_length(trimmed), 0), True)
    mask = empty.to_numpy(zero_copy_only=False)
    return mask if mask.any() else None


def _first_valid(col: pa.Array) -> str | None:
    if col.null_count == len(col):
        return None
    if col.null_count:
        col = col.drop_null()
    return col[0].as_py()


def _all(n: int) -> np.ndarray:
    return np.ones(n, dtype=bool)
