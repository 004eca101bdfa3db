"""Registry updates from the registry topic: status changes and exemptions (报备) at run time.

Every worker reads the whole registry topic (one partition, not shared out by the consumer
group): first up to its end before any reading is processed, then as updates arrive, so a
suspension or an exemption takes effect on every partition without a restart. Messages
are JSON objects::

    {"type": "status", "entity_id": "E00042", "status": "suspended",
     "effective_from": "2026-03-01T00:00:00+08:00", "effective_to": null}
    {"type": "exemption", "exemption_id": "BB-2026-017", "rules": "night_production",
     "start": "2026-03-01T22:00:00+08:00", "end": "2026-03-08T06:00:00+08:00",
     "entity_id": "E00042", "reason": "调试设备", "approver": "县应急局"}

Times as in the registry files (docs/data-files.md). A message that cannot be applied is
refused with its reason and the registry stays as it was.
"""

from __future__ import annotations

import json
from typing import Any

from dianyan.errors import DianyanError, RegistryError
from ingest.registry import Registry


class RegistryUpdateError(DianyanError):
    """A registry update message cannot be applied; the registry is unchanged."""


def apply_update(registry: Registry, payload: bytes | None) -> Registry:
    """The registry with one update applied (raises RegistryUpdateError)."""
    update = _parse(payload)
    kind = update.get("type")
    try:
        if kind == "status":
            return registry.with_status(
                _text(update, "entity_id"),
                _text(update, "status"),
                update.get("effective_from"),  # type: ignore[arg-type]
                update.get("effective_to"),
            )
        if kind == "exemption":
            return registry.with_exemption(
                _text(update, "exemption_id"),
                _text(update, "rules"),
                update.get("start"),  # type: ignore[arg-type]
                update.get("end"),  # type: ignore[arg-type]
                entity_id=str(update.get("entity_id") or ""),
                region=str(update.get("region") or ""),
                reason=str(update.get("reason") or ""),
                approver=str(update.get("approver") or ""),
            )
    except (RegistryError, ValueError, TypeError) as exc:
        raise RegistryUpdateError(f"registry update refused: {exc}") from exc
    raise RegistryUpdateError(
        f"registry update has type {kind!r}; send 'status' or 'exemption' (see "
        "docs/distributed.md)."
    )


def _parse(payload: bytes | None) -> dict[str, Any]:
    try:
        update = json.loads(payload or b"")
    except ValueError as exc:
        raise RegistryUpdateError(f"registry update is not JSON: {exc}") from exc
    if not isinstance(update, dict):
        raise RegistryUpdateError("registry update must be a JSON object")
    return update


def _text(update: dict[str, Any], key: str) -> str:
    value = update.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RegistryUpdateError(f"registry update needs {key!r} as text, got {value!r}")
    return value
