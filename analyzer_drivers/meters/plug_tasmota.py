"""Tasmota plugs over MQTT (docs/protocols.md#smart-plugs): ``<FullTopic>SENSOR``/``LWT`` telemetry,
``Status 10`` polls, one channel or several.

FullTopic is Tasmota's topic template, ``%prefix%/%topic%/`` by default (tasmota.github.io/docs/MQTT);
installations change it (``tasmota/%topic%/%prefix%/``), so it is configurable. A multi-channel
device sends every ENERGY value as a list (``"Power":[1,0,0]``: evcc-io/evcc issue #18879): the
configured ``channel`` picks one (1-based) or ``sum`` adds them. A SENSOR message without an
ENERGY block (``{"Time":…,"Switch1":"OFF"}``: arendst/Tasmota issue #1253) is not a reading.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo
from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.meters.plug import PLUG_AVERAGING_MS, MqttPlug, as_float, json_object

DEFAULT_FULL_TOPIC = "%prefix%/%topic%/"
#: The replies ``identify`` asks for: ``stat/<topic>/<key>`` (tasmota.github.io/docs/JSON-Status-Responses).
IDENTITY_REPLIES = ("STATUS2", "STATUS5", "STATUS")


def full_topic_error(full_topic: str) -> str | None:
    """Why a FullTopic template cannot be used, or None."""
    if "%prefix%" not in full_topic or "%topic%" not in full_topic:
        return (f"full_topic {full_topic!r} must hold %prefix% and %topic% "
                f"(Tasmota's default: {DEFAULT_FULL_TOPIC})")
    if any(c in full_topic for c in "#+ \0"):
        return f"full_topic {full_topic!r} cannot hold # + or spaces"
    return None


def channel_error(channel: str) -> str | None:
    if channel == "sum" or (channel.isdigit() and 1 <= int(channel) <= 32):
        return None
    return f"channel {channel!r} must be 'sum' or a channel number 1..32"


def energy_reading(energy: dict[str, Any], channel: str) -> tuple[float, float, float, float]:
    """(watts, volts, amps, pf) of one channel, or of their sum, from an ENERGY block.
    ValueError, with the reason, when it has no such channel or no Power."""
    power = energy.get("Power")
    if not isinstance(power, list):
        if channel not in ("sum", "1"):
            raise ValueError(f"channel {channel} asked for, but the plug reports one channel")
        if math.isnan(as_float(power)):
            raise ValueError("ENERGY has no Power")
        return tuple(as_float(energy.get(k)) for k in ("Power", "Voltage", "Current", "Factor"))  # type: ignore[return-value]
    columns = {k: _column(energy.get(k), len(power)) for k in ("Power", "Voltage", "Current", "Factor")}
    if channel != "sum":
        index = int(channel) - 1
        if index >= len(power):
            raise ValueError(f"channel {channel} asked for, but the plug reports {len(power)}")
        watts, volts, amps, pf = (columns[k][index] for k in ("Power", "Voltage", "Current", "Factor"))
        if math.isnan(watts):
            raise ValueError(f"channel {channel}'s Power is not a number")
        return watts, volts, amps, pf
    watts = sum(columns["Power"])
    used = [k for k, a in enumerate(columns["Current"]) if a > 0]
    volts = max((columns["Voltage"][k] for k in used), default=math.nan)
    amps = sum(columns["Current"][k] for k in used)
    apparent = sum(columns["Voltage"][k] * columns["Current"][k] for k in used)
    if math.isnan(watts):
        raise ValueError("a channel's Power is not a number")
    return watts, volts, amps, watts / apparent if apparent > 0 else math.nan


def _column(values: Any, count: int) -> list[float]:
    if isinstance(values, list) and len(values) == count:
        return [as_float(v) for v in values]
    return [as_float(values)] * count if not isinstance(values, list) else [math.nan] * count


class TasmotaPlug(MqttPlug):
    """A Tasmota plug: ``tele/<t>/SENSOR``, ``tele/<t>/LWT``, ``cmnd/<t>/Status 10`` (by default)."""

    kind = "tasmota"

    def __init__(
        self, broker: str, topic: str, *, full_topic: str = DEFAULT_FULL_TOPIC, channel: str = "sum",
        **options: Any,
    ) -> None:
        for problem in (full_topic_error(full_topic), channel_error(channel)):
            if problem is not None:
                raise AnalyzerError(f"Tasmota {problem}")
        self.full_topic = full_topic if full_topic.endswith("/") else full_topic + "/"
        self.channel = channel
        super().__init__(broker, topic, **options)

    def at(self, prefix: str, suffix: str) -> str:
        """The topic of ``prefix`` (cmnd, stat, tele) and ``suffix`` under FullTopic."""
        return self.full_topic.replace("%prefix%", prefix).replace("%topic%", self.topic) + suffix

    def subscriptions(self) -> list[str]:
        return [self.at("tele", "LWT"), self.at("tele", "SENSOR"), self.at("stat", "+")]

    def handle(self, topic: str, payload: bytes, t_ns: int) -> None:
        if topic == self.at("tele", "LWT"):
            self.set_online(payload.strip() == b"Online")
            return
        body = json_object(payload)
        if topic in (self.at("stat", key) for key in IDENTITY_REPLIES):
            self.answer(topic.rsplit("/", 1)[-1], body or {})
        elif topic == self.at("stat", "STATUS10"):
            self._energy(topic, payload, (body or {}).get("StatusSNS"), t_ns)
        elif topic == self.at("tele", "SENSOR"):
            if body is not None and "ENERGY" not in body:
                return  # another sensor's telemetry (switches, temperature): not a reading
            self._energy(topic, payload, body, t_ns)

    def _energy(self, topic: str, payload: bytes, sensor: Any, t_ns: int) -> None:
        energy = sensor.get("ENERGY") if isinstance(sensor, dict) else None
        if not isinstance(energy, dict):
            self.bad_message(topic, payload)
            return
        try:
            watts, volts, amps, pf = energy_reading(energy, self.channel)
        except ValueError as exc:
            self.bad_message(topic, payload, str(exc))
            return
        self.reading(t_ns, watts, volts, amps, pf)

    async def request_reading(self) -> None:
        await self.publish(self.at("cmnd", "Status"), "10")

    async def identify(self) -> AnalyzerInfo:
        """``Status 2`` (firmware: needed), then ``Status 5`` (network: the MAC as its id) and
        ``Status`` (its device name), each as the device answers it (docs/uncertainty.md)."""
        reply = await self.request("STATUS2", self.at("cmnd", "Status"), "2", "Status 2")
        if not isinstance(reply.get("StatusFWR"), dict) or "Version" not in reply["StatusFWR"]:
            raise AnalyzerError(f"the {self.where} sent a malformed STATUS2: {str(reply)[:120]}")
        replies = {"STATUS2": reply}
        for key, argument in (("STATUS5", "5"), ("STATUS", "")):
            with contextlib.suppress(AnalyzerError):  # an older firmware may not say: it stays unknown
                topic = self.at("cmnd", "Status")
                replies[key] = await self.request(key, topic, argument, f"Status {argument}")
        name, identity, facts = tasmota_identity(replies)
        return AnalyzerInfo(
            name=name or f"Tasmota {self.topic}", model=identity.model, averaging_ms=PLUG_AVERAGING_MS,
            version=identity.firmware, raw=json.dumps(replies), identity=identity,
            extra={"channel": self.channel, "full_topic": self.full_topic, **facts},
        )


def tasmota_identity(replies: dict[str, dict[str, Any]]) -> tuple[str, MeterIdentity, dict[str, str]]:
    """(device name, identity, facts) from the ``STATUS2``, ``STATUS5`` and ``STATUS`` replies:
    ``StatusFWR.Version`` the firmware (its ``Core``, ``SDK``, ``Hardware`` facts),
    ``StatusNET.Mac`` the id, ``Status.DeviceName`` (else the first ``FriendlyName``) the name.
    The firmware is Tasmota; the device names no maker or product, so the model stays Tasmota."""
    firmware = _section(replies, "STATUS2", "StatusFWR")
    network = _section(replies, "STATUS5", "StatusNET")
    status = _section(replies, "STATUS", "Status")
    friendly = status.get("FriendlyName")
    first = friendly[0] if isinstance(friendly, list) and friendly else friendly
    name = str(status.get("DeviceName") or first or "")
    facts = {key.lower(): str(firmware[key]) for key in ("Core", "SDK", "Hardware") if key in firmware}
    if "Module" in status:
        facts["module"] = str(status["Module"])
    mac, version = str(network.get("Mac", "")), str(firmware.get("Version", ""))
    identity = MeterIdentity("Tasmota", "Tasmota", mac, version)
    return name, identity, facts


def _section(replies: dict[str, dict[str, Any]], key: str, section: str) -> dict[str, Any]:
    value = replies.get(key, {}).get(section)
    return value if isinstance(value, dict) else {}
