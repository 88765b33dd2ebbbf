"""A graphql-sse client for tests (distinct connections mode): one POST, one event stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True)
class Event:
    """One SSE event (`next` with its JSON, `complete`) or comment (`:` line, kind "comment")."""

    kind: str
    data: Any


class StreamEnded(Exception):
    """The server ended the stream where the test expected another event."""


class EventStream:
    """The events of one streamed response, in order."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def event(self, timeout: float = 10.0) -> Event | None:
        """The next event or comment; None once the server has ended the stream."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    if fields:
                        data = fields.get("data", "")
                        return Event(fields.get("event", "message"), json.loads(data) if data else None)
                    continue
                if line.startswith(":"):
                    return Event("comment", line[1:].strip())
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        return None

    async def payload(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next `next` event's payload within `timeout`, comments (heartbeats) skipped and kept."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.event(timeout)
                if event is None:
                    raise StreamEnded
                if event.kind == "comment":
                    self.comments.append(event.data)
                    continue
                assert event.kind == "next", event
                return event.data

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next result's data (which must carry no errors)."""
        payload = await self.payload(timeout)
        assert not payload.get("errors"), payload
        return payload["data"]

    async def take(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next `count` results' data."""
        return [await self.next(timeout) for _ in range(count)]

    async def rest(self, timeout: float = 10.0) -> list[Event]:
        """Every event and comment until the server ends the stream, within `timeout`."""
        events = []
        async with asyncio.timeout(timeout):
            while (event := await self.event(timeout)) is not None:
                events.append(event)
        return events

    async def expect_silence(self, seconds: float = 0.3) -> None:
        """No result (heartbeats aside) arrives within `seconds`."""
        try:
            event = await self.payload(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event: {event}")


async def until_streams(base_url: str, count: int, timeout: float = 10.0) -> None:
    """Wait until the server holds exactly `count` open streams (its `credits_sse_streams` gauge)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http, asyncio.timeout(timeout):
        while True:
            metrics = (await http.get("/metrics")).text
            if f"credits_sse_streams {float(count)}" in metrics.splitlines():
                return
            await asyncio.sleep(0.02)


def sse_headers(token: str | None) -> dict[str, str]:
    """Accept: text/event-stream, and the bearer token if any."""
    headers = {"Accept": EVENT_STREAM}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


@asynccontextmanager
async def subscribe(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> AsyncIterator[EventStream]:
    """POST the operation with `Accept: text/event-stream` and stream the response."""
    body = {"query": query, "variables": variables or {}}
    async with http.stream("POST", "/graphql", json=body, headers=sse_headers(token)) as response:
        yield EventStream(response)
