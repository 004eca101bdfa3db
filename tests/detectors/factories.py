"""Factories for the electricity detector tests: reading tables, thresholds and a context.

Times in tests are local (China Standard Time) strings such as ``"2026-03-09 23:00"``; a
slot is named by the local time it starts at. A reading's ``ts`` is the END of its slot.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from detectors.detection import Detection
from detectors.electricity import METRIC, ElectricityDetector, StepResult
from detectors.thresholds import Thresholds, parse_thresholds
from ingest.calendar import is_workday
from ingest.normalize import slot_end_ms, slot_index
from ingest.schema import CST, CST_OFFSET_MS, READING_SCHEMA, SLOT_MS, SLOTS_PER_DAY

PRODUCTION_KWH = 40.0
STANDBY_KWH = 1.0  # below the default 2 kWh standby floor

# -- local time ------------------------------------------------------------------------


def local_ms(text: str) -> int:
    """UTC epoch ms of a local time "YYYY-MM-DD HH:MM" (or a date, meaning 00:00)."""
    dt = datetime.datetime.fromisoformat(text)
    return int(dt.replace(tzinfo=CST).timestamp() * 1000)


def slot_at(text: str) -> int:
    """Global slot that starts at local time ``text``."""
    return (local_ms(text) + CST_OFFSET_MS) // SLOT_MS


def start_ms(text: str) -> int:
    """``episode_start_ms`` of an episode whose first abnormal slot starts at ``text``."""
    return local_ms(text)


def plus(text: str, slots: int) -> str:
    """Local time ``slots`` 15-minute slots after ``text``."""
    dt = datetime.datetime.fromisoformat(text) + datetime.timedelta(minutes=15 * slots)
    return dt.strftime("%Y-%m-%d %H:%M")


def slot_time(slot: int) -> str:
    """Local start time of a global slot, for readable failure messages."""
    dt = datetime.datetime.fromtimestamp((slot * SLOT_MS - CST_OFFSET_MS) / 1000, CST)
    return dt.strftime("%Y-%m-%d %H:%M")


# -- daily shapes (kWh per 15-min slot, 96 values) ---------------------------------------


def _hours(start: float, end: float, value: float, base: float) -> np.ndarray:
    sod = np.arange(SLOTS_PER_DAY) / 4.0
    inside = (sod >= start) & (sod < end) if start < end else (sod >= start) | (sod < end)
    return np.where(inside, value, base)


def day_shift() -> np.ndarray:
    """Production 08:00-18:00, standby otherwise."""
    return _hours(8, 18, PRODUCTION_KWH, STANDBY_KWH)


def night_shift() -> np.ndarray:
    """Production 20:00-06:00 (the plant's own choice of night work), standby otherwise."""
    return _hours(20, 6, PRODUCTION_KWH, STANDBY_KWH)


def continuous() -> np.ndarray:
    """A 24-hour plant."""
    return np.full(SLOTS_PER_DAY, PRODUCTION_KWH)


def idle() -> np.ndarray:
    """Standby all day (a day-shift plant on a rest day)."""
    return np.full(SLOTS_PER_DAY, STANDBY_KWH)


def light() -> np.ndarray:
    """A steady 10 kWh all day (the workdays of a plant that works hardest at weekends)."""
    return np.full(SLOTS_PER_DAY, 10.0)


SHAPES = {
    "day_shift": day_shift,
    "night_shift": night_shift,
    "continuous": continuous,
    "idle": idle,
    "light": light,
}


# -- reading tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class Set:
    """Readings of ``entity`` are ``value`` in the slots starting in ``[start, end)``."""

    entity: str
    start: str
    end: str
    value: float


@dataclass(frozen=True)
class Gap:
    """``entity`` sends nothing for the slots starting in ``[start, end)``."""

    entity: str
    start: str
    end: str


def readings(
    entities: Sequence[str] = ("E1",),
    start: str = "2026-03-02",
    days: int = 7,
    shape: str = "day_shift",
    rest_shape: str | None = "idle",
    *,
    injections: Iterable[Set | Gap] = (),
    noise: float = 0.05,
    seed: int = 0,
    shapes: dict[str, str] | None = None,
) -> pa.Table:
    """A reading table of ``days`` local days from ``start`` for ``entities``.

    Each workday (by the Chinese calendar, 调休 included) follows ``shape``, each rest day
    ``rest_shape`` (None: the same as ``shape``). ``shapes`` gives some entities another
    shape. Values get a deterministic multiplicative noise of ±``noise``; ``injections``
    then set values or remove readings. Rows are in time order.
    """
    first = slot_at(start)
    n_slots = days * SLOTS_PER_DAY
    dates = np.datetime64(start[:10], "D") + np.arange(days)
    workday = np.asarray(is_workday(dates))
    rng = np.random.default_rng(seed)
    values = np.empty((len(entities), n_slots))
    for i, entity in enumerate(entities):
        work = SHAPES[(shapes or {}).get(entity, shape)]()
        rest = work if rest_shape is None else SHAPES[rest_shape]()
        per_day = np.where(workday[:, None], work[None, :], rest[None, :])
        values[i] = per_day.reshape(-1)
    values *= 1 + noise * rng.uniform(-1, 1, size=values.shape)
    present = np.ones(values.shape, dtype=bool)
    row = {e: i for i, e in enumerate(entities)}
    for inj in injections:
        a, b = slot_at(inj.start) - first, slot_at(inj.end) - first
        assert 0 <= a <= b <= n_slots, f"injection {inj} outside the table"
        if isinstance(inj, Set):
            values[row[inj.entity], a:b] = inj.value
        else:
            present[row[inj.entity], a:b] = False
    slots = first + np.arange(n_slots)
    slot_idx, ent_idx = np.nonzero(present.T)  # time-major order
    return table(
        np.asarray(entities, dtype=object)[ent_idx],
        slot_end_ms(slots[slot_idx]),
        values[ent_idx, slot_idx],
    )


def table(entity_ids: Sequence[str] | np.ndarray, ts_ms: np.ndarray, values: np.ndarray):
    """A reading table with the project schema (metric electricity.kwh)."""
    n = len(ts_ms)
    metric = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([METRIC], pa.string())
    )
    return pa.table(
        {
            "entity_id": pa.array(list(entity_ids), pa.string()),
            "metric": metric,
            "ts": pa.array(np.asarray(ts_ms, dtype=np.int64), pa.timestamp("ms", tz="UTC")),
            "value": pa.array(np.asarray(values, dtype=np.float64), pa.float64()),
        },
        schema=READING_SCHEMA,
    )


