"""config/thresholds.yaml: validation errors, precedence, vectorized resolution, hot reload."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.thresholds import (
    RULES,
    SECTIONS,
    ParamSpec,
    SlotWindow,
    ThresholdsWatcher,
    in_window,
    load_thresholds,
    params_used_from_table,
    parse_thresholds,
)
from dianyan.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "thresholds.yaml"


def _refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_thresholds(text, "cand.yaml")
    return info.value


# --- the shipped file ---------------------------------------------------------------------


def test_shipped_file_loads_with_its_content_hash_as_version() -> None:
    t = load_thresholds(SHIPPED)
    assert t.path == str(SHIPPED)
    assert t.version == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()[:12]
    assert set(t.rule_names) == set(RULES)
    assert t.baseline.min_history_days <= t.baseline.history_days


def test_omitted_parameters_take_the_documented_defaults() -> None:
    t = parse_thresholds("rules:\n  usage_surge:\n    z: 9\n", "t.yaml")
    for rule, spec in RULES.items():
        for param in spec.params:
            got = t.rules[rule][param.name]
            if (rule, param.name) == ("usage_surge", "z"):
                assert got == 9.0 and isinstance(got, float)
            else:
                assert got == param.convert(param.default)
    for section, specs in SECTIONS.items():
        for param in specs:
            assert getattr(t, section)[param.name] == param.default


def test_docs_describe_every_parameter() -> None:
    docs = (ROOT / "docs" / "thresholds.md").read_text(encoding="utf-8")
    names = [*SECTIONS, *RULES]
    names += [p.name for specs in SECTIONS.values() for p in specs]
    names += [p.name for r in RULES.values() for p in r.params]
    missing = [n for n in names if f"`{n}`" not in docs]
    assert not missing


# --- validation -----------------------------------------------------------------------------

REGION = "overrides:\n  regions:\n    {key}:\n      {body}\n"
BAD_FILES = [
    # (text, key path, a phrase the "expected" part must contain)
    ("baselines:\n  history_days: 8\n", "baselines", "baseline, ingest, rules, overrides"),
    ("rules:\n  usage_surges: {}\n", "rules.usage_surges", "usage_surge"),
    ("rules:\n  usage_surge:\n    zz: 3\n", "rules.usage_surge.zz", "min_ratio"),
    ("rules: [usage_surge]\n", "rules", "mapping"),
    ("rules:\n  usage_surge:\n    min_run_slots: true\n", "rules.usage_surge.min_run_slots", "int"),
    ("rules:\n  usage_surge:\n    min_run_slots: 4.0\n", "rules.usage_surge.min_run_slots", "int"),
    ("rules:\n  usage_surge:\n    z: yes\n", "rules.usage_surge.z", "number"),
    ('rules:\n  usage_surge:\n    z: "8"\n', "rules.usage_surge.z", "number"),
    ("rules:\n  usage_surge:\n    z: .nan\n", "rules.usage_surge.z", "number"),
    ("rules:\n  usage_surge:\n    z: 0\n", "rules.usage_surge.z", "greater than 0"),
    ("rules:\n  usage_surge:\n    min_ratio: 0.9\n", "rules.usage_surge.min_ratio", "from 1"),
    ("rules:\n  usage_surge:\n    enabled: 'on'\n", "rules.usage_surge.enabled", "true or false"),
    (
        "rules:\n  suspended_operation:\n    standby_fraction: 1.5\n",
        "rules.suspended_operation.standby_fraction",
        "at most 1",
    ),
    (
        "rules:\n  meter_offline:\n    severity: urgent\n",
        "rules.meter_offline.severity",
        "critical",
    ),
    (
        "rules:\n  meter_offline:\n    max_gap_minutes:\n",
        "rules.meter_offline.max_gap_minutes",
        "15",
    ),
    ("baseline:\n  history_days: 2\n", "baseline.history_days", "from 3 to 28"),
    ("baseline:\n  history_days: 29\n", "baseline.history_days", "from 3 to 28"),
    (
        "baseline:\n  history_days: 5\n  min_history_days: 6\n",
        "baseline.min_history_days",
        "baseline.history_days (5)",
    ),
    ("ingest:\n  allowed_lateness_minutes: -1\n", "ingest.allowed_lateness_minutes", "from 0"),
    ("ingest:\n  lateness: 5\n", "ingest.lateness", "allowed_lateness_minutes"),
    (
        "overrides:\n  countries: {}\n",
        "overrides.countries",
        "regions, industries, entities",
    ),
    (
        REGION.format(key='"370481"', body="baseline: {history_days: 9}"),
        "overrides.regions.370481.baseline",
        "global",
    ),
    (
        REGION.format(key='"370481"', body="rules: {night_production: {fraction: 0.6}}"),
        "overrides.regions.370481.rules.night_production.fraction",
        "production_fraction",
    ),
    (
        REGION.format(key='"370481"', body="rules: {night_production: {production_fraction: 2}}"),
        "overrides.regions.370481.rules.night_production.production_fraction",
        "at most 1",
    ),
    (REGION.format(key='"37048"', body="rules: {}"), "overrides.regions.37048", "6 (county)"),
    (REGION.format(key='"3704a1"', body="rules: {}"), "overrides.regions.3704a1", "digits"),
    (REGION.format(key="370481", body="rules: {}"), "overrides.regions.370481", "quoted"),
    (
        "overrides:\n  industries:\n    Fireworks: {rules: {}}\n",
        "overrides.industries.Fireworks",
        "lower-case",
    ),
    (
        "overrides:\n  entities:\n    10023: {rules: {usage_surge: {z: 9}}}\n",
        "overrides.entities.10023",
        "quoted",
    ),
    (
        "overrides:\n  entities:\n    E1: {rules: {usage_surge: {z: -9}}}\n",
        "overrides.entities.E1.rules.usage_surge.z",
        "greater than 0",
    ),
]


@pytest.mark.parametrize(("text", "key_path", "phrase"), BAD_FILES)
def test_bad_value_is_refused_with_file_key_path_and_what_is_allowed(
    text: str, key_path: str, phrase: str
) -> None:
    err = _refused(text)
    assert err.file == "cand.yaml"
    assert err.key_path == key_path
    assert phrase in err.expected
    message = str(err)
    assert message.startswith(f"cand.yaml: {key_path} = ")
    assert phrase in message


@pytest.mark.parametrize(
    "window",
    ["22:00-06:10", "25:00-06:00", "22:60-06:00", "2200-0600", "22:00-22:00", "22:00", "night"],
)
def test_malformed_night_window_is_refused(window: str) -> None:
    err = _refused(f'rules:\n  night_production:\n    window: "{window}"\n')
    assert err.key_path == "rules.night_production.window"
    assert err.value == window
    assert "HH:MM-HH:MM" in str(err)


def test_unquoted_window_read_by_yaml_as_a_number_is_refused() -> None:
    # YAML 1.1 reads 22:00 as the sexagesimal integer 1320.
    err = _refused("rules:\n  night_production:\n    window: 22:00\n")
    assert err.key_path == "rules.night_production.window"


def test_yaml_syntax_error_names_the_line() -> None:
    err = _refused("rules:\n  usage_surge:\n    z: 8\n   min_ratio: [1.8\n")
    assert err.key_path.startswith("line 4")
    assert "valid YAML" in str(err)


def test_a_key_given_twice_is_refused_with_its_line() -> None:
    text = REGION.format(key='"370481"', body="rules: {}") + '    "370481":\n      rules: {}\n'
    err = _refused(text)
    assert err.key_path.startswith("line 5")
    assert "370481" in str(err) and "twice" in str(err)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_is_refused(text: str) -> None:
    err = _refused(text)
    assert "empty" in str(err)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_thresholds(tmp_path / "nope.yaml")
    assert info.value.file == str(tmp_path / "nope.yaml")


def test_file_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_bytes(b"\xef\xbb\xbfrules:\n  usage_surge:\n    z: 9\n")
    assert load_thresholds(path).rules["usage_surge"].z == 9.0


def test_empty_sections_mean_defaults() -> None:
    t = parse_thresholds("baseline:\nrules:\n  usage_surge:\noverrides:\n  regions:\n", "t")
    assert t.rules["usage_surge"].z == RULES["usage_surge"].param("z").default


# --- precedence -----------------------------------------------------------------------------

LAYERED = """
rules:
  usage_surge: {z: 1.5, min_ratio: 1.1}
