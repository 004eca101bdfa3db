"""A TCP relay that lets Debian's kcat talk to the Tansu test broker.

Debian 12's kcat 1.7.1 links librdkafka 2.0.2, which cannot parse the optional feature
tags (KIP-584 tagged fields 0-3) that Tansu 0.6.0 puts at the end of its ApiVersions v3
response ("Protocol read buffer underflow for ApiVersion v3 at 274/279"); with
``api.version.request=false`` librdkafka falls back to protocol v0, which Tansu closes.
This relay forwards every byte unchanged except that it drops those tags from ApiVersions
responses (tagged-field count set to 0). Against a Kafka broker kcat needs no relay.

Run: ``python apiversions_relay.py LISTEN_PORT BROKER_PORT`` (both on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import struct
import sys

API_VERSIONS = 18


def _uvarint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def without_tags(response: bytes) -> bytes:
    """An ApiVersions v3+ response (correlation id first) with its top-level tags dropped."""
    i = 4 + 2  # correlation id, error code
    n, i = _uvarint(response, i)
    for _ in range(max(n - 1, 0)):
        i += 6  # api key, min version, max version
        tags, i = _uvarint(response, i)
        for _ in range(tags):
            _, i = _uvarint(response, i)
            size, i = _uvarint(response, i)
            i += size
    i += 4  # throttle time
    return response[:i] + b"\x00"


async def _frames(reader: asyncio.StreamReader):
    while True:
        head = await reader.readexactly(4)
        yield await reader.readexactly(struct.unpack(">i", head)[0])


async def _requests(client: asyncio.StreamReader, broker: asyncio.StreamWriter, asked: set[int]):
    async for body in _frames(client):
        key, version, correlation = struct.unpack(">hhi", body[:8])
        if key == API_VERSIONS and version >= 3:
            asked.add(correlation)
        broker.write(struct.pack(">i", len(body)) + body)
        await broker.drain()


async def _responses(broker: asyncio.StreamReader, client: asyncio.StreamWriter, asked: set[int]):
    async for body in _frames(broker):
        correlation = struct.unpack(">i", body[:4])[0]
        if correlation in asked:
            asked.discard(correlation)
            body = without_tags(body)
        client.write(struct.pack(">i", len(body)) + body)
        await client.drain()


async def relay(listen: int, target: int) -> None:
    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        br, bw = await asyncio.open_connection("127.0.0.1", target)
        asked: set[int] = set()
        tasks = [
            asyncio.create_task(_requests(cr, bw, asked)),
            asyncio.create_task(_responses(br, cw, asked)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        cw.close()
        bw.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(relay(int(sys.argv[1]), int(sys.argv[2])))
