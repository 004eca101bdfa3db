"""Entity registry: loading, refusing bad master data, and vectorized timelines."""

from __future__ import annotations

import datetime
import doctest
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import ingest.registry
from dianyan.errors import RegistryError
from ingest.registry import Registry
from ingest.schema import CST

ENTITIES = """\
entity_id,name,county,industry,kind,pressure_low_kpa,pressure_high_kpa,register_max_kwh
e1,滕州化工 / Tengzhou Chemicals,370481,hazardous_chemicals,enterprise,,,1000000
e2,枣庄燃气站 / Zaozhuang gas station,370402,gas_utility,gas_station,200,400,
e3,济南钢铁 / Jinan Steel,370102,metallurgy,enterprise,,,
"""
STATUS = """entity_id,status,effective_from,effective_to
e1,suspended,2026-03-01T00:00,2026-04-01T00:00
e1,closed,2026-06-01T00:00,
e3,suspended,2026-03-01T08:00:00+00:00,2026-03-02T00:00:00+08:00
"""
EXEMPTIONS = """exemption_id,entity_id,region,rules,start,end,reason,approver
x1,e1,,night_production;suspended_operation,2026-03-10T00:00,2026-03-11T00:00,commissioning,王科长
x2,,3704,*,2026-05-01T00:00,2026-05-02T00:00,holiday_maintenance,city bureau
x3,,37,usage_surge,2026-07-01T00:00,2026-07-02T00:00,heat_wave,province
"""

MakeDir = Callable[..., Path]


def ms(text: str) -> int:
    """UTC ms of a China Standard Time wall clock text."""
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=CST).timestamp() * 1000)


@pytest.fixture
def registry_dir(tmp_path: Path) -> MakeDir:
    def make(
        entities: str = ENTITIES, status: str | None = STATUS, exemptions: str | None = EXEMPTIONS
    ) -> Path:
        (tmp_path / "entities.csv").write_text(entities, encoding="utf-8")
        for stem, text in (("status", status), ("exemptions", exemptions)):
            if text is not None:
                (tmp_path / f"{stem}.csv").write_text(text, encoding="utf-8")
        return tmp_path

    return make


@pytest.fixture
def registry(registry_dir: MakeDir) -> Registry:
    return Registry.load(registry_dir())


def test_columns_are_served_by_row(registry: Registry) -> None:
    rows = registry.row_of(np.array(["e3", "e1", "ghost"]))
    assert rows[2] == -1
    assert registry.entity_ids[rows[:2]].tolist() == ["e3", "e1"]
    assert registry.county[rows[:2]].tolist() == ["370102", "370481"]
    assert registry.city[rows[:2]].tolist() == ["3701", "3704"]
    assert registry.province[rows[:2]].tolist() == ["37", "37"]
    assert registry.industry[rows[1]] == "hazardous_chemicals"
    assert registry.kind[registry.row_of(["e2"])[0]] == "gas_station"
    assert registry.name[rows[1]].startswith("滕州化工")
    e2 = registry.row_of(["e2"])[0]
    assert registry.limits["pressure_high_kpa"][e2] == 400.0
    assert np.isnan(registry.limits["pressure_high_kpa"][rows[1]])
    assert registry.register_maxima() == {"e1": 1e6}


def test_parquet_files_load_like_csv(registry_dir: MakeDir, tmp_path: Path) -> None:
    source = registry_dir()
    target = tmp_path / "parquet"
    target.mkdir()
    for stem in ("entities", "status", "exemptions"):
        table = pacsv.read_csv(source / f"{stem}.csv")  # typed columns, as a tool would write
        pq.write_table(table, target / f"{stem}.parquet")
    a, b = Registry.load(source), Registry.load(target)
    assert b.entity_ids.tolist() == a.entity_ids.tolist()
    assert b.county.tolist() == a.county.tolist()
    rows = np.array([0, 0, 2, 1])
    ts = np.array([ms("2026-03-15T00:00"), ms("2026-06-15T00:00"), ms("2026-03-01T16:00"), 0])
    assert b.status_at(rows, ts).tolist() == a.status_at(rows, ts).tolist() == [1, 2, 1, 0]


