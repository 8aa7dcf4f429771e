"""The payloads a simulated plug publishes, shaped as the firmware's (field names and rounding
as in tests/fixtures/plug_real.py: Tasmota ENERGY, one channel or lists; Shelly Gen2+ switch,
pm1, em1 and em component statuses; Shelly Gen1 plain watts)."""

from __future__ import annotations

import math
from typing import Any

from analyzer_drivers.formats.sample import Sample

FIRMWARE = {"tasmota": "13.4.0(tasmota)", "shelly": "1.4.4-g6d2a586",
            "shelly-gen1": "20230913-114244/v1.14.0-gcb84623"}
SHELLY_MODEL = "SNPL-00112EU"


def identity_replies(topic: str) -> dict[str, dict[str, Any]]:
    """A made-up device's answers to identify requests, shaped as real ones
    (tests/fixtures/plug_real.py): Tasmota's ``STATUS2``, ``STATUS5`` and ``STATUS``, Shelly's
    GetDeviceInfo result, Gen1's announce."""
    return {
        "STATUS2": {"StatusFWR": {"Version": FIRMWARE["tasmota"], "Core": "2_7_4_9",
                                  "Hardware": "ESP8266EX"}},
        "STATUS5": {"StatusNET": {"Hostname": f"{topic}-1234", "Mac": "2C:3A:E8:00:12:34"}},
        "STATUS": {"Status": {"Module": 1, "DeviceName": topic, "FriendlyName": [topic], "Topic": topic}},
        "GetDeviceInfo": {"name": None, "id": f"shellyplusplugs-{topic}", "mac": "C4DD57001234",
                          "model": SHELLY_MODEL, "gen": 2, "ver": FIRMWARE["shelly"], "app": "PlusPlugS"},
        "announce": {"id": topic, "model": "SHPLG-S", "mac": "C45BBE18B12A", "ip": "127.0.0.1",
                     "new_fw": False, "fw_ver": FIRMWARE["shelly-gen1"]},
    }


def whole(value: float) -> float:
    """Rounded to a whole number as Tasmota prints it; NaN and infinities stay."""
    return round(value) if math.isfinite(value) else value


def shares(channels: int) -> list[float]:
    """How a multi-channel plug's load is spread: channel k carries (channels - k) parts, so the
    channels differ (2 channels: 2/3 and 1/3)."""
    parts = [channels - k for k in range(channels)]
    return [p / sum(parts) for p in parts]


def tasmota_energy(reading: Sample, energy_wh: float, channels: int = 1) -> dict[str, Any]:
    """Tasmota's ENERGY block: whole watts and volts (WattRes 0, VoltRes 0), 3-decimal amps;
    every value a list, one entry per channel, on a multi-channel device."""
    if channels == 1:
        return _tasmota_channel(reading, energy_wh)
    parts = [_tasmota_channel(Sample(reading.t_ns, reading.watts * s, reading.volts, reading.amps * s,
                                     reading.pf), energy_wh * s) for s in shares(channels)]
    energy: dict[str, Any] = {"Total": round(energy_wh / 1000, 3)}
    for key in ("Power", "ApparentPower", "ReactivePower", "Factor", "Voltage", "Current"):
        energy[key] = [part[key] for part in parts]
    return energy


def _tasmota_channel(reading: Sample, energy_wh: float) -> dict[str, Any]:
    apparent = reading.volts * reading.amps
    return {
        "Total": round(energy_wh / 1000, 3),
        "Power": whole(reading.watts),
        "ApparentPower": whole(apparent),
        "ReactivePower": whole(max(0.0, apparent**2 - reading.watts**2) ** 0.5),
        "Factor": round(reading.pf, 2),
        "Voltage": whole(reading.volts),
        "Current": round(reading.amps, 3),
    }


def shelly_status(component: str, reading: Sample, energy_wh: float) -> dict[str, Any]:
    """A Gen2+ component's status for a reading (power to 0.1 W, as the firmware prints it)."""
    kind, index = component.split(":")
    watts, volts, amps, pf = round(reading.watts, 1), round(reading.volts, 1), round(reading.amps, 3), \
        round(reading.pf, 2)
    common = {"id": int(index)}
    if kind == "switch":
        return {**common, "output": True, "apower": watts, "voltage": volts, "current": amps, "pf": pf,
                "aenergy": {"total": round(energy_wh, 3)}}
    if kind == "pm1":
        return {**common, "voltage": volts, "current": amps, "apower": watts, "freq": 50.0,
                "aenergy": {"total": round(energy_wh, 3)}, "ret_aenergy": {"total": 0.0}}
    apparent = round(reading.volts * reading.amps, 1)
    if kind == "em1":
        return {**common, "current": amps, "voltage": volts, "act_power": watts, "aprt_power": apparent,
                "pf": pf, "freq": 50, "calibration": "factory"}
    # em: the load on phase a alone; b and c idle at the same voltage.
    phases: dict[str, Any] = {}
    for phase, share in (("a", 1.0), ("b", 0.0), ("c", 0.0)):
        phases.update({f"{phase}_act_power": round(reading.watts * share, 1),
                       f"{phase}_aprt_power": round(apparent * share, 1),
                       f"{phase}_current": round(reading.amps * share, 3),
                       f"{phase}_pf": pf if share else 0.0, f"{phase}_voltage": volts})
    return {**common, **phases, "n_current": None, "total_act_power": round(reading.watts, 3),
            "total_aprt_power": round(reading.volts * reading.amps, 3), "total_current": amps}


def shelly_delta(status: dict[str, Any], last_sent: dict[str, Any]) -> dict[str, Any]:
    """What NotifyStatus carries: power and current always, the rest when it moved."""
    always = ("id", "apower", "act_power", "total_act_power", "current", "total_current", "aenergy")
    delta = {k: v for k, v in status.items() if k in always}
    for key, value in status.items():
        if key not in always and last_sent.get(key) != value:
            delta[key] = last_sent[key] = value
    return delta


def gen1_watts(reading: Sample) -> str:
    """Gen1's relay/<n>/power payload: a plain number of watts."""
    return f"{reading.watts:.2f}"
