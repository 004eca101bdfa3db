"""The province simulator: files a user replays, and labelled events visible in them."""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dianyan.cli import main
from ingest.catalogue import CATALOGUE
from ingest.normalize import RegisterNormalizer
from ingest.registry import SUSPENDED, Registry
from ingest.schema import READING_SCHEMA
from ingest.simulator import DEFAULT_START, simulate

MIN = pd.Timedelta(minutes=1)
SLOT = pd.Timedelta(minutes=15)
ELECTRICITY_VIOLATIONS = {"suspended_operation", "night_production", "usage_surge", "meter_offline"}
GAS_VIOLATIONS = {
    "pressure_out_of_bounds",
    "pressure_drop_rate",
    "night_min_flow",
    "leak_concentration",
}
WATER_VIOLATIONS = {
    "level_over_limit",
    "level_rise_rate",
    "rainfall_accumulation",
    "eco_flow_shortfall",
}
BENIGN = {
    "continuous_process_night",
    "night_shift_history",
    "maintenance_shutdown",
    "exempt_commissioning",
    "comm_gap",
}
WHOLE_PERIOD = {"continuous_process_night", "night_shift_history"}


class Run:
    """A simulated directory, read back the way a user would."""

    def __init__(self, out: Path, days: int) -> None:
        self.out = out
        self.days = days
        self.table = pq.read_table(out / "readings.parquet")
        r = self.table.to_pandas()
        r["metric"] = r["metric"].astype(str)
        self.readings = r
        self.entities = pd.read_csv(out / "registry/entities.csv", dtype={"county": str})
        self.status = pd.read_csv(out / "registry/status.csv")
        self.exemptions = pd.read_csv(out / "registry/exemptions.csv", dtype={"region": str})
        truth = pd.read_csv(out / "truth.csv", dtype={"county": str})
        truth["start"] = pd.to_datetime(truth["start"], utc=True)
        truth["end"] = pd.to_datetime(truth["end"], utc=True)
        self.truth = truth
        self.summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        self._series: dict[tuple[str, str], pd.Series] = {}

    def series(self, entity: str, metric: str) -> pd.Series:
        key = (entity, metric)
        if key not in self._series:
            r = self.readings
            rows = r[(r.entity_id == entity) & (r.metric == metric)]
            self._series[key] = rows.set_index("ts")["value"].sort_index()
        return self._series[key]

    def kwh(self, entity: str) -> pd.Series:
        """Energy per 15-minute slot (register meters: differences of the register)."""
        interval = self.series(entity, "electricity.kwh")
        if len(interval):
            return interval
        register = self.series(entity, "electricity.register_kwh")
        return register.diff().dropna()

    def events(self, label: str) -> pd.DataFrame:
        return self.truth[self.truth.label == label]


def _details(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in str(text).split(";") if part)


def _within(s: pd.Series, start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta) -> pd.Series:
    """Readings whose interval lies in [start, end): ts in (start, end]."""
    return s[(s.index >= start + step) & (s.index <= end)]