def test_status_intervals_are_half_open(registry: Registry) -> None:
    e1 = registry.row_of(["e1"])[0]
    start, end = ms("2026-03-01T00:00"), ms("2026-04-01T00:00")
    ts = np.array([start - 1, start, end - 1, end])
    assert registry.status_at(np.full(4, e1), ts).tolist() == [0, 1, 1, 0]


def test_open_ended_status_lasts(registry: Registry) -> None:
    e1 = registry.row_of(["e1"])[0]
    ts = np.array([ms("2026-05-31T23:59"), ms("2026-06-01T00:00"), ms("2099-01-01T00:00")])
    assert registry.status_at(np.full(3, e1), ts).tolist() == [0, 2, 2]


def test_times_with_an_offset_are_honoured(registry: Registry) -> None:
    e3 = registry.row_of(["e3"])[0]
    start = ms("2026-03-01T16:00")  # 08:00 UTC
    ts = np.array([start - 1, start, ms("2026-03-02T00:00")])
    assert registry.status_at(np.full(3, e3), ts).tolist() == [0, 1, 0]


def test_unknown_entity_is_normal_and_never_exempt(registry: Registry) -> None:
    rows = registry.row_of(["ghost", "e1"])
    ts = np.full(2, ms("2026-03-15T00:00"))
    assert registry.status_at(rows, ts).tolist() == [0, 1]
    hit = registry.exempt_at(rows, np.full(2, ms("2026-05-01T12:00")), "usage_surge")
    assert hit[0] == -1
    assert registry.exemption_ids[hit[1]] == "x2"


def test_entity_exemption_covers_its_rules_and_period(registry: Registry) -> None:
    e1 = registry.row_of(["e1"])[0]
    start, end = ms("2026-03-10T00:00"), ms("2026-03-11T00:00")
    ts = np.array([start - 1, start, end - 1, end])
    hit = registry.exempt_at(np.full(4, e1), ts, "night_production")
    assert hit.tolist()[0] == -1 and hit.tolist()[3] == -1
    assert registry.exemption_ids[hit[1:3]].tolist() == ["x1", "x1"]
    assert registry.exempt_at(np.full(4, e1), ts, "usage_surge").tolist() == [-1] * 4


def test_region_exemption_matches_by_code_prefix(registry: Registry) -> None:
    rows = registry.row_of(["e1", "e2", "e3"])  # counties 370481, 370402 (city 3704), 370102
    may_day = np.full(3, ms("2026-05-01T12:00"))
    assert registry.exemption_ids[
        registry.exempt_at(rows, may_day, "usage_surge")[:2]
    ].tolist() == ["x2", "x2"]
    assert registry.exempt_at(rows, may_day, "any_rule")[2] == -1  # another city
    july = np.full(3, ms("2026-07-01T12:00"))
    assert (registry.exemption_ids[registry.exempt_at(rows, july, "usage_surge")] == "x3").all()
    assert (registry.exempt_at(rows, july, "night_production") == -1).all()


def test_with_status_cuts_the_open_interval_and_keeps_the_original(registry: Registry) -> None:
    e1 = registry.row_of(["e1"])[0]
    changed = registry.with_status("e1", "normal", "2026-07-01T00:00")
    ts = np.array([ms("2026-06-30T23:59"), ms("2026-07-01T00:00")])
    assert changed.status_at(np.full(2, e1), ts).tolist() == [2, 0]
    assert registry.status_at(np.full(2, e1), ts).tolist() == [2, 2]
    inner = registry.with_status(
        "e1", "normal", datetime.datetime(2026, 3, 10, tzinfo=CST), datetime.date(2026, 3, 12)
    )
    ts = np.array([ms(f"2026-03-{d:02d}T12:00") for d in (9, 10, 11, 12)])
    assert inner.status_at(np.full(4, e1), ts).tolist() == [1, 0, 0, 1]


