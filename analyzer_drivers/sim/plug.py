"""A smart plug on an MQTT broker: Tasmota (one channel or several, any FullTopic), Shelly Gen2+
(switch, pm1, em1, em components) or Shelly Gen1 messages from a PowerModel.

It publishes what the real firmware publishes (docs/protocols.md#smart-plugs): a retained online
status with a last will that says offline, periodic readings (``period_s``: real plugs
report every ~1–10 s; tests use 0.2 s), and answers to the polling commands.

Faults (``analyzer_drivers.sim.faults``): a plug knows nothing of phases, so it counts
measurements as bursts of polls (a pause over ``phase_pause_s`` starts the next), unless a
harness that knows the phases says when each begins (``begin_measurement``): the
first is ranging, the later ones testing. Reads are polls; samples are the readings it
publishes (pushed or polled) during a measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import time
from pathlib import Path
from typing import Any, TextIO

import aiomqtt

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.ptd_line import format_sample_line
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.meters.plug import cancel_and_wait, payload_bytes
from analyzer_drivers.meters.plug_shelly import COMPONENTS, GEN1_KINDS, component_error
from analyzer_drivers.meters.plug_tasmota import DEFAULT_FULL_TOPIC, full_topic_error
from analyzer_drivers.sim.broker_link import BrokerLink
from analyzer_drivers.sim.faults import (
    GARBAGE,
    Fault,
    PhaseCounter,
    check_supported,
    data_faults,
    due_protocol_fault,
    spoil_all,
)
from analyzer_drivers.sim.models import CpuUtilisationModel, PowerModel
from analyzer_drivers.sim.plug_payloads import (
    gen1_watts,
    identity_replies,
    shelly_delta,
    shelly_status,
    tasmota_energy,
    whole,
)

KINDS = ("tasmota", "shelly")
REFUSED_FAULTS = {"overrange": "a smart plug has no measuring ranges to exceed"}
IDLE_MARK = "idle"  # the sent log's mark for readings published outside a measurement
LINK_DRAIN_S = 0.05


class PlugSimulator:
    """One simulated plug: connect, announce, publish readings, answer polls."""

    def __init__(
        self,
        broker_host: str,
        broker_port: int,
        kind: str = "tasmota",
        topic: str = "plug",
        model: PowerModel | None = None,
        period_s: float = 1.0,
        *,
        faults: list[Fault] | None = None,
        sent_log_path: Path | None = None,
        outage_s: float = 1.0,
        phase_pause_s: float = 1.5,
        full_topic: str = DEFAULT_FULL_TOPIC,
        channels: int = 1,
        component: str = "switch:0",
    ) -> None:
        """``full_topic`` and ``channels`` (a multi-channel device) are Tasmota's;
        ``component`` a Shelly's (``relay:<n>`` or ``emeter:<n>``: a Gen1 device)."""
        if kind not in KINDS:
            raise ValueError(f"unknown plug kind {kind!r}; one of {', '.join(KINDS)}")
        problem = full_topic_error(full_topic) or component_error(component)
        if problem is not None or not 1 <= channels <= 8:
            raise ValueError(problem or f"channels {channels} is outside 1..8")
        self.full_topic = full_topic if full_topic.endswith("/") else full_topic + "/"
        self.channels, self.component = channels, component
        self.gen1 = kind == "shelly" and component.split(":")[0] in GEN1_KINDS
        self.faults: list[Fault] = []
        for fault in faults or []:
            self.inject(fault)
        self.outage_s, self.phase_pause_s = outage_s, phase_pause_s
        self.broker_host, self.broker_port = broker_host, broker_port
        self.kind, self.topic = kind, topic
        self.model = model or CpuUtilisationModel()
        self.period_s = period_s
        self.energy_wh = 0.0
        self._last_t_ns = time.time_ns()
        self._last_sent: dict[str, float] = {}
        self.ready = asyncio.Event()
        self._served = PhaseCounter()
        self._measurements = 0
        self._told = False  # a harness says when measurements begin: pauses then count for nothing
        self._last_poll_s = -math.inf
        self._silent_until_s = -math.inf  # a hang: no readings, no answers until then
        self._dropped = False
        self._link = BrokerLink(broker_host, broker_port)
        # Its identify replies (Tasmota Status, Shelly GetDeviceInfo, Gen1 announce); tests set real ones
        self.identity_replies: dict[str, dict[str, Any]] = identity_replies(topic)
        # Each reading as published: what a client can have had, to check it kept them all.
        self._sent_file: TextIO | None = sent_log_path.open("a", encoding="utf-8") if sent_log_path else None

    def inject(self, fault: Fault) -> None:
        """Add a fault; ValueError for one a plug cannot have."""
        check_supported([fault], "plug", REFUSED_FAULTS)
        self.faults.append(fault)

    # --- topics and payloads -------------------------------------------------------------
    def at(self, prefix: str, suffix: str) -> str:
        """A Tasmota topic under FullTopic."""
        return self.full_topic.replace("%prefix%", prefix).replace("%topic%", self.topic) + suffix

    @property
    def status_topic(self) -> str:
        if self.kind == "tasmota":
            return self.at("tele", "LWT")
        return f"shellies/{self.topic}/online" if self.gen1 else f"{self.topic}/online"

    def status_payload(self, online: bool) -> str:
        if self.kind == "tasmota":
            return "Online" if online else "Offline"
        return "true" if online else "false"

    def _reading(self) -> Sample:
        t_ns = time.time_ns()
        reading = self.model.reading(t_ns)
        self.energy_wh += reading.watts * (t_ns - self._last_t_ns) / 3.6e12
        self._last_t_ns = t_ns
        return Sample(t_ns, reading.watts, reading.volts, reading.amps, reading.pf)

    def _read(self) -> Sample:
        """The next reading to publish, spoiled by the measurement's data faults, logged as sent
        (at the time it is sent, whatever the plug's clock says)."""
        sample = sent = self._reading()
        mark = IDLE_MARK
        if self._measuring():
            self._served.samples += 1
            sample = spoil_all(data_faults(self.faults, self._served.phase), self._served.samples, sample)
            mark = self._served.phase
        if self._sent_file is not None:
            shown = Sample(sent.t_ns, self.shown_watts(sample.watts))
            self._sent_file.write(format_sample_line(shown, mark) + "\n")
            self._sent_file.flush()
        return sample

    def shown_watts(self, watts: float) -> float:
        """Power as the firmware prints it: whole watts (Tasmota), tenths (Shelly)."""
        return whole(watts) if self.kind == "tasmota" else round(watts, 1)

    def tasmota_energy(self, reading: Sample) -> dict[str, Any]:
        return tasmota_energy(reading, self.energy_wh, self.channels)

    def shelly_status(self, reading: Sample) -> dict[str, Any]:
        return shelly_status(self.component, reading, self.energy_wh)

    @property
    def power_topic(self) -> str:
        """Gen1: where the watts go."""
        kind, index = self.component.split(":")
        return f"shellies/{self.topic}/{kind}/{index}/power"

    @property
    def telemetry_topic(self) -> str:
        if self.kind == "tasmota":
            return self.at("tele", "SENSOR")
        return self.power_topic if self.gen1 else f"{self.topic}/events/rpc"

    def telemetry(self) -> tuple[str, str]:
        return self._telemetry_of(self._read())

    def _telemetry_of(self, reading: Sample) -> tuple[str, str]:
        if self.kind == "tasmota":
            body = {"Time": _tasmota_time(reading.t_ns), "ENERGY": self.tasmota_energy(reading)}
            return self.telemetry_topic, json.dumps(body)
        if self.gen1:
            return self.power_topic, gen1_watts(reading)
        # NotifyStatus carries what changed: power and current always, the rest when it moves.
        delta = shelly_delta(self.shelly_status(reading), self._last_sent)
        params = {"ts": round(reading.t_ns / 1e9, 2), self.component: delta}
        body = {"src": f"shellyplusplugs-{self.topic}", "dst": f"{self.topic}/events",
                "method": "NotifyStatus", "params": params}
        return self.telemetry_topic, json.dumps(body)

    # --- commands --------------------------------------------------------------------------
    def subscriptions(self) -> list[str]:
        if self.kind == "tasmota":
            return [self.at("cmnd", "Status")]
        return [f"shellies/{self.topic}/command"] if self.gen1 else [f"{self.topic}/rpc"]

    def answer(self, topic: str, payload: bytes) -> tuple[str, str] | None:
        """The reply to one command message, or None to ignore it (as the firmware does)."""
        if self.kind == "tasmota":
            return self._tasmota_status(payload.decode(errors="replace").strip())
        if self.gen1:
            return self._gen1_command(payload.strip())
        try:
            call = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(call, dict) or not isinstance(call.get("src"), str):
            return None
        reply: dict[str, Any] = {"id": call.get("id"), "src": f"shellyplusplugs-{self.topic}",
                                 "dst": call["src"]}
        method = call.get("method")
        if method == COMPONENTS[self.component.split(":")[0]].method:
            reply["result"] = self.shelly_status(self._read())
        elif method == "Shelly.GetDeviceInfo":
            reply["result"] = self.identity_replies["GetDeviceInfo"]
        else:
            reply["error"] = {"code": 404, "message": f"No handler for {method}"}
        return f"{call['src']}/rpc", json.dumps(reply)

    def _tasmota_status(self, argument: str) -> tuple[str, str] | None:
        if argument == "10":
            reading = self._read()
            sensor = {"Time": _tasmota_time(reading.t_ns), "ENERGY": self.tasmota_energy(reading)}
            body = {"StatusSNS": sensor}
            return self.at("stat", "STATUS10"), json.dumps(body)
        key = f"STATUS{argument}"
        if key in self.identity_replies:  # Status 2, Status 5, and Status (no argument)
            return self.at("stat", key), json.dumps(self.identity_replies[key])
        return None

    def _gen1_command(self, command: bytes) -> tuple[str, str] | None:
        """Gen1's ``update`` (publish the readings now) and ``announce`` (say who it is)."""
        if command == b"update":
            return self.power_topic, gen1_watts(self._read())
        if command == b"announce":
            return "shellies/announce", json.dumps(self.identity_replies["announce"])
        return None

    # --- faults ------------------------------------------------------------------------------
    def _measuring(self) -> bool:
        return time.monotonic() - self._last_poll_s <= self.phase_pause_s

    def _is_poll(self, topic: str, payload: bytes) -> bool:
        if self.kind == "tasmota":
            return topic == self.at("cmnd", "Status") and payload.strip() == b"10"
        if self.gen1:
            return topic == f"shellies/{self.topic}/command" and payload.strip() == b"update"
        return topic == f"{self.topic}/rpc" and b".GetStatus" in payload

    def _on_poll(self) -> str | None:
        """Count a poll (a pause first starts the next measurement); the protocol fault it meets."""
        now = time.monotonic()
        if now - self._last_poll_s > self.phase_pause_s and not self._told:
            self._measurements += 1
        self._last_poll_s = now
        self._enter_measurement()
        self._served.reads += 1
        return due_protocol_fault(self.faults, self._served.phase, self._served.reads)

    def begin_measurement(self) -> None:
        """A harness that knows the phases says the next measurement begins now; from then on
        pauses in polling (a busy machine can pause polling within a phase) start none."""
        if not self._told:  # polls before the first phase (finding the plug) measure nothing
            self._told, self._measurements = True, 0
        self._measurements += 1
        self._last_poll_s = time.monotonic()
        self._enter_measurement()

    def _enter_measurement(self) -> None:
        phase = "ranging" if self._measurements == 1 else "testing"
        self._served.enter(f"plug-{self._measurements}_{phase}")

    def _silent(self) -> bool:
        return time.monotonic() < self._silent_until_s

    def _slowed(self) -> bool:
        """Wrong rate: half the readings asked for (every other poll, pushes half as often)."""
        return self._measuring() and "wrong-rate" in data_faults(self.faults, self._served.phase)

    def _bad_telemetry(self, fault: str) -> tuple[str, str]:
        """Junk, or a reading's JSON cut in half, on the telemetry topic."""
        if fault == "garbage":
            return self.telemetry_topic, GARBAGE
        topic, payload = self._telemetry_of(self._reading())
        return topic, payload[: len(payload) // 2]

    # --- running -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect and serve until cancelled; leaving says offline, like a restart does.

        A ``drop`` fault cuts the link (the broker publishes the last will), ``restart``
        leaves saying offline; either way the plug is back after ``outage_s``.
        """
        port = await self._link.open()
        try:
            while True:
                await self._stay(port)
                await asyncio.sleep(self.outage_s)
        finally:
            await self._link.close()
            if self._sent_file is not None:
                self._sent_file.close()
                self._sent_file = None

    async def _stay(self, port: int) -> None:
        """One connection to the broker (through the link), until cancelled or a drop or restart fault."""
        will = aiomqtt.Will(self.status_topic, self.status_payload(False), retain=True)
        self._dropped = False
        try:
            async with aiomqtt.Client("127.0.0.1", port, will=will, keepalive=10) as client:
                await client.publish(self.status_topic, self.status_payload(True), retain=True)
                for topic in self.subscriptions():
                    await client.subscribe(topic)
                publisher = asyncio.get_running_loop().create_task(self._publish_loop(client))
                self.ready.set()
                try:
                    await self._serve(client)
                finally:
                    await cancel_and_wait(publisher)
                    if not self._dropped:
                        with contextlib.suppress(aiomqtt.MqttError):
                            await client.publish(self.status_topic, self.status_payload(False), retain=True)
        except aiomqtt.MqttError:
            if not self._dropped:
                raise

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Answer commands until a restart fault ends the connection (or a drop breaks it)."""
        async for message in client.messages:
            if self._dropped:
                continue  # until aiomqtt notices the cut link: leaving earlier can wait forever
            topic, payload = str(message.topic), payload_bytes(message.payload)
            poll = self._is_poll(topic, payload)
            fault = self._on_poll() if poll else None
            if fault == "drop":
                self._dropped = True  # nothing more is sent; what is on the wire arrives first
                await asyncio.sleep(LINK_DRAIN_S)
                self._link.cut()
                continue
            if fault == "restart":
                return
            if fault == "hang":
                self._silent_until_s = time.monotonic() + self.outage_s
            if self._silent() or (poll and self._slowed() and self._served.reads % 2 == 0):
                continue
            bad = fault in ("garbage", "partial")
            reply = self._bad_telemetry(str(fault)) if bad else self.answer(topic, payload)
            if reply is not None:
                await client.publish(*reply)

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        next_s = time.monotonic()
        while True:
            if not (self._silent() or self._dropped):
                await client.publish(*self.telemetry())
            next_s += self.period_s * (2 if self._slowed() else 1)
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))


def _tasmota_time(t_ns: int) -> str:
    """Tasmota's ``Time``: the plug's local time, to the second."""
    return dt.datetime.fromtimestamp(t_ns / 1e9).strftime("%Y-%m-%dT%H:%M:%S")


async def serve_forever(simulator: PlugSimulator) -> None:
    """The ``power-director sim plug`` command: AnalyzerError when the broker is gone."""
    broker = f"{simulator.broker_host}:{simulator.broker_port}"
    print(f"{simulator.kind} plug simulator {simulator.topic!r} on MQTT broker {broker}, "
          f"every {simulator.period_s:g} s", flush=True)
    try:
        await simulator.run()
    except aiomqtt.MqttError as exc:
        raise AnalyzerError(f"MQTT broker {broker} failed the plug simulator: {exc}") from exc
