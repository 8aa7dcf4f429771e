"""``power-director meter-agent``: read the meters of this machine, publish their samples.

Each meter's samples get a sequence number and go to the local journal first, then to the
broker with QoS 1; what the broker has not acknowledged (it died, the link broke) is sent
again when it is back, and a director that still misses samples asks for them (``replay``).
Timestamps are on this machine's clock; directors measure its offset with NTP-style
exchanges over the broker (fleet_wire).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiomqtt

from analyzer_drivers.base import Analyzer, AnalyzerError
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.meters.plug import cancel_and_wait, parse_broker, payload_bytes
from analyzer_drivers.sim.model_meter import ModelMeter
from analyzer_drivers.sim.models import CpuUtilisationModel
from analyzer_drivers.sim.ptd_server import PtdSimulator
from power_director.config.agent import AgentConfig, MeterEntry
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import ConfigError
from power_director.config.meters.ptd import PtdConfig
from power_director.fleet.journal import FSYNC_PERIOD_S, MeterJournal, sync_journals
from power_director.fleet.sign import load_key, sign
from power_director.fleet.wire import (
    MAX_BATCH,
    BrokerRefused,
    agent_topic,
    encode_agent_batch,
    one_line,
    refusal,
    subscribe,
)
from power_director.fleet.wire import client as mqtt_client

RECONNECT_DELAY_S = 0.5
BATCH_WINDOW_S = 0.05  # after the first new sample, the other meters' of the same interval
MAX_REPLAY_ROWS = 1_000_000  # samples sent for one request by time (a recovering director)
METER_RETRY_S = 1.0


class AgentMeter:
    """One meter: its driver, its journal, what has been published of it."""

    def __init__(self, entry: MeterEntry, journal: MeterJournal) -> None:
        self.entry = entry
        self.journal = journal
        self.published_seq = journal.last_seq  # a restarted agent does not resend old runs
        self.replayed = 0
        self.last_watts = float("nan")
        self.info: dict[str, Any] = {}
        self.simulator: PtdSimulator | None = None
        self.sim_port = 0

    @property
    def name(self) -> str:
        return self.entry.name


class MeterAgent:
    def __init__(self, config: AgentConfig, say: Callable[[str], None] = print) -> None:
        self.config = config
        self.say = say
        self.host, self.port = parse_broker(config.broker)
        self.shift_ns = round(config.clock_shift_ms * 1_000_000)
        journal_dir = Path(config.journal_dir)
        self.meters = {e.name: AgentMeter(e, MeterJournal(journal_dir, e.name)) for e in config.meters}
        self._client: aiomqtt.Client | None = None
        self._wake = asyncio.Event()
        self.connected = False
        self.outages = 0
        self.refused = 0  # logins the broker refused in a row
        self.key = load_key(config.signing_key_file, "[agent]") if config.signing_key_file else None

    @property
    def agent_id(self) -> str:
        return self.config.agent_id

    def now_ns(self) -> int:
        """This machine's clock (shifted by ``clock_shift_ms``, a simulation knob)."""
        return time.time_ns() + self.shift_ns

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Until ``stop``; a BrokerRefused after ``max_refused_logins`` refusals in a row (the
        journal is closed first: what was measured is kept)."""
        stop = stop or asyncio.Event()
        broker = asyncio.create_task(self._broker_loop())
        tasks = [broker, asyncio.create_task(self._sync_loop()),
                 *(asyncio.create_task(self._meter_loop(m)) for m in self.meters.values())]
        stopping = asyncio.create_task(_until(stop))
        try:
            await asyncio.wait({stopping, broker}, return_when=asyncio.FIRST_COMPLETED)
            if broker.done():
                broker.result()
        finally:
            await cancel_and_wait(stopping)
            for task in tasks:
                await cancel_and_wait(task)
            for meter in self.meters.values():
                meter.journal.close()
                if meter.simulator is not None:
                    await meter.simulator.close()

    async def _sync_loop(self) -> None:
        journals = [m.journal for m in self.meters.values()]
        while True:
            await asyncio.sleep(FSYNC_PERIOD_S)
            await asyncio.to_thread(sync_journals, journals)

    # --- meters -----------------------------------------------------------------------
    async def _open(self, meter: AgentMeter) -> Analyzer:
        entry = meter.entry
        analyzer_config = entry.analyzer
        if entry.sim_watts > 0 and (entry.sim_direct or meter.simulator is None):
            model = CpuUtilisationModel(idle_watts=entry.sim_watts, dynamic_watts=entry.sim_dynamic_watts)
            if entry.sim_direct:
                return ModelMeter(model, entry.name)
            meter.simulator = PtdSimulator(model=model, averaging_ms=analyzer_config.interval_ms)
            meter.sim_port = await meter.simulator.start_server()
        if meter.simulator is not None:
            analyzer_config = PtdConfig(
                port=meter.sim_port, interval_ms=analyzer_config.interval_ms,
                connect_timeout_s=5.0,
            )
        return make_analyzer(analyzer_config)

    async def _meter_loop(self, meter: AgentMeter) -> None:
        """Read the meter for ever; a lost meter is retried (the director sees the silence)."""
        while True:
            try:
                await self._read(meter)
            except AnalyzerError as exc:
                self.say(f"meter {meter.name}: {exc}; retrying in {METER_RETRY_S:g} s")
            await asyncio.sleep(METER_RETRY_S)

    async def _read(self, meter: AgentMeter) -> None:
        interval_ms = meter.entry.analyzer.interval_ms
        async with await self._open(meter) as analyzer:
            info = await analyzer.identify()
            meter.info = {"name": info.name, "model": info.model, "version": info.version,
                          "averaging_ms": info.averaging_ms, "interval_ms": interval_ms}
            await self._publish_info(meter)
            await analyzer.start(f"agent-{self.config.agent_id}-{meter.name}", interval_ms)
            while True:
                for sample in await analyzer.poll():
                    meter.journal.append(_shifted(sample, self.shift_ns))
                    meter.last_watts = sample.watts
                    self._wake.set()
                await asyncio.sleep(min(interval_ms / 2000, 0.25))

    # --- the broker -------------------------------------------------------------------
    async def _broker_loop(self) -> None:
        status = agent_topic(self.config.agent_id, "status")
        while True:
            try:
                async with mqtt_client(
                    self.host, self.port, f"pd-agent-{self.config.agent_id}-{uuid.uuid4().hex[:6]}",
                    self.config.auth, keepalive=5, timeout=5.0,
                    will=aiomqtt.Will(status, "offline", qos=1, retain=True),
                ) as client:
                    await subscribe(client, agent_topic(self.config.agent_id, "clock"))
                    await subscribe(client, agent_topic(self.config.agent_id, "replay"), qos=1)
                    await client.publish(status, "online", qos=1, retain=True)
                    self._client, self.connected, self.refused = client, True, 0
                    self.say(f"agent {self.config.agent_id}: connected to {self.host}:{self.port}")
                    for meter in self.meters.values():
                        if meter.info:
                            await self._publish_info(meter)
                    await self._serve(client)
            except BrokerRefused as exc:
                self._refused(str(exc))
            except aiomqtt.MqttError as exc:
                if self.connected:
                    self.outages += 1
                why = refusal(exc)
                if why is not None:
                    self._refused(why)
                else:
                    self.say(f"agent {self.config.agent_id}: broker {self.host}:{self.port}: {one_line(exc)}")
            except OSError as exc:
                self.say(f"agent {self.config.agent_id}: cannot read a credential: {exc}")
            self._client, self.connected = None, False
            await asyncio.sleep(RECONNECT_DELAY_S)

    def _refused(self, why: str) -> None:
        """Say why; after ``max_refused_logins`` in a row, give up (a password will not fix itself)."""
        self.refused += 1
        who = f"user {self.config.auth.username!r}" if self.config.auth.username else "an anonymous client"
        line = f"agent {self.config.agent_id}: MQTT broker {self.host}:{self.port} refused {who}: {why}"
        limit = self.config.max_refused_logins
        if limit and self.refused >= limit:
            raise BrokerRefused(f"{line}; giving up after {self.refused} refusals in a row "
                                f"(max_refused_logins); the journal in {self.config.journal_dir} is kept")
        self.say(f"{line} ({self.refused} of {limit or 'unlimited'})")

    async def _serve(self, client: aiomqtt.Client) -> None:
        sender = asyncio.create_task(self._send_loop(client))
        try:
            async for message in client.messages:
                await self._on_request(client, str(message.topic), payload_bytes(message.payload))
                if sender.done():
                    sender.result()
        finally:
            await cancel_and_wait(sender)

    async def _send_loop(self, client: aiomqtt.Client) -> None:
        """Publish every journaled sample not yet acknowledged, oldest first: one message for all
        the meters' new samples (gathered for BATCH_WINDOW_S after the first), signed once."""
        while True:
            self._wake.clear()
            while batch := {m.name: m.journal.rows(m.published_seq + 1, m.published_seq + MAX_BATCH)
                            for m in self.meters.values() if m.published_seq < m.journal.last_seq}:
                await self._publish_batch(client, batch)
                for name, rows in batch.items():
                    self.meters[name].published_seq = rows[-1][0]
            await self._wake.wait()
            await asyncio.sleep(BATCH_WINDOW_S)

    async def _on_request(self, client: aiomqtt.Client, topic: str, payload: bytes) -> None:
        t2_ns = self.now_ns()
        try:
            request = json.loads(payload)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            self.say(f"agent {self.config.agent_id}: ignored a malformed request on {topic}")
            return
        if topic.endswith("/clock") and isinstance(request.get("reply"), str):
            answer = {"id": request.get("id"), "t2": t2_ns, "t3": self.now_ns()}
            reply = request["reply"]
            await client.publish(reply, self._signed(reply, json.dumps(answer).encode()))
        elif topic.endswith("/replay"):
            await self._replay(client, request)

    async def _replay(self, client: aiomqtt.Client, request: dict[str, Any]) -> None:
        meter = self.meters.get(str(request.get("meter")))
        first, last = request.get("from"), request.get("to")
        since, until = request.get("from_t_ns"), request.get("to_t_ns")
        if meter is not None and type(since) is int and type(until) is int:  # a recovering director
            rows = meter.journal.rows_between(since, until, MAX_REPLAY_ROWS)
            for start in range(0, len(rows), MAX_BATCH):
                await self._publish_samples(client, meter, rows[start:start + MAX_BATCH])
            meter.replayed += len(rows)
            return
        if meter is None or type(first) is not int or type(last) is not int:
            return
        last = min(last, meter.published_seq, first + 100 * MAX_BATCH)  # the rest goes out anyway
        for start in range(first, last + 1, MAX_BATCH):
            rows = meter.journal.rows(start, min(last, start + MAX_BATCH - 1))
            if rows:
                await self._publish_samples(client, meter, rows)
                meter.replayed += len(rows)

    async def _publish_info(self, meter: AgentMeter) -> None:
        client = self._client
        if client is None:
            return
        with contextlib.suppress(aiomqtt.MqttError):
            topic = agent_topic(self.config.agent_id, meter.name, "info")
            info = self._signed(topic, json.dumps(meter.info).encode())
            await client.publish(topic, info, qos=1, retain=True)

    async def _publish_samples(
        self, client: aiomqtt.Client, meter: AgentMeter, rows: list[tuple[int, Sample]]
    ) -> None:
        await self._publish_batch(client, {meter.name: rows})

    async def _publish_batch(
        self, client: aiomqtt.Client, batch: dict[str, list[tuple[int, Sample]]]
    ) -> None:
        topic = agent_topic(self.config.agent_id, "samples")
        epochs = {name: self.meters[name].journal.epoch for name in batch}
        await client.publish(topic, self._signed(topic, encode_agent_batch(batch, epochs)), qos=1)

    def _signed(self, topic: str, body: bytes) -> bytes:
        return body if self.key is None else sign(self.config.key_id, self.key, topic, body)


async def _until(event: asyncio.Event) -> None:
    await event.wait()


def _shifted(sample: Sample, shift_ns: int) -> Sample:
    return replace(sample, t_ns=sample.t_ns + shift_ns) if shift_ns else sample


async def run_meter_agent(path: Path, say: Callable[[str], None] = print) -> int:
    """``power-director meter-agent --config FILE``: until SIGINT/SIGTERM, then exit 0."""
    from power_director.config.agent import load_agent_config
    from power_director.observe.exporter import AgentExporter

    config = load_agent_config(path)
    try:
        config.auth.client_options()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"[agent] cannot read the broker credentials: {exc}") from exc
    agent = MeterAgent(config, say)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    exporter = AgentExporter(agent, config.metrics_port, config.metrics_host) if config.metrics_port else None
    say(f"agent {config.agent_id}: {len(agent.meters)} meter(s), journal in {config.journal_dir}"
        + (f", metrics on {config.metrics_host}:{exporter.port}" if exporter else ""))
    try:
        await agent.run(stop)
    finally:
        if exporter is not None:
            exporter.close()
    return 0