def test_with_status_refuses_what_a_file_would(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"with_status.*column status"):
        registry.with_status("e1", "paused", "2026-07-01T00:00")
    with pytest.raises(RegistryError, match="column entity_id"):
        registry.with_status("ghost", "suspended", "2026-07-01T00:00")
    with pytest.raises(RegistryError, match="column effective_to"):
        registry.with_status("e1", "suspended", "2026-07-01T00:00", "2026-07-01T00:00")


def test_with_exemption_adds_one(registry: Registry) -> None:
    e3 = registry.row_of(["e3"])[0]
    ts = np.array([ms("2026-08-01T23:00")])
    changed = registry.with_exemption(
        "x9", "night_production", "2026-08-01T22:00", "2026-08-02T06:00", region="370102"
    )
    assert changed.exemption_ids[
        changed.exempt_at(np.array([e3]), ts, "night_production")
    ].tolist() == ["x9"]
    assert registry.exempt_at(np.array([e3]), ts, "night_production").tolist() == [-1]
    with pytest.raises(RegistryError, match="exemption_id"):
        changed.with_exemption("x9", "*", "2026-08-01T22:00", "2026-08-02T06:00", entity_id="e1")


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


BAD = {
    "duplicate id": (
        {"entities": ENTITIES + "e2,Again,370481,coal_mining,enterprise,,,\n"},
        "entities.csv line 5, column entity_id",
        "line 3",
    ),
    "county digits": (
        {"entities": _edit(ENTITIES, "370402", "37040")},
        "entities.csv line 3, column county",
        "6-digit",
    ),
    "kind": (
        {"entities": _edit(ENTITIES, "gas_station,200", "factory,200")},
        "entities.csv line 3, column kind",
        "enterprise",
    ),
    "industry": (
        {"entities": _edit(ENTITIES, "metallurgy", "Metal Works")},
        "entities.csv line 4, column industry",
        "lower-case",
    ),
    "limit not a number": (
        {"entities": _edit(ENTITIES, "200,400", "200,high")},
        "line 3, column pressure_high_kpa",
        "a number",
    ),
    "pressure bounds": (
        {"entities": _edit(ENTITIES, "200,400", "400,200")},
        "line 3, column pressure_high_kpa",
        "more than",
    ),
    "missing column": (
        {"entities": ENTITIES.replace(",county", ",region")},
        "entities.csv: column 'county' is missing",
        "columns",
    ),
    "status value": (
        {"status": _edit(STATUS, "e1,closed", "e1,paused")},
        "status.csv line 3, column status",
        "suspended",
    ),
    "status entity": (
        {"status": _edit(STATUS, "e1,closed", "e9,closed")},
        "status.csv line 3, column entity_id",
        "entities file",
    ),
    "from after to": (
        {
            "status": _edit(
                STATUS, "2026-03-01T00:00,2026-04-01T00:00", "2026-04-01T00:00,2026-03-01T00:00"
            )
        },
        "status.csv line 2, column effective_to",
        "after effective_from",
    ),
    "bad time": (
        {"status": _edit(STATUS, "2026-06-01T00:00", "June 1st")},
        "status.csv line 3, column effective_from",
        "ISO 8601",
    ),
    "empty from": (
        {"status": _edit(STATUS, "2026-06-01T00:00", "")},
        "status.csv line 3, column effective_from",
        "cannot be empty",
    ),
    "overlap": (
        {"status": STATUS + "e1,suspended,2026-05-01T00:00,2026-07-01T00:00\n"},
        "status.csv line 3, column effective_from",
        "no overlap",
    ),
    "neither entity nor region": (
        {"exemptions": _edit(EXEMPTIONS, "x2,,3704", "x2,,")},
        "exemptions.csv line 3, column entity_id",
        "exactly one",
    ),
    "both entity and region": (
        {"exemptions": _edit(EXEMPTIONS, "x2,,3704", "x2,e1,3704")},
        "exemptions.csv line 3, column entity_id",
        "exactly one",
    ),
    "region digits": (
        {"exemptions": _edit(EXEMPTIONS, "x2,,3704", "x2,,370")},
        "exemptions.csv line 3, column region",
        "2, 4 or 6",
    ),
    "exemption entity": (
        {"exemptions": _edit(EXEMPTIONS, "x1,e1", "x1,e7")},
        "exemptions.csv line 2, column entity_id",
        "entities file",
    ),
    "rules": (
        {"exemptions": _edit(EXEMPTIONS, "usage_surge,2026-07", ",2026-07")},
        "exemptions.csv line 4, column rules",
        "'*'",
    ),
    "exemption id": (
        {"exemptions": _edit(EXEMPTIONS, "x3,", "x1,")},
        "exemptions.csv line 4, column exemption_id",
        "unique",
    ),
    "exemption end": (
        {"exemptions": _edit(EXEMPTIONS, "2026-07-02T00:00", "")},
        "exemptions.csv line 4, column end",
        "cannot be empty",
    ),
}


