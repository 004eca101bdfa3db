"""The candidate files ``dianyan tune`` writes: an override block, and the base file with it.

Both are validated by the thresholds loader before they are written. The live file is
never written: a path that is the base file is refused.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from detectors.threshold_parse import read_yaml
from detectors.thresholds import Thresholds, parse_thresholds
from dianyan.errors import DianyanError

if TYPE_CHECKING:
    from tuning.sweep import Sweep


def override_document(region: str, rule: str, param: str, value: object) -> dict:
    """``overrides.regions.<region>.rules.<rule>.<param>: value`` as a YAML document."""
    return {"overrides": {"regions": {region: {"rules": {rule: {param: value}}}}}}


def with_override(base: object, region: str, rule: str, param: str, value: object) -> dict:
    """A copy of the base document (as ``read_yaml`` gives it) with the override set; the
    region's other overrides are kept."""
    if not isinstance(base, dict):
        raise DianyanError("the base thresholds file is not a mapping; check it with the loader.")
    doc = copy.deepcopy(base)
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
    base: object, source: str, region: str, rule: str, param: str, value: object
) -> Thresholds:
    """Validated thresholds: the base document with one region override set to ``value``."""
    doc = with_override(base, region, rule, param, value)
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


def write_proposal(out_dir: str | Path, live: str | Path, base_text: str, sweep: Sweep) -> dict:
    """Write the proposal of a sweep: ``<stem>.override.yaml`` (the block alone) and
    ``<stem>.candidate.yaml`` (the base file with it); their paths by kind."""
    proposal = sweep.proposal
    if proposal is None:
        raise DianyanError("the sweep proposed no value; nothing to write.")
    region, rule, param, value = sweep.region, sweep.rule, sweep.param, proposal.value
    header = (
        f"dianyan tune: {rule}.{param} for {region}, proposed {value} "
        f"(current {sweep.current}; precision {proposal.precision}, recall "
        f"{proposal.recall}, recall lost {sweep.recall_lost})\n"
        f"from {live} version {sweep.base_version}; review, then publish by hand"
    )
    stem = Path(out_dir) / f"{rule}-{region}-{param}"
    block = dump(override_document(region, rule, param, value), header)
    full = dump(with_override(read_yaml(base_text, str(live)), region, rule, param, value), header)
    return {
        "override": str(write_validated(f"{stem}.override.yaml", block, live)),
        "candidate": str(write_validated(f"{stem}.candidate.yaml", full, live)),
    }
