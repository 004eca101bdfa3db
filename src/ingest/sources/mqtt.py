"""MQTT: device readings from a broker topic, as raw batches like the file sources give.

Each message carries one reading as a JSON object (``entity_id``, ``metric``, ``ts``,
``value``; other keys ignored) or a JSON list of them. Messages are gathered into a batch
until ``batch_messages`` have arrived or ``batch_seconds`` have passed since the first, and
turned into a :class:`RawBatch` through the JSON-lines parser, so validation treats them
exactly like a file's records. ``position`` is the message's sequence number in this
subscription (1-based; every reading of a list shares it); ``source`` is the URL. A payload
that is not JSON, not an object or list of objects, or empty is a ``malformed_record``.

The client (paho-mqtt) reconnects by itself when the broker goes away and subscribes again
when it is back; the consumer of :meth:`MqttSource.batches` just sees no batch meanwhile.
Messages published while no connection exists are lost unless the broker kept them.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import paho.mqtt.client as mqtt
import pyarrow as pa

from dianyan.errors import SchemaError
from ingest.rawbatch import RawBatch
from ingest.rejects import REJECT_SCHEMA, Reason, rejects_table
from ingest.sources.jsonlines import parse_block
from ingest.sources.textblocks import TextBlock

log = logging.getLogger(__name__)

DEFAULT_PORT = 1883
DEFAULT_BATCH_MESSAGES = 1000
DEFAULT_BATCH_SECONDS = 1.0
_POLL_SECONDS = 0.2  # how often a waiting consumer checks whether it was stopped


@dataclass(frozen=True, slots=True)
class MqttUrl:
    """``mqtt://[user[:password]@]host[:port]/topic`` (the topic may hold ``+`` and ``#``)."""

    host: str
    port: int
    topic: str
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> MqttUrl:
        # not urllib: a topic's "#" wildcard would read as a URL fragment
        scheme, sep, rest = url.partition("://")
        netloc, slash, topic = rest.partition("/")
        if scheme != "mqtt" or not sep or not slash or not topic or not netloc:
            raise SchemaError(
                f"{url!r} is not an MQTT URL; use mqtt://HOST:PORT/TOPIC, "
                "e.g. mqtt://127.0.0.1:1883/dianyan/readings"
            )
        userinfo, at, hostport = netloc.rpartition("@")
        host, colon, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
        if colon and not port.isdigit():
            raise SchemaError(f"{url!r}: the port {port!r} is not a number")
        user, _, password = userinfo.partition(":")
        return cls(
            host=host,
            port=int(port) if colon else DEFAULT_PORT,
            topic=topic,
            username=user if at else None,
            password=password if at and password else None,
        )

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}/{self.topic}"


class MqttSource:
    """A subscription that hands out raw batches; reconnects on its own."""

    def __init__(
        self,
        url: str | MqttUrl,
        batch_messages: int = DEFAULT_BATCH_MESSAGES,
        batch_seconds: float = DEFAULT_BATCH_SECONDS,
        qos: int = 1,
    ) -> None:
        self.url = url if isinstance(url, MqttUrl) else MqttUrl.parse(url)
        self.batch_messages = batch_messages
        self.batch_seconds = batch_seconds
        self.qos = qos
        self.messages = 0  # received so far (the last sequence number)
        self.connects = 0
        self.subscriptions = 0  # SUBACKs: one per (re)connection once subscribed
        self._queue: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._subscribed = threading.Condition()
        self._client = self._make_client()

    # -- connection (paho's network thread) ----------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"dianyan-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
        )
        if self.url.username is not None:
            client.username_pw_set(self.url.username, self.url.password)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self) -> MqttSource:
        """Connect in the background (retrying until the broker answers) and subscribe."""
        self._client.connect_async(self.url.host, self.url.port, keepalive=30)
        self._client.loop_start()
        return self

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("mqtt %s refused the connection: %s", self.url, reason_code)
            return
        self.connects += 1
        log.info("mqtt connected to %s (connection %d)", self.url, self.connects)
        client.subscribe(self.url.topic, qos=self.qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._subscribed:
            self.subscriptions += 1
            self._subscribed.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self._stopped.is_set():
            log.warning("mqtt %s lost (%s); reconnecting", self.url, reason_code)

    def _on_message(self, client, userdata, message) -> None:
        self.messages += 1
        self._queue.put((self.messages, message.payload))

    def wait_subscribed(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until the topic has been subscribed ``count`` times (reconnections count)."""
        with self._subscribed:
            return self._subscribed.wait_for(lambda: self.subscriptions >= count, timeout)

    def stop(self) -> None:
        """End :meth:`batches` after the batch being gathered (safe in a signal handler)."""
        self._stopped.set()

    def close(self) -> None:
        """Stop and disconnect."""
        self.stop()
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- batches (the consumer's thread) -----------------------------------------------------

    def batches(self) -> Iterator[RawBatch]:
        """Raw batches of the messages received until :meth:`stop`; never an empty one."""
        while not self._stopped.is_set():
            messages = self._gather()
            if messages:
                yield messages_batch(messages, str(self.url))

    def _gather(self) -> list[tuple[int, bytes]]:
        try:
            first = self._queue.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            return []
        messages = [first]
        deadline = time.monotonic() + self.batch_seconds
        while len(messages) < self.batch_messages:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                messages.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return messages


def messages_batch(messages: list[tuple[int, bytes]], source: str) -> RawBatch:
    """(sequence number, payload) pairs as one raw batch, records in message order.

    A one-line object payload is a JSON line as it is; lists and multi-line objects are
    parsed here and written back one object per line; what is not JSON is rejected here.
    """
    lines: list[bytes] = []
    line_seq: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for seq, payload in messages:
        text = payload.strip()
        if text[:1] == b"{" and b"\n" not in text:
            lines.append(text)
            line_seq.append(seq)
            continue
        records, problem = _records(payload)
        if problem:
            bad.append((seq, payload.decode("utf-8", "backslashreplace"), problem))
        lines.extend(records)
        line_seq.extend([seq] * len(records))
    seqs = np.array(line_seq, dtype=np.int64)
    if lines:
        parsed = parse_block(TextBlock(b"\n".join(lines) + b"\n", 1), source)
        position = seqs[parsed.position - 1]
        rejects = _renumber(parsed.rejects, seqs)
        columns = parsed.columns
    else:
        position, rejects, columns = np.empty(0, np.int64), REJECT_SCHEMA.empty_table(), {}
    if bad:
        own = rejects_table(
            [Reason.MALFORMED_RECORD] * len(bad),
            source,
            [b[0] for b in bad],
            [b[1] for b in bad],
            [b[2] for b in bad],
        )
        rejects = pa.concat_tables([rejects, own]).sort_by("position")
    return RawBatch(columns, source, position, rejects)


def _records(payload: bytes) -> tuple[list[bytes], str]:
    """JSON lines of a payload that is not a one-line object, or the reason it is none."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return [], "empty message" if not payload.strip() else f"not JSON: {str(exc)[:120]}"
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        return [], "an empty list"
    # a non-object item becomes a line the JSON-lines parser rejects with its reason
    return [json.dumps(item, ensure_ascii=False).encode() for item in items], ""


def _renumber(rejects: pa.Table, seqs: np.ndarray) -> pa.Table:
    """Line numbers of the parser's rejects to message sequence numbers."""
    if rejects.num_rows == 0:
        return rejects.cast(REJECT_SCHEMA)
    lines = rejects.column("position").to_numpy()
    return rejects.set_column(
        rejects.schema.get_field_index("position"), "position", pa.array(seqs[lines - 1])
    ).cast(REJECT_SCHEMA)