overrides:
  regions:
    "37": {rules: {usage_surge: {z: 2.0}}}
    "3704": {rules: {usage_surge: {z: 3.0, min_excess_kwh: 7.0}}}
    "370481": {rules: {usage_surge: {z: 4.0}}}
  industries:
    fireworks: {rules: {usage_surge: {z: 5.0}, meter_offline: {enabled: false}}}
  entities:
    "E1": {rules: {usage_surge: {z: 6.0}}}
"""


@pytest.mark.parametrize(
    ("entity", "county", "industry", "z", "origin"),
    [
        ("E9", "110101", "metallurgy", 1.5, "default"),
        ("E9", "370101", "metallurgy", 2.0, "province 37"),
        ("E9", "370402", "metallurgy", 3.0, "city 3704"),
        ("E9", "370481", "metallurgy", 4.0, "county 370481"),
        ("E9", "370481", "fireworks", 5.0, "industry fireworks"),
        ("E1", "370481", "fireworks", 6.0, "entity E1"),
        ("E1", "110101", "metallurgy", 6.0, "entity E1"),
    ],
)
def test_most_specific_layer_wins(
    entity: str, county: str, industry: str, z: float, origin: str
) -> None:
    r = parse_thresholds(LAYERED, "t").resolve(entity, county, industry)
    assert r.rule("usage_surge").z == z
    assert r.origin("usage_surge", "z") == origin


def test_overrides_merge_parameter_by_parameter() -> None:
    r = parse_thresholds(LAYERED, "t").resolve("E1", "370481", "fireworks")
    surge = r.rule("usage_surge")
    assert surge.min_ratio == 1.1  # file default
    assert surge.min_excess_kwh == 7.0  # city
    assert surge["z"] == 6.0  # entity
    assert r["meter_offline"].enabled is False  # industry
    assert r.rule("meter_offline").severity == "low"


def test_missing_master_data_gets_no_region_or_industry_override() -> None:
    t = parse_thresholds(LAYERED, "t")
    table = t.param_table(["E9"], [None], [float("nan")])
    assert table["usage_surge"]["z"][0] == 1.5
    assert t.resolve("E9", None, None).rule("usage_surge").z == 1.5  # type: ignore[arg-type]


def test_resolved_thresholds_cannot_be_changed() -> None:
    t = parse_thresholds(LAYERED, "t")
    r = t.resolve("E1", "370481", "fireworks")
    with pytest.raises(TypeError):
        r.rule("usage_surge").values["z"] = 99.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.baseline.name = "x"  # type: ignore[misc]
    assert t.resolve("E1", "370481", "fireworks").rule("usage_surge").z == 6.0


# --- param_table == resolve, over random override sets --------------------------------------

COUNTIES = ["370481", "370402", "370101", "110101", "440305"]
INDUSTRIES = ["fireworks", "metallurgy", "coal_mining"]
ENTITIES = [f"E{i}" for i in range(6)]


def _value(param: ParamSpec) -> st.SearchStrategy[object]:
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    if param.kind == "window":
        slots = st.integers(0, 95)
        return (
            st.tuples(slots, slots)
            .filter(lambda p: p[0] != p[1])
            .map(lambda p: str(SlotWindow(*p)))
        )
    if param.kind == "monthday":
        return st.dates().map(lambda d: d.strftime("%m-%d"))
    if param.kind == "int":
        return st.integers(int(param.minimum), int(param.maximum))  # type: ignore[arg-type]
    return st.floats(param.minimum, param.maximum, exclude_min=param.min_exclusive, allow_nan=False)


ALL_PARAMS = [(rule, p.name) for rule, spec in RULES.items() for p in spec.params]
REGION_KEYS = sorted({c[:n] for c in COUNTIES for n in (2, 4, 6)})


@st.composite
def threshold_files(draw: st.DrawFn) -> dict:
    """A random valid file whose layers often set the same few parameters (so they compete)."""
    hot = draw(st.lists(st.sampled_from(ALL_PARAMS), min_size=1, max_size=4, unique=True))

    def rules() -> dict:
        out: dict = {}
        for rule, name in draw(st.lists(st.sampled_from(hot), unique=True)):
            out.setdefault(rule, {})[name] = draw(_value(RULES[rule].param(name)))
        return out

    def layers(keys: list[str]) -> dict:
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
        return {key: {"rules": rules()} for key in chosen}

    return {
        "rules": rules(),
        "overrides": {
            "regions": layers(REGION_KEYS),
            "industries": layers(INDUSTRIES),
            "entities": layers(ENTITIES),
        },
    }


POPULATION = st.lists(
    st.tuples(st.sampled_from(ENTITIES), st.sampled_from(COUNTIES), st.sampled_from(INDUSTRIES)),
    min_size=1,
    max_size=12,
)


def _expected(doc: dict, rule: str, param: str, entity: str, county: str, industry: str):
    """Reference precedence: the last layer that sets the parameter wins."""
    spec = RULES[rule].param(param)
    value = doc["rules"].get(rule, {}).get(param, spec.default)
    ov = doc["overrides"]
    layers = [ov["regions"].get(county[:n]) for n in (2, 4, 6)]
    layers += [ov["industries"].get(industry), ov["entities"].get(entity)]
    for layer in layers:
        if layer is not None:
            value = layer["rules"].get(rule, {}).get(param, value)
    return spec.convert(value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=threshold_files(), population=POPULATION)
def test_param_table_equals_resolve_and_follows_precedence(doc: dict, population: list) -> None:
    t = parse_thresholds(yaml.safe_dump(doc, allow_unicode=True), "random.yaml")
    ids, counties, industries = ([row[i] for row in population] for i in range(3))
    table = t.param_table(ids, counties, industries)
    for i, (entity, county, industry) in enumerate(population):
        resolved = t.resolve(entity, county, industry)
        for rule, spec in RULES.items():
            params = resolved.rule(rule)
            for column, value in params.flat().items():
                assert table[rule][column][i] == value
            for name in spec.names:
                assert params[name] == _expected(doc, rule, name, entity, county, industry)
            assert params_used_from_table(table, rule, i) == t.rule_params_used(rule, resolved)


def test_param_table_column_types() -> None:
    t = parse_thresholds(LAYERED, "t")
    table = t.param_table(np.array(["E1", "E9"]), np.array(["370481", "1"]), ["x", "fireworks"])
    night = table["night_production"]
    assert set(night) == {
        "enabled",
        "window_start_slot",
        "window_end_slot",
        "production_fraction",
        "night_shift_history_fraction",
        "min_run_slots",
        "recovery_slots",
        "severity",
    }
    assert night["window_start_slot"].tolist() == [88, 88]
    assert night["window_end_slot"].tolist() == [24, 24]
    assert night["window_start_slot"].dtype == np.int64
    assert night["min_run_slots"].dtype == np.int64
    assert night["production_fraction"].dtype == np.float64
    assert night["enabled"].dtype == np.bool_
    assert night["severity"].dtype.kind == "U"
    assert table["meter_offline"]["enabled"].tolist() == [True, False]


def test_entity_override_of_a_longer_severity_is_not_truncated() -> None:
    t = parse_thresholds(
        'overrides:\n  entities:\n    "E1": {rules: {meter_offline: {severity: critical}}}\n', "t"
    )
    table = t.param_table(["E0", "E1"], ["370481", "370481"], ["x", "x"])
    assert table["meter_offline"]["severity"].tolist() == ["low", "critical"]


def test_empty_population_gives_empty_typed_columns() -> None:
    table = parse_thresholds(LAYERED, "t").param_table([], [], [])
    assert table["usage_surge"]["z"].shape == (0,)
    assert table["usage_surge"]["z"].dtype == np.float64


def test_params_used_are_json_ready_with_the_window_as_text() -> None:
    t = load_thresholds(SHIPPED)
    used = t.rule_params_used("night_production", t.resolve("E7", "370481", "fireworks"))
    assert used["window"] == "22:00-06:00"
    assert json.loads(json.dumps(used)) == used


# --- windows --------------------------------------------------------------------------------


@given(start=st.integers(0, 95), end=st.integers(0, 95))
def test_window_text_round_trips_and_contains_its_slots(start: int, end: int) -> None:
    if start == end:
        return
    window = SlotWindow.parse(str(SlotWindow(start, end)))
    assert (window.start_slot, window.end_slot) == (start, end)
    slots = np.arange(96)
    inside = window.contains(slots)
    assert inside.sum() == window.n_slots
    assert window.contains(start) and not window.contains(end)
    n = len(slots)
    assert (in_window(slots, np.full(n, start), np.full(n, end)) == inside).all()


# --- versions and hot reload ----------------------------------------------------------------


def test_version_follows_content_not_modification_time(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("rules:\n  usage_surge:\n    z: 9\n", encoding="utf-8")
    first = load_thresholds(path).version
    os.utime(path, (1_000_000_000, 1_000_000_000))
    assert load_thresholds(path).version == first
    path.write_text("rules:\n  usage_surge:\n    z: 9\n# tuned\n", encoding="utf-8")
    assert load_thresholds(path).version != first


def test_watcher_keeps_the_running_thresholds_on_a_bad_edit_and_takes_a_good_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("rules:\n  usage_surge:\n    z: 9\n", encoding="utf-8")
    errors: list[ConfigError] = []
    watcher = ThresholdsWatcher(path, on_error=errors.append)
    running = watcher.current

    os.utime(path, (2_000_000_000, 2_000_000_000))
    assert watcher.poll() is None and not errors

    path.write_text("rules:\n  usage_surge:\n    z: -1\n", encoding="utf-8")
    assert watcher.poll() is None
    assert watcher.current is running
    assert [e.key_path for e in errors] == ["rules.usage_surge.z"]
    assert watcher.poll() is None
    assert len(errors) == 1  # the same bad content is reported once

    path.write_text("rules:\n  usage_surge:\n    z: 11\n", encoding="utf-8")
    fresh = watcher.poll()
    assert fresh is not None and watcher.current is fresh
    assert fresh.rules["usage_surge"].z == 11.0
    assert fresh.version != running.version
    assert watcher.poll() is None


def test_watcher_reports_a_vanished_file_and_keeps_running(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("rules: {}\n", encoding="utf-8")
    errors: list[ConfigError] = []
    watcher = ThresholdsWatcher(path, on_error=errors.append)
    running = watcher.current
    path.unlink()
    assert watcher.poll() is None
    assert watcher.current is running
    assert len(errors) == 1 and errors[0].file == str(path)


def test_watcher_refuses_to_start_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("rules:\n  usage_surge:\n    z: true\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        ThresholdsWatcher(path, on_error=lambda e: None)
