"""config/capacity.yaml: cases per week per county, refused with the key path when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from dianyan.errors import ConfigError
from tuning.capacity import DEFAULT_CASES_PER_WEEK, load_capacity, parse_capacity


def test_the_shipped_file_loads_and_the_most_specific_region_wins() -> None:
    shipped = load_capacity("config/capacity.yaml")
    assert all(shipped.for_county(code.ljust(6, "0")) == v for code, v in shipped.regions.items())
    capacity = parse_capacity(
        {"inspection_capacity": {"default": 12, "regions": {"37": 20, "3704": 30, "370481": 40}}},
        "c.yaml",
    )
    assert [capacity.for_county(c) for c in ("370481", "370402", "370883", "110101")] == [
        40,
        30,
        20,
        12,
    ]


def test_an_empty_file_section_takes_the_built_in_default() -> None:
    assert parse_capacity({"inspection_capacity": None}, "c.yaml").default == DEFAULT_CASES_PER_WEEK


@pytest.mark.parametrize(
    ("doc", "key_path", "expected"),
    [
        ({"inspection_capacity": {"default": 0}}, "inspection_capacity.default", "from 1 to"),
        ({"inspection_capacity": {"default": 2.5}}, "inspection_capacity.default", "integer"),
        (
            {"inspection_capacity": {"regions": {"3704811": 5}}},
            "inspection_capacity.regions.3704811",
            "2, 4 or 6 digits",
        ),
        (
            {"inspection_capacity": {"regions": {370481: 5}}},
            "inspection_capacity.regions.370481",
            "quoted region code",
        ),
        ({"inspection_capacity": {"weekly": 5}}, "inspection_capacity.weekly", "default, regions"),
        ({"capacity": 5}, "capacity", "inspection_capacity"),
    ],
)
def test_bad_values_are_refused_with_file_key_path_and_what_is_allowed(
    doc: object, key_path: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_capacity(doc, "config/capacity.yaml")
    assert err.value.key_path == key_path and err.value.file == "config/capacity.yaml"
    assert expected in err.value.expected


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="readable"):
        load_capacity(tmp_path / "nope.yaml")
