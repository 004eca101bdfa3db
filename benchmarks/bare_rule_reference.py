"""Calibration reference: one bare median/MAD rule in numpy over the replay benchmark's data.

Streams the same readings.parquet as replay_throughput.py (simulated once into --data if it
is missing, by that script's ensure_data) and runs a single same-slot robust z rule with
nothing around it, so that the engine's readings/s can be compared with what plain numpy
does on the same machine:

- Parquet read with ParquetFile.iter_batches, one thread, batches of 1 << 20 rows, no
  pre-buffering (as the engine reads it: 120 MB less peak RSS); entity ids come back
  dictionary-encoded and are mapped to dense rows with one lookup per dictionary.
- Only electricity.kwh rows are judged (the metric is matched on its dictionary code); the
  register meters' electricity.register_kwh rows are read and counted but skipped.
- Values are scattered into a (rows x 96 slots) matrix of the current local day in China
  Standard Time (UTC+8; a timestamp is the end of its 15-minute interval). At each local-day
  boundary the day goes into a ring of the last 8 days per (entity, slot), and the median
  and MAD over the ring are recomputed for every (entity, slot) with numpy (a sort along the
  8 days, NaN for missing readings, at least 4 days for a baseline, like the engine). The
  state is float32 like the engine's baseline history (``--dtype float64``: same flags,
  about a quarter more CPU).
- A reading is flagged when (value - median) / (1.4826 * MAD + floor) > z (upward only, as a
  usage surge; z 8.0 and floor 0.5 kWh). Flags are counted: no episodes, no alerts, no
  calendar or day types, no validation, no register normalization, no store.

No Python loop runs per reading or per entity, only per batch and per day. ``readings`` is
every row of the file, as in replay_throughput.py; ``judged`` is the electricity.kwh rows.

    python benchmarks/bare_rule_reference.py [--data out/bench-replay] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dianyan.allocator import tune_allocator
from measure import cpu_seconds, peak_rss_bytes

METRIC = "electricity.kwh"
SLOT_MS = 15 * 60_000
SLOTS = 96
CST_MS = 8 * 3_600_000
HISTORY = 8
MIN_HISTORY = 4
MAD_TO_SIGMA = 1.4826
FLOOR = 0.5
Z = 8.0
BATCH_ROWS = 1 << 20


class BareRule:
    """Per-entity current day, 8-day ring, median and scale per (entity, slot)."""

    def __init__(self, capacity: int = 1024, dtype: str = "float32") -> None:
        self.dtype = np.dtype(dtype)
        self.ids = pa.array([], pa.string())
        self._dict: pa.Array | None = None
        self._map = np.empty(0, np.intp)
        self.cap = 0
        self.cur = np.empty((0, SLOTS), self.dtype)
        self.ring = np.empty((0, SLOTS, HISTORY), self.dtype)
        self.med = np.empty((0, SLOTS), self.dtype)
        self.limit = np.empty((0, SLOTS), self.dtype)  # z * (1.4826 * MAD + floor)
        self._grow(capacity)
        self.day: int | None = None
        self.pos = 0
        self.days_closed = 0
        self.judged = 0
        self.with_baseline = 0
        self.flagged = 0
        self.late = 0

    def _grow(self, need: int) -> None:
        cap = max(need, 2 * self.cap)
        n = self.cap

        def grown(a: np.ndarray) -> np.ndarray:
            b = np.full((cap, *a.shape[1:]), np.nan, a.dtype)
            b[:n] = a
            return b

        self.cur, self.ring = grown(self.cur), grown(self.ring)
        self.med, self.limit = grown(self.med), grown(self.limit)
        self.cap = cap

    def rows_of(self, dictionary: pa.Array) -> np.ndarray:
        """Dense row of every entry of an entity-id dictionary (new ids get new rows)."""
        if self._dict is not None and dictionary.equals(self._dict):
            return self._map
        idx = pc.index_in(dictionary, value_set=self.ids)
        if idx.null_count:
            fresh = pc.unique(dictionary.filter(idx.is_null()))
            self.ids = pa.concat_arrays([self.ids, fresh.cast(pa.string())])
            idx = pc.index_in(dictionary, value_set=self.ids)
            if len(self.ids) > self.cap:
                self._grow(len(self.ids))
        self._dict, self._map = dictionary, idx.to_numpy().astype(np.intp)
        return self._map

    def feed(self, batch: pa.RecordBatch) -> None:
        ent, met = batch.column("entity_id"), batch.column("metric")
        if not isinstance(met, pa.DictionaryArray):
            met = met.dictionary_encode()
        code = met.dictionary.index(METRIC).as_py()
        if code < 0:
            return
        keep = met.indices.to_numpy() == code
        rows = self.rows_of(ent.dictionary)[ent.indices.to_numpy()[keep]]
        t = batch.column("ts").view(pa.int64()).to_numpy()[keep] + (CST_MS - 1)
        vals = batch.column("value").to_numpy()[keep]
        if t.size == 0:
            return
        q = t // SLOT_MS  # slots since the epoch, local time
        first, last = int(q.min()) // SLOTS, int(q.max()) // SLOTS
        if first == last:  # the usual case: one local day, no second division per row
            self._day_part(first, rows * SLOTS + (q - first * SLOTS), vals)
            return
        day = q // SLOTS
        flat = rows * SLOTS + (q - day * SLOTS)
        for d in range(first, last + 1):  # rows of a batch that spans local days
            m = day == d
            if m.any():
                self._day_part(d, flat[m], vals[m])

    def _day_part(self, d: int, flat: np.ndarray, vals: np.ndarray) -> None:
        if self.day is None:
            self.day = d
        if d < self.day:  # a day already closed: dropped, counted
            self.late += flat.size
            return
        if d > self.day:
            self._close(d - self.day)
            self.day = d
        self.judged += flat.size
        med = self.med.reshape(-1)[flat]
        self.with_baseline += int(np.count_nonzero(~np.isnan(med)))
        self.flagged += int(np.count_nonzero(vals - med > self.limit.reshape(-1)[flat]))
        self.cur.reshape(-1)[flat] = vals

    def _close(self, days: int) -> None:
        """Push the current day (and empty days for a gap) into the ring, recompute."""
        n = len(self.ids)
        for k in range(min(days, HISTORY)):
            self.ring[:n, :, self.pos] = self.cur[:n] if k == 0 else np.nan
            self.pos = (self.pos + 1) % HISTORY
        self.cur[:n] = np.nan
        self.days_closed += days
        ring = self.ring[:n]
        med = _lane_medians(np.sort(ring, axis=-1))
        mad = _lane_medians(np.sort(np.abs(ring - med[..., None]), axis=-1))
        self.med[:n] = med
        self.limit[:n] = Z * (MAD_TO_SIGMA * mad + FLOOR)


def _lane_medians(s: np.ndarray) -> np.ndarray:
    """Median of each lane of ``s`` (sorted along the last axis, NaN last), as np.nanmedian
    gives it, NaN where a lane has fewer than MIN_HISTORY values. Full lanes take the two
    middle columns; the lanes with a missing day are picked out and done by their count."""
    med = 0.5 * (s[..., (HISTORY - 1) // 2] + s[..., HISTORY // 2])
    short = np.flatnonzero(np.isnan(s[..., -1]))
    if short.size:
        sub = s.reshape(-1, HISTORY)[short]
        count = HISTORY - np.count_nonzero(np.isnan(sub), axis=1)
        pick = np.arange(short.size)
        part = 0.5 * (sub[pick, (count - 1) // 2] + sub[pick, count // 2])
        part[count < MIN_HISTORY] = np.nan
        med.reshape(-1)[short] = part
    return med


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--enterprises", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--counties", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data", default="out/bench-replay", help="simulated data (cached)")
    ap.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="state arrays (day, ring, median, limit); float32 like the engine's baseline",
    )
    ap.add_argument(
        "--no-malloc-tuning",
        action="store_true",
        help="leave glibc's allocator thresholds alone (dianyan's CLI raises them)",
    )
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    malloc_tuned = False if args.no_malloc_tuning else tune_allocator()

    data = Path(args.data)
    path = data / "readings.parquet"
    if not path.exists():
        # Imported only when needed: it loads the engine (about 60 MB), which would
        # otherwise count in this process's peak RSS.
        from replay_throughput import ensure_data

        ensure_data(data, args.counties, args.enterprises, args.days, args.seed)

    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    parquet = pq.ParquetFile(
        path, read_dictionary=["entity_id", "metric"], pre_buffer=False, buffer_size=1 << 20
    )
    rule = BareRule(capacity=args.enterprises, dtype=args.dtype)
    readings = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, use_threads=False):
        readings += batch.num_rows
        rule.feed(batch)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    peak = peak_rss_bytes()
    figures = {
        "readings": readings,
        "judged": rule.judged,
        "judged_with_baseline": rule.with_baseline,
        "flagged": rule.flagged,
        "late_dropped": rule.late,
        "entities": len(rule.ids),
        "days_closed": rule.days_closed,
        "dtype": args.dtype,
        "malloc_tuned": malloc_tuned,
        "seconds": round(seconds, 3),
        "readings_per_s": round(readings / seconds),
        "cpu_seconds": round(cpu, 3),
        "readings_per_cpu_s": round(readings / cpu),
        "peak_rss_bytes": peak,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
