"""Exemptions (报备) kept in the alert store: approved periods in which rules stay silent.

An exemption names one entity, or a region (2/4/6-digit code), the rules it covers (or
``*`` for all), a period ``[start_ms, end_ms)`` in event time, the reason and the approver.
It expires on its own at ``end_ms``; revoking it ends it at the revocation time. A
detection whose whole span lies inside an exemption's period is recorded as suppressed
with the exemption's id, exactly like one the detector suppressed from the registry files.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from alerts.db import Db
from alerts.region import check_region
from detectors.detection import Detection
from detectors.threshold_schema import RULES
from dianyan.errors import ExemptionError, ExemptionNotFound

ALL_RULES = "*"
_COLUMNS = (
    "id, entity_id, region, rules, start_ms, end_ms, reason, approver, created_by, "
    "created_at_ms, revoked_at_ms, revoked_by"
)


@dataclass(frozen=True, slots=True)
class Exemption:
    """One approved exemption; ``region`` is the entity's county for an entity exemption."""

    id: str
    entity_id: str | None
    region: str
    rules: tuple[str, ...]
    start_ms: int
    end_ms: int
    reason: str
    approver: str
    created_by: str
    created_at_ms: int
    revoked_at_ms: int | None = None
    revoked_by: str | None = None

    @property
    def effective_end_ms(self) -> int:
        """When it stops applying: its end, or its revocation if earlier."""
        if self.revoked_at_ms is None:
            return self.end_ms
        return max(self.start_ms, min(self.end_ms, self.revoked_at_ms))

    def active_at(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms < self.effective_end_ms

    def covers(self, d: Detection) -> bool:
        """True when this exemption silences the detection (whole span inside the period)."""
        if self.entity_id is not None:
            if d.entity_id != self.entity_id:
                return False
        elif not d.county.startswith(self.region):
            return False
        if ALL_RULES not in self.rules and d.rule not in self.rules:
            return False
        return self.start_ms <= d.start_ms and d.end_ms <= self.effective_end_ms

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rules"] = list(self.rules)
        return out


def _specificity(ex: Exemption) -> tuple[Any, ...]:
    # The entity's own exemption first, then county, city, province; then longest, then id.
    return (ex.entity_id is None, -len(ex.region), -(ex.end_ms - ex.start_ms), ex.id)


class ExemptionIndex:
    """The exemptions that may cover a batch of detections, looked up per detection."""

    def __init__(self, exemptions: Iterable[Exemption]) -> None:
        self._by_key: dict[str, list[Exemption]] = defaultdict(list)
        for ex in sorted(exemptions, key=_specificity):
            self._by_key[f"e:{ex.entity_id}" if ex.entity_id else f"r:{ex.region}"].append(ex)

    @classmethod
    def load(cls, db: Db, detections: list[Detection]) -> ExemptionIndex:
        if not detections:
            return cls(())
        latest_start = max(d.start_ms for d in detections)
        earliest_end = min(d.end_ms for d in detections)
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM exemptions WHERE start_ms <= ? AND end_ms >= ?",
            (latest_start, earliest_end),
        )
        return cls(_exemption(row) for row in rows)

    def covering(self, d: Detection) -> Exemption | None:
        if not self._by_key:
            return None
        keys = (f"e:{d.entity_id}", *(f"r:{d.county[:n]}" for n in (6, 4, 2)))
        for key in keys:
            for ex in self._by_key.get(key, ()):
                if ex.covers(d):
                    return ex
        return None


def add_exemption(
    db: Db,
    *,
    entity_id: str | None,
    region: str | None,
    rules: Iterable[str],
    start_ms: int,
    end_ms: int,
    reason: str,
    approver: str,
    created_by: str,
    now_ms: int,
    exemption_id: str | None = None,
    jurisdiction: str | None = None,
) -> Exemption:
    """Check and insert one exemption (see ``AlertStore.add_exemption``)."""
    ex = Exemption(
        id=_text("exemption_id", exemption_id, 200) if exemption_id is not None else _new_id(),
        entity_id=_text("entity_id", entity_id, 200) if entity_id is not None else None,
        region=_target_region(db, entity_id, region),
        rules=_rules(rules),
        start_ms=_ms("start_ms", start_ms),
        end_ms=_ms("end_ms", end_ms),
        reason=_text("reason", reason),
        approver=_text("approver", approver),
        created_by=_text("created_by", created_by),
        created_at_ms=now_ms,
    )
    if ex.end_ms <= ex.start_ms:
        raise ExemptionError(
            f"end_ms {ex.end_ms} is not after start_ms {ex.start_ms}; give a period that ends "
            "after it starts."
        )
    if jurisdiction is not None and not ex.region.startswith(check_region(jurisdiction)):
        raise ExemptionError(
            f"region {ex.region} lies outside your jurisdiction {jurisdiction}; "
            "ask someone whose jurisdiction covers it."
        )
    with db.transaction():
        inserted = db.execute(
            f"INSERT INTO exemptions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            _row(ex),
        ).rowcount
    if inserted != 1:
        raise ExemptionError(f"exemption id {ex.id!r} is taken; choose another id or omit it.")
    return ex