@pytest.mark.parametrize("files, where, expected", BAD.values(), ids=BAD.keys())
def test_bad_master_data_is_refused_with_file_row_and_column(
    registry_dir: MakeDir, files: dict[str, str], where: str, expected: str
) -> None:
    with pytest.raises(RegistryError) as err:
        Registry.load(registry_dir(**files))
    assert where in str(err.value)
    assert expected in str(err.value)
    assert str(err.value).endswith("the registry in force is unchanged.")


def test_missing_entities_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"no entities\.csv or entities\.parquet"):
        Registry.load(tmp_path)


def test_non_utf8_file_is_refused(registry_dir: MakeDir) -> None:
    directory = registry_dir()
    (directory / "entities.csv").write_bytes(ENTITIES.encode("gbk"))
    with pytest.raises(RegistryError, match=r"entities\.csv: not UTF-8"):
        Registry.load(directory)


def test_status_and_exemptions_are_optional(registry_dir: MakeDir) -> None:
    registry = Registry.load(registry_dir(status=None, exemptions=None))
    rows = registry.row_of(["e1"])
    assert registry.status_at(rows, np.array([ms("2026-03-15T00:00")])).tolist() == [0]
    assert registry.exempt_at(rows, np.array([ms("2026-03-10T12:00")]), "x").tolist() == [-1]
    assert registry.exemption_ids.size == 0


def test_docstring_examples_run() -> None:
    result = doctest.testmod(ingest.registry)
    assert result.attempted > 0
    assert result.failed == 0


def test_row_of_accepts_arrow_arrays(registry: Registry) -> None:
    assert registry.row_of(pa.array(["e2", None, "e1"])).tolist() == [1, -1, 0]


def test_queries_broadcast_entities_by_slots(registry: Registry) -> None:
    rows = registry.row_of(["e1", "e2", "ghost"])
    slots = np.array([ms("2026-03-10T12:00"), ms("2026-05-01T12:00"), ms("2026-06-02T00:00")])
    status = registry.status_at(rows[:, None], slots[None, :])
    assert status.tolist() == [[1, 0, 2], [0, 0, 0], [0, 0, 0]]
    hits = registry.exempt_at(rows[:, None], slots[None, :], "night_production")
    ids = np.where(hits >= 0, registry.exemption_ids[np.maximum(hits, 0)], "")
    assert ids.tolist() == [["x1", "x2", ""], ["", "x2", ""], ["", "", ""]]
    assert registry.entity_ids[registry.status_entity_rows()].tolist() == ["e1", "e3"]