def slots_of(batch: pa.Table) -> np.ndarray:
    return slot_index(batch["ts"].cast(pa.int64()).to_numpy())


def per_slot_batches(batch: pa.Table) -> list[pa.Table]:
    """The table cut into one batch per slot, in time order."""
    slots = slots_of(batch)
    order = np.argsort(slots, kind="stable")
    batch, slots = batch.take(pa.array(order)), slots[order]
    cuts = np.flatnonzero(np.diff(slots)) + 1
    bounds = [0, *cuts.tolist(), len(slots)]
    return [batch.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def shuffled_batches(
    batch: pa.Table, lateness_slots: int, size: int = 50, seed: int = 1
) -> list[pa.Table]:
    """Batches of ``size`` rows in an order shuffled within ``lateness_slots`` of event time.

    Each row's position is its slot plus a random delay below the lateness, so no reading
    arrives after its slot has closed.
    """
    rng = np.random.default_rng(seed)
    slots = slots_of(batch)
    key = slots + rng.uniform(0, lateness_slots, size=len(slots))
    shuffled = batch.take(pa.array(np.argsort(key, kind="stable")))
    return [shuffled.slice(i, size) for i in range(0, shuffled.num_rows, size)]


# -- thresholds --------------------------------------------------------------------------


def thresholds(
    extra: str = "", *, history_days: int = 8, min_history_days: int = 4, lateness: int = 120
) -> Thresholds:
    """The default thresholds, pinned here, plus ``extra`` YAML for rules/overrides.

    ``extra`` is YAML text starting at column 0, e.g. ``"rules:\\n  usage_surge:\\n    z: 5"``.
    """
    text = (
        f"baseline:\n  history_days: {history_days}\n  min_history_days: {min_history_days}\n"
        f"ingest:\n  allowed_lateness_minutes: {lateness}\n" + extra
    )
    return parse_thresholds(text, "<test>")


# -- the entity context ------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """``entity`` has status ``code`` (1 suspended, 2 closed) for ``[start, end)``."""

    entity: str
    start: str
    end: str | None = None
    code: int = 1


@dataclass(frozen=True)
class Exemption:
    """Approved exemption ``id`` of ``entity`` for ``rule`` during ``[start, end)``."""

    id: str
    entity: str
    rule: str
    start: str
    end: str


class FakeContext:
    """An :class:`detectors.context.EntityContext` with the master data given in the test."""

    def __init__(
        self,
        counties: dict[str, str] | None = None,
        industries: dict[str, str] | None = None,
        statuses: Iterable[Status] = (),
        exemptions: Iterable[Exemption] = (),
    ) -> None:
        self.counties = counties or {}
        self.industries = industries or {}
        self.statuses = list(statuses)
        self.exemptions = list(exemptions)

    def describe(self, entity_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        county = [self.counties.get(e, "000000") for e in entity_ids]
        industry = [self.industries.get(e, "unknown") for e in entity_ids]
        return np.array(county, dtype=object), np.array(industry, dtype=object)

    def status(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray) -> np.ndarray:
        out = np.zeros((len(entity_ids), len(slot_end_ms)), dtype=np.int8)
        ts = np.asarray(slot_end_ms, dtype=np.int64)
        for s in self.statuses:
            end = local_ms(s.end) if s.end else np.iinfo(np.int64).max
            hit = (ts >= local_ms(s.start)) & (ts < end)
            out[np.asarray(entity_ids) == s.entity] = np.where(
                hit, s.code, out[np.asarray(entity_ids) == s.entity]
            )
        return out

    def exemption(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray, rule: str) -> np.ndarray:
        out = np.full((len(entity_ids), len(slot_end_ms)), "", dtype=object)
        ts = np.asarray(slot_end_ms, dtype=np.int64)
        for e in self.exemptions:
            if e.rule != rule:
                continue
            hit = (ts >= local_ms(e.start)) & (ts < local_ms(e.end))
            rows = np.asarray(entity_ids) == e.entity
            out[rows] = np.where(hit, e.id, out[rows])
        return out


# -- running -----------------------------------------------------------------------------


def detector(th: Thresholds | None = None, context: FakeContext | None = None):
    return ElectricityDetector(th or thresholds(), context)


def run(
    det: ElectricityDetector, batches: pa.Table | Iterable[pa.Table], flush: bool = True
) -> list[Detection]:
    """Feed the batches, then flush; all detections in order."""
    if isinstance(batches, pa.Table):
        batches = [batches]
    out: list[Detection] = []
    for b in batches:
        res: StepResult = det.step(b)
        out.extend(res.detections)
    if flush:
        out.extend(det.flush().detections)
    return out


def detect(batch: pa.Table, th: Thresholds | None = None, context: FakeContext | None = None):
    """Detections of one fresh detector over ``batch`` (one batch, then flush)."""
    return run(detector(th, context), batch)


def key(d: Detection) -> tuple[str, str, int, bool]:
    return (d.rule, d.entity_id, d.episode_start_ms, d.final)


def keys(dets: Iterable[Detection]) -> list[tuple[str, str, int, bool]]:
    return sorted(key(d) for d in dets)


def of(dets: Iterable[Detection], rule: str, entity: str | None = None) -> list[Detection]:
    return [d for d in dets if d.rule == rule and (entity is None or d.entity_id == entity)]


def local(ms: int) -> str:
    """Local time of a UTC epoch ms, "YYYY-MM-DD HH:MM"."""
    return datetime.datetime.fromtimestamp(ms / 1000, CST).strftime("%Y-%m-%d %H:%M")


def episodes(dets: Iterable[Detection], rule: str, entity: str | None = None) -> list[str]:
    """Local start times of the alerting (not suppressed) episodes of ``rule`` that opened."""
    return [
        local(d.episode_start_ms)
        for d in of(dets, rule, entity)
        if not d.final and d.suppressed_by is None
    ]


def timeline(
    dets: Iterable[Detection], rule: str, entity: str | None = None
) -> list[tuple[str, str, bool, str | None]]:
    """(episode start, end of what it covers, final, suppressed_by) of each detection."""
    return [
        (local(d.episode_start_ms), local(d.end_ms), d.final, d.suppressed_by)
        for d in of(dets, rule, entity)
    ]
