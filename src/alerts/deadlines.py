"""config/lifecycle.yaml: how long each lifecycle stage may take before it is overdue.

::

    deadlines = load_deadlines("config/lifecycle.yaml")
    deadlines.verify_ms          # 3 days in milliseconds
    deadlines.due(alert)         # ("verify", due_ms) for the stage it is in, or None

A stage left out of the file takes its built-in default; anything else that is wrong is a
ConfigError naming the file, the key path, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from alerts.model import Alert, AlertState, Outcome
from detectors.threshold_parse import read_yaml
from dianyan.errors import ConfigError

HOUR_MS = 3_600_000
MAX_HOURS = 24 * 366

# key -> (built-in default in hours, what it limits)
STAGES: dict[str, dict[str, tuple[float, str]]] = {
    "deadlines": {
        "dispatch_hours": (24, "raised until dispatched"),
        "claim_hours": (24, "dispatched until claimed (签收)"),
        "verify_hours": (72, "dispatched until verified"),
        "follow_up_hours": (168, "verified until enforcing (confirmed) or cleared (explained)"),
        "clear_hours": (720, "enforcing until cleared"),
    },
    "escalation": {
        "province_after_hours": (48, "overdue this long at city level, then to the province"),
    },
}


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Stage deadlines in milliseconds (see STAGES for what each one limits)."""

    dispatch_ms: int = 24 * HOUR_MS
    claim_ms: int = 24 * HOUR_MS
    verify_ms: int = 72 * HOUR_MS
    follow_up_ms: int = 168 * HOUR_MS
    clear_ms: int = 720 * HOUR_MS
    province_after_ms: int = 48 * HOUR_MS

    def due(self, alert: Alert) -> tuple[str, int] | None:
        """(stage, due time) of the earliest deadline the alert's current stage has, if any."""
        pending: list[tuple[int, str]] = []
        state = alert.state
        if state is AlertState.RAISED:
            pending.append((alert.created_at + self.dispatch_ms, "dispatch"))
        elif state is AlertState.DISPATCHED and alert.dispatched_at_ms is not None:
            if alert.owner is None:
                pending.append((alert.dispatched_at_ms + self.claim_ms, "claim"))
            pending.append((alert.dispatched_at_ms + self.verify_ms, "verify"))
        elif state is AlertState.VERIFIED and alert.verified_at_ms is not None:
            stage = "enforce" if alert.outcome is Outcome.CONFIRMED else "clear"
            pending.append((alert.verified_at_ms + self.follow_up_ms, stage))
        elif state is AlertState.ENFORCING and alert.enforcing_at_ms is not None:
            pending.append((alert.enforcing_at_ms + self.clear_ms, "clear"))
        if not pending:
            return None
        due_ms, stage = min(pending)
        return stage, due_ms


def load_deadlines(path: str | Path) -> Deadlines:
    """Read and validate config/lifecycle.yaml."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", None, f"a readable UTF-8 lifecycle file ({exc})") from None
    try:
        empty = yaml.safe_load(text) is None  # only comments: every stage takes its default
    except yaml.YAMLError:
        empty = False  # read_yaml reports where
    return parse_deadlines({} if empty else read_yaml(text, source), source)


def parse_deadlines(doc: object, source: str) -> Deadlines:
    """Validate a parsed lifecycle document; missing keys take their defaults."""
    top = _mapping(doc, source, "", "a mapping with the keys " + ", ".join(STAGES))
    hours: dict[str, float] = {}
    for section, keys in STAGES.items():
        table = _mapping(top.pop(section, None), source, section, f"a mapping of {section}")
        for key, (default, _) in keys.items():
            hours[key] = _hours(table.pop(key, default), source, f"{section}.{key}")
        if table:
            key = sorted(table, key=str)[0]
            raise ConfigError(source, f"{section}.{key}", table[key], "one of " + ", ".join(keys))
    if top:
        key = sorted(top, key=str)[0]
        raise ConfigError(source, str(key), top[key], "one of " + ", ".join(STAGES))
    return Deadlines(**{k.replace("_hours", "_ms"): round(h * HOUR_MS) for k, h in hours.items()})


def _mapping(raw: object, source: str, path: str, expected: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(source, path, raw, expected)
    return dict(raw)


def _hours(value: object, source: str, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_HOURS:
        raise ConfigError(source, path, value, f"a number of hours above 0, at most {MAX_HOURS}")
    return float(value)
