"""Smart plugs over MQTT (docs/protocols.md#smart-plugs), with aiomqtt: what every firmware shares. The
firmwares: ``plug_tasmota`` (Tasmota) and ``plug_shelly`` (Shelly Gen2+ components, Gen1).

A plug pushes readings on its own (Tasmota ``tele/<t>/SENSOR``, Shelly ``NotifyStatus``)
every few seconds; during a measurement we also poll it (``Status 10``,
``Switch.GetStatus``) at the measurement interval. Every reading received during a
measurement is a sample, stamped on arrival. A plug that goes offline, or a broker
that drops us, leaves one error-sentinel sample (a gap); we reconnect to the broker on our
own. A plug that stays offline, or sends nothing for a poll interval plus the reply
timeout, fails ``poll()``: the session then reconnects and ``resume()`` waits for a reading.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import math
import time
import uuid
from typing import Any

import aiomqtt

from analyzer_drivers.base import AnalyzerError, RangelessAnalyzer, SampleBuffer
from analyzer_drivers.formats.meter_records import StatedAccuracy
from analyzer_drivers.formats.sample import ERROR_READING, Sample
from analyzer_drivers.meters.specs import PLUGS

PLUG_AVERAGING_MS = 1000  # both firmwares report about a 1 s average
CANCEL_RETRY_S = 0.5


def parse_broker(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``, port 1883) → (host, port); ValueError with the reason."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = text.strip(), "1883"
    if not host or " " in host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"broker {text!r} is not HOST:PORT")
    return host, int(port_text)


def number(table: dict[str, Any], key: str) -> float:
    """``table[key]`` as a float; NaN when it is missing or not a number."""
    return as_float(table.get(key))


def as_float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


class MqttPlug(RangelessAnalyzer, abc.ABC):
    """What Tasmota and Shelly plugs share: the broker connection, gaps, samples, polling."""

    kind = "plug"

    def __init__(
        self,
        broker: str,
        topic: str,
        *,
        connect_timeout_s: float = 5.0,
        reply_timeout_s: float = 3.0,
        reconnect_delay_s: float = 0.5,
        keepalive_s: int = 10,
    ) -> None:
        try:
            self.host, self.port = parse_broker(broker)
        except ValueError as exc:
            raise AnalyzerError(str(exc)) from exc
        if not topic or any(c in topic for c in "#+\0"):
            raise AnalyzerError(f"MQTT topic {topic!r} must be non-empty, without # + or NUL")
        self.topic = topic
        self.name = f"{self.kind}-{topic.replace('/', '-')}"
        self.connect_timeout_s = connect_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.reconnect_delay_s = reconnect_delay_s
        self.keepalive_s = keepalive_s
        self.client_id = f"power-director-{uuid.uuid4().hex[:10]}"
        self.online: bool | None = None  # what the plug's last will topic last said
        self._client: aiomqtt.Client | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._first_connect: asyncio.Future[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._buffer = SampleBuffer()
        self._measuring = False
        self._in_gap = False
        self._poller: asyncio.Task[None] | None = None
        self._interval_s = 1.0
        self._last_reading_s = 0.0  # monotonic: when the last reading of a measurement arrived
        self._reading_arrived = asyncio.Event()
        self._valid_watts: list[float] = []
        self.gaps: list[tuple[int, str]] = []  # (t_ns, why) of every gap in this connection

    @property
    def where(self) -> str:
        return f"{self.kind} plug {self.topic!r} via MQTT broker {self.host}:{self.port}"

    # --- what each firmware says differently ---------------------------------------------------
    @abc.abstractmethod
    def subscriptions(self) -> list[str]:
        """The status topic first: its retained state must come before any reading."""

    @abc.abstractmethod
    def handle(self, topic: str, payload: bytes, t_ns: int) -> None:
        """Act on one message: readings → samples, status → online/offline, replies → waiters."""

    @abc.abstractmethod
    async def request_reading(self) -> None: ...

    # --- connection ---------------------------------------------------------------------------
    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._first_connect = loop.create_future()
        self._loop_task = loop.create_task(self._client_loop())
        try:
            await asyncio.wait_for(asyncio.shield(self._first_connect), self.connect_timeout_s)
        except asyncio.TimeoutError as exc:
            await self.close()
            raise AnalyzerError(
                f"cannot connect to MQTT broker {self.host}:{self.port} "
                f"within {self.connect_timeout_s:g} s"
            ) from exc
        except AnalyzerError:
            await self.close()
            raise

    async def _client_loop(self) -> None:
        assert self._first_connect is not None
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=self.client_id,
                    keepalive=self.keepalive_s, timeout=self.connect_timeout_s,
                ) as client:
                    for topic in self.subscriptions():
                        await client.subscribe(topic)
                    self._client = client
                    if not self._first_connect.done():
                        self._first_connect.set_result(None)
                    async for message in client.messages:
                        self.handle(str(message.topic), payload_bytes(message.payload), time.time_ns())
            except aiomqtt.MqttError as exc:
                self._client = None
                if not self._first_connect.done():
                    self._first_connect.set_exception(AnalyzerError(
                        f"cannot connect to MQTT broker {self.host}:{self.port}: {_one_line(exc)}"
                    ))
                    return
                self.gap(f"lost the MQTT broker: {_one_line(exc)}")
            await asyncio.sleep(self.reconnect_delay_s)

    async def reconnect(self) -> None:
        """Only a lost broker needs a new connection: when the plug itself went away, the one
        we have is what will hear it come back (a new one could miss its first readings)."""
        task = self._loop_task
        if self._client is None or task is None or task.done():
            await super().reconnect()

    async def close(self) -> None:
        await self._stop_poller()
        task, self._loop_task = self._loop_task, None
        await cancel_and_wait(task)
        self._client = None

    async def publish(self, topic: str, payload: str) -> None:
        client = self._client
        if client is None:
            raise AnalyzerError(f"not connected to the MQTT broker for the {self.where}")
        try:
            await client.publish(topic, payload)
        except aiomqtt.MqttError as exc:
            raise AnalyzerError(f"cannot publish to {topic} ({self.where}): {_one_line(exc)}") from exc

    async def request(self, key: str, topic: str, payload: str, what: str) -> dict[str, Any]:
        """Publish a command and wait for the reply ``handle`` files under ``key``."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            await self.publish(topic, payload)
            return await asyncio.wait_for(future, self.reply_timeout_s)
        except asyncio.TimeoutError as exc:
            raise AnalyzerError(
                f"the {self.where} did not answer {what} within {self.reply_timeout_s:g} s{self._state()}"
            ) from exc
        finally:
            self._pending.pop(key, None)

    def answer(self, key: str, reply: dict[str, Any]) -> None:
        future = self._pending.get(key)
        if future is not None and not future.done():
            future.set_result(reply)

    # --- samples and gaps ------------------------------------------------------------------
    def reading(self, t_ns: int, watts: float, volts: float, amps: float, pf: float) -> None:
        if not self._measuring or self.online is False:
            return
        self._in_gap = False
        self._last_reading_s = time.monotonic()
        self._reading_arrived.set()
        self._buffer.append(Sample(t_ns, watts, volts, amps, pf))
        if math.isfinite(watts) and watts > 0:
            self._valid_watts.append(watts)

    def gap(self, why: str) -> None:
        """Mark a gap once: one error-sentinel sample, until a reading arrives again."""
        t_ns = time.time_ns()
        self.gaps.append((t_ns, why))
        if self._measuring and not self._in_gap:
            self._buffer.append(Sample(t_ns, ERROR_READING))
        self._in_gap = True

    def set_online(self, online: bool) -> None:
        if not online and self.online is not False:
            self.gap("the plug went offline (last will)")
        self.online = online

    def bad_message(self, topic: str, payload: bytes, why: str = "") -> None:
        """A reading we cannot parse is an error reading, as PTDaemon would record it."""
        reason = f" ({why})" if why else ""
        self.gaps.append((time.time_ns(), f"unreadable message on {topic}{reason}: {payload[:80]!r}"))
        if self._measuring:
            self._buffer.append(Sample(time.time_ns(), ERROR_READING))

    # --- the Analyzer interface ------------------------------------------------------------
    async def start(self, mark: str, interval_ms: int) -> None:
        if self._poller is not None:
            raise AnalyzerError(f"the {self.where}: a measurement is already running")
        self._buffer.clear()
        self._valid_watts = []
        self._in_gap = False
        self._begin(interval_ms)

    def _begin(self, interval_ms: int) -> None:
        self._measuring = True
        self._interval_s = interval_ms / 1000
        self._last_reading_s = time.monotonic()
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_loop(self._interval_s))

    async def resume(self, mark: str, interval_ms: int) -> bool:
        """Measure on once the plug answers again; what it read while we were away is lost."""
        self._reading_arrived.clear()
        self._begin(interval_ms)
        wait_s = self._interval_s + self.reply_timeout_s
        try:
            await asyncio.wait_for(self._reading_arrived.wait(), wait_s)
        except asyncio.TimeoutError:
            raise AnalyzerError(f"the {self.where} sent no reading within {wait_s:g} s "
                                f"of reconnecting{self._state()}") from None
        return True

    async def _poll_loop(self, interval_s: float) -> None:
        next_s = time.monotonic()
        while True:
            if self._client is not None and self.online is not False:
                with contextlib.suppress(AnalyzerError):  # a lost broker shows up as a gap
                    await self.request_reading()
            next_s += interval_s
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))

    async def poll(self) -> list[Sample]:
        samples = self._buffer.drain()
        if not samples and self._measuring:
            self._check_alive()
        return samples

    def _check_alive(self) -> None:
        """Fail when the plug is offline or has sent nothing for a poll interval plus the reply timeout."""
        if self.online is False:
            raise AnalyzerError(f"the {self.where} is offline (its last will says so)")
        silent_s = time.monotonic() - self._last_reading_s
        if silent_s > self._interval_s + self.reply_timeout_s:
            self.gap(f"no reading for {silent_s:.1f} s")
            raise AnalyzerError(f"the {self.where} sent no reading for {silent_s:.1f} s")

    def _state(self) -> str:
        return {None: "", True: " (it says it is online)", False: " (it is offline)"}[self.online]

    async def stop(self) -> None:
        await self._stop_poller()
        self._measuring = False

    async def _stop_poller(self) -> None:
        poller, self._poller = self._poller, None
        await cancel_and_wait(poller)

    def comparison_accuracy(self) -> StatedAccuracy | None:
        spec = PLUGS[self.kind]
        return StatedAccuracy.new(reading=spec.reading_accuracy, resolution_watts=spec.resolution_watts)

    async def uncertainty(self) -> float | None:
        spec = PLUGS[self.kind]
        if not self._valid_watts:
            return None
        return sum(spec.sample_uncertainty(w) for w in self._valid_watts) / len(self._valid_watts)


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel a task and wait until it has ended, whatever it ended with.

    Python 3.11's ``wait_for`` (inside aiomqtt) can swallow a cancellation that meets a
    completion, leaving a loop running: so cancel again until the task is done.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_RETRY_S)
    if not task.cancelled():
        task.exception()  # retrieved: a task that ended in an error has nothing more to say


def payload_bytes(payload: Any) -> bytes:
    """An aiomqtt message payload as bytes."""
    if isinstance(payload, bytes):
        return payload
    return b"" if payload is None else str(payload).encode()


def json_object(payload: bytes) -> dict[str, Any] | None:
    """A JSON object payload; None for anything else."""
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())
