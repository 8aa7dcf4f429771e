"""Shelly plugs and meters over MQTT (docs/protocols.md#smart-plugs).

Gen2+ (``ShellyPlug``): ``<prefix>/events/rpc`` NotifyStatus deltas and RPC on ``<prefix>/rpc``,
for the component that measures (shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices):
``switch:<id>`` (plugs, relays: apower, voltage, current, pf), ``pm1:<id>`` (Plus PM Mini:
apower, voltage, current), ``em1:<id>`` (Pro EM: act_power, voltage, current, pf) and
``em:<id>`` (Pro 3EM: total_act_power, total_current, a/b/c_voltage).
Gen1 (``ShellyGen1Plug``, component ``relay:<n>`` or ``emeter:<n>``): plain-number watts on
``shellies/<device id>/relay/<n>/power`` (or ``emeter/<n>/power``), ``shellies/<id>/online``,
and ``update``/``announce`` on ``shellies/<id>/command``.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo
from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.meters.plug import PLUG_AVERAGING_MS, MqttPlug, as_float, json_object, number

GEN1_KINDS = ("relay", "emeter")


@dataclass(frozen=True)
class Component:
    """What a Gen2+ component's status calls its power, voltage, current and PF."""

    method: str  # its GetStatus RPC
    watts: str
    volts: tuple[str, ...]  # the largest of these
    amps: str
    pf: str


COMPONENTS: dict[str, Component] = {
    "switch": Component("Switch.GetStatus", "apower", ("voltage",), "current", "pf"),
    "pm1": Component("PM1.GetStatus", "apower", ("voltage",), "current", "pf"),
    "em1": Component("EM1.GetStatus", "act_power", ("voltage",), "current", "pf"),
    "em": Component("EM.GetStatus", "total_act_power", ("a_voltage", "b_voltage", "c_voltage"),
                    "total_current", ""),
}


def component_error(component: str) -> str | None:
    """Why ``component`` (``switch:0``, ``pm1:0``, ``em:0``, ``em1:1``, Gen1 ``relay:0``) is not
    one we read, or None."""
    match = re.fullmatch(r"([a-z0-9]+):(\d{1,2})", component)
    if match is None or match[1] not in (*COMPONENTS, *GEN1_KINDS):
        kinds = ", ".join(f"{k}:<id>" for k in (*COMPONENTS, *GEN1_KINDS))
        return f"component {component!r} is not one of {kinds}"
    return None


def status_reading(component: str, status: dict[str, Any]) -> tuple[float, float, float, float]:
    """(watts, volts, amps, pf) of a Gen2+ component status (NaN where it says nothing)."""
    fields = COMPONENTS[component.split(":")[0]]
    volts = [number(status, key) for key in fields.volts]
    finite = [v for v in volts if math.isfinite(v)]
    pf = number(status, fields.pf) if fields.pf else math.nan
    return number(status, fields.watts), max(finite, default=math.nan), number(status, fields.amps), pf


