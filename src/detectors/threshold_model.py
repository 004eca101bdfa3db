"""The loaded thresholds as frozen objects, and their resolution per entity.

Precedence, per parameter, most specific wins: built-in/file defaults < province (2 digits)
< city (4) < county (6) < industry < entity. :meth:`Thresholds.param_table` is the
vectorized form of :meth:`Thresholds.resolve` that the detectors use: it resolves each
distinct (county, industry) pair once and only entities with their own override one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from detectors.season import MonthDay
from detectors.slot_window import SlotWindow
from detectors.threshold_parse import ParsedThresholds, RuleValues
from detectors.threshold_schema import RULES, ParamSpec

ParamTable = dict[str, dict[str, np.ndarray]]  # rule -> column -> array aligned with entities
_REGION_LEVELS = ((2, "province"), (4, "city"), (6, "county"))


@dataclass(frozen=True, slots=True, eq=False)
class Params(Mapping[str, object]):
    """Frozen parameters of one rule or one global section: ``p.z`` or ``p["z"]``."""

    name: str
    values: Mapping[str, object]

    def __getattr__(self, key: str) -> object:
        if key.startswith("_") or key in ("name", "values"):
            raise AttributeError(key)
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(f"{self.name} has no parameter {key!r}") from None

    def __getitem__(self, key: str) -> object:
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def flat(self) -> dict[str, object]:
        """The values as ``param_table`` columns: a window becomes its start and end slot,
        a day of the year its MMDD ordinal."""
        out: dict[str, object] = {}
        for key, value in self.values.items():
            if isinstance(value, SlotWindow):
                out[f"{key}_start_slot"] = value.start_slot
                out[f"{key}_end_slot"] = value.end_slot
            elif isinstance(value, MonthDay):
                out[key] = value.ordinal
            else:
                out[key] = value
        return out

    def used(self) -> dict[str, object]:
        """Plain JSON-ready values (a window as "HH:MM-HH:MM", a day as "MM-DD"), to record on
        a detection."""
        return {
            k: str(v) if isinstance(v, SlotWindow | MonthDay) else v for k, v in self.values.items()
        }


def _frozen_params(name: str, values: Mapping[str, object]) -> Params:
    return Params(name, MappingProxyType(dict(values)))


@dataclass(frozen=True, slots=True)
class ResolvedThresholds:
    """The parameters of every rule as they apply to one entity."""

    entity_id: str
    county: str
    industry: str
    version: str
    rules: Mapping[str, Params]
    origins: Mapping[str, Mapping[str, str]]  # rule -> parameter -> "default" / "county 370481"

    def rule(self, name: str) -> Params:
        try:
            return self.rules[name]
        except KeyError:
            raise KeyError(f"unknown rule {name!r}; known: {', '.join(self.rules)}") from None

    def __getitem__(self, name: str) -> Params:
        return self.rule(name)

    def origin(self, rule: str, param: str) -> str:
        """Which layer set this value: "default", "province 37", ..., "entity E00042"."""
        return self.origins[rule][param]


@dataclass(frozen=True)
class Thresholds:
    """A validated thresholds file. ``version`` is the first 12 hex of its sha256."""

    path: str
    version: str
    baseline: Params
    ingest: Params
    rules: Mapping[str, Params]  # defaults, before any override
    overrides: Mapping[str, Mapping[str, RuleValues]]  # regions / industries / entities
    _cache: dict[tuple[str, str], tuple[RuleValues, dict[str, dict[str, str]]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_parsed(cls, parsed: ParsedThresholds, path: str, version: str) -> Thresholds:
        overrides = MappingProxyType(
            {kind: MappingProxyType(dict(table)) for kind, table in parsed.overrides.items()}
        )
        return cls(
            path=path,
            version=version,
            baseline=_frozen_params("baseline", parsed.sections["baseline"]),
            ingest=_frozen_params("ingest", parsed.sections["ingest"]),
            rules=MappingProxyType({n: _frozen_params(n, v) for n, v in parsed.rules.items()}),
            overrides=overrides,
        )

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(self.rules)

    def resolve(self, entity_id: str, county: str, industry: str) -> ResolvedThresholds:
        """The parameters of every rule for one entity, after all overrides."""
        merged, origins = self._merged(county, industry)
        entity = self.overrides["entities"].get(entity_id)
        if entity:
            merged = {rule: dict(values) for rule, values in merged.items()}
            origins = {rule: dict(values) for rule, values in origins.items()}
            _apply(merged, origins, entity, f"entity {entity_id}")
        return ResolvedThresholds(
            entity_id=entity_id,
            county=county,
            industry=industry,
            version=self.version,
            rules=MappingProxyType({r: _frozen_params(r, v) for r, v in merged.items()}),
            origins=MappingProxyType({r: MappingProxyType(o) for r, o in origins.items()}),
        )

    def rule_params_used(self, rule: str, resolved: ResolvedThresholds) -> dict[str, object]:
        """The values of ``rule`` that applied to ``resolved``'s entity, for a detection."""
        return resolved.rule(rule).used()

    def param_table(
        self,
        entity_ids: Sequence[str] | np.ndarray,
        counties: Sequence[str] | np.ndarray,
        industries: Sequence[str] | np.ndarray,
    ) -> ParamTable:
        """Rule -> column -> array aligned with the entity arrays (see docs/thresholds.md).

        Ints are int64, floats float64, ``enabled`` bool, choices (severity) fixed-width
        strings, a window two int64 columns ``window_start_slot`` / ``window_end_slot``, and
        a day of the year (``flood_season_start``) its int64 MMDD ordinal (601 for "06-01").
        """
        ids, cs, inds = (np.asarray(a, dtype=object) for a in (entity_ids, counties, industries))
        if not (ids.ndim == cs.ndim == inds.ndim == 1 and len(ids) == len(cs) == len(inds)):
            raise ValueError("entity_ids, counties and industries must be 1-D and equally long")
        c_codes, c_uniques = pd.factorize(cs, use_na_sentinel=False)
        i_codes, i_uniques = pd.factorize(inds, use_na_sentinel=False)
        width = max(len(i_uniques), 1)
        combo_codes, combo_uniques = pd.factorize(c_codes.astype(np.int64) * width + i_codes)
        per_combo = [
            self._merged(c_uniques[u // width], i_uniques[u % width])[0] for u in combo_uniques
        ]
        table: ParamTable = {}
        for rule, spec in RULES.items():
            table[rule] = {}
            for param in spec.params:
                column = [values[rule][param.name] for values in per_combo]
                table[rule].update(_columns(param, column, combo_codes))
        self._apply_entity_overrides(table, ids, cs, inds)
        return table

    def _apply_entity_overrides(
        self, table: ParamTable, ids: np.ndarray, cs: np.ndarray, inds: np.ndarray
    ) -> None:
        entities = self.overrides["entities"]
        if not entities or len(ids) == 0:
            return
        for pos in np.flatnonzero(pd.Index(ids).isin(list(entities))):
            resolved = self.resolve(ids[pos], cs[pos], inds[pos])
            for rule in entities[ids[pos]]:
                for column, value in resolved.rule(rule).flat().items():
                    table[rule][column][pos] = value

    def _merged(
        self, county: object, industry: object
    ) -> tuple[RuleValues, dict[str, dict[str, str]]]:
        # Missing master data (None / NaN) means: no override of that kind applies.
        county = county if isinstance(county, str) else ""
        industry = industry if isinstance(industry, str) else ""
        key = (county, industry)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        merged: RuleValues = {rule: dict(p.values) for rule, p in self.rules.items()}
        origins = {rule: dict.fromkeys(p.values, "default") for rule, p in self.rules.items()}
        regions = self.overrides["regions"]
        for digits, level in _REGION_LEVELS:
            if len(county) >= digits and county[:digits] in regions:
                _apply(merged, origins, regions[county[:digits]], f"{level} {county[:digits]}")
        if industry in self.overrides["industries"]:
            _apply(merged, origins, self.overrides["industries"][industry], f"industry {industry}")
        self._cache[key] = (merged, origins)
        return merged, origins


def _apply(
    merged: RuleValues, origins: dict[str, dict[str, str]], layer: RuleValues, label: str
) -> None:
    for rule, values in layer.items():
        merged[rule].update(values)
        origins[rule].update(dict.fromkeys(values, label))


def _columns(param: ParamSpec, column: list[object], codes: np.ndarray) -> dict[str, np.ndarray]:
    if param.kind == "window":
        starts = np.array([w.start_slot for w in column], dtype=np.int64)  # type: ignore[attr-defined]
        ends = np.array([w.end_slot for w in column], dtype=np.int64)  # type: ignore[attr-defined]
        return {f"{param.name}_start_slot": starts[codes], f"{param.name}_end_slot": ends[codes]}
    if param.kind == "monthday":
        ordinals = np.array([d.ordinal for d in column], dtype=np.int64)  # type: ignore[attr-defined]
        return {param.name: ordinals[codes]}
    if param.kind == "choice":
        # Wide enough for every choice, so an entity override is never truncated.
        dtype: object = f"<U{max(len(c) for c in param.choices)}"
    else:
        dtype = {"int": np.int64, "float": np.float64, "bool": np.bool_}[param.kind]
    return {param.name: np.array(column, dtype=dtype)[codes]}


def params_used_from_table(table: ParamTable, rule: str, index: int) -> dict[str, object]:
    """What :meth:`Thresholds.rule_params_used` gives, read from row ``index`` of a table."""
    return params_used_of_rows(table, rule, np.array([index]))[0]


def params_used_of_rows(table: ParamTable, rule: str, rows: np.ndarray) -> list[dict[str, object]]:
    """:func:`params_used_from_table` of each of ``rows``, each column read once."""
    columns = table[rule]
    values: dict[str, list[object]] = {}
    for param in RULES[rule].params:
        if param.kind == "window":
            starts = columns[f"{param.name}_start_slot"][rows].tolist()
            ends = columns[f"{param.name}_end_slot"][rows].tolist()
            values[param.name] = [str(SlotWindow(a, b)) for a, b in zip(starts, ends, strict=True)]
        elif param.kind == "monthday":
            ordinals = columns[param.name][rows].tolist()
            values[param.name] = [str(MonthDay.from_ordinal(o)) for o in ordinals]
        else:
            values[param.name] = columns[param.name][rows].tolist()
    return [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]
