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
from collections.abc import Set

import numpy as np
import pyarrow as pa

from detectors.context import EntityContext, NoRegistry
from detectors.detection import Detection
from detectors.electricity import StepResult
from detectors.episodes import EpisodeTracker, episode_columns
from detectors.grid import SlotClock, SlotGrid
from detectors.night_flow import NIGHTS_KEPT, night_columns
from detectors.sensor_quality import previous
from detectors.state import Column, EntityState
from detectors.station_quality import quality_episodes, quality_flags
from detectors.station_rules import Episode, Finding, Piece, StationRule, episodes_of
from detectors.station_sensors import QUALITY_RULES, Domain, Sensor, gas_domain, water_domain
from detectors.thresholds import Thresholds, params_used_from_table
from ingest.catalogue import CATALOGUE
from ingest.schema import metrics_in, only_metric


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
            columns |= s.columns()
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

    def step(self, batch: pa.Table, present: Set[str] | None = None) -> StepResult:
        """Take a reading batch; return detections of the slots that closed."""
        late_parts = []
        if present is None:
            present = metrics_in(batch) if batch.num_rows else set()
        for s in self.domain.sensors:
            if s.metric not in present:
                continue
            part = only_metric(batch, s.metric)
            if part.num_rows == 0:
                continue
            rows, new_rows = self.state.rows_in(part["entity_id"])
            if new_rows.size:
                self._register(new_rows)
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
        flags = quality_flags(st, self.params, s, raw, right, prev.value, first)
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
        out = []
        for rule, ep, start, finding in quality_episodes(
            st, self.trackers, self.params, s, piece, raw, flags
        ):
            evidence = self._evidence(s, piece, ep, raw_history[ep.row], finding, None)
            out.append(self._make(rule, piece.clock, ep, start, finding, evidence))
        for rule in self.domain.rules:
            if rule.metric == m:
                out.extend(self._rule(s, rule, piece, raw_history))
        if self.domain.night is not None and self.domain.night.metric == m:
            out.extend(self._night(piece))
        st[f"{m}.judged"][:n] = piece.history[:, -s.history :]
        st[f"{m}.raw"][:n] = raw_history[:, -s.history :]
        return out

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
        for ep in episodes_of(ev):
            finding = rule.finding(piece, ep)
            series = rule.evidence_series(raw_history[ep.row], ep, piece)
            line = _line_at(sig.line, piece, ep)
            evidence = self._evidence(sensor, piece, ep, series, finding, line)
            out.append(self._make(rule.name, piece.clock, ep, ep.start, finding, evidence))
        return out

    def _night(self, piece: Piece) -> list[Detection]:
        night = self.domain.night
        assert night is not None
        ev = night.step(self.state, piece)
        out = []
        clock, window = piece.clock, night.window(piece)
        for ep in episodes_of(ev):
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