class ShellyPlug(MqttPlug):
    """A Shelly Gen2+ device: ``<prefix>/events/rpc`` NotifyStatus, RPC on ``<prefix>/rpc``."""

    kind = "shelly"

    def __init__(self, broker: str, topic: str, *, component: str = "switch:0", **options: Any) -> None:
        problem = component_error(component)
        if problem is not None or component.split(":")[0] in GEN1_KINDS:
            raise AnalyzerError(f"Shelly Gen2 {problem or f'component {component!r} is a Gen1 one'}")
        super().__init__(broker, topic, **options)
        self.component = component
        self._fields = COMPONENTS[component.split(":")[0]]
        self._id = int(component.split(":")[1])
        self._ids = itertools.count(1)
        self._status: dict[str, Any] = {}  # NotifyStatus sends deltas: keep the whole state

    def subscriptions(self) -> list[str]:
        return [f"{self.topic}/online", f"{self.topic}/events/rpc", f"{self.client_id}/rpc"]

    def handle(self, topic: str, payload: bytes, t_ns: int) -> None:
        if topic == f"{self.topic}/online":
            self.set_online(payload.strip() == b"true")
            return
        body = json_object(payload)
        if body is None:
            self.bad_message(topic, payload)
        elif topic == f"{self.client_id}/rpc":
            self._rpc_reply(body, t_ns)
        elif body.get("method") == "NotifyStatus":
            params = body.get("params")
            delta = params.get(self.component) if isinstance(params, dict) else None
            if isinstance(delta, dict):
                self._on_status(delta, t_ns, is_delta=True)

    def _rpc_reply(self, body: dict[str, Any], t_ns: int) -> None:
        result = body.get("result")
        if not isinstance(result, dict):
            self.answer(f"rpc:{body.get('id')}", {"error": body.get("error", body)})
            return
        if self._fields.watts in result:
            self._on_status(result, t_ns, is_delta=False)
        self.answer(f"rpc:{body.get('id')}", result)

    def _on_status(self, status: dict[str, Any], t_ns: int, is_delta: bool) -> None:
        self._status = {**self._status, **status} if is_delta else dict(status)
        if self._fields.watts in status:
            self.reading(t_ns, *status_reading(self.component, self._status))

    def _rpc(self, method: str, params: dict[str, Any] | None = None) -> tuple[int, str]:
        call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "src": self.client_id, "method": method}
        if params is not None:
            message["params"] = params
        return call_id, json.dumps(message)

    async def request_reading(self) -> None:
        _, message = self._rpc(self._fields.method, {"id": self._id})
        await self.publish(f"{self.topic}/rpc", message)

    async def identify(self) -> AnalyzerInfo:
        call_id, message = self._rpc("Shelly.GetDeviceInfo")
        info = await self.request(f"rpc:{call_id}", f"{self.topic}/rpc", message, "Shelly.GetDeviceInfo")
        if "model" not in info:
            raise AnalyzerError(f"the {self.where} refused Shelly.GetDeviceInfo: {str(info)[:120]}")
        mac, firmware = str(info.get("mac") or ""), str(info.get("ver") or "")
        identity = MeterIdentity("Shelly", str(info["model"]), mac, firmware)
        return AnalyzerInfo(
            name=str(info.get("name") or f"Shelly {info.get('app', '')} {self.topic}".replace("  ", " ")),
            model=identity.model, averaging_ms=PLUG_AVERAGING_MS, version=identity.firmware,
            raw=json.dumps(info), identity=identity,
            extra={"component": self.component, **_facts(info, ("id", "fw_id", "gen", "app"))},
        )


def _facts(info: dict[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    """The device's own identifying facts beyond vendor, model, MAC and firmware."""
    return {key: str(info[key]) for key in keys if info.get(key) is not None}


class ShellyGen1Plug(MqttPlug):
    """A Shelly Gen1 device (Plug S, 1PM, EM): ``shellies/<id>/relay/<n>/power`` in watts."""

    kind = "shelly"

    def __init__(self, broker: str, topic: str, *, component: str = "relay:0", **options: Any) -> None:
        problem = component_error(component)
        if problem is not None or component.split(":")[0] not in GEN1_KINDS:
            why = problem or f"component {component!r} is not relay:<n> or emeter:<n>"
            raise AnalyzerError(f"Shelly Gen1 {why}")
        super().__init__(broker, topic, **options)
        self.component = component
        kind, index = component.split(":")
        self.power_topic = f"shellies/{topic}/{kind}/{index}/power"

    def subscriptions(self) -> list[str]:
        return [f"shellies/{self.topic}/online", self.power_topic, "shellies/announce"]

    def handle(self, topic: str, payload: bytes, t_ns: int) -> None:
        if topic == f"shellies/{self.topic}/online":
            self.set_online(payload.strip() == b"true")
        elif topic == self.power_topic:
            try:
                watts = as_float(json.loads(payload))
            except (ValueError, UnicodeDecodeError):
                watts = math.nan
            if math.isnan(watts):
                self.bad_message(topic, payload, "not a number of watts")
                return
            self.reading(t_ns, watts, math.nan, math.nan, math.nan)
        elif topic == "shellies/announce":
            body = json_object(payload)
            if body is not None and body.get("id") == self.topic:
                self.answer("announce", body)

    async def request_reading(self) -> None:
        await self.publish(f"shellies/{self.topic}/command", "update")

    async def identify(self) -> AnalyzerInfo:
        info = await self.request("announce", f"shellies/{self.topic}/command", "announce", "announce")
        mac, firmware = str(info.get("mac") or ""), str(info.get("fw_ver") or "")
        identity = MeterIdentity("Shelly", str(info.get("model") or "Shelly Gen1"), mac, firmware)
        return AnalyzerInfo(
            name=f"Shelly {self.topic}", model=identity.model, averaging_ms=PLUG_AVERAGING_MS,
            version=identity.firmware, raw=json.dumps(info), identity=identity,
            extra={"component": self.component, **_facts(info, ("id",))},
        )
