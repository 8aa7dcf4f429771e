"""``type = "mqtt-stream"``: a meter on another machine, read through its meter agent's broker.

The samples arrive numbered and stamped on the agent's clock. We measure that clock against
ours with NTP-style exchanges over the broker (power_director/fleet/clock.py), hand samples on in
sequence order on our clock, ask the agent to replay a hole, and after ``replay_timeout_s``
mark what is still missing as one error-sentinel sample (a gap) and count it as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import time
import uuid
from collections import deque
from typing import Any

import aiomqtt

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo, RangelessAnalyzer
from analyzer_drivers.formats.sample import ERROR_READING, Sample
from analyzer_drivers.meters.accuracy import MeterSetup
from analyzer_drivers.meters.plug import cancel_and_wait, parse_broker, payload_bytes
from power_director.fleet.clock import (
    ClockError,
    ClockModel,
    Exchange,
    OffsetEstimate,
    estimate_offset,
    fit_clock,
)
from power_director.fleet.wire import BrokerAuth, agent_topic, decode_samples
from power_director.fleet.wire import client as mqtt_client

CLOCK_ROUNDS = 8
CLOCK_PERIOD_S = 10.0
CLOCK_REPLY_TIMEOUT_S = 1.0
KEPT_ESTIMATES = 12
RECONNECT_DELAY_S = 0.5


class MqttStreamAnalyzer(RangelessAnalyzer):
    def __init__(
        self, broker: str, topic: str, *, auth: BrokerAuth | None = None,
        connect_timeout_s: float = 10.0, reply_timeout_s: float = 5.0, clock_period_s: float = CLOCK_PERIOD_S,
    ) -> None:
        try:
            self.host, self.port = parse_broker(broker)
        except ValueError as exc:
            raise AnalyzerError(str(exc)) from exc
        self.agent, _, self.meter = topic.partition("/")
        self.name = f"stream-{self.agent}-{self.meter}"
        self.auth = auth or BrokerAuth()
        self.connect_timeout_s = connect_timeout_s
        self.replay_timeout_s = reply_timeout_s
        self.clock_period_s = clock_period_s
        self.client_id = f"pd-director-{uuid.uuid4().hex[:10]}"
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._info: dict[str, Any] | None = None
        self._info_event = asyncio.Event()
        self._clock_ids = itertools.count(1)
        self._clock_waiting: dict[int, tuple[int, asyncio.Future[tuple[int, int, int]]]] = {}
        self._estimates: deque[OffsetEstimate] = deque(maxlen=KEPT_ESTIMATES)
        self.clock: ClockModel | None = None
        self._clock_event = asyncio.Event()
        self._next_seq: int | None = None
        self._pending: dict[int, Sample] = {}
        self._hole_since_s: float | None = None
        self._hole_asked_s = 0.0
        self._window: tuple[int, int | None] | None = None  # (start_ns, stop_ns) on our clock
        self._out: list[Sample] = []
        self._requests: set[asyncio.Task[None]] = set()
        self.agent_restarts = 0
        self._last_message_s = time.monotonic()
        self._interval_s = 1.0
        self._reset_phase_stats()

    def _reset_phase_stats(self) -> None:
        self.received = self.duplicates = self.replayed = self.lost = 0
        self.outages: list[dict[str, Any]] = []
        self.latencies_ns: deque[int] = deque(maxlen=100_000)
        self._uncertainty_sum, self._uncertainty_n = 0.0, 0

    @property
    def where(self) -> str:
        return f"meter {self.meter!r} of agent {self.agent!r} via MQTT broker {self.host}:{self.port}"

    # --- connection -------------------------------------------------------------------
    async def connect(self) -> None:
        try:
            self.auth.client_options()
        except (OSError, ValueError) as exc:  # ssl raises OSError subclasses for a bad CA file
            raise AnalyzerError(f"cannot read the broker credentials for the {self.where}: {exc}") from exc
        self._task = asyncio.get_running_loop().create_task(self._client_loop())
        try:
            await asyncio.wait_for(self._connected.wait(), self.connect_timeout_s)
        except asyncio.TimeoutError:
            await self.close()
            raise AnalyzerError(f"cannot connect to MQTT broker {self.host}:{self.port} within "
                                f"{self.connect_timeout_s:g} s (for the {self.where})") from None

    async def _client_loop(self) -> None:
        lost_ns: int | None = None
        while True:
            try:
                async with mqtt_client(self.host, self.port, self.client_id, self.auth,
                                       keepalive=5, timeout=self.connect_timeout_s) as client:
                    await self._subscribe(client)
                    self._client = client
                    self._connected.set()
                    if lost_ns is not None:
                        self.outages.append({"lost_t_ns": lost_ns, "back_t_ns": time.time_ns()})
                        lost_ns = None
                    clock = asyncio.create_task(self._clock_loop(client))
                    try:
                        async for message in client.messages:
                            self._handle(str(message.topic), payload_bytes(message.payload))
                    finally:
                        await cancel_and_wait(clock)
            except aiomqtt.MqttError:
                if self._client is not None and lost_ns is None:
                    lost_ns = time.time_ns()
            except OSError:
                pass  # an unreadable password file: connect() times out and says where
            self._client = None
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        await client.subscribe(agent_topic(self.agent, self.meter, "samples"), qos=1)
        await client.subscribe(agent_topic(self.agent, self.meter, "info"), qos=1)
        await client.subscribe(self._clock_reply_topic)

    @property
    def _clock_reply_topic(self) -> str:
        return agent_topic(self.agent, "clock", self.client_id)

    async def reconnect(self) -> None:
        """The client loop reconnects on its own; a dead loop is restarted."""
        if self._task is None or self._task.done():
            await super().reconnect()

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._client = None
        self._connected.clear()

    # --- clock ------------------------------------------------------------------------
    async def _clock_loop(self, client: aiomqtt.Client) -> None:
        while True:
            exchanges = [e for e in [await self._exchange(client) for _ in range(CLOCK_ROUNDS)] if e]
            with contextlib.suppress(ClockError):
                self._estimates.append(estimate_offset(exchanges))
                self.clock = fit_clock(list(self._estimates))
                self._clock_event.set()
                self._flush()
            await asyncio.sleep(self.clock_period_s if self.clock else 0.2)

    async def _exchange(self, client: aiomqtt.Client) -> Exchange | None:
        exchange_id = next(self._clock_ids)
        future: asyncio.Future[tuple[int, int, int]] = asyncio.get_running_loop().create_future()
        t1_ns = time.time_ns()
        self._clock_waiting[exchange_id] = (t1_ns, future)
        try:
            await client.publish(agent_topic(self.agent, "clock"),
                                 json.dumps({"id": exchange_id, "reply": self._clock_reply_topic}))
            t2_ns, t3_ns, t4_ns = await asyncio.wait_for(future, CLOCK_REPLY_TIMEOUT_S)
            return Exchange(t1_ns, t2_ns, t3_ns, t4_ns)
        except asyncio.TimeoutError:
            return None
        finally:
            self._clock_waiting.pop(exchange_id, None)

    def _clock_reply(self, payload: bytes) -> None:
        t4_ns = time.time_ns()
        with contextlib.suppress(ValueError, TypeError, KeyError):
            reply = json.loads(payload)
            waiting = self._clock_waiting.get(reply["id"])
            if waiting is not None and not waiting[1].done():
                waiting[1].set_result((int(reply["t2"]), int(reply["t3"]), t4_ns))

    # --- samples ----------------------------------------------------------------------
    def _handle(self, topic: str, payload: bytes) -> None:
        if topic == self._clock_reply_topic:
            self._clock_reply(payload)
        elif topic.endswith("/info"):
            with contextlib.suppress(ValueError):
                info = json.loads(payload)
                if isinstance(info, dict):
                    self._info = info
                    self._info_event.set()
        else:
            try:
                rows = decode_samples(payload)
            except ValueError:
                return  # garbage on the topic; the sequence numbers show what is missing
            self._last_message_s = time.monotonic()
            self._take(rows)

    def _take(self, rows: list[tuple[int, Sample]]) -> None:
        arrived_ns = time.time_ns()
        for seq, sample in rows:
            if self._next_seq is None:
                self._next_seq = seq
            if seq == 1 and self._next_seq > 1 and not self._pending:
                # The agent started over with an empty journal: its numbering restarts.
                self.agent_restarts += 1
                self._next_seq = 1
            if seq < self._next_seq or seq in self._pending:
                self.duplicates += 1
                continue
            self.received += 1
            if self._hole_since_s is not None and seq < max(self._pending, default=seq):
                self.replayed += 1
            elif seq == self._next_seq and self.clock is not None:
                self.latencies_ns.append(arrived_ns - self.clock.to_director_ns(sample.t_ns))
            self._pending[seq] = sample
        self._flush()

    def _flush(self) -> None:
        if self.clock is None or self._next_seq is None:
            return
        while self._pending:
            sample = self._pending.pop(self._next_seq, None)
            if sample is not None:
                self._emit(sample)
                self._next_seq += 1
                self._hole_since_s = None
                continue
            self._hole(min(self._pending))
            return

    def _hole(self, first_held: int) -> None:
        """Samples next_seq..first_held-1 are missing: ask for them; give up after the timeout."""
        assert self._next_seq is not None and self.clock is not None
        now_s = time.monotonic()
        if self._hole_since_s is None:
            self._hole_since_s = now_s
        if now_s - self._hole_since_s > self.replay_timeout_s:
            self.lost += first_held - self._next_seq
            after = self._pending[first_held]
            self._emit(Sample(after.t_ns - 1, ERROR_READING))
            self._next_seq, self._hole_since_s = first_held, None
            self._flush()
        elif now_s - self._hole_asked_s > self.replay_timeout_s / 4:
            self._hole_asked_s = now_s
            request = {"meter": self.meter, "from": self._next_seq, "to": first_held - 1}
            ask = self._ask(agent_topic(self.agent, "replay"), request)
            task = asyncio.get_running_loop().create_task(ask)
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)

    async def _ask(self, topic: str, request: dict[str, Any]) -> None:
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(topic, json.dumps(request), qos=1)

    def _emit(self, sample: Sample) -> None:
        assert self.clock is not None
        t_ns = self.clock.to_director_ns(sample.t_ns)
        if self._window is None or t_ns < self._window[0]:
            return
        if self._window[1] is not None and t_ns > self._window[1]:
            return
        self._out.append(Sample(t_ns, sample.watts, sample.volts, sample.amps, sample.pf))
        self._note_uncertainty(sample)

    def _note_uncertainty(self, sample: Sample) -> None:
        info = self._info or {}
        extra = info.get("extra")
        setup = MeterSetup.recorded(str(info.get("model", "")), extra if isinstance(extra, dict) else None)
        if setup is not None and sample.is_valid:  # the agent's meter auto-ranges
            uncertainty = setup.sample_uncertainty(sample, None, None)
            if uncertainty < float("inf"):
                self._uncertainty_sum += uncertainty
                self._uncertainty_n += 1

    # --- the Analyzer interface ---------------------------------------------------------
    async def identify(self) -> AnalyzerInfo:
        try:
            await asyncio.wait_for(self._info_event.wait(), self.connect_timeout_s)
            await asyncio.wait_for(self._clock_event.wait(), self.connect_timeout_s)
        except asyncio.TimeoutError:
            what = "answered no clock exchange" if self._info else "has published no info"
            raise AnalyzerError(f"the {self.where} {what} within {self.connect_timeout_s:g} s "
                                f"(is the agent running?)") from None
        info = self._info or {}
        return AnalyzerInfo(
            name=f"{info.get('name', self.meter)} via agent {self.agent}", model=str(info.get("model", "")),
            averaging_ms=int(info.get("averaging_ms", 1000)), version=str(info.get("version", "")),
            raw=json.dumps(info), extra={"agent": self.agent, "meter": self.meter},
        )

    async def start(self, mark: str, interval_ms: int) -> None:
        self._reset_phase_stats()
        self._out = []
        self._interval_s = max(interval_ms / 1000, float((self._info or {}).get("interval_ms", 0)) / 1000)
        self._window = (time.time_ns(), None)
        self._last_message_s = time.monotonic()

    async def resume(self, mark: str, interval_ms: int) -> bool:
        """The agent kept measuring and journaling: nothing to restart, nothing lost."""
        try:
            await asyncio.wait_for(self._connected.wait(), self.replay_timeout_s)
        except asyncio.TimeoutError:
            raise AnalyzerError(f"the broker for the {self.where} is not back") from None
        return False

    async def poll(self) -> list[Sample]:
        self._flush()
        out, self._out = self._out, []
        silent_s = time.monotonic() - self._last_message_s
        if not out and self._window is not None and self._window[1] is None \
                and silent_s > self._interval_s + self.replay_timeout_s:
            self._last_message_s = time.monotonic()
            state = "connected" if self._client is not None else "not connected"
            raise AnalyzerError(f"the {self.where} sent nothing for {silent_s:.1f} s (broker {state})")
        return out

    async def stop(self) -> None:
        if self._window is not None:
            self._window = (self._window[0], time.time_ns())

    async def uncertainty(self) -> float | None:
        return self._uncertainty_sum / self._uncertainty_n if self._uncertainty_n else None

    def evidence(self) -> dict[str, Any]:
        clock = self.clock
        latencies = sorted(self.latencies_ns)
        return {
            "agent": self.agent, "meter": self.meter, "received": self.received,
            "duplicates": self.duplicates, "replayed": self.replayed, "lost": self.lost,
            "agent_restarts": self.agent_restarts,
            "broker_outages": list(self.outages),
            "clock": None if clock is None else {
                "offset_ns": clock.offset_ns, "bound_ns": clock.bound_ns, "drift_ppm": clock.drift_ppm,
                "batches": len(self._estimates)},
            "latency_ms": None if not latencies else {
                "median": statistics.median(latencies) / 1e6, "max": latencies[-1] / 1e6},
        }
