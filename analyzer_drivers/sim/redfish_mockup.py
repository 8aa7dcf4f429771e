"""The emulated BMC's DMTF-style mockup on disk, as sushy-tools' ``sushy-static`` serves it: the
resources that do not move (service root, chassis, sensors, sessions) and the atomic writes the
moving ones go through."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

CHASSIS = "/redfish/v1/Chassis/1U"
SCHEMAS = ("legacy", "environment")


def iso_time(t_ns: int) -> str:
    return dt.datetime.fromtimestamp(t_ns / 1e9, dt.timezone.utc).isoformat(timespec="microseconds")


def write_json(path: Path, body: dict[str, Any] | str) -> None:
    """Replace ``path`` atomically: sushy-static must never read a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(body if isinstance(body, str) else json.dumps(body, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def ref(uri: str) -> dict[str, str]:
    return {"@odata.id": uri}


def write_static_mockup(root: Path, schema: str) -> None:
    """The resources that do not move: service root, chassis collection, chassis, sessions."""
    if schema not in SCHEMAS:
        raise ValueError(f"schema is one of {', '.join(SCHEMAS)}, not {schema!r}")
    write_json(root / "index.json", {
        "@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot", "@odata.id": "/redfish/v1", "Id": "RootService",
        "Name": "Root Service", "RedfishVersion": "1.15.0", "Chassis": ref("/redfish/v1/Chassis"),
        "SessionService": ref("/redfish/v1/SessionService"),
        "Links": {"Sessions": ref("/redfish/v1/SessionService/Sessions")},
    })
    write_json(root / "Chassis" / "index.json", {
        "@odata.type": "#ChassisCollection.ChassisCollection", "@odata.id": "/redfish/v1/Chassis",
        "Name": "Chassis Collection", "Members@odata.count": 1, "Members": [ref(CHASSIS)],
    })
    chassis: dict[str, Any] = {
        "@odata.type": "#Chassis.v1_22_0.Chassis", "@odata.id": CHASSIS, "Id": "1U",
        "Name": "Computer System Chassis", "ChassisType": "RackMount", "Manufacturer": "PowerDirector",
        "Model": "EmulatedBMC", "PowerState": "On", "Power": ref(f"{CHASSIS}/Power"),
    }
    if schema == "environment":
        chassis["EnvironmentMetrics"] = ref(f"{CHASSIS}/EnvironmentMetrics")
        chassis["Sensors"] = ref(f"{CHASSIS}/Sensors")
    write_json(root / "Chassis" / "1U" / "index.json", chassis)
    if schema == "environment":
        write_json(root / "Chassis" / "1U" / "Sensors" / "index.json", {
            "@odata.type": "#SensorCollection.SensorCollection", "@odata.id": f"{CHASSIS}/Sensors",
            "Name": "Chassis sensors", "Members@odata.count": 2,
            "Members": [ref(f"{CHASSIS}/Sensors/TotalPower"), ref(f"{CHASSIS}/Sensors/TotalEnergy")],
        })
    write_json(root / "SessionService" / "Sessions" / "index.json", {
        "@odata.type": "#SessionCollection.SessionCollection",
        "@odata.id": "/redfish/v1/SessionService/Sessions",
        "Name": "Session Collection", "Members@odata.count": 0, "Members": [],
    })
