"""config/capacity.yaml: how many alerts a county's inspectors can verify per week.

::

    capacity = load_capacity("config/capacity.yaml")
    capacity.for_county("370481")    # cases per week; the most specific region wins

Anything wrong is a ConfigError naming the file, the key path, the value and what is
allowed, like the thresholds file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alerts.region import REGION_LENGTHS, check_region
from detectors.threshold_parse import read_yaml
from dianyan.errors import ConfigError

TOP_KEY = "inspection_capacity"
DEFAULT_CASES_PER_WEEK = 20
MAX_CASES_PER_WEEK = 100_000
_EXPECTED = f"an integer number of cases per week from 1 to {MAX_CASES_PER_WEEK}"


@dataclass(frozen=True)
class Capacity:
    """Cases per week per county: a default and per-region values."""

    default: int = DEFAULT_CASES_PER_WEEK
    regions: dict[str, int] = field(default_factory=dict)
    path: str = "<built-in>"

    def for_county(self, county: str) -> int:
        for digits in sorted(REGION_LENGTHS, reverse=True):
            if len(county) >= digits and county[:digits] in self.regions:
                return self.regions[county[:digits]]
        return self.default


def load_capacity(path: str | Path) -> Capacity:
    """Read and validate a capacity file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", None, f"a readable UTF-8 capacity file ({exc})") from None
    return parse_capacity(read_yaml(text, source), source)


def parse_capacity(doc: object, source: str) -> Capacity:
    """Validate a parsed capacity document."""
    top = _mapping(doc, source, "", f"a mapping with the key {TOP_KEY}")
    _only(top, (TOP_KEY,), source, "")
    body = _mapping(top.get(TOP_KEY), source, TOP_KEY, "a mapping with default and regions")
    _only(body, ("default", "regions"), source, TOP_KEY)
    default = _cases(body.get("default", DEFAULT_CASES_PER_WEEK), source, f"{TOP_KEY}.default")
    regions: dict[str, int] = {}
    table = _mapping(body.get("regions"), source, f"{TOP_KEY}.regions", "a mapping of region")
    for code, value in table.items():
        path = f"{TOP_KEY}.regions.{code}"
        try:
            check_region(code)  # type: ignore[arg-type]
        except ValueError:
            raise ConfigError(
                source, path, code, 'a quoted region code of 2, 4 or 6 digits, e.g. "370481"'
            ) from None
        regions[str(code)] = _cases(value, source, path)
    return Capacity(default, regions, source)


def _cases(value: object, source: str, path: str) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or not 1 <= value <= MAX_CASES_PER_WEEK:  # type: ignore[operator]
        raise ConfigError(source, path, value, _EXPECTED)
    return int(value)  # type: ignore[arg-type]


def _mapping(raw: object, source: str, path: str, expected: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(source, path, raw, expected)
    return raw


def _only(table: dict, allowed: tuple[str, ...], source: str, path: str) -> None:
    for key in table:
        if key not in allowed:
            key_path = f"{path}.{key}" if path else str(key)
            raise ConfigError(source, key_path, table[key], "one of " + ", ".join(allowed))
