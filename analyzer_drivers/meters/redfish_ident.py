"""Which device a BMC's power reading comes from, as its Redfish resources name it.

DMTF's schemas (Redfish-Publications 26c949654e3e510800b05fa8d39cf336f10fa687, ``json-schema/``
``Chassis.v1_28_0``, ``PowerSupply.v1_6_0``, ``PowerDistribution.v1_6_0``, ``Manager.v1_24_0``)
give each of these resources ``Manufacturer`` ("the name of the organization responsible for
producing …"), ``Model``, ``SerialNumber`` ("a manufacturer-allocated number") and ``PartNumber``.
``PowerSupply``, ``PowerDistribution`` and ``Manager`` have ``FirmwareVersion``; ``Chassis`` has
none (its ``Version`` is "the hardware version"), so a chassis' firmware is its manager's
(``Links.ManagedBy``), the BMC that serves the reading.

The device is the one ``PowerSupply`` whose ``InputPowerWatts`` is the reading, else the
chassis' ``Links.PowerDistribution`` (a rack PDU, a power shelf) when it has one, else the
chassis; the first of these that names a ``Manufacturer`` or ``Model``.
A property the BMC does not give, or a resource it does not serve, is an empty field: reading
who the meter is never makes a reading fail.
"""

from __future__ import annotations

from typing import Any

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.meters.redfish_plan import Getter, Plan, link

#: ``AnalyzerInfo.model`` when the device states no ``Model``.
KIND = "REDFISH-BMC"


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


async def _fetch(get: Getter, uri: str | None) -> dict[str, Any]:
    if not uri:
        return {}
    try:
        return await get(uri) or {}
    except AnalyzerError:  # the reading has its own GETs; who the meter is may stay unknown
        return {}


def _linked(chassis: dict[str, Any], key: str) -> str | None:
    """The first ``Links.<key>`` of the chassis (a link or an array of links)."""
    links = chassis.get("Links")
    target = links.get(key) if isinstance(links, dict) else None
    if isinstance(target, list):
        target = target[0] if target else None
    return link({key: target}, key)


async def device_identity(get: Getter, plan: Plan, chassis: dict[str, Any]
                          ) -> tuple[MeterIdentity, dict[str, str]]:
    """The identity of the device the reading comes from, and what else the BMC said of it
    (``identity_uri``, ``part_number``, the manager's firmware)."""
    uri, device = plan.chassis_uri, chassis
    supply = plan.supplies if len(plan.supplies) == 1 else ()  # several summed: no one supply measures
    for candidate in (*supply, _linked(chassis, "PowerDistribution")):
        body = await _fetch(get, candidate)
        if _text(body.get("Manufacturer")) or _text(body.get("Model")):
            uri, device = str(candidate), body
            break
    manager_firmware = _text((await _fetch(get, _linked(chassis, "ManagedBy"))).get("FirmwareVersion"))
    firmware = _text(device.get("FirmwareVersion"))
    if not firmware and device is chassis:
        firmware = manager_firmware
    identity = MeterIdentity(_text(device.get("Manufacturer")), _text(device.get("Model")),
                             _text(device.get("SerialNumber")), firmware)
    said = {"identity_uri": uri, "part_number": _text(device.get("PartNumber")),
            "manager_firmware": manager_firmware}
    return identity, {key: value for key, value in said.items() if value}
