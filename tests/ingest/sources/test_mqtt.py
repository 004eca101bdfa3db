"""MQTT messages to raw batches: validated like a file's records, bad payloads with reasons."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dianyan.errors import SchemaError
from ingest.sources.mqtt import MqttUrl, messages_batch
from ingest.validate import Validator

URL = "mqtt://127.0.0.1:1883/dianyan/readings"


def _reading(entity: str, minute: int, value: object = 1.5) -> dict[str, object]:
    return {
        "entity_id": entity,
        "metric": "gas.pressure_kpa",
        "ts": f"2026-03-02T08:{minute:02d}:00+08:00",
        "value": value,
    }


def _msg(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_objects_lists_and_bad_payloads_keep_their_message_positions() -> None:
    messages = [
        (1, _msg(_reading("S1", 0))),
        (2, b"not json"),
        (3, _msg([_reading("S1", 1), _reading("S2", 1)])),
        (4, b""),
        (5, b"[]"),
        (6, _msg([_reading("S1", 2), 7])),
        (7, json.dumps(_reading("S2", 2), indent=2).encode()),
        (8, b'{"entity_id": "S1", "metric": "gas.pressure_kpa"'),
        (9, _msg(_reading("S1", 3, value="high"))),
        (10, b"\xff\xfe{"),
    ]
    raw = messages_batch(messages, URL)
    result = Validator().validate(raw)
    assert result.valid.column("entity_id").to_pylist() == ["S1", "S1", "S2", "S1", "S2"]
    positions, reasons = (result.rejects[c].to_pylist() for c in ("position", "reason"))
    rejects = sorted(zip(positions, reasons, strict=True))
    assert rejects == [
        (2, "malformed_record"),
        (4, "malformed_record"),
        (5, "malformed_record"),
        (6, "malformed_record"),  # the 7 in the list; its neighbour is kept
        (8, "malformed_record"),
        (9, "unparsable_number"),
        (10, "malformed_record"),
    ]
    assert set(result.rejects["source"].to_pylist()) == {URL}
    assert raw.num_rows == result.valid.num_rows + result.rejects.num_rows


@settings(max_examples=80, deadline=None)
@given(
    payloads=st.lists(
        st.one_of(st.binary(max_size=40), st.just(_msg(_reading("S", 5)))), max_size=20
    )
)
def test_no_message_vanishes(payloads: list[bytes]) -> None:
    """Every message is at least one record or one reject, whatever its bytes."""
    raw = messages_batch(list(enumerate(payloads, start=1)), URL)
    result = Validator().validate(raw)
    seen = set(raw.position.tolist()) | set(result.rejects["position"].to_pylist())
    assert seen == set(range(1, len(payloads) + 1))


def test_urls() -> None:
    url = MqttUrl.parse("mqtt://user:secret@broker.example:1884/plant/+/readings/#")
    assert (url.host, url.port, url.topic) == ("broker.example", 1884, "plant/+/readings/#")
    assert (url.username, url.password) == ("user", "secret")
    assert MqttUrl.parse("mqtt://localhost/t").port == 1883
    for bad in ("http://h/t", "mqtt://h:1883", "mqtt://h:x/t", "mqtt:///t"):
        with pytest.raises(SchemaError, match="mqtt"):
            MqttUrl.parse(bad)
