"""Alerts to outside dispatch systems: signed webhooks with retries, and MQTT publishing."""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from veille.adapters.webhook_targets import CheckedTarget
from veille.domain.webhooks import TargetRefused, TargetUnresolved, Webhook

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Veille-Signature"
TIMESTAMP_HEADER = "X-Veille-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>": the receiver recomputes it with the shared
    secret and refuses old timestamps, so a captured request cannot be replayed later."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def pinned_request(
    url: str, checked: CheckedTarget | None
) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """(URL, extra headers, extensions) that send `url` to the address that was checked,
    not to whatever the name resolves to a moment later (DNS rebinding). The Host header
    and, over TLS, the SNI name and certificate check still use the name."""
    target = httpx.URL(url)
    if checked is None or checked.address is None:
        return target, {}, {}
    extensions = {"sni_hostname": checked.host} if target.scheme == "https" else {}
    host_header = target.netloc.decode("ascii")
    return target.copy_with(host=str(checked.address)), {"Host": host_header}, extensions


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookDispatcher:
    """Delivers alert events to the registered webhooks from a background thread.

    Each delivery is retried with exponential backoff; every final result (delivered or
    failed, with the HTTP status or error) is recorded through `record`.
    """

    def __init__(
        self,
        *,
        targets: Callable[[Any], list[Webhook]],
        to_json: Callable[[Any], dict[str, Any]],
        record: Callable[..., None],
        attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        check: Callable[[str], CheckedTarget] | None = None,
    ):
        # checks a target URL (raises TargetRefused); the API uses it at creation too
        self.check = check
        self._targets = targets
        self._to_json = to_json
        self._record = record
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, workers: int = 2) -> None:
        self._stop.clear()
        for i in range(workers):
            t = threading.Thread(target=self._run, name=f"veille-webhooks-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(10)
        self._threads.clear()

    def publish(self, events: list[Any]) -> None:
        for event in events:
            for target in self._targets(event.alert):
                self._queue.put((target, event))

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                item = self._queue.get()
                if item is None:
                    return
                target, event = item
                self._deliver(client, target, event)

    def _deliver(self, client: httpx.Client, target: Webhook, event: Any) -> None:
        body = orjson.dumps({"event": event.kind, **self._to_json(event)})
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.attempts + 1):
            timestamp = str(int(time.time()))
            try:
                # checked again at every attempt: the name may point elsewhere by now
                checked = self.check(target.url) if self.check is not None else None
                url, host, extensions = pinned_request(target.url, checked)
                resp = client.post(
                    url,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        TIMESTAMP_HEADER: timestamp,
                        SIGNATURE_HEADER: sign(target.secret, timestamp, body),
                        **host,
                    },
                    extensions=extensions,
                )
                status, error = resp.status_code, None
                if 200 <= resp.status_code < 300:
                    self._finish(target, event, attempt, "delivered", status, None)
                    return
                error = f"HTTP {resp.status_code}"
            except TargetUnresolved as exc:
                status, error = None, f"unresolved: {exc}"[:500]
            except TargetRefused as exc:  # final: retrying would not make it public
                status, error = None, f"refused: {exc}"[:500]
                log.warning("webhook %s refused: %s", target.name, exc)
                self._finish(target, event, attempt, "failed", None, error)
                return
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"[:500]
            if attempt < self.attempts and not self._stop.wait(self.backoff_s * 2 ** (attempt - 1)):
                continue
            break
        log.warning("webhook %s failed for alert %s: %s", target.name, event.alert.alert_id, error)
        self._finish(target, event, self.attempts, "failed", status, error)

    def _finish(
        self,
        target: Webhook,
        event: Any,
        attempts: int,
        status: str,
        http_status: int | None,
        error: str | None,
    ) -> None:
        try:
            self._record(
                webhook_id=target.webhook_id,
                alert_id=event.alert.alert_id,
                event=event.kind,
                attempts=attempts,
                status=status,
                http_status=http_status,
                error=error,
                now=datetime.now(UTC),
            )
        except Exception:
            log.exception("could not record a webhook delivery")


def topic_segment(name: str) -> str:
    """A zone or province name as one MQTT topic level ("Bruxelles-Capitale/Ixelles" ->
    "bruxelles-capitale-ixelles"): no '/', '+' or '#' can reach the topic."""
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "unknown"


class MqttPublisher:
    """Publishes alert events to an MQTT broker (QoS 1) under `<prefix>/<province>/<zone>`.

    A subscriber's scope is one topic filter: `<prefix>/<province>/<zone>` for a zone,
    `<prefix>/<province>/#` for a province, `<prefix>/#` for the country. An event's
    read always lies in its alert's zone, so a filter never receives a read outside it.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        prefix: str,
        to_json: Callable[[Any], dict[str, Any]],
        client_id: str = "veille",
    ):
        import paho.mqtt.client as mqtt

        self.prefix = prefix.rstrip("/")
        self._to_json = to_json
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]  # paho 2 re-export
            client_id=client_id,
            clean_session=True,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._connected = threading.Event()
        self._client.on_connect = lambda *args: self._connected.set()
        self._client.on_disconnect = lambda *args: self._connected.clear()
        self._host, self._port = host, port

    def start(self, wait_s: float = 5.0) -> None:
        """Connect in the background; wait a little so the first alerts are not queued."""
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(wait_s):
            log.warning(
                "MQTT broker %s:%s not reachable yet; alerts queue until it is",
                self._host,
                self._port,
            )

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def topic(self, alert: Any) -> str:
        return f"{self.prefix}/{topic_segment(alert.province)}/{topic_segment(alert.zone)}"

    def messages(self, events: list[Any]) -> list[tuple[str, bytes]]:
        """(topic, payload) of each event that may go to the broker."""
        return [
            (self.topic(event.alert), orjson.dumps({"event": event.kind, **self._to_json(event)}))
            for event in events
            if not event.alert.covert  # covert hits never leave the system by a shared broker
        ]

    def publish(self, events: list[Any]) -> None:
        for topic, payload in self.messages(events):
            self._client.publish(topic, payload, qos=1)
