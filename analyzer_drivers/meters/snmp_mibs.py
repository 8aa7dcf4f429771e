"""Where each PDU family's MIB keeps power and energy: one ``Source`` per table a real agent
answers (device, inlet/input cord, phase, outlet, …), in the order ``snmp_source = "auto"`` tries
them. ``{i}`` in an OID is the row index; a row index is found by walking the column before it.

Sources of these facts (the MIB texts; see docs/datacenter-snmp.md for the recordings):

- APC PowerNet-MIB (netdisco/netdisco-mibs apc/powernet.mib @27ee78736ffec9b2171eddefafd3f7caa8cb7c4b):
  rPDU2DeviceStatusPower {rPDU2DeviceStatusEntry 5} = .318.1.1.26.4.3.1.5 "in hundredths of kilowatts
  … Models that do not support this feature will respond … -1"; rPDU2DeviceStatusEnergy {… 9} "tenths
  of kilowatt-hours"; rPDU2PhaseStatusPower {rPDU2PhaseStatusEntry 7} = .26.6.3.1.7 "hundredths of
  kilowatts"; rPDU2OutletMeteredStatusPower {rPDU2OutletMeteredStatusEntry 7} = .26.9.4.3.1.7 (no unit
  in the MIB: W, as LibreNMS and NUT read it), …Energy {… 11} tenths of kWh; rPDUIdentDevicePowerWatts
  {rPDUIdent 16} = .318.1.1.12.1.16 "the Power in Watts" (first-generation rPDU).
- Sentry4-MIB (librenms/librenms mibs/sentry/Sentry4-MIB @15f945c0d793e030221194f8f9bf835f70a87b64):
  st4InputCordActivePower {st4InputCordMonitorEntry 3} = .1718.4.1.3.3.1.3.<unit>.<cord> "Watts"
  (-1..50000), st4InputCordEnergy {… 10} "tenth Kilowatt-Hours"; st4OutletActivePower
  .1718.4.1.8.3.1.7 W, st4OutletEnergy .8.3.1.14 Wh.
- Sentry3-MIB (netdisco-mibs sentry/Sentry3.mib, same commit): infeedPower {infeedEntry 12} =
  .1718.3.2.2.1.12.<tower>.<infeed> "Watts … A negative value indicates that the active power
  consumption was not available", infeedEnergy {infeedEntry 16} "tenth Kilowatt-Hours".
- Raritan PDU2-MIB (librenms mibs/raritan/PDU2-MIB @09eac1f151609e9189e70a79cdc6927fe1a22878 and NUT
  drivers/raritan-px2-mib.c @73efe9cacde0d0650fc3f0a364840308ce677c85): inletSensorMeasurementsEntry
  {pduId, inletId, sensorType} under measurementsInlet 3 = .13742.6.5.2.3.1, outlets .6.5.4.3.1:
  measurementsInletSensorIsAvailable 2 (TruthValue, "Is the sensor available?"), …State 3
  (SensorStateEnumeration, unavailable = -1), …Value 4 ("should be scaled by inletSensorDecimalDigits"
  .6.3.3.4.1.7; outlets .6.3.5.4.1.7), …TimeStamp 5 ("The timestamp.", Unsigned32: compared for
  change only); sensorType activePower 5 (W), activeEnergy 8 (Wh). Not read: the unit-level table
  (measurementsUnit 3) of multi-inlet PDUs, which no recording here has.
- ENTITY-SENSOR-MIB (RFC 3433; netdisco-mibs rfc/ENTITY-SENSOR-MIB.txt): entPhySensorValue .99.1.1.1.4
  with entPhySensorType .1 = watts(6), entPhySensorScale .2 (units(9), 10^3 per step),
  entPhySensorPrecision .3 (decimal places), entPhySensorOperStatus .5: "ok(1) indicates that the agent
  can obtain the sensor value", unavailable(2), nonoperational(3).
- UPS-MIB (RFC 1628; netdisco-mibs rfc/UPS-MIB.txt): upsOutputPower {upsOutputEntry 4} =
  1.3.6.1.2.1.33.1.4.4.1.4.<line>, UNITS "Watts", "The present output true power".
"""

from __future__ import annotations

from dataclasses import dataclass

