"""The gas and water station detectors: every sensor of a station against its limits.

Each sensor metric has its own slot grid (one minute for gas, five for water) and is
processed on its own: closed slots are checked for data quality first (stuck, spikes,
silence; :mod:`detectors.sensor_quality`), then the readings that can be trusted go through
the metric's rules (:mod:`detectors.gas_rules`, :mod:`detectors.water_rules`,
:mod:`detectors.night_flow`). A stuck or spiking reading counts as missing for the rules, so
a broken sensor raises a data-quality alert and no behaviour alert.

A spike is only known once the next reading has arrived, so each sensor holds back its
newest closed slot until the following one closes (or the input ends). Like the electricity
detector, ``step(batch)`` returns the detections of episodes that opened or ended, and the
state (per-station columns, the grids, the held-back slot) snapshots to bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors import station_explain as explain
from detectors.context import EntityContext, NoRegistry
from detectors.detection import Detection
from detectors.electricity import StepResult
from detectors.episodes import EpisodeEvents, EpisodeTracker, episode_columns
from detectors.gas_rules import LeakConcentration, PressureDropRate, PressureOutOfBounds
from detectors.grid import SlotClock, SlotGrid
from detectors.night_flow import NIGHTS_KEPT, NightMinFlow, night_columns
from detectors.sensor_quality import equal_runs, previous, silent, spikes
from detectors.state import Column, EntityState
from detectors.station_rules import Episode, Finding, Piece, StationRule
from detectors.thresholds import Thresholds, params_used_from_table
from detectors.water_rules import (
    EcoFlowShortfall,
    LevelOverLimit,
    LevelRiseRate,
    RainfallAccumulation,
)
from ingest.catalogue import CATALOGUE
from ingest.schema import only_metric

QUALITY_RULES = ("sensor_stuck", "sensor_spike", "sensor_gap")


@dataclass(frozen=True, slots=True)
class Sensor:
    """One metric of a station: its interval, the slots drawn as evidence, the slots of
    history kept (the evidence and the longest rule window before it, so that every point
    drawn is complete whatever the batches were), how a spike is measured (None: not
    checked) and whether a repeated value means stuck (not for rain: steady drizzle repeats
    its 0.1 mm)."""

    metric: str
    minutes: int
    evidence: int
    history: int
    spike_param: str | None
    spike_relative: bool = False
    stuck: bool = True

    @property
    def clock(self) -> SlotClock:
        return SlotClock(self.minutes)


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    sensors: tuple[Sensor, ...]
    rules: tuple[StationRule, ...]
    night: NightMinFlow | None = None


def gas_domain() -> Domain:
    return Domain(
        "gas",
        (
            # 3 h drawn; pressure drops are measured over at most 60 minutes
            Sensor("gas.pressure_kpa", 1, 180, 240, "pressure_jump_pct", spike_relative=True),
            Sensor("gas.flow_m3h", 1, 180, 180, "flow_jump_pct", spike_relative=True),
            Sensor("gas.leak_lel", 1, 180, 180, "leak_jump_lel"),
        ),
        (PressureOutOfBounds(), PressureDropRate(), LeakConcentration()),
        NightMinFlow(),
    )


def water_domain() -> Domain:
    return Domain(
        "water",
        (
            # 24 h drawn; rises are measured over at most 6 h, rain totals over 24 h
            Sensor("water.level_m", 5, 288, 288 + 72, "level_jump_m"),
            Sensor("water.rain_mm", 5, 288, 2 * 288, None, stuck=False),
            Sensor("water.flow_m3s", 5, 288, 288, "flow_jump_pct", spike_relative=True),
        ),
        (LevelOverLimit(), LevelRiseRate(), RainfallAccumulation(), EcoFlowShortfall()),
    )


def _sensor_columns(s: Sensor) -> dict[str, Column]:
    m, nan = s.metric, np.float32(np.nan)
    cols = {
        f"{m}.judged": Column((s.history,), "float32", nan),  # NaN where stuck or spiking
        f"{m}.raw": Column((s.history,), "float32", nan),
        f"{m}.held": Column((), "float32", nan),  # the held-back slot's reading
        f"{m}.last_value": Column((), "float32", nan),
        f"{m}.last_slot": Column((), "int64", -1),
        f"{m}.repeats": Column((), "int32", 0),
        f"{m}.since": Column((), "int64", -1),
        f"{m}.stuck_start": Column((), "int64", -1),
        f"{m}.gap_start": Column((), "int64", -1),
    }
    for rule in QUALITY_RULES:
        cols |= episode_columns(f"{m}.{rule}")
    return cols


class StationDetector:
    """Vectorized station rules and sensor data quality over one domain's metrics."""

    def __init__(
        self, thresholds: Thresholds, context: EntityContext | None = None, *, domain: Domain
    ) -> None:
        self.context = context or NoRegistry()
        self.thresholds = thresholds
        self.domain = domain
        columns: dict[str, Column] = {}
        for s in domain.sensors:
            columns |= _sensor_columns(s)
        for rule in domain.rules:
            columns |= episode_columns(rule.name, peak=True)
        if domain.night is not None:
            columns |= night_columns()
        shape = {
            "detector": f"{domain.name}/1",
            "sensors": [[s.metric, s.minutes, s.evidence, s.history] for s in domain.sensors],
            "nights": NIGHTS_KEPT,
        }
        self.state = EntityState(columns, shape)
        lateness = thresholds.ingest.allowed_lateness_minutes * 60_000
        self.grids = {s.metric: SlotGrid(lateness, s.clock) for s in domain.sensors}
        self.held = {s.metric: -1 for s in domain.sensors}  # held-back slot, -1: none
        self.trackers = {r.name: EpisodeTracker(r.name) for r in domain.rules}
        for s in domain.sensors:
            for rule in QUALITY_RULES:
                self.trackers[f"{s.metric}.{rule}"] = EpisodeTracker(f"{s.metric}.{rule}")
        self.counties = np.empty(0, dtype=object)
        self.industries = np.empty(0, dtype=object)
        self.limits: dict[str, np.ndarray] = {}
        self.params: dict[str, dict[str, np.ndarray]] = {}

    # -- entities and thresholds -------------------------------------------------------

    def _register(self, new_rows: np.ndarray) -> None:
        ids = [self.state.index.ids[r] for r in new_rows]
        counties, industries = self.context.describe(ids)
        self.counties = np.concatenate([self.counties, np.asarray(counties, dtype=object)])
        self.industries = np.concatenate([self.industries, np.asarray(industries, dtype=object)])
        limits = self.context.limits(ids)
        self.limits = {
            k: np.concatenate([self.limits[k], v]) if self.limits else v for k, v in limits.items()
        }
        self._resolve()

    def _resolve(self) -> None:
        ids = self.state.index.ids
        table = self.thresholds.param_table(ids, list(self.counties), list(self.industries))
        self.params = {rule: dict(columns) for rule, columns in table.items()}

    def reload(self, thresholds: Thresholds) -> None:
        """Switch to a new thresholds version; open episodes and alerts carry on."""
        self.thresholds = thresholds
        lateness = thresholds.ingest.allowed_lateness_minutes * 60_000
        for grid in self.grids.values():
            grid.lateness_ms = lateness
        if len(self.state):
            self._resolve()

    def check_reload(self, thresholds: Thresholds) -> None:
        """Every thresholds file fits: no parameter shapes this detector's state."""

    # -- stream ------------------------------------------------------------------------

    def step(self, batch: pa.Table) -> StepResult:
        """Take a reading batch; return detections of the slots that closed."""
        late_parts = []
        for s in self.domain.sensors:
            part = only_metric(batch, s.metric)
            if part.num_rows == 0:
                continue
            encoded = pc.dictionary_encode(part["entity_id"]).combine_chunks()
            dict_rows, new_rows = self.state.rows_for(encoded.dictionary.to_pylist())
            if new_rows.size:
                self._register(new_rows)
            rows = dict_rows[encoded.indices.to_numpy(zero_copy_only=False)]
            ts = part["ts"].cast(pa.int64()).to_numpy()
            values = part["value"].to_numpy().astype(np.float32)
            late = self.grids[s.metric].add(rows, ts, values, len(self.state))
            if late.any():
                late_parts.append(part.filter(pa.array(late)))
        detections = [d for s in self.domain.sensors for d in self._drain(s, flush=False)]
        return StepResult(detections, pa.concat_tables(late_parts) if late_parts else None)

    def flush(self) -> StepResult:
        """End of input: judge every slot up to the newest reading, the held-back one too."""
        return StepResult([d for s in self.domain.sensors for d in self._drain(s, flush=True)])

    def _drain(self, s: Sensor, flush: bool) -> list[Detection]:
        n, m = len(self.state), s.metric
        block = self.grids[m].take_closed(n, flush)
        held = self.held[m]
        if block is None and not (flush and held >= 0):
            return []
        parts, first = [], held if held >= 0 else block.first_slot
        if held >= 0:
            parts.append(self.state[f"{m}.held"][:n, None])
        if block is not None:
            parts.append(block.values)
        stretch = np.concatenate(parts, axis=1)
        if flush:  # nothing follows: the last slot is judged without a next reading
            stretch = np.concatenate([stretch, np.full((n, 1), np.nan, np.float32)], axis=1)
            self.held[m] = -1
        else:
            self.state[f"{m}.held"][:n] = stretch[:, -1]
            self.held[m] = first + stretch.shape[1] - 1
        out: list[Detection] = []
        pos, count, per_day = 0, stretch.shape[1] - 1, s.clock.per_day
        while pos < count:
            slot = first + pos
            k = min(count - pos, (slot // per_day + 1) * per_day - slot)
            out.extend(self._piece(s, stretch[:, pos : pos + k + 1], slot))
            pos += k
        return out

    # -- one piece of one sensor -------------------------------------------------------

    def _piece(self, s: Sensor, stretch: np.ndarray, first: int) -> list[Detection]:
        """Slots [first, first + T) of one sensor inside one local day; the stretch has one
        more column, the next reading of each (NaN when unknown)."""
        st, m = self.state, s.metric
        raw, right = stretch[:, :-1], stretch[:, 1:]
        n = raw.shape[0]
        prev = previous(raw, first, st[f"{m}.last_value"][:n], st[f"{m}.last_slot"][:n])
        flags = self._quality_flags(s, raw, right, prev.value, first)
        judged = np.where(flags.stuck | flags.spike, np.float32(np.nan), raw)
        st[f"{m}.last_value"][:n] = prev.last_value
        st[f"{m}.last_slot"][:n] = prev.last_slot
        raw_history = np.concatenate([st[f"{m}.raw"][:n], raw], axis=1)
        piece = Piece(
            m,
            s.clock,
            first,
            judged,
            np.concatenate([st[f"{m}.judged"][:n], judged], axis=1),
            self.params,
            self.limits,
        )
        out = self._quality(s, piece, raw, raw_history, flags)
        for rule in self.domain.rules:
            if rule.metric == m:
                out.extend(self._rule(s, rule, piece, raw_history))
        if self.domain.night is not None and self.domain.night.metric == m:
            out.extend(self._night(piece))
        st[f"{m}.judged"][:n] = piece.history[:, -s.history :]
        st[f"{m}.raw"][:n] = raw_history[:, -s.history :]
        return out

    def _quality_flags(
        self, s: Sensor, raw: np.ndarray, right: np.ndarray, left: np.ndarray, first: int
    ) -> _Flags:
        st, m, n = self.state, s.metric, raw.shape[0]
        valid = ~np.isnan(raw)
        stuck_p, spike_p = self.params["sensor_stuck"], self.params["sensor_spike"]
        if s.spike_param is None:
            spike = np.zeros(raw.shape, dtype=bool)
        else:
            jump = spike_p[s.spike_param][:n]
            spike = spikes(raw, left, right, jump, s.spike_relative) & spike_p["enabled"][:n, None]
        runs = equal_runs(
            raw,
            left,
            first,
            st[f"{m}.repeats"][:n],
            st[f"{m}.since"][:n],
            stuck_p["ignore_zero"][:n],
        )
        st[f"{m}.repeats"][:n] = runs.last_repeats
        st[f"{m}.since"][:n] = runs.last_since
        # a run of k equal readings spans k intervals: stuck once k * interval >= the duration
        need = np.maximum(-(-stuck_p["min_duration_minutes"][:n] // s.minutes) - 1, 1)
        stuck = valid & (runs.repeats >= need[:, None]) & (stuck_p["enabled"][:n, None] & s.stuck)
        gap_p = self.params["sensor_gap"]
        gap, last_seen = silent(
            raw, first, st[f"{m}.last_slot"][:n], gap_p["max_gap_minutes"][:n] // s.minutes
        )
        gap &= gap_p["enabled"][:n, None]
        return _Flags(valid, spike, stuck, runs.since, gap, last_seen)

    # -- episodes into detections ------------------------------------------------------

    def _rule(
        self, sensor: Sensor, rule: StationRule, piece: Piece, raw_history: np.ndarray
    ) -> list[Detection]:
        sig = rule.signal(piece)
        enabled = piece.rule(rule.name)["enabled"][:, None]
        ev = self.trackers[rule.name].step(
            self.state,
            sig.cond & enabled,
            sig.valid,
            sig.observed,
            piece.first,
            rule.min_run(piece),
            rule.recovery(piece),
            hold=None if sig.hold is None else sig.hold & enabled,
            peak=sig.peak,
            tag=sig.tag,
        )
        out = []
        for ep in _episodes(ev):
            finding = rule.finding(piece, ep)
            series = rule.evidence_series(raw_history[ep.row], ep, piece)
            line = _line_at(sig.line, piece, ep)
            evidence = self._evidence(sensor, piece, ep, series, finding, line)
            out.append(self._make(rule.name, piece.clock, ep, ep.start, finding, evidence))
        return out

    def _quality(
        self, s: Sensor, piece: Piece, raw: np.ndarray, raw_history: np.ndarray, f: _Flags
    ) -> list[Detection]:
        st, m, n = self.state, s.metric, raw.shape[0]
        ones = np.ones(n, dtype=np.int64)
        recovery = piece.slots(self.params["sensor_spike"]["recovery_minutes"][:n])
        silence = np.zeros(raw.shape, dtype=np.float32)
        runs = {
            "sensor_stuck": (f.stuck, f.valid, raw, ones, f.since),
            "sensor_spike": (f.spike, f.valid, raw, recovery, None),
            "sensor_gap": (f.gap, np.ones_like(f.gap), silence, ones, f.last_seen + 1),
        }
        out = []
        for rule, (cond, valid, observed, rec, starts) in runs.items():
            ev = self.trackers[f"{m}.{rule}"].step(
                st, cond, valid, observed, piece.first, ones, rec
            )
            start_col = {"sensor_stuck": "stuck_start", "sensor_gap": "gap_start"}.get(rule)
            for ep in _episodes(ev):
                start = ep.start
                if start_col is not None:
                    if not ep.final:
                        st[f"{m}.{start_col}"][ep.row] = starts[ep.row, ep.last - piece.first]
                    start = int(st[f"{m}.{start_col}"][ep.row])
                finding = self._quality_finding(rule, m, piece, ep, start)
                evidence = self._evidence(s, piece, ep, raw_history[ep.row], finding, None)
                out.append(self._make(rule, piece.clock, ep, start, finding, evidence))
        return out

    def _quality_finding(
        self, rule: str, metric: str, piece: Piece, ep: Episode, start: int
    ) -> Finding:
        p = {k: v[ep.row] for k, v in self.params[rule].items()}
        minutes = (ep.last - start + 1) * piece.clock.minutes
        if rule == "sensor_stuck":
            text, limit = explain.sensor_stuck(metric, ep.mean, minutes), p["min_duration_minutes"]
        elif rule == "sensor_spike":
            text, limit = explain.sensor_spike(metric, ep.mean), np.nan
        else:
            text, limit = explain.sensor_gap(metric, minutes), p["max_gap_minutes"]
        return Finding(
            observed=ep.mean if rule != "sensor_gap" else minutes,
            baseline=float(limit) if limit == limit else 0.0,
            score=minutes / float(limit) if limit == limit and limit > 0 else 1.0,
            severity=str(p["severity"]),
            text=text,
            threshold=None,
            limits={},
        )

    def _night(self, piece: Piece) -> list[Detection]:
        night = self.domain.night
        assert night is not None
        ev = night.step(self.state, piece)
        out = []
        clock, window = piece.clock, night.window(piece)
        for ep in _episodes(ev):
            # nights are named by their day; the detection covers the windows' slots
            last_of_night = int(window.last[ep.row])
            start = ep.start * clock.per_day + last_of_night - int(window.length[ep.row]) + 1
            last = ep.last * clock.per_day + last_of_night
            at = ep.at * clock.per_day + last_of_night
            span = Episode(ep.row, start, last, ep.mean, ep.peak, ep.tag, ep.final, at)
            finding = night.finding(self.state, piece, ep)
            values, usual, first_night = night.evidence(self.state, ep.row, ep.at)
            evidence = {
                "unit": CATALOGUE[night.metric].unit,
                "metric": night.metric,
                "slot_minutes": 24 * 60,
                "first_end_ms": int(clock.end_ms(first_night * clock.per_day + last_of_night)),
                "values": values,
                "baseline": usual,
                "threshold": _rounded(finding.threshold),
                "limits": {},
            }
            out.append(self._make(night.name, clock, span, start, finding, evidence))
        return out

    def _evidence(
        self,
        s: Sensor,
        piece: Piece,
        ep: Episode,
        series: np.ndarray,
        finding: Finding,
        line: float | None,
    ) -> dict[str, object]:
        """The readings of the ``s.evidence`` slots up to the decision, the line crossed
        and the station's limits."""
        end = piece.lead + ep.at - piece.first + 1
        begin = end - s.evidence
        values = np.round(series[begin:end].astype(np.float64), 3)
        threshold = line if line is not None else finding.threshold
        return {
            "unit": CATALOGUE[piece.metric].unit,
            "metric": piece.metric,
            "slot_minutes": piece.clock.minutes,
            "first_end_ms": int(piece.clock.end_ms(piece.first - piece.lead + begin)),
            "values": [None if x != x else x for x in values.tolist()],
            "threshold": _rounded(threshold),
            "limits": finding.limits,
        }

    def _make(
        self,
        rule: str,
        clock: SlotClock,
        ep: Episode,
        start: int,
        finding: Finding,
        evidence: dict[str, object],
    ) -> Detection:
        entity = self.state.index.ids[ep.row]
        start_ms = int(clock.start_ms(start))
        exempt = self.context.exemption(np.array([entity]), np.array([start_ms]), rule)
        return Detection(
            rule=rule,
            entity_id=entity,
            county=str(self.counties[ep.row]),
            episode_start_ms=start_ms,
            start_ms=start_ms,
            end_ms=int(clock.end_ms(ep.last)),
            severity=finding.severity,
            score=round(float(finding.score), 4),
            observed=round(float(finding.observed), 4),
            baseline=round(float(finding.baseline), 4),
            thresholds=params_used_from_table(self.params, rule, ep.row),
            thresholds_version=self.thresholds.version,
            explanation=finding.text,
            final=ep.final,
            suppressed_by=str(exempt[0, 0]) or None,
            evidence=evidence,
        )

    # -- snapshot ----------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything the detector knows, as bytes; restore() gives it back exactly."""
        buf = io.BytesIO()
        arrays = {"entities": np.frombuffer(self.state.snapshot(), dtype=np.uint8)}
        arrays["held"] = np.array([self.held[s.metric] for s in self.domain.sensors])
        for s in self.domain.sensors:
            for key, value in self.grids[s.metric].snapshot_arrays().items():
                arrays[f"{s.metric}/{key}"] = value
        np.savez(buf, **arrays)
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            self.state.restore(npz["entities"].tobytes())
            for s, held in zip(self.domain.sensors, npz["held"].tolist(), strict=True):
                self.held[s.metric] = int(held)
                prefix = f"{s.metric}/"
                grid = {k[len(prefix) :]: npz[k] for k in npz.files if k.startswith(prefix)}
                self.grids[s.metric].restore_arrays(grid)
        self.counties = np.empty(0, dtype=object)
        self.industries = np.empty(0, dtype=object)
        self.limits, self.params = {}, {}
        if len(self.state):
            self._register(np.arange(len(self.state)))


@dataclass(frozen=True, slots=True)
class _Flags:
    valid: np.ndarray
    spike: np.ndarray
    stuck: np.ndarray
    since: np.ndarray  # first slot of each reading's run of equal values
    gap: np.ndarray
    last_seen: np.ndarray  # slot of the last reading at or before each slot


def _episodes(ev: EpisodeEvents) -> list[Episode]:
    opened = [
        Episode(int(r), int(s), int(a), float(m), float(p), int(t), False, int(a))
        for r, s, a, m, p, t in zip(
            ev.open_rows,
            ev.open_start,
            ev.open_at,
            ev.open_mean,
            ev.open_peak,
            ev.open_tag,
            strict=True,
        )
    ]
    ended = [
        Episode(int(r), int(s), int(a), float(m), float(p), int(t), True, int(d))
        for r, s, a, m, p, t, d in zip(
            ev.close_rows,
            ev.close_start,
            ev.close_last,
            ev.close_mean,
            ev.close_peak,
            ev.close_tag,
            ev.close_at,
            strict=True,
        )
    ]
    # in time order per station: an episode that ended before a new one began comes first
    return sorted(opened + ended, key=lambda e: (e.row, e.start, e.final))


def _line_at(line: np.ndarray | None, piece: Piece, ep: Episode) -> float | None:
    """The line a rule compared the reading it opened at with (finals keep the rule's own)."""
    t = ep.last - piece.first
    if line is None or ep.final:
        return None
    value = float(line[ep.row, t])
    return value if value == value else None


def _rounded(x: float | None) -> float | None:
    return None if x is None or x != x or not np.isfinite(x) else round(float(x), 3)


class GasDetector(StationDetector):
    """燃气监管: pressure bounds and drops, night minimum flow, leak concentration."""

    def __init__(self, thresholds: Thresholds, context: EntityContext | None = None) -> None:
        super().__init__(thresholds, context, domain=gas_domain())


class WaterDetector(StationDetector):
    """水利 / 小水电: levels over limits, fast rises, rainfall totals, ecological flow."""

    def __init__(self, thresholds: Thresholds, context: EntityContext | None = None) -> None:
        super().__init__(thresholds, context, domain=water_domain())
