"""Where a BMC's chassis power is read: one pass over the chassis, a ``Plan`` of what to GET.

The resources, in the order ``schema = "auto"`` tries them on each chassis (docs/datacenter-redfish.md
cites the DMTF schema text for each; Redfish-Publications commit 26c949654e3e510800b05fa8d39cf336f10fa687):

- ``environment``: ``Chassis/<id>/EnvironmentMetrics`` ``PowerWatts`` (and ``EnergykWh``),
  the chassis' own power; an excerpt with a ``DataSourceUri`` is read from that ``Sensor``
  (``Reading``, ``ReadingTime``, ``SensingInterval``, ``Accuracy``);
- ``supplies``: ``PowerSubsystem`` → ``PowerSupplies`` → each present supply's ``Metrics``
  ``InputPowerWatts`` (PowerSupplyMetrics: "the input power, in watt units"), summed;
- ``sensors``: the chassis ``Sensors`` with ``ReadingType`` ``Power`` (``EnergykWh`` for energy)
  and ``PhysicalContext`` ``Chassis``; several are ambiguous: ``sensor = "<Id>"`` picks one;
- ``legacy``: ``Power`` ``PowerControl[*].PowerConsumedWatts``: the entries whose
  ``PhysicalContext`` is ``Chassis`` (else all) summed, every entry (``power_control = "sum"``),
  or the one whose ``MemberId`` is ``power_control``. ``PowerMetrics.IntervalInMin`` is kept apart:
  per DMTF's Power schema it is the window of ``Min``/``Max``/``AverageConsumedWatts``
  ("the average power level over the last IntervalInMin minutes"), not of
  ``PowerConsumedWatts`` ("the actual power that the chassis consumes").

A link whose target has another ``@odata.type`` (DMTF's power-shelf mockup links
``PowerSubsystem`` to its ``Sensors``) is retried at the URI the spec mandates, ``<chassis>/<Name>``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

SCHEMAS = ("auto", "environment", "supplies", "sensors", "legacy")
#: What each schema looks for, as the refusal names it.
LOOKED_FOR = {
    "environment": "EnvironmentMetrics PowerWatts",
    "supplies": "PowerSubsystem PowerSupplies Metrics InputPowerWatts",
    "sensors": "Sensors with ReadingType Power and PhysicalContext Chassis",
    "legacy": "Power PowerControl PowerConsumedWatts",
}

_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"P(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?")
CONTROL_RULES = ("auto", "sum")
Getter = Callable[[str], Awaitable[dict[str, Any] | None]]  # None: 404, not there


@dataclass(frozen=True, slots=True)
class Term:
    """One number to read each poll: ``path`` into the resource at ``uri``."""

    uri: str
    path: tuple[str | int, ...] = ("Reading",)
    timed: bool = False  # a Sensor with a ReadingTime: when the BMC read it


@dataclass(frozen=True, slots=True)
class Plan:
    """What the driver reads each poll: the sum of ``power``, and ``energy`` when used."""

    schema: str
    chassis_uri: str
    power: tuple[Term, ...]
    energy: Term | None = None
    interval_s: float | None = None  # the reading's own sensing interval, when the BMC states it
    accuracy_pct: float | None = None
    stats_interval_min: float | None = None  # PowerMetrics.IntervalInMin (Min/Max/Average only)
    described: str = ""
    supplies: tuple[str, ...] = ()  # the PowerSupply resources whose input power is summed


@dataclass(frozen=True, slots=True)
class Choice:
    """What the configuration asks for."""

    schema: str = "auto"
    chassis: str = ""
    sensor: str = ""
    power_control: str = "auto"  # auto, sum, or a MemberId (CONTROL_RULES)
    energy: str = "auto"  # auto (a counter when there is one), power, energy


def iso_duration_s(text: object) -> float | None:
    """``PT0.25S`` → 0.25 (Redfish ``SensingInterval``: an ISO 8601 duration, days to seconds)."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def link(resource: dict[str, Any], key: str) -> str | None:
    target = resource.get(key)
    uri = target.get("@odata.id") if isinstance(target, dict) else None
    return uri.split("#")[0] if isinstance(uri, str) else None


def members(collection: dict[str, Any] | None) -> list[str]:
    found = (collection or {}).get("Members", [])
    return [m["@odata.id"] for m in found if isinstance(m, dict) and isinstance(m.get("@odata.id"), str)]