def _local(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_convert("Asia/Shanghai")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("sim")
    simulate(out, counties=2, enterprises=80, days=20, seed=11, gas_stations_per_county=1)
    return Run(out, days=20)


def _small(out: Path, seed: int) -> None:
    simulate(out, counties=1, enterprises=30, days=3, seed=seed, gas_stations_per_county=1)


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    _small(tmp_path / "a", 5)
    _small(tmp_path / "b", 5)
    _small(tmp_path / "c", 6)
    a = pq.read_table(tmp_path / "a/readings.parquet")
    assert a.equals(pq.read_table(tmp_path / "b/readings.parquet"))
    assert not a.equals(pq.read_table(tmp_path / "c/readings.parquet"))
    for name in ("truth.csv", "summary.json", "registry/entities.csv", "registry/status.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_readings_have_the_schema_sorted_by_ts_then_entity_one_row_group_a_day(run: Run) -> None:
    assert run.table.schema.equals(READING_SCHEMA)
    assert pq.ParquetFile(run.out / "readings.parquet").metadata.num_row_groups == run.days
    ts = run.table["ts"].cast(pa.int64()).to_numpy()
    ids = run.table["entity_id"].to_numpy(zero_copy_only=False)
    assert np.all(np.diff(ts) >= 0)
    same_ts = ts[1:] == ts[:-1]
    assert np.all(ids[1:][same_ts] >= ids[:-1][same_ts])
    assert not run.readings.duplicated(["entity_id", "metric", "ts"]).any()
    assert set(run.readings.entity_id) <= set(run.entities.entity_id)


def test_timestamps_sit_on_each_metrics_interval_and_values_are_plausible(run: Run) -> None:
    r = run.readings
    ms = r.ts.dt.as_unit("ms").astype("int64")
    step_min = r.metric.map(lambda m: 15 if m.startswith("electricity") else 1 if "gas" in m else 5)
    assert (ms % (step_min * 60_000) == 0).all()
    first = pd.Timestamp(DEFAULT_START, tz="Asia/Shanghai").tz_convert("UTC")
    assert r.ts.min() == first + MIN
    assert r.ts.max() == first + pd.Timedelta(days=run.days)
    for metric, values in r.groupby("metric").value:
        m = CATALOGUE[metric]
        assert values.between(m.minimum, m.maximum).all(), metric


def test_registry_files_follow_the_data_files_documentation(run: Run) -> None:
    def header(name: str) -> list[str]:
        with (run.out / "registry" / name).open(encoding="utf-8") as f:
            return next(csv.reader(f))

    assert header("entities.csv") == [
        "entity_id", "name", "county", "industry", "kind", "pressure_low_kpa",
        "pressure_high_kpa", "warning_level_m", "guarantee_level_m", "flood_limit_level_m",
        "eco_flow_m3s", "register_max_kwh",
    ]  # fmt: skip
    assert header("status.csv") == ["entity_id", "status", "effective_from", "effective_to"]
    assert header("exemptions.csv") == [
        "exemption_id", "entity_id", "region", "rules", "start", "end", "reason", "approver",
    ]  # fmt: skip
    e = run.entities
    assert e.entity_id.is_unique
    assert e.county.str.fullmatch(r"\d{6}").all()
    assert e.county.str[:2].nunique() == 1 and e.county.str[:4].nunique() <= 3
    kinds = e.entity_id.str[0].map({"E": "enterprise", "G": "gas_station", "W": "water_station"})
    assert (kinds == e.kind).all()
    gas = e[e.kind == "gas_station"]
    assert (gas.industry == "gas_utility").all()
    assert (gas.pressure_low_kpa < gas.pressure_high_kpa).all()
    water = e[e.kind == "water_station"]
    assert (water.warning_level_m < water.guarantee_level_m).all()
    assert water.eco_flow_m3s.notna().any() and water.flood_limit_level_m.notna().any()
    assert set(run.status.status) == {"suspended", "closed"}
    for column in ("effective_from",):
        assert run.status[column].map(datetime.datetime.fromisoformat).notna().all()
    assert set(run.exemptions.reason) <= {"commissioning", "night_permit"}


def test_registry_loads_and_agrees_with_the_truth_about_suspensions_and_exemptions(
    run: Run,
) -> None:
    registry = Registry.load(run.out / "registry")
    assert len(registry.entity_ids) == len(run.entities)
    for label, exempt in (("suspended_operation", False), ("exempt_commissioning", True)):
        events = run.events(label)
        assert len(events) >= 1
        rows = registry.row_of(events.entity_id.to_numpy())
        ts = events.start.dt.as_unit("ms").astype("int64").to_numpy() + 15 * 60_000
        assert (registry.status_at(rows, ts) == SUSPENDED).all()
        assert ((registry.exempt_at(rows, ts, "suspended_operation") >= 0) == exempt).all()


def test_truth_has_every_label_and_events_of_an_entity_keep_a_day_apart(run: Run) -> None:
    t = run.truth
    assert list(t.columns) == [
        "event_id", "category", "label", "entity_id", "county", "start", "end", "detail",
    ]  # fmt: skip
    by_category = t.groupby("category").label.agg(set).to_dict()
    assert by_category["violation"] == ELECTRICITY_VIOLATIONS | GAS_VIOLATIONS | WATER_VIOLATIONS
    assert by_category["benign"] == BENIGN
    assert by_category["data_quality"] == {"register_rollover", "meter_replacement"}
    assert (t.start < t.end).all()
    assert t.event_id.is_unique
    county = run.entities.set_index("entity_id").county
    assert (t.county == t.entity_id.map(county)).all()
    electricity = t[t.entity_id.str.startswith("E")]
    assert (electricity.start.dt.as_unit("ms").astype("int64") % (15 * 60_000) == 0).all()

    spaced = t[~t.label.isin(WHOLE_PERIOD | {"register_rollover", "night_min_flow"})]
    for _, events in spaced.groupby("entity_id"):
        events = events.sort_values("start")
        gaps = events.start.iloc[1:].to_numpy() - events.end.iloc[:-1].to_numpy()
        assert (gaps >= np.timedelta64(1, "D")).all()


def test_summary_counts_what_was_written(run: Run) -> None:
    assert run.summary["readings"] == len(run.readings)
    counts = run.readings.metric.value_counts().to_dict()
    assert {m: n for m, n in run.summary["readings_by_metric"].items() if n} == counts
    labels = {
        label: n for by_label in run.summary["events"].values() for label, n in by_label.items()
    }
    assert labels == run.truth.label.value_counts().to_dict()


def test_suspended_operation_runs_far_above_standby_while_suspended(run: Run) -> None:
    events = run.events("suspended_operation")
    assert len(events) >= 1
    for _, ev in events.iterrows():
        status = run.status[run.status.entity_id == ev.entity_id].iloc[0]
        assert status.status == "suspended"
        frm = pd.Timestamp(status.effective_from)
        to = pd.Timestamp(status.effective_to) if pd.notna(status.effective_to) else None
        assert frm <= ev.start and (to is None or ev.end <= to)
        kwh = run.kwh(ev.entity_id)
        standby = kwh[(kwh.index > frm) & ((kwh.index <= to) if to is not None else True)]
        others = run.truth[
            (run.truth.entity_id == ev.entity_id) & ~run.truth.label.isin(WHOLE_PERIOD)
        ]
        for _, other in others.iterrows():
            standby = standby[(standby.index <= other.start) | (standby.index > other.end + SLOT)]
        assert _within(kwh, ev.start, ev.end, SLOT).min() > 5 * standby.median()


def test_meter_offline_leaves_no_readings_and_the_meter_comes_back(run: Run) -> None:
    for label in ("meter_offline", "comm_gap"):
        events = run.events(label)
        assert len(events) >= 1
        for _, ev in events.iterrows():
            r = run.readings[run.readings.entity_id == ev.entity_id]
            assert not ((r.ts > ev.start) & (r.ts <= ev.end)).any()
            assert (r.ts == ev.start).any() and (r.ts == ev.end + SLOT).any()
            slots = (ev.end - ev.start) / SLOT
            assert (6 * 4 <= slots <= 72 * 4) if label == "meter_offline" else (1 <= slots <= 4)


def test_night_production_lies_in_the_night_window_at_production_level(run: Run) -> None:
    events = run.events("night_production")
    assert len(events) >= 1
    for _, ev in events.iterrows():
        start, last = _local(ev.start), _local(ev.end - SLOT)
        assert start.hour >= 22 or start.hour < 6
        assert last.hour >= 22 or last.hour < 6
        assert ev.end - ev.start <= pd.Timedelta(hours=8)
        kwh = run.kwh(ev.entity_id)
        daytime = kwh[(kwh.index < ev.start - pd.Timedelta(days=1))]
        level = daytime.quantile(0.9)
        during = _within(kwh, ev.start, ev.end, SLOT)
        assert during.median() > 0.5 * level
        other_nights = kwh[kwh.index.tz_convert("Asia/Shanghai").hour.isin([23, 0, 1, 2, 3, 4])]
        other_nights = other_nights.drop(during.index, errors="ignore")
        assert other_nights.median() < 0.15 * level


def test_usage_surge_is_a_multiple_of_the_same_slots_on_other_workdays(run: Run) -> None:
    events = run.events("usage_surge")
    assert len(events) >= 1
    for _, ev in events.iterrows():
        kwh = run.kwh(ev.entity_id)
        local = kwh.index.tz_convert("Asia/Shanghai")
        during = _within(kwh, ev.start, ev.end, SLOT)
        assert _local(ev.start).weekday() < 5 or _local(ev.start).date() == datetime.date(
            2026, 2, 14
        )
        slot_of_day = (local.hour * 60 + local.minute).to_numpy()
        usual = kwh[(local.day_of_week < 5) & (local.normalize() != _local(ev.start).normalize())]
        usual_by_slot = usual.groupby(slot_of_day[kwh.index.isin(usual.index)]).median()
        d_local = during.index.tz_convert("Asia/Shanghai")
        ratio = during.to_numpy() / usual_by_slot.loc[d_local.hour * 60 + d_local.minute].to_numpy()
        assert np.median(ratio) > 2.0


def test_benign_look_alikes_are_present_and_look_like_violations(run: Run) -> None:
    for _, ev in run.events("exempt_commissioning").iterrows():
        ex = run.exemptions[run.exemptions.exemption_id == _details(ev.detail)["exemption"]]
        assert ex.entity_id.iloc[0] == ev.entity_id and ex.reason.iloc[0] == "commissioning"
        assert "suspended_operation" in ex.rules.iloc[0].split(";")
        assert pd.Timestamp(ex.start.iloc[0]) <= ev.start and ev.end <= pd.Timestamp(ex.end.iloc[0])
        assert (run.status.entity_id == ev.entity_id).any()
        kwh = run.kwh(ev.entity_id)
        assert _within(kwh, ev.start, ev.end, SLOT).min() > 4 * kwh.quantile(0.1)
    for _, ev in run.events("maintenance_shutdown").iterrows():
        kwh = run.kwh(ev.entity_id)
        during = _within(kwh, ev.start, ev.end, SLOT)
        assert len(during) >= 0.95 * (ev.end - ev.start) / SLOT  # readings keep arriving
        assert during.quantile(0.9) < 0.1 * kwh.quantile(0.9)
    quiet = set(run.truth.entity_id) - set(run.truth[~run.truth.label.isin(WHOLE_PERIOD)].entity_id)
    quiet -= set(run.status.entity_id)
    continuous = run.events("continuous_process_night")
    assert len(continuous) >= 1
    for _, ev in continuous[continuous.entity_id.isin(quiet)].iterrows():
        kwh = run.kwh(ev.entity_id)
        night = kwh[kwh.index.tz_convert("Asia/Shanghai").hour.isin([0, 1, 2, 3])]
        assert night.median() > 0.5 * kwh.quantile(0.9)
        assert ev.start == run.readings.ts.min() - MIN


def test_register_meters_roll_over_and_get_replaced_and_normalize_cleanly(run: Run) -> None:
    reg = run.readings[run.readings.metric == "electricity.register_kwh"]
    assert reg.entity_id.nunique() >= 2
    maxima = run.entities.set_index("entity_id").register_max_kwh
    assert maxima[reg.entity_id.unique()].notna().all()
    for label in ("register_rollover", "meter_replacement"):
        events = run.events(label)
        assert len(events) >= 1
        for _, ev in events.iterrows():
            s = run.series(ev.entity_id, "electricity.register_kwh")
            before, after = s[s.index <= ev.start].iloc[-1], s[ev.end]
            assert after < before
            if label == "register_rollover":
                assert before > 0.9 * maxima[ev.entity_id]
            else:
                assert after <= 0.01 * before
    normalizer = RegisterNormalizer(register_max=maxima.dropna().to_dict())
    readings = pa.Table.from_pandas(reg, preserve_index=False).cast(READING_SCHEMA)
    kwh, rejected = normalizer.normalize_with_rejects(readings)
    assert rejected.num_rows == 0
    values = kwh["value"].to_numpy()
    assert values.min() >= 0 and values.max() < 5 * 2000


def test_gas_events_cross_their_rules_exactly_inside_the_labelled_span(run: Run) -> None:
    gas = run.entities[run.entities.kind == "gas_station"].set_index("entity_id")
    for station, row in gas.iterrows():
        p = run.series(station, "gas.pressure_kpa")
        outside = (p < row.pressure_low_kpa) | (p > row.pressure_high_kpa)
        labelled = pd.Series(False, index=p.index)
        for _, ev in run.events("pressure_out_of_bounds").query("entity_id == @station").iterrows():
            labelled |= (p.index > ev.start) & (p.index <= ev.end)
        assert (outside == labelled).all()
        lel = run.series(station, "gas.leak_lel")
        leak = pd.Series(False, index=lel.index)
        for _, ev in run.events("leak_concentration").query("entity_id == @station").iterrows():
            leak |= (lel.index > ev.start) & (lel.index <= ev.end)
        assert ((lel >= 20) == leak).all()
    for _, ev in run.events("pressure_drop_rate").iterrows():
        p = run.series(ev.entity_id, "gas.pressure_kpa")
        during = _within(p, ev.start, ev.end, MIN)
        assert during.min() <= 0.75 * p[ev.start]
        assert (during > gas.pressure_low_kpa[ev.entity_id]).all()
    flows = run.events("night_min_flow")
    assert len(flows) >= 2
    for _, ev in flows.iterrows():
        q = run.series(ev.entity_id, "gas.flow_m3h")
        usual = float(_details(ev.detail)["usual_night_min_m3h"])
        assert _within(q, ev.start, ev.end, MIN).min() > 1.3 * usual


def test_water_events_cross_their_rules_inside_the_labelled_span(run: Run) -> None:
    water = run.entities[run.entities.kind == "water_station"].set_index("entity_id")
    for station, row in water.iterrows():
        level = run.series(station, "water.level_m")
        limit = (
            row.flood_limit_level_m if pd.notna(row.flood_limit_level_m) else row.warning_level_m
        )
        labelled = pd.Series(False, index=level.index)
        for _, ev in run.events("level_over_limit").query("entity_id == @station").iterrows():
            labelled |= (level.index > ev.start) & (level.index <= ev.end)
        assert ((level > limit) == labelled).all()
        rain = run.series(station, "water.rain_mm")
        storms = pd.Series(False, index=rain.index)
        for _, ev in run.events("rainfall_accumulation").query("entity_id == @station").iterrows():
            assert _within(rain, ev.start, ev.end, 5 * MIN).sum() > 50
            storms |= (rain.index > ev.start) & (rain.index <= ev.end)
        assert rain[~storms].rolling("3h").sum().max() < 20
        if pd.notna(row.eco_flow_m3s):
            flow = run.series(station, "water.flow_m3s")
            short = pd.Series(False, index=flow.index)
            for _, ev in run.events("eco_flow_shortfall").query("entity_id == @station").iterrows():
                short |= (flow.index > ev.start) & (flow.index <= ev.end)
            assert ((flow < row.eco_flow_m3s) == short).all()
    for _, ev in run.events("level_rise_rate").iterrows():
        level = run.series(ev.entity_id, "water.level_m")
        hours = (ev.end - ev.start) / pd.Timedelta(hours=1)
        assert level[ev.end] - level[ev.start] > 0.5 * hours


def test_rest_days_make_up_workdays_and_the_spring_festival_shape_the_load(tmp_path: Path) -> None:
    simulate(tmp_path, 1, 60, 12, seed=3, start=datetime.date(2026, 2, 5),
             gas_stations_per_county=0, water_stations_per_county=0)  # fmt: skip
    r = pq.read_table(tmp_path / "readings.parquet").to_pandas()
    truth = pd.read_csv(tmp_path / "truth.csv")
    disturbed = truth[~truth.label.isin(WHOLE_PERIOD)].entity_id
    kwh = r[(r.metric == "electricity.kwh") & ~r.entity_id.isin(disturbed)]
    day = (kwh.ts.dt.tz_convert("Asia/Shanghai") - SLOT).dt.date
    total = kwh.groupby(day).value.sum()
    thursday, saturday, makeup_saturday, festival = (
        datetime.date(2026, 2, d) for d in (5, 7, 14, 16)
    )
    assert total[saturday] < 0.8 * total[thursday]
    assert total[makeup_saturday] > 1.15 * total[saturday]
    assert total[festival] < 0.6 * total[saturday]


def test_cli_simulate_takes_start_and_station_options(tmp_path: Path, capsys) -> None:
    code = main(
        ["simulate", "--out", str(tmp_path), "--counties", "1", "--enterprises", "10",
         "--days", "2", "--start", "2026-03-02", "--gas-stations-per-county", "0",
         "--water-stations-per-county", "1"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["start"] == "2026-03-02"
    assert summary["entities"] == {"enterprise": 10, "gas_station": 0, "water_station": 1}
    assert "10 enterprises" in capsys.readouterr().out
    assert main(["simulate", "--out", str(tmp_path), "--counties", "0"]) == 2
    assert "counties" in capsys.readouterr().err
