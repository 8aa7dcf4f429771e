"""``type = "mqtt-stream"``: a meter on another machine, read through its meter agent's broker.

The samples arrive numbered and stamped on the agent's clock. We measure that clock against
ours with NTP-style exchanges over the broker (power_director/fleet/clock.py), hand samples on in
sequence order on our clock, ask the agent to replay a hole, and after ``replay_timeout_s``
mark what is still missing as one error-sentinel sample (a gap) and count it as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo, RangelessAnalyzer
from analyzer_drivers.formats.meter_records import Latency, MeterClock, MeterEvidence
from analyzer_drivers.formats.sample import ERROR_READING, Sample
from analyzer_drivers.meters.accuracy import MeterSetup
from analyzer_drivers.meters.plug import parse_broker
from power_director.fleet.agent_clock import CLOCK_PERIOD_S, AgentClock
from power_director.fleet.broker_link import BrokerLink
from power_director.fleet.clock import ClockModel
from power_director.fleet.sign import ForgedMessage, verify
from power_director.fleet.wire import (
    BrokerAuth,
    Row,
    agent_topic,
    decode_batch,
    sample_at,
)

RECENT_SAMPLES = 64


class MqttStreamAnalyzer(RangelessAnalyzer):
    journaled_at_source = True  # the agent's journal (power_director/fleet/journal.py)

    def __init__(
        self, broker: str, topic: str, *, auth: BrokerAuth | None = None,
        connect_timeout_s: float = 10.0, reply_timeout_s: float = 5.0, clock_period_s: float = CLOCK_PERIOD_S,
        keys: Mapping[str, bytes] | None = None,
    ) -> None:
        """``keys``: key id → key; with keys, only messages signed with one of them count."""
        try:
            self.host, self.port = parse_broker(broker)
        except ValueError as exc:
            raise AnalyzerError(str(exc)) from exc
        self.agent, _, self.meter = topic.partition("/")
        self.name = f"stream-{self.agent}-{self.meter}"
        self.auth = auth or BrokerAuth()
        self.connect_timeout_s = connect_timeout_s
        self.replay_timeout_s = reply_timeout_s
        self.keys = dict(keys or {})
        self.tap: Callable[[list[Row]], None] | None = None  # sees every authentic batch
        self._epoch: int | None = None
        self._link: BrokerLink | None = None
        self._info: dict[str, Any] | None = None
        self._setup: MeterSetup | None = None  # the meter's accuracy, from its info
        self._info_event = asyncio.Event()
        self.clock_period_s = clock_period_s
        self._clock = AgentClock(self.agent, "", clock_period_s)  # the link's, once connected
        self._next_seq: int | None = None
        self._pending: dict[int, Row] = {}
        self._hole_since_s: float | None = None
        self._hole_asked_s = 0.0
        self._window: tuple[int, int | None] | None = None  # (start_ns, stop_ns) on our clock
        self._kept_ns = (1, 0)  # samples stamped in this span (our clock) are handed on: none yet
        self._out: list[Sample] = []
        self._recent: deque[Sample] = deque(maxlen=RECENT_SAMPLES)  # for the next phase's first edge
        self._requests: set[asyncio.Task[None]] = set()
        self.agent_restarts = 0
        self._last_message_s = time.monotonic()
        self._interval_s = 1.0
        self._reset_phase_stats()

    def _reset_phase_stats(self) -> None:
        self.received = self.duplicates = self.replayed = self.lost = self.forged = 0
        self.forged_why: dict[str, int] = {}
        self.outages: list[dict[str, Any]] = []
        self.latencies_ns: deque[int] = deque(maxlen=100_000)
        self._uncertainty_sum, self._uncertainty_n = 0.0, 0

    @property
    def where(self) -> str:
        return f"meter {self.meter!r} of agent {self.agent!r} via MQTT broker {self.host}:{self.port}"

    # --- connection (one per broker, shared: power_director/fleet/broker_link.py) ---------
    async def connect(self) -> None:
        try:
            self.auth.client_options()
        except (OSError, ValueError) as exc:  # ssl raises OSError subclasses for a bad CA file
            raise AnalyzerError(f"cannot read the broker credentials for the {self.where}: {exc}") from exc
        link = self._link = BrokerLink.shared(self.host, self.port, self.auth, self.connect_timeout_s)
        self._clock = await link.attach(self)
        deadline = time.monotonic() + self.connect_timeout_s
        while not link.connected.is_set() and link.refused is None and time.monotonic() < deadline:
            link.tried.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(link.tried.wait(), max(0.0, deadline - time.monotonic()))
        if not link.connected.is_set():
            refused = link.refused
            await self.close()
            raise AnalyzerError(self._refused_message(refused) if refused else
                                f"cannot connect to MQTT broker {self.host}:{self.port} within "
                                f"{self.connect_timeout_s:g} s (for the {self.where})")

    def _refused_message(self, refused: str) -> str:
        who = f"user {self.auth.username!r}" if self.auth.username else "an anonymous client"
        return (f"MQTT broker {self.host}:{self.port} refused {who}: {refused} "
                f"(for the {self.where}; check the user name, password file and the broker's ACL)")

    @property
    def clock(self) -> ClockModel | None:
        return self._clock.model

    async def reconnect(self) -> None:
        """The link reconnects on its own; a dead one is restarted."""
        if self._link is None or not self._link.running:
            await super().reconnect()

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.detach(self)

    def clock_fitted(self) -> None:
        self._flush()

    # --- samples ----------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> None:
        """A message on one of this meter's own topics (its info, or its samples alone)."""
        if self.keys:
            try:
                payload = verify(self.keys, topic, payload)
            except ForgedMessage as exc:
                self.forged_message(str(exc))
                return
        if topic.endswith("/info"):
            with contextlib.suppress(ValueError):
                info = json.loads(payload)
                if isinstance(info, dict):
                    self._info = info
                    extra = info.get("extra")
                    self._setup = MeterSetup.recorded(str(info.get("model", "")),
                                                      extra if isinstance(extra, dict) else None)
                    self._info_event.set()
        else:
            try:
                rows, epoch = decode_batch(payload)
            except ValueError:
                return  # garbage on the topic; the sequence numbers show what is missing
            self.take_batch(rows, epoch)

    def forged_message(self, why: str) -> None:
        """Refused: unsigned, or not signed by this agent's key."""
        self.forged += 1
        self.forged_why[why] = self.forged_why.get(why, 0) + 1

    def take_batch(self, rows: list[Row], epoch: int | None, arrived_ns: int | None = None,
                   arrived_s: float | None = None) -> None:
        """This meter's authentic samples of one message, which arrived then (default: now; ns on
        the wall clock, s on the monotonic one)."""
        if self.tap is not None:
            self.tap(rows)
        if self._new_epoch(epoch, rows):
            self._last_message_s = time.monotonic() if arrived_s is None else arrived_s
            self._take(rows, time.time_ns() if arrived_ns is None else arrived_ns, epoch is None)

    def take_held(self) -> None:
        """The samples the link holds for this meter's agent (power_director/fleet/broker_link.py)."""
        if self._link is not None:
            self._link.take_held(self.agent)

    def _new_epoch(self, epoch: int | None, rows: list[Row]) -> bool:
        """False for a message of an older journal than the agent's (a replay): refused."""
        if epoch is None or self._epoch is None or epoch == self._epoch:
            self._epoch = epoch if epoch is not None else self._epoch
            return True
        if epoch < self._epoch:
            self.forged_message("older epoch")
            return False
        self._epoch = epoch  # the agent's journal began again: so does its numbering
        if self._next_seq is not None and rows:
            self.agent_restarts += 1
            self._flush(give_up=True)  # the old journal's holes will never be filled
            self._pending, self._hole_since_s = {}, None  # without a clock: nothing to date them by
            self._next_seq = rows[0][0]
        return True

    def _take(self, rows: list[Row], arrived_ns: int, legacy: bool = False) -> None:
        clock = self._clock.model
        for row in rows:
            seq = row[0]
            if seq == self._next_seq and clock is not None and not self._pending:  # in order: most
                t_ns = clock.to_director_ns(row[1])
                self.received += 1
                self.latencies_ns.append(arrived_ns - t_ns)
                self._emit(row, t_ns)
                self._next_seq = seq + 1
                continue
            if self._next_seq is None:
                self._next_seq = seq
            if legacy and seq == 1 and self._next_seq > 1 and not self._pending:
                # The agent started over with an empty journal: its numbering restarts.
                self.agent_restarts += 1
                self._next_seq = 1
            if seq < self._next_seq or seq in self._pending:
                self.duplicates += 1
                continue
            self.received += 1
            if self._hole_since_s is not None and seq < max(self._pending, default=seq):
                self.replayed += 1
            elif seq == self._next_seq and clock is not None:
                self.latencies_ns.append(arrived_ns - clock.to_director_ns(row[1]))
            self._pending[seq] = row
        if self._pending:
            self._flush()

    def _flush(self, give_up: bool = False) -> None:
        """Hand on the held samples in order; ``give_up``: at once past every hole."""
        clock = self.clock
        if clock is None or self._next_seq is None:
            return
        while self._pending:
            row = self._pending.pop(self._next_seq, None)
            if row is not None:
                self._emit(row, clock.to_director_ns(row[1]))
                self._next_seq += 1
                self._hole_since_s = None
                continue
            self._hole(min(self._pending), give_up)
            return

    def _hole(self, first_held: int, give_up: bool) -> None:
        """Samples next_seq..first_held-1 are missing: ask for them; give up after the timeout."""
        assert self._next_seq is not None and self.clock is not None
        now_s = time.monotonic()
        if self._hole_since_s is None:
            self._hole_since_s = now_s
        if give_up or now_s - self._hole_since_s > self.replay_timeout_s:
            self.lost += first_held - self._next_seq
            t_ns = self._pending[first_held][1] - 1  # just before the sample after the hole
            self._emit((first_held - 1, t_ns, ERROR_READING, math.nan, math.nan, math.nan),
                       self.clock.to_director_ns(t_ns))
            self._next_seq, self._hole_since_s = first_held, None
            self._flush(give_up)
        elif now_s - self._hole_asked_s > self.replay_timeout_s / 4:
            self._hole_asked_s = now_s
            request = {"meter": self.meter, "from": self._next_seq, "to": first_held - 1}
            ask = self.ask(agent_topic(self.agent, "replay"), request)
            task = asyncio.get_running_loop().create_task(ask)
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)

    async def ask(self, topic: str, request: dict[str, Any]) -> None:
        if self._link is not None:
            await self._link.publish(topic, json.dumps(request), qos=1)

    def _emit(self, row: Row, t_ns: int) -> None:
        """Hand on a sample (``t_ns``: its stamp on our clock) stamped from one interval before
        the phase to one after it: the summed line's first and last intervals need other
        meters' samples around the edges."""
        ours = sample_at(row, t_ns)
        self._recent.append(ours)
        first_ns, last_ns = self._kept_ns
        if first_ns <= t_ns <= last_ns:
            self._out.append(ours)

    def _set_window(self, window: tuple[int, int | None]) -> None:
        self._window = window
        edge_ns = round(self._interval_s * 1e9)
        start_ns, stop_ns = window
        self._kept_ns = (start_ns - edge_ns, 2**63 if stop_ns is None else stop_ns + edge_ns)

    def _scored(self, samples: list[Sample]) -> tuple[float, int]:
        """The sum of these samples' ± and how many have one (an invalid sample's is inf)."""
        setup = self._setup
        if setup is None:
            return 0.0, 0
        total, count = 0.0, 0
        score = setup.sample_uncertainty
        for sample in samples:
            uncertainty = score(sample, None, None)  # the agent's meter auto-ranges
            if uncertainty < math.inf:
                total += uncertainty
                count += 1
        return total, count

    # --- the Analyzer interface ---------------------------------------------------------
    async def identify(self) -> AnalyzerInfo:
        try:
            await asyncio.wait_for(self._info_event.wait(), self.connect_timeout_s)
            await asyncio.wait_for(self._clock.fitted.wait(), self.connect_timeout_s)
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
        self._interval_s = max(interval_ms / 1000, float((self._info or {}).get("interval_ms", 0)) / 1000)
        self._set_window((time.time_ns(), None))
        first_ns, last_ns = self._kept_ns
        self._out = [s for s in self._recent if first_ns <= s.t_ns <= last_ns]
        self._last_message_s = time.monotonic()

    async def resume(self, mark: str, interval_ms: int) -> bool:
        """The agent kept measuring and journaling: nothing to restart, nothing lost."""
        try:
            await asyncio.wait_for(self._link.connected.wait() if self._link else asyncio.sleep(1e9),
                                   self.replay_timeout_s)
        except asyncio.TimeoutError:
            raise AnalyzerError(f"the broker for the {self.where} is not back") from None
        return False

    async def poll(self) -> list[Sample]:
        self.take_held()
        if self._pending:
            self._flush()
        out, self._out = self._out, []
        if out:
            total, count = self._scored(out)  # here, a batch at a time: not as each sample arrives
            self._uncertainty_sum += total
            self._uncertainty_n += count
        if out or self._window is None or self._window[1] is not None:
            return out
        silent_s = time.monotonic() - self._last_message_s
        if silent_s > self._interval_s + self.replay_timeout_s:
            self._last_message_s = time.monotonic()
            link = self._link
            state = "connected" if link is not None and link.client is not None else \
                f"refused: {link.refused}" if link is not None and link.refused else "not connected"
            raise AnalyzerError(f"the {self.where} sent nothing for {silent_s:.1f} s (broker {state})")
        return out

    async def stop(self) -> None:
        if self._window is not None:
            self._set_window((self._window[0], time.time_ns()))

    async def uncertainty(self) -> float | None:
        """The mean ± of the phase's samples, those not yet polled too."""
        self.take_held()
        total, count = self._scored(self._out)
        count += self._uncertainty_n
        return (self._uncertainty_sum + total) / count if count else None

    def evidence(self) -> MeterEvidence:
        clock = self.clock
        latencies = sorted(self.latencies_ns)
        return MeterEvidence.new(
            agent=self.agent, meter=self.meter, received=self.received,
            duplicates=self.duplicates, replayed=self.replayed, lost=self.lost,
            forged=self.forged, forged_why=dict(self.forged_why),
            agent_restarts=self.agent_restarts,
            broker_outages=tuple(self.outages),
            clock=None if clock is None else MeterClock.new(
                offset_ns=clock.offset_ns, bound_ns=clock.bound_ns, drift_ppm=clock.drift_ppm,
                batches=len(self._clock.estimates)),
            latency_ms=None if not latencies else Latency.new(
                median=statistics.median(latencies) / 1e6, max=latencies[-1] / 1e6),
        )
