"""A smart plug on an MQTT broker: Tasmota or Shelly Gen2 messages from a PowerModel.

It publishes what the real firmware publishes (PROTOCOLS.md §6): a retained online
status with a last will that says offline, periodic readings (``period_s``: real plugs
report every ~1–10 s; tests use 0.2 s), and answers to the polling commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from typing import Any

import aiomqtt

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.plug import payload_bytes
from analyzer_drivers.sim.models import CpuUtilisationModel, PowerModel, Reading

KINDS = ("tasmota", "shelly")
FIRMWARE = {"tasmota": "13.4.0(tasmota)", "shelly": "1.4.4-g6d2a586"}
SHELLY_MODEL = "SNPL-00112EU"


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
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown plug kind {kind!r}; one of {', '.join(KINDS)}")
        self.broker_host, self.broker_port = broker_host, broker_port
        self.kind, self.topic = kind, topic
        self.model = model or CpuUtilisationModel()
        self.period_s = period_s
        self.energy_wh = 0.0
        self._last_t_ns = time.time_ns()
        self._last_sent: dict[str, float] = {}
        self.ready = asyncio.Event()

    # --- topics and payloads -------------------------------------------------------------
    @property
    def status_topic(self) -> str:
        return f"tele/{self.topic}/LWT" if self.kind == "tasmota" else f"{self.topic}/online"

    def status_payload(self, online: bool) -> str:
        if self.kind == "tasmota":
            return "Online" if online else "Offline"
        return "true" if online else "false"

    def _read(self) -> Reading:
        t_ns = time.time_ns()
        reading = self.model.reading(t_ns)
        self.energy_wh += reading.watts * (t_ns - self._last_t_ns) / 3.6e12
        self._last_t_ns = t_ns
        return reading

    def tasmota_energy(self, reading: Reading) -> dict[str, Any]:
        # Tasmota's defaults: whole watts and volts (WattRes 0, VoltRes 0), 3-decimal amps.
        apparent = reading.volts * reading.amps
        return {
            "Total": round(self.energy_wh / 1000, 3),
            "Power": round(reading.watts),
            "ApparentPower": round(apparent),
            "ReactivePower": round(max(0.0, apparent**2 - reading.watts**2) ** 0.5),
            "Factor": round(reading.pf, 2),
            "Voltage": round(reading.volts),
            "Current": round(reading.amps, 3),
        }

    def shelly_switch(self, reading: Reading) -> dict[str, Any]:
        return {
            "id": 0,
            "output": True,
            "apower": round(reading.watts, 1),
            "voltage": round(reading.volts, 1),
            "current": round(reading.amps, 3),
            "pf": round(reading.pf, 2),
            "aenergy": {"total": round(self.energy_wh, 3)},
        }

    def telemetry(self) -> tuple[str, str]:
        reading = self._read()
        if self.kind == "tasmota":
            stamp = dt.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
            body = {"Time": stamp, "ENERGY": self.tasmota_energy(reading)}
            return f"tele/{self.topic}/SENSOR", json.dumps(body)
        # NotifyStatus carries what changed: power and current always, the rest when it moves.
        status = self.shelly_switch(reading)
        delta = {k: v for k, v in status.items() if k in ("id", "apower", "current", "aenergy")}
        for key in ("voltage", "pf"):
            if self._last_sent.get(key) != status[key]:
                delta[key] = self._last_sent[key] = status[key]
        params = {"ts": round(time.time(), 2), "switch:0": delta}
        body = {"src": f"shellyplusplugs-{self.topic}", "dst": f"{self.topic}/events",
                "method": "NotifyStatus", "params": params}
        return f"{self.topic}/events/rpc", json.dumps(body)

    # --- commands --------------------------------------------------------------------------
    def subscriptions(self) -> list[str]:
        return [f"cmnd/{self.topic}/Status"] if self.kind == "tasmota" else [f"{self.topic}/rpc"]

    def answer(self, topic: str, payload: bytes) -> tuple[str, str] | None:
        """The reply to one command message, or None to ignore it (as the firmware does)."""
        if self.kind == "tasmota":
            return self._tasmota_status(payload.decode(errors="replace").strip())
        try:
            call = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(call, dict) or not isinstance(call.get("src"), str):
            return None
        reply: dict[str, Any] = {"id": call.get("id"), "src": f"shellyplusplugs-{self.topic}",
                                 "dst": call["src"]}
        method = call.get("method")
        if method == "Switch.GetStatus":
            reply["result"] = self.shelly_switch(self._read())
        elif method == "Shelly.GetDeviceInfo":
            reply["result"] = {"id": f"shellyplusplugs-{self.topic}", "model": SHELLY_MODEL,
                               "gen": 2, "ver": FIRMWARE["shelly"], "app": "PlusPlugS"}
        else:
            reply["error"] = {"code": 404, "message": f"No handler for {method}"}
        return f"{call['src']}/rpc", json.dumps(reply)

    def _tasmota_status(self, argument: str) -> tuple[str, str] | None:
        if argument == "10":
            stamp = dt.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
            body = {"StatusSNS": {"Time": stamp, "ENERGY": self.tasmota_energy(self._read())}}
            return f"stat/{self.topic}/STATUS10", json.dumps(body)
        if argument == "2":
            body = {"StatusFWR": {"Version": FIRMWARE["tasmota"], "Hardware": "ESP8266EX"}}
            return f"stat/{self.topic}/STATUS2", json.dumps(body)
        return None

    # --- running -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect and serve until cancelled; leaving says offline, like a restart does."""
        will = aiomqtt.Will(self.status_topic, self.status_payload(False), retain=True)
        async with aiomqtt.Client(self.broker_host, self.broker_port, will=will, keepalive=10) as client:
            await client.publish(self.status_topic, self.status_payload(True), retain=True)
            for topic in self.subscriptions():
                await client.subscribe(topic)
            publisher = asyncio.get_running_loop().create_task(self._publish_loop(client))
            self.ready.set()
            try:
                async for message in client.messages:
                    reply = self.answer(str(message.topic), payload_bytes(message.payload))
                    if reply is not None:
                        await client.publish(*reply)
            finally:
                publisher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await publisher
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(self.status_topic, self.status_payload(False), retain=True)

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        next_s = time.monotonic()
        while True:
            await client.publish(*self.telemetry())
            next_s += self.period_s
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))


async def serve_forever(simulator: PlugSimulator) -> None:
    """The ``power-director sim plug`` command: AnalyzerError when the broker is gone."""
    broker = f"{simulator.broker_host}:{simulator.broker_port}"
    print(f"{simulator.kind} plug simulator {simulator.topic!r} on MQTT broker {broker}, "
          f"every {simulator.period_s:g} s", flush=True)
    try:
        await simulator.run()
    except aiomqtt.MqttError as exc:
        raise AnalyzerError(f"MQTT broker {broker} failed the plug simulator: {exc}") from exc