def last_segment(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _typed(body: dict[str, Any] | None, type_name: str) -> bool:
    """A resource of ``type_name`` (a capture without ``@odata.type`` is taken as one)."""
    if body is None:
        return False
    odata = body.get("@odata.type")
    return not isinstance(odata, str) or odata.lstrip("#").split(".")[0] == type_name


async def linked(get: Getter, chassis_uri: str, chassis: dict[str, Any], key: str,
                 type_name: str) -> tuple[str, dict[str, Any]] | None:
    """The chassis' ``key`` resource, at its link or (mislinked) at the mandated URI."""
    uri = link(chassis, key)
    if uri is None:
        return None
    for candidate in dict.fromkeys((uri, f"{chassis_uri.rstrip('/')}/{key}")):
        body = await get(candidate)
        if _typed(body, type_name):
            assert body is not None
            return candidate, body
    return None


Found = tuple[Term, dict[str, Any]]


async def sensor_term(get: Getter, excerpt: Any, holder_uri: str, key: str) -> Found | None:
    """The term for an excerpt (``{"Reading": …, "DataSourceUri": …}``): its Sensor when the
    BMC serves it, else the excerpt in ``holder_uri``."""
    if not isinstance(excerpt, dict):
        return None
    source = excerpt.get("DataSourceUri")
    if isinstance(source, str):
        sensor = await get(source)
        if sensor is not None and "Reading" in sensor:
            return Term(source, ("Reading",), timed="ReadingTime" in sensor), sensor
    if "Reading" in excerpt:
        return Term(holder_uri, (key, "Reading")), {}
    return None


def _sensing(sensor: dict[str, Any]) -> tuple[float | None, float | None]:
    return iso_duration_s(sensor.get("SensingInterval")), number(sensor.get("Accuracy"))


class Finder:
    """Looks for power on one chassis, schema by schema; ``why`` says what each one lacked."""

    def __init__(self, get: Getter, choice: Choice, chassis_uri: str, chassis: dict[str, Any]) -> None:
        self.get, self.choice, self.uri, self.chassis = get, choice, chassis_uri, chassis
        self.why: list[str] = []

    async def plan(self) -> Plan | None:
        schemas = SCHEMAS[1:] if self.choice.schema == "auto" else (self.choice.schema,)
        for schema in schemas:
            found = await getattr(self, schema)()
            if found is not None:
                return found  # type: ignore[no-any-return]
        return None

    async def environment(self) -> Plan | None:
        found = await linked(self.get, self.uri, self.chassis, "EnvironmentMetrics", "EnvironmentMetrics")
        if found is None:
            self.why.append("no EnvironmentMetrics")
            return None
        uri, metrics = found
        power = await sensor_term(self.get, metrics.get("PowerWatts"), uri, "PowerWatts")
        if power is None:
            self.why.append("EnvironmentMetrics without PowerWatts")
            return None
        energy = await self._energy(await sensor_term(self.get, metrics.get("EnergykWh"), uri, "EnergykWh"))
        interval_s, accuracy = _sensing(power[1])
        return Plan("environment", self.uri, (power[0],), energy, interval_s, accuracy,
                    described=f"{power[0].uri} {'.'.join(map(str, power[0].path))}")

    async def _energy(self, found: Found | None) -> Term | None:
        if self.choice.energy == "power":
            return None
        if found is None and self.choice.energy == "energy":
            self.why.append("no EnergykWh counter (source = 'energy')")
        return None if found is None else found[0]

    async def supplies(self) -> Plan | None:
        found = await linked(self.get, self.uri, self.chassis, "PowerSubsystem", "PowerSubsystem")
        collection_uri = link(found[1], "PowerSupplies") if found else None
        if collection_uri is None:
            self.why.append("no PowerSubsystem PowerSupplies")
            return None
        terms, supply_uris = [], []
        for supply_uri in members(await self.get(collection_uri)):
            supply = await self.get(supply_uri) or {}
            state = supply.get("Status", {}).get("State") if isinstance(supply.get("Status"), dict) else None
            metrics_uri = link(supply, "Metrics")
            metrics = await self.get(metrics_uri) if metrics_uri and state != "Absent" else None
            term = await sensor_term(self.get, (metrics or {}).get("InputPowerWatts"), metrics_uri or "",
                                     "InputPowerWatts")
            if term is not None:
                terms.append(term[0])
                supply_uris.append(supply_uri)
        if not terms:
            self.why.append("no power supply with Metrics InputPowerWatts")
            return None
        if self.choice.energy == "energy":
            self.why.append("no chassis EnergykWh counter with supplies (source = 'energy')")
            return None
        return Plan("supplies", self.uri, tuple(terms), supplies=tuple(supply_uris),
                    described=" + ".join(f"{t.uri} {'.'.join(map(str, t.path))}" for t in terms))

    async def sensors(self) -> Plan | None:
        found = await linked(self.get, self.uri, self.chassis, "Sensors", "SensorCollection")
        if found is None:
            self.why.append("no Sensors")
            return None
        power: list[tuple[str, dict[str, Any]]] = []
        energy: list[tuple[str, dict[str, Any]]] = []
        for uri in members(found[1]):
            sensor = await self.get(uri) or {}
            named = self.choice.sensor and self.choice.sensor in (sensor.get("Id"), last_segment(uri))
            chassis_wide = sensor.get("PhysicalContext") == "Chassis" and not self.choice.sensor
            if sensor.get("ReadingType") == "Power" and (named or chassis_wide):
                power.append((uri, sensor))
            elif sensor.get("ReadingType") == "EnergykWh" and sensor.get("PhysicalContext") == "Chassis":
                energy.append((uri, sensor))
        if len(power) != 1:
            wanted = f"Power sensor {self.choice.sensor!r}" if self.choice.sensor else LOOKED_FOR["sensors"]
            names = ", ".join(last_segment(u) for u, _ in power)
            self.why.append(f"no {wanted}" if not power else
                            f"{len(power)} chassis Power sensors ({names}): set sensor = '<Id>'")
            return None
        counter = None
        if len(energy) == 1:
            counter = (Term(energy[0][0], timed="ReadingTime" in energy[0][1]), energy[0][1])
        interval_s, accuracy = _sensing(power[0][1])
        term = Term(power[0][0], timed="ReadingTime" in power[0][1])
        return Plan("sensors", self.uri, (term,), await self._energy(counter),
                    interval_s, accuracy, described=f"{power[0][0]} Reading")

    async def legacy(self) -> Plan | None:
        uri = link(self.chassis, "Power")
        power = await self.get(uri) if uri else None
        controls = (power or {}).get("PowerControl")
        entries = [(i, c) for i, c in enumerate(controls if isinstance(controls, list) else [])
                   if isinstance(c, dict) and "PowerConsumedWatts" in c]
        entries = chosen_controls(entries, self.choice.power_control)
        if uri is None or not entries:
            rule = self.choice.power_control
            chosen = "" if rule in CONTROL_RULES else f" MemberId {rule!r}"
            self.why.append("no Power" if uri is None else f"no PowerControl{chosen} with PowerConsumedWatts")
            return None
        if self.choice.energy == "energy":
            self.why.append("the Power resource has no energy counter (source = 'energy')")
            return None
        metrics = entries[0][1].get("PowerMetrics")
        minutes = number(metrics.get("IntervalInMin")) if isinstance(metrics, dict) else None
        terms = tuple(Term(uri, ("PowerControl", i, "PowerConsumedWatts")) for i, _ in entries)
        named = " + ".join(f"PowerControl[{i}].PowerConsumedWatts" for i, _ in entries)
        return Plan("legacy", self.uri, terms, stats_interval_min=minutes, described=f"{uri} {named}")


Controls = list[tuple[int, dict[str, Any]]]


def chosen_controls(entries: Controls, rule: str) -> Controls:
    """``auto``: the entries whose ``PhysicalContext`` is ``Chassis`` when there are any (an
    entry for a part, such as Lenovo XCC's CPU and memory sub-systems beside its "Server Power
    Control", is inside the chassis figure), else every entry; ``sum``: every entry; else the
    entry of that ``MemberId``."""
    if rule == "sum":
        return entries
    if rule == "auto":
        chassis = [(i, c) for i, c in entries if c.get("PhysicalContext") == "Chassis"]
        return chassis or entries
    return [(i, c) for i, c in entries if str(c.get("MemberId")) == rule]


async def find_plan(get: Getter, choice: Choice, name: str) -> tuple[Plan, dict[str, Any]]:
    """The plan and the chassis it reads; ValueError (one line) when there is none."""
    root = await get("/redfish/v1/") or {}
    collection_uri = link(root, "Chassis") or "/redfish/v1/Chassis"
    uris = members(await get(collection_uri))
    ids = [last_segment(u) for u in uris]
    if choice.chassis:
        uris = [u for u in uris if last_segment(u) == choice.chassis]
        if not uris:
            raise ValueError(f"{name}: no chassis {choice.chassis!r}; the BMC has {', '.join(ids) or 'none'}")
    reasons = []
    for uri in uris:
        chassis = await get(uri) or {}
        finder = Finder(get, choice, uri, chassis)
        plan = await finder.plan()
        if plan is not None:
            return plan, chassis
        reasons.append(f"{last_segment(uri)}: {', '.join(finder.why)}")
    looked = LOOKED_FOR.values() if choice.schema == "auto" else [LOOKED_FOR[choice.schema]]
    raise ValueError(f"{name}: no chassis power ({'; '.join(reasons) or 'no chassis'}); "
                     f"looked for {' / '.join(looked)}")