RARITAN = "1.3.6.1.4.1.13742.6"
ENTITY = "1.3.6.1.2.1.99.1.1.1"
_APC = "1.3.6.1.4.1.318.1.1"
_SENTRY = "1.3.6.1.4.1.1718"
RARITAN_UNAVAILABLE = -1  # SensorStateEnumeration unavailable(-1)
TRUE = 1  # SNMPv2-TC TruthValue true(1)
ENTITY_OK = 1
ENTITY_WATTS = 6
ENTITY_UNITS_SCALE = 9


@dataclass(frozen=True, slots=True)
class Source:
    """One table of power readings: ``power`` (and ``energy``) OIDs with ``{i}`` for the row."""

    name: str
    power: str
    watts_per_unit: float = 1.0
    energy: str | None = None
    joules_per_unit: float = 3600.0  # Wh
    wraps_at: int = 2**31
    inlet: bool = False  # `inlets = [...]` in the config names this source's rows
    digits: str | None = None  # Raritan: decimal digits of the power ({i}.5) and energy ({i}.8)
    available: str | None = None  # Raritan IsAvailable: a reading only when true(1)
    state: str | None = None  # Raritan sensor state: unavailable(-1) is no reading
    timestamp: str | None = None  # Raritan: when the PDU took the reading (s since 1970)
    status: str | None = None  # ENTITY-SENSOR oper status: a reading only when ok(1)

    @property
    def column(self) -> str:
        """The OID to walk for this source's rows."""
        return self.power.split(".{i}")[0]

    @property
    def suffix(self) -> str:
        return self.power.split("{i}")[1]

    def row(self, oid: str) -> str | None:
        """The row index of a walked ``oid`` in this source, or None if it is another column's."""
        head = self.column + "."
        if not oid.startswith(head) or not oid.endswith(self.suffix):
            return None
        index = oid[len(head) : len(oid) - len(self.suffix)]
        return index or None


def _raritan(name: str, table: str, digits: str, inlet: bool) -> Source:
    column = f"{RARITAN}.5.{table}.3.1"
    return Source(
        name,
        f"{column}.4.{{i}}.5",
        energy=f"{column}.4.{{i}}.8",
        wraps_at=2**32,
        inlet=inlet,
        digits=f"{RARITAN}.3.{digits}.4.1.7.{{i}}",
        available=f"{column}.2.{{i}}.5",
        state=f"{column}.3.{{i}}.5",
        timestamp=f"{column}.5.{{i}}.5",
    )


FAMILIES: dict[str, tuple[Source, ...]] = {
    "raritan": (_raritan("inlet", "2", "3", True), _raritan("outlet", "4", "5", False)),
    "apc": (
        Source("device", f"{_APC}.26.4.3.1.5.{{i}}", 10.0, f"{_APC}.26.4.3.1.9.{{i}}", 360_000.0),
        Source("phase", f"{_APC}.26.6.3.1.7.{{i}}", 10.0),
        Source("outlet", f"{_APC}.26.9.4.3.1.7.{{i}}", 1.0, f"{_APC}.26.9.4.3.1.11.{{i}}", 360_000.0),
        Source("ident", f"{_APC}.12.1.16.{{i}}"),
    ),
    "sentry4": (
        Source("cord", f"{_SENTRY}.4.1.3.3.1.3.{{i}}", 1.0, f"{_SENTRY}.4.1.3.3.1.10.{{i}}", 360_000.0,
               inlet=True),
        Source("outlet", f"{_SENTRY}.4.1.8.3.1.7.{{i}}", 1.0, f"{_SENTRY}.4.1.8.3.1.14.{{i}}"),
    ),
    "sentry3": (
        Source("infeed", f"{_SENTRY}.3.2.2.1.12.{{i}}", 1.0, f"{_SENTRY}.3.2.2.1.16.{{i}}", 360_000.0,
               inlet=True),
    ),
    "entity": (Source("sensor", f"{ENTITY}.4.{{i}}", status=f"{ENTITY}.5.{{i}}"),),
    "ups": (Source("output", "1.3.6.1.2.1.33.1.4.4.1.4.{i}"),),
}
SOURCE_NAMES = {family: tuple(s.name for s in sources) for family, sources in FAMILIES.items()}


def source(family: str, name: str) -> Source:
    return next(s for s in FAMILIES[family] if s.name == name)


def outlet_source(family: str) -> Source:
    """The source that ``outlets = [...]`` names rows of (entity: its sensors; ups: its lines)."""
    sources = FAMILIES[family]
    return next((s for s in sources if s.name == "outlet"), sources[-1])


def inlet_source(family: str) -> Source | None:
    return next((s for s in FAMILIES[family] if s.inlet), None)
