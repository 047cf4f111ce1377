"""The main job's console: it follows the live alert channel and says when that ends."""

from __future__ import annotations

import asyncio
import io

import httpx
import orjson
import pytest

from veille.entrypoints.mainjob import _show_alerts

pytestmark = pytest.mark.integration

ALERT = {
    "event": "new",
    "alert_id": 7,
    "plate": "1ABC123",
    "category": "stolen_vehicle",
    "match": {"kind": "exact"},
    "camera_id": "BXL-MIDI-0001",
    "zone": "Midi",
    "entry": {"instructions": "stop the vehicle"},
    "published_at": 0.0,
}


def follow(handler) -> str:
    out = io.StringIO()
    transport = httpx.MockTransport(handler)
    asyncio.run(
        _show_alerts("http://veille.test", "vu_operator", out, transport=transport, retry_pause_s=0)
    )
    return out.getvalue()


def sse(*events: bytes) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=b"".join(events)
    )


def test_a_stream_closed_for_withdrawn_access_is_announced_after_its_alerts():
    text = follow(
        lambda request: sse(
            b": connected\n\n",
            b"event: alert\ndata: " + orjson.dumps(ALERT) + b"\n\n",
            b'event: closed\ndata: {"reason": "access withdrawn"}\n\n',
        )
    )
    assert "ALERT #7 1ABC123" in text
    assert "Alerts are no longer printed" in text and "access withdrawn" in text
    assert "changed password" in text and "restart `make run`" in text


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (lambda request: httpx.Response(401, json={"error": {"code": "unauthenticated"}}), "401"),
        (lambda request: sse(b": connected\n\n"), "closed the live alert channel"),
    ],
)
def test_a_refused_or_ended_stream_is_announced(answer, said):
    text = follow(answer)
    assert "Alerts are no longer printed" in text and said in text


def test_a_gap_in_the_stream_is_announced_and_the_alerts_after_it_still_print():
    text = follow(
        lambda request: sse(
            b'event: gap\ndata: {"reason": "overflow", "reload": "/api/v1/alerts"}\n\n',
            b"id: ab12cd34-9\nevent: alert\ndata: " + orjson.dumps(ALERT) + b"\n\n",
        )
    )
    assert "Some alerts were not shown (overflow)" in text and "/api/v1/alerts" in text
    assert "ALERT #7 1ABC123" in text


def test_a_broken_stream_is_opened_again_and_resumes_after_the_last_alert_printed():
    asked: list[str | None] = []
    second = {**ALERT, "alert_id": 8, "plate": "2XYZ999"}

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("last-event-id"))
        if len(asked) == 1:  # the connection breaks after one alert
            return sse(b"id: ab12cd34-41\nevent: alert\ndata: " + orjson.dumps(ALERT) + b"\n\n")
        return sse(
            b"id: ab12cd34-42\nevent: alert\ndata: " + orjson.dumps(second) + b"\n\n",
            b'event: closed\ndata: {"reason": "account deleted"}\n\n',
        )

    text = follow(answer)
    assert asked == [None, "ab12cd34-41"]
    assert "ALERT #7 1ABC123" in text and "ALERT #8 2XYZ999" in text
    assert "Alerts are no longer printed" in text and "account deleted" in text
