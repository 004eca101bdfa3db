"""The detection contract: what a rule hands to the alerts package.

A detection is a rule's finding about one entity's episode (a continuous run of abnormal
slots). Rules emit one when an episode opens (its run reaches the minimum length) and one
when it ends (``final=True``); both carry the same ``episode_start_ms``, so the pair maps to
one alert whatever the batch boundaries were.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Detection:
    rule: str
    entity_id: str
    county: str
    episode_start_ms: int  # UTC ms, start of the first abnormal interval of the episode
    start_ms: int  # UTC ms, first abnormal interval covered by this detection
    end_ms: int  # UTC ms, end of the last abnormal interval covered (exclusive)
    severity: str
    score: float
    observed: float  # the value the rule judged (e.g. mean kWh per slot over the run)
    baseline: float  # what it was compared with (e.g. production level, same-slot median)
    thresholds: dict[str, Any]  # the threshold values that applied
    thresholds_version: str
    explanation: str  # one sentence, Chinese then English
    final: bool = False  # True when the episode has ended
    suppressed_by: str | None = None  # exemption id when an approved exemption covers it
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identity of this delivery: replays of the same detection share it."""
        return f"{self.rule}|{self.entity_id}|{self.episode_start_ms}|{int(self.final)}"

    def to_dict(self) -> dict[str, Any]:
        """Field values as they are (shallow; evidence is already plain JSON data)."""
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    def to_json(self) -> str:
        """The detection as canonical JSON (what the store records)."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Detection:
        return cls(**json.loads(text))


# Read once: dataclasses.fields() costs more than the copy itself on every to_dict.
_FIELD_NAMES = tuple(f.name for f in fields(Detection))


def episode_alert_id(rule: str, entity_id: str, episode_start_ms: int) -> str:
    """Deterministic alert id: the same episode always gets the same id."""
    digest = hashlib.sha256(f"{rule}|{entity_id}|{episode_start_ms}".encode()).hexdigest()
    return f"A{digest[:20]}"


# Where orjson's text for a finite float may differ from json.dumps': Python writes 1e-07 and
# 1.5e-05 where orjson writes 1e-7 and 0.000015. A match (in a string too) only costs speed.
_ONE_DIGIT_NEGATIVE_EXPONENT = re.compile(r"e-\d(?!\d)")


def _float_text_may_differ(text: str) -> bool:
    # Substring tests first: much faster than a regex over the whole text.
    return "0.0000" in text or ("e-" in text and bool(_ONE_DIGIT_NEGATIVE_EXPONENT.search(text)))


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, non-ASCII as is: equal content, equal text.

    The one encoder of the JSON the store keeps (detections, frozen evidence, event
    payloads). Always exactly ``json.dumps(value, ensure_ascii=False, sort_keys=True,
    separators=(",", ":"))``: evidence hashes are taken over this text, so it must never
    change. orjson writes it several times faster; json.dumps writes it whenever orjson's
    text could differ: values orjson refuses (ints beyond 64 bits, non-string keys), floats
    it formats otherwise, and anything its text does not read back equal to (NaN and
    infinities, which it writes as null; tuples; types json.dumps refuses).
    """
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is one
        return _json_dumps(value)
    text = data.decode()
    if _float_text_may_differ(text) or orjson.loads(data) != value:
        return _json_dumps(value)
    return text


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