def list_exemptions(
    db: Db, region: str | None = None, active_at_ms: int | None = None
) -> list[Exemption]:
    """Exemptions that apply inside ``region`` (theirs or a wider one), by start then id."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM exemptions ORDER BY start_ms, id")
    out = [_exemption(row) for row in rows]
    if region is not None:
        code = check_region(region)
        out = [ex for ex in out if ex.region.startswith(code) or code.startswith(ex.region)]
    if active_at_ms is not None:
        out = [ex for ex in out if ex.active_at(active_at_ms)]
    return out


def get_exemption(db: Db, exemption_id: str, region: str | None = None) -> Exemption:
    """The exemption, if it lies inside ``region``; else ExemptionNotFound."""
    row = db.execute(f"SELECT {_COLUMNS} FROM exemptions WHERE id = ?", (exemption_id,)).fetchone()
    ex = None if row is None else _exemption(row)
    if ex is None or (region is not None and not ex.region.startswith(check_region(region))):
        where = f" in region {region}" if region is not None else ""
        raise ExemptionNotFound(f"no exemption {exemption_id!r}{where}; list them to find its id.")
    return ex


def revoke_exemption(
    db: Db, exemption_id: str, actor: str, now_ms: int, region: str | None = None
) -> Exemption:
    """End an exemption now; what it already suppressed stays recorded as suppressed."""
    actor = _text("actor", actor)
    with db.transaction():
        ex = get_exemption(db, exemption_id, region)
        if ex.revoked_at_ms is not None:
            raise ExemptionError(
                f"exemption {ex.id} was already revoked by {ex.revoked_by} at {ex.revoked_at_ms}."
            )
        db.execute(
            "UPDATE exemptions SET revoked_at_ms = ?, revoked_by = ? "
            "WHERE id = ? AND revoked_at_ms IS NULL",
            (now_ms, actor, ex.id),
        )
    return Exemption(**{**asdict(ex), "revoked_at_ms": now_ms, "revoked_by": actor})


def _target_region(db: Db, entity_id: str | None, region: str | None) -> str:
    try:
        code = None if region is None else check_region(region)
    except ValueError as exc:
        raise ExemptionError(str(exc)) from None
    if entity_id is None:
        if code is None:
            raise ExemptionError("give entity_id (one enterprise) or region (2/4/6 digits).")
        return code
    if code is None:
        row = db.execute(
            "SELECT county FROM detections WHERE entity_id = ? LIMIT 1", (entity_id,)
        ).fetchone()
        if row is None:
            raise ExemptionError(
                f"the county of entity {entity_id!r} is not known yet; give region=<its county>."
            )
        return row[0]
    if len(code) != 6:
        raise ExemptionError(
            f"region {code!r} for entity {entity_id!r} must be its 6-digit county code."
        )
    return code


def _rules(rules: Iterable[str]) -> tuple[str, ...]:
    if isinstance(rules, str):
        rules = [rules]
    try:
        names = tuple(sorted(set(rules)))
    except TypeError:
        names = ()
    known = set(RULES) | {ALL_RULES}
    if not names or any(not isinstance(r, str) or r not in known for r in names):
        raise ExemptionError(
            f"rules {rules!r} are not a list of rule names; use '*' for all rules or some of "
            f"{', '.join(RULES)}."
        )
    return (ALL_RULES,) if ALL_RULES in names else names


def _text(name: str, value: object, limit: int = 2000) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ExemptionError(
            f"{name} must be non-empty text up to {limit} characters, not {value!r}."
        )
    return value.strip()


def _ms(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExemptionError(f"{name} must be UTC epoch milliseconds, not {value!r}.")
    return value


def _new_id() -> str:
    return "EX-" + uuid.uuid4().hex[:16]


def _row(ex: Exemption) -> tuple[Any, ...]:
    return (
        ex.id,
        ex.entity_id,
        ex.region,
        json.dumps(list(ex.rules)),
        ex.start_ms,
        ex.end_ms,
        ex.reason,
        ex.approver,
        ex.created_by,
        ex.created_at_ms,
        ex.revoked_at_ms,
        ex.revoked_by,
    )


def _exemption(row: tuple[Any, ...]) -> Exemption:
    values = list(row)
    values[3] = tuple(json.loads(values[3]))
    return Exemption(*values)
