"""Live session telemetry over MQTT (aiomqtt), as a session observer.

Topic tree (JSON payloads unless noted), under ``power-director/<director-id>/``:

- ``status``  ``online`` / ``offline`` (plain text, retained; ``offline`` is also the last will)
- ``state``   ``{"session", "phase", "status", "elapsed_s", "expected_s", "expected_end", "time"}``
  (retained) at each phase start and end, and about once a second while samples arrive
- ``samples/<analyzer>``  ``{"session", "phase", "analyzer", "samples": [{"t_ns", "watts",
  "volts", "amps"}, …]}``, one message per batch the session received
- ``result``  the session's final ``report.json`` (retained)

The measurement never waits for the broker: the observer callbacks only ``put_nowait`` into a
bounded queue (a full queue drops the message and counts it), and one task publishes,
reconnecting with backoff. Its errors are logged and counted, never raised into the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiomqtt

from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_meta import SessionMeta
from analyzer_drivers.meters.plug import parse_broker
from power_director.observe.observer import expected_duration_s, phase_elapsed_s
from reports.model.report import SessionReport

log = logging.getLogger(__name__)
TOPIC_ROOT = "power-director"
STATE_EVERY_S = 1.0


def default_director_id() -> str:
    name = socket.gethostname() or "director"
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: str
    retain: bool = False


_CLOSE = _Message("", "")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class MqttTelemetry:
    """``async with MqttTelemetry(...) as telemetry: Session(..., observers=[telemetry])``."""

    def __init__(
        self,
        broker: str,
        director_id: str = "",
        *,
        queue_size: int = 1000,
        reconnect_min_s: float = 0.2,
        reconnect_max_s: float = 5.0,
        flush_timeout_s: float = 2.0,
        publish_timeout_s: float = 2.0,
    ) -> None:
        self.host, self.port = parse_broker(broker)
        self.director_id = director_id or default_director_id()
        self.root = f"{TOPIC_ROOT}/{self.director_id}"
        self.queue: asyncio.Queue[_Message] = asyncio.Queue(maxsize=queue_size)
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.flush_timeout_s = flush_timeout_s
        self.publish_timeout_s = publish_timeout_s
        self.published = 0
        self.dropped = 0
        self.connection_errors = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._session = ""
        self._phase = ""
        self._meta = SessionMeta()
        self._state_sent_s = 0.0

    # --- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> MqttTelemetry:
        self._task = asyncio.create_task(self._publish_forever(), name="mqtt-telemetry")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        try:
            await asyncio.wait_for(self.queue.join(), self.flush_timeout_s)
            self.queue.put_nowait(_CLOSE)
            await asyncio.wait_for(asyncio.shield(self._task), self.flush_timeout_s)
        except (asyncio.TimeoutError, asyncio.QueueFull):
            self.dropped += self.queue.qsize()
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def stats(self) -> dict[str, Any]:
        return {"broker": f"{self.host}:{self.port}", "topic": self.root, "published": self.published,
                "dropped": self.dropped, "connection_errors": self.connection_errors,
                "last_error": self.last_error}

    def summary(self) -> str:
        text = (f"telemetry: {self.published} messages to {self.host}:{self.port} {self.root}/, "
                f"{self.dropped} dropped")
        return text + (f", last error: {self.last_error}" if self.last_error else "")

    # --- observer ----------------------------------------------------------------------
    def on_state(self, phase: str, meta: SessionMeta) -> None:
        self._session = meta.session_name or ""
        self._meta = meta
        if phase not in ("completed", "aborted"):
            self._phase = phase
        self._send_state(phase)

    def on_samples(self, analyzer: str, samples: Sequence[Sample]) -> None:
        rows = [{"t_ns": s.t_ns, "watts": _finite(s.watts), "volts": _finite(s.volts),
                 "amps": _finite(s.amps)} for s in samples]
        self._put(f"samples/{analyzer}", {"session": self._session, "phase": self._phase,
                                          "analyzer": analyzer, "samples": rows})
        if time.monotonic() - self._state_sent_s >= STATE_EVERY_S:
            self._send_state(self._phase)

    def on_result(self, report: SessionReport) -> None:
        self._put("result", report.to_json(), retain=True)

    def _send_state(self, phase: str) -> None:
        now_s = time.time()
        running = phase if phase not in ("completed", "aborted") else self._phase
        elapsed_s = phase_elapsed_s(self._meta, running, now_s)
        expected_s = expected_duration_s(self._meta, running)
        started = now_s - elapsed_s if elapsed_s is not None else None
        self._put("state", {
            "session": self._session, "phase": phase, "status": self._meta.status,
            "elapsed_s": elapsed_s, "expected_s": expected_s,
            "expected_end": started + expected_s if started is not None and expected_s else None,
            "time": now_s,
        }, retain=True)
        self._state_sent_s = time.monotonic()

    def _put(self, suffix: str, payload: Any, retain: bool = False) -> None:
        message = _Message(f"{self.root}/{suffix}", json.dumps(payload, default=str), retain)
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1

    # --- the publishing task -----------------------------------------------------------
    async def _publish_forever(self) -> None:
        delay_s = self.reconnect_min_s
        while True:
            try:
                if await self._connected_session():
                    return
                delay_s = self.reconnect_min_s
            except Exception as exc:  # any failure here must stay out of the measurement
                self.connection_errors += 1
                reason = f"MQTT broker {self.host}:{self.port}: {exc or type(exc).__name__}"
                if reason != self.last_error:
                    log.warning("telemetry: %s; retrying in the background", reason)
                self.last_error = reason
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, self.reconnect_max_s)

    async def _connected_session(self) -> bool:
        """Publish until closed (True); an MQTT error propagates to the reconnect loop."""
        status = f"{self.root}/status"
        will = aiomqtt.Will(status, "offline", qos=1, retain=True)
        async with aiomqtt.Client(
            self.host, self.port, identifier=f"power-director-{uuid.uuid4().hex[:10]}",
            will=will, timeout=self.publish_timeout_s, keepalive=10,
        ) as client:
            await client.publish(status, "online", qos=1, retain=True)
            while True:
                message = await self.queue.get()
                try:
                    if message is _CLOSE:
                        await client.publish(status, "offline", qos=1, retain=True)
                        return True
                    await client.publish(message.topic, message.payload, qos=1, retain=message.retain)
                    self.published += 1
                except BaseException:
                    self.dropped += 1
                    raise
                finally:
                    self.queue.task_done()
