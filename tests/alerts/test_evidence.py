"""Evidence is frozen when an alert is raised, with a hash that depends only on content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from alerts.model import frozen_evidence
from alerts.store import AlertStore, SqliteAlertStore
from detectors.detection import Detection

NOW_MS = 1_750_000_000_000

MakeDetection = Callable[..., Detection]


def test_alert_keeps_the_raising_detection_evidence_and_its_hash(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    d = make_detection(evidence={"kwh": [40.0, 44.5], "slots": ["22:15", "22:30"]})
    store.apply([d], NOW_MS)
    [alert] = store.list_alerts()
    assert alert.evidence == {
        "evidence": d.evidence,
        "observed": d.observed,
        "baseline": d.baseline,
        "thresholds": d.thresholds,
        "thresholds_version": d.thresholds_version,
        "explanation": d.explanation,
    }
    canonical = json.dumps(
        alert.evidence, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    assert alert.evidence_hash == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def test_later_detections_never_rewrite_the_evidence(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    store.apply([make_detection(observed=40.0)], NOW_MS)
    [raised] = store.list_alerts()
    store.apply(
        [
            make_detection(final=True, observed=99.0, evidence={"kwh": [1.0]}),
            make_detection(start_slot=30, observed=77.0, evidence={"kwh": [2.0]}),
        ],
        NOW_MS + 1,
    )
    [later] = store.list_alerts()
    assert later.occurrences == 2
    assert (later.evidence, later.evidence_hash) == (raised.evidence, raised.evidence_hash)
    # The later deliveries are kept with the alert, not lost.
    assert {d.observed for d in store.detections_of(raised.id)} == {40.0, 99.0, 77.0}


def test_evidence_hash_survives_reopening_the_store(
    store_path: Path, make_detection: MakeDetection
) -> None:
    with SqliteAlertStore(store_path) as store:
        store.apply([make_detection()], NOW_MS)
        [before] = store.list_alerts()
    with SqliteAlertStore(store_path) as store:
        [after] = store.list_alerts()
    assert (after.evidence, after.evidence_hash) == (before.evidence, before.evidence_hash)


_json_leaf = st.one_of(
    st.integers(-(10**9), 10**9), st.floats(allow_nan=False), st.text(max_size=5), st.none()
)
_evidence = st.dictionaries(st.text(max_size=6), _json_leaf, max_size=6)


@given(evidence=_evidence)
def test_hash_depends_on_content_not_on_key_order(
    make_detection: MakeDetection, evidence: dict[str, object]
) -> None:
    reordered = dict(reversed(list(evidence.items())))
    d = make_detection(evidence=evidence)
    assert frozen_evidence(d) == frozen_evidence(make_detection(evidence=reordered))

    _, digest = frozen_evidence(d)
    assert frozen_evidence(make_detection(evidence={**evidence, "extra": []}))[1] != digest
    assert frozen_evidence(make_detection(evidence=evidence, observed=d.observed + 1))[1] != digest
