"""The candidate files ``dianyan tune`` writes: an override block, and the base file with it.

Both are validated by the thresholds loader before they are written. The live file is
never written: a path that is the base file is refused.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from detectors.threshold_parse import read_yaml
from detectors.thresholds import Thresholds, parse_thresholds
from dianyan.errors import DianyanError


def override_document(region: str, rule: str, param: str, value: object) -> dict:
    """``overrides.regions.<region>.rules.<rule>.<param>: value`` as a YAML document."""
    return {"overrides": {"regions": {region: {"rules": {rule: {param: value}}}}}}


def with_override(
    base_text: str, source: str, region: str, rule: str, param: str, value: object
) -> dict:
    """The base document with the override set (the region's other overrides kept)."""
    doc = copy.deepcopy(read_yaml(base_text, source))
    if not isinstance(doc, dict):
        raise DianyanError(f"{source} is not a thresholds mapping; check it with the loader.")
    table = doc
    for key in ("overrides", "regions", region, "rules", rule):
        table = _child(table, key)
    table[param] = value
    return doc


def _child(table: dict, key: str) -> dict:
    value = table.get(key)
    if not isinstance(value, dict):  # absent, or an empty section (null)
        value = {}
        table[key] = value
    return value


def dump(doc: dict, header: str = "") -> str:
    """YAML text of a document (region codes come out quoted, as the loader wants)."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def candidate_thresholds(
    base_text: str, source: str, region: str, rule: str, param: str, value: object
) -> Thresholds:
    """Validated thresholds: the base file with one region override set to ``value``."""
    doc = with_override(base_text, source, region, rule, param, value)
    label = f"{source} + overrides.regions.{region}.rules.{rule}.{param}={value}"
    return parse_thresholds(dump(doc), label)


def write_validated(path: str | Path, text: str, live: str | Path) -> Path:
    """Write ``text`` after the loader accepts it; never over the live file."""
    target = Path(path)
    live_path = Path(live)
    if target.exists() and live_path.exists() and target.resolve() == live_path.resolve():
        raise DianyanError(
            f"{target} is the live thresholds file; tune never edits it. Choose another --out."
        )
    parse_thresholds(text, str(target))  # raises ConfigError with the key path if invalid
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
