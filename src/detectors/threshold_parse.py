"""Read the text of a thresholds file and validate it against the schema.

Every refusal is a :class:`ConfigError` naming the file, the key path (such as
``overrides.regions.370481.rules.night_production.production_fraction``), the value and
what is allowed. Values come out converted (windows as :class:`SlotWindow`); global
sections and rule defaults come out complete (built-in defaults fill what the file omits),
overrides come out as only what the file sets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from detectors.threshold_schema import RULES, SECTIONS, ParamSpec
from dianyan.errors import ConfigError

Values = dict[str, object]  # parameter -> validated value
RuleValues = dict[str, Values]  # rule -> parameters

TOP_KEYS = ("baseline", "ingest", "rules", "overrides")
OVERRIDE_KINDS = ("regions", "industries", "entities")
_REGION_RE = re.compile(r"^(\d{2}|\d{4}|\d{6})$")
_INDUSTRY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_OVERRIDE_KEY_EXPECTED = {
    "regions": 'a quoted region code of 2 (province), 4 (city) or 6 (county) digits, e.g. "370481"',
    "industries": "a quoted lower-case industry code such as fireworks or hazardous_chemicals",
    "entities": 'a quoted, non-empty entity id such as "E00042"',
}


@dataclass(frozen=True, slots=True)
class ParsedThresholds:
    """The validated content of a thresholds file."""

    sections: dict[str, Values]
    rules: RuleValues
    overrides: dict[str, dict[str, RuleValues]]  # kind -> key -> partial rule values


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # unhashable key: SafeLoader reports it below
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found the key {key!r} twice (the second would silently win)",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str, source: str) -> object:
    """Parse YAML text; a syntax error or an empty file is a ConfigError with the line."""
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is None:
            raise ConfigError(source, "", None, f"valid YAML ({problem})") from exc
        lines = text.splitlines()
        line_text = lines[mark.line].strip() if mark.line < len(lines) else ""
        raise ConfigError(
            source,
            f"line {mark.line + 1}, column {mark.column + 1}",
            line_text,
            f"valid YAML ({problem})",
        ) from exc
    if doc is None:
        raise ConfigError(
            source, "", None, "a YAML mapping with " + ", ".join(TOP_KEYS) + " (the file is empty)"
        )
    return doc


def validate_document(doc: object, source: str) -> ParsedThresholds:
    """Validate a parsed YAML document against the schema."""
    top = _mapping(doc, source, "", "a mapping with the keys " + ", ".join(TOP_KEYS))
    _only_keys(top, TOP_KEYS, source, "", "a top-level key")
    sections = {
        name: _section(top.get(name), specs, source, name) for name, specs in SECTIONS.items()
    }
    rules = _rules(top.get("rules"), source, "rules", partial=False)
    overrides = _overrides(top.get("overrides"), source)
    return ParsedThresholds(sections, rules, overrides)


def _section(raw: object, specs: tuple[ParamSpec, ...], source: str, path: str) -> Values:
    values = _params(raw, specs, source, path, what=f"a {path} setting")
    complete = {spec.name: values.get(spec.name, _default(spec)) for spec in specs}
    for spec in specs:
        if spec.at_most is not None and complete[spec.name] > complete[spec.at_most]:
            expected = spec.expected().replace(
                spec.at_most, f"{path}.{spec.at_most} ({complete[spec.at_most]})"
            )
            raise ConfigError(source, f"{path}.{spec.name}", complete[spec.name], expected)
    return complete


def _rules(raw: object, source: str, path: str, *, partial: bool) -> RuleValues:
    table = _mapping(raw, source, path, "a mapping of rule name to its parameters")
    _only_keys(table, tuple(RULES), source, path, "a rule")
    out: RuleValues = {}
    for name, spec in RULES.items():
        values = _params(
            table.get(name), spec.params, source, f"{path}.{name}", f"a {name} parameter"
        )
        if partial:
            if values:
                out[name] = values
        else:
            out[name] = {p.name: values.get(p.name, _default(p)) for p in spec.params}
    return out


def _default(spec: ParamSpec) -> object:
    return spec.convert(spec.default)


def _params(raw: object, specs: tuple[ParamSpec, ...], source: str, path: str, what: str) -> Values:
    table = _mapping(raw, source, path, "a mapping of parameter name to value")
    by_name = {spec.name: spec for spec in specs}
    _only_keys(table, tuple(by_name), source, path, what)
    values: Values = {}
    for key, value in table.items():
        spec = by_name[key]
        try:
            values[key] = spec.convert(value)
        except ValueError:
            raise ConfigError(source, f"{path}.{key}", value, spec.expected()) from None
    return values


def _overrides(raw: object, source: str) -> dict[str, dict[str, RuleValues]]:
    table = _mapping(raw, source, "overrides", "a mapping with " + ", ".join(OVERRIDE_KINDS))
    _only_keys(table, OVERRIDE_KINDS, source, "overrides", "an override kind")
    out: dict[str, dict[str, RuleValues]] = {}
    for kind in OVERRIDE_KINDS:
        path = f"overrides.{kind}"
        entries = _mapping(table.get(kind), source, path, f"a mapping of {kind[:-1]} to overrides")
        out[kind] = {}
        for key, body in entries.items():
            _check_override_key(kind, key, source, f"{path}.{key}")
            out[kind][key] = _override_body(body, source, f"{path}.{key}")
    return out


def _check_override_key(kind: str, key: object, source: str, path: str) -> None:
    ok = isinstance(key, str) and (
        (kind == "regions" and _REGION_RE.match(key) is not None)
        or (kind == "industries" and _INDUSTRY_RE.match(key) is not None)
        or (kind == "entities" and key.strip() == key and key != "")
    )
    if not ok:
        raise ConfigError(source, path, key, _OVERRIDE_KEY_EXPECTED[kind])


def _override_body(raw: object, source: str, path: str) -> RuleValues:
    body = _mapping(raw, source, path, "a mapping with the key rules")
    for key in body:
        if key != "rules":
            raise ConfigError(
                source,
                f"{path}.{key}",
                body[key],
                "only the key rules here (baseline and ingest are global and cannot be "
                "overridden per region, industry or entity)",
            )
    return _rules(body.get("rules"), source, f"{path}.rules", partial=True)


def _mapping(raw: object, source: str, path: str, expected: str) -> Mapping[object, object]:
    # An empty section (every line under it commented out) reads as null: treat it as {}.
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(source, path, raw, expected)
    return raw


def _only_keys(
    table: Mapping[object, object], allowed: tuple[str, ...], source: str, path: str, what: str
) -> None:
    for key in table:
        if key not in allowed:
            key_path = f"{path}.{key}" if path else str(key)
            raise ConfigError(source, key_path, table[key], f"{what}: one of " + ", ".join(allowed))
