"""Rack PDU power over SNMP (pysnmp's asyncio API, SNMPv2c or v3 authPriv).

One GET per poll carries every configured outlet and inlet, so their sum is taken at one
instant: the sample's watts. Several PDUs (or one per supply) are ``sum`` meters of a session,
merged by time. Families and their objects:

- ``raritan`` — PDU2-MIB ``measurementsOutletSensorValue`` 1.3.6.1.4.1.13742.6.5.4.3.1.4.<pdu>.<outlet>
  .<sensorType> (activePower 5 in W, activeEnergy 8 in Wh), inlets 1.3.6.1.4.1.13742.6.5.2.3.1.4
  (networkupstools/nut drivers/raritan-px2-mib.c @73efe9cacde0d0650fc3f0a364840308ce677c85), scaled
  by ``*SensorDecimalDigits`` 1.3.6.1.4.1.13742.6.3.5.4.1.7 / .3.3.4.1.7 when the agent has them
  (inferred from third-party code: an absent object means 0 digits), ``measurementPeriod``
  1.3.6.1.4.1.13742.6.3.2.4.1.2.<pdu> (s, same NUT file);
- ``apc`` — PowerNet-MIB ``rPDU2OutletMeteredStatusPower`` 1.3.6.1.4.1.318.1.1.26.9.4.3.1.7.<index>
  in W (librenms includes/discovery/sensors/apc); no energy read;
- ``sentry4`` — Sentry4-MIB ``st4OutletActivePower`` 1.3.6.1.4.1.1718.4.1.8.3.1.7.<unit>.<cord>.<outlet>
  (W, -1 = no reading) and ``st4OutletEnergy`` .8.3.1.14 (Wh) (librenms mibs/sentry/Sentry4-MIB
  @15f945c0d793e030221194f8f9bf835f70a87b64);
- ``entity`` — ENTITY-SENSOR-MIB (RFC 3433) ``entPhySensorValue`` 1.3.6.1.2.1.99.1.1.1.4.<index>
  with ``entPhySensorType`` .1 = watts(6), ``entPhySensorScale`` .2 (units(9), 10^3 per step) and
  ``entPhySensorPrecision`` .3 (decimal places).

SNMP carries no timestamps: where the outlets have energy counters, counters that stand still
while the power says they should have moved are an agent that stopped updating (no samples).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo, PacedSampler, RangelessAnalyzer
from analyzer_drivers.formats.sample import ERROR_READING, Sample

try:  # optional: pip install 'power-director[datacenter]'
    from pysnmp.hlapi.v3arch import asyncio as snmp
except ImportError:  # pragma: no cover
    snmp = None

STALE_UNITS = 2  # counter steps a frozen agent's counters must have missed
SOURCES = ("power", "energy")
AUTH_PROTOCOLS = ("SHA", "SHA256", "MD5")
PRIV_PROTOCOLS = ("AES", "AES256", "DES")
_RARITAN = "1.3.6.1.4.1.13742.6"
_ENTITY = "1.3.6.1.2.1.99.1.1.1"


@dataclass(frozen=True, slots=True)
class Family:
    """Where a PDU family keeps a point's power (and energy), with ``{i}`` for its index."""

    power: str
    energy: str | None = None
    joules_per_unit: float = 3600.0  # Wh
    wraps_at: int = 2**32
    digits: str | None = None  # Raritan: decimal digits of the power ({i}) and energy ({e}) values
    period: str | None = None  # the agent's measurement period, s


OUTLET_FAMILIES: dict[str, Family] = {
    "raritan": Family(
        f"{_RARITAN}.5.4.3.1.4.{{i}}.5",
        f"{_RARITAN}.5.4.3.1.4.{{i}}.8",
        digits=f"{_RARITAN}.3.5.4.1.7.{{i}}",
        period=f"{_RARITAN}.3.2.4.1.2.{{pdu}}",
    ),
    "apc": Family("1.3.6.1.4.1.318.1.1.26.9.4.3.1.7.{i}"),
    "sentry4": Family(
        "1.3.6.1.4.1.1718.4.1.8.3.1.7.{i}", "1.3.6.1.4.1.1718.4.1.8.3.1.14.{i}", wraps_at=2**31
    ),
    "entity": Family(f"{_ENTITY}.4.{{i}}"),
}
INLET_FAMILIES: dict[str, Family] = {
    "raritan": Family(
        f"{_RARITAN}.5.2.3.1.4.{{i}}.5",
        f"{_RARITAN}.5.2.3.1.4.{{i}}.8",
        digits=f"{_RARITAN}.3.3.4.1.7.{{i}}",
        period=f"{_RARITAN}.3.2.4.1.2.{{pdu}}",
    ),
}
FAMILIES = tuple(OUTLET_FAMILIES)
ENTITY_WATTS = 6
ENTITY_UNITS_SCALE = 9


@dataclass(frozen=True, slots=True)
class Point:
    """One outlet or inlet: its OIDs and how to turn raw integers into W and J."""

    label: str
    power_oid: str
    energy_oid: str | None
    watts_per_unit: float
    joules_per_unit: float
    wraps_at: int


@dataclass(frozen=True, slots=True)
class SnmpCredentials:
    version: str = "2c"  # or "3" (authPriv)
    community: str = "public"
    user: str = ""
    auth_key: str = ""
    priv_key: str = ""
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"
    context: str = ""


class SnmpPduAnalyzer(RangelessAnalyzer):
    """The summed active power of a PDU's chosen outlets and inlets."""

    reads_volts_amps = False

    def __init__(
        self,
        host: str,
        port: int = 161,
        *,
        family: str = "raritan",
        outlets: Sequence[str] = (),
        inlets: Sequence[str] = (),
        credentials: SnmpCredentials | None = None,
        timeout_s: float = 2.0,
        source: str = "power",
    ) -> None:
        if snmp is None:
            raise AnalyzerError("the snmp driver needs pip install 'power-director[datacenter]'")
        if family not in OUTLET_FAMILIES or source not in SOURCES:
            raise AnalyzerError(f"snmp family {family!r} / source {source!r} not known")
        if not outlets and not inlets:
            raise AnalyzerError("snmp: name at least one outlet or inlet")
        if inlets and family not in INLET_FAMILIES:
            raise AnalyzerError(f"snmp: family {family!r} has no inlet objects here; use outlets")
        self.host, self.port, self.family, self.source = host, port, family, source
        self.outlets, self.inlets = tuple(outlets), tuple(inlets)
        self.credentials = credentials or SnmpCredentials()
        self.timeout_s = timeout_s
        self.name = f"snmp-{host}-{port}"
        self.points: list[Point] = []
        self.period_s: float | None = None
        self._engine: Any = None
        self._target: Any = None
        self._sampling = PacedSampler(self.name, timeout_s)

    # --- connection -----------------------------------------------------------------------
    def _auth(self) -> Any:
        creds = self.credentials
        if creds.version == "2c":
            return snmp.CommunityData(creds.community, mpModel=1)
        auth = {
            "SHA": snmp.usmHMACSHAAuthProtocol,
            "SHA256": snmp.usmHMAC192SHA256AuthProtocol,
            "MD5": snmp.usmHMACMD5AuthProtocol,
        }[creds.auth_protocol]
        priv = {
            "AES": snmp.usmAesCfb128Protocol,
            "AES256": snmp.usmAesCfb256Protocol,
            "DES": snmp.usmDESPrivProtocol,
        }[creds.priv_protocol]
        return snmp.UsmUserData(
            creds.user, creds.auth_key, creds.priv_key, authProtocol=auth, privProtocol=priv
        )

    async def connect(self) -> None:
        self._engine = snmp.SnmpEngine()
        try:
            self._target = await snmp.UdpTransportTarget.create(
                (self.host, self.port), timeout=self.timeout_s, retries=0
            )
        except Exception as exc:  # pysnmp raises its own error types for a bad address
            self._close_engine()
            raise AnalyzerError(f"{self.name}: {exc}") from exc
        if not self.points:
            self.points = await self._discover()

    async def get(self, oids: Sequence[str]) -> list[Any]:
        """One GET of ``oids``: each value, or None where the agent has no such object."""
        context = (
            snmp.ContextData(contextName=self.credentials.context)
            if self.credentials.context
            else snmp.ContextData()
        )
        try:
            error, status, index, binds = await snmp.get_cmd(
                self._engine,
                self._auth(),
                self._target,
                context,
                *(snmp.ObjectType(snmp.ObjectIdentity(oid)) for oid in oids),
            )
        except Exception as exc:  # pysnmp's failures are not one exception type
            raise AnalyzerError(f"{self.name}: SNMP GET failed: {exc}") from exc
        if error:
            hint = " (or the SNMPv3 credentials were refused)" if self.credentials.version == "3" else ""
            raise AnalyzerError(f"{self.name}: {error}{hint}")
        if status:
            raise AnalyzerError(f"{self.name}: agent says {status.prettyPrint()} at varbind {index}")
        values: list[Any] = []
        for _, value in binds:
            values.append(
                None
                if value.__class__.__name__ in ("NoSuchObject", "NoSuchInstance", "EndOfMibView")
                else int(value)
            )
        return values

    async def _discover(self) -> list[Point]:
        points = [await self._point(f"outlet {i}", OUTLET_FAMILIES[self.family], i) for i in self.outlets]
        points += [await self._point(f"inlet {i}", INLET_FAMILIES[self.family], i) for i in self.inlets]
        family = OUTLET_FAMILIES[self.family]
        if family.period:
            pdu = (self.outlets or self.inlets)[0].split(".")[0]
            (period,) = await self.get([family.period.format(pdu=pdu)])
            self.period_s = float(period) if period else None
        return points

    async def _point(self, label: str, family: Family, index: str) -> Point:
        power_oid = family.power.format(i=index)
        energy_oid = family.energy.format(i=index) if family.energy else None
        watts_per_unit, joules_per_unit = 1.0, family.joules_per_unit
        if self.family == "entity":
            kind, scale, precision = await self.get([f"{_ENTITY}.{k}.{index}" for k in (1, 2, 3)])
            if kind != ENTITY_WATTS:
                raise AnalyzerError(f"{self.name}: entPhySensorType.{index} is {kind}, not watts(6)")
            watts_per_unit = 10.0 ** (
                3 * ((scale or ENTITY_UNITS_SCALE) - ENTITY_UNITS_SCALE) - (precision or 0)
            )
        elif family.digits:
            power_digits, energy_digits = await self.get(
                [family.digits.format(i=index) + ".5", family.digits.format(i=index) + ".8"]
            )
            watts_per_unit = 10.0 ** -(power_digits or 0)
            joules_per_unit *= 10.0 ** -(energy_digits or 0)
        first = await self.get([power_oid])
        if first[0] is None:
            raise AnalyzerError(
                f"{self.name}: the agent has no {self.family} power object {power_oid} ({label})"
            )
        return Point(label, power_oid, energy_oid, watts_per_unit, joules_per_unit, family.wraps_at)

    def _close_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            with contextlib.suppress(Exception):
                engine.close_dispatcher()

    async def close(self) -> None:
        await self.stop()
        self._close_engine()

    async def identify(self) -> AnalyzerInfo:
        labels = ", ".join(p.label for p in self.points)
        return AnalyzerInfo(
            name=f"SNMP PDU ({self.family})",
            model=f"PDU-{self.family.upper()}",
            averaging_ms=round(1000 * self.period_s) if self.period_s else 0,
            raw=labels,
            extra={
                "family": self.family,
                "points": labels,
                "source": self.source,
                "snmp_version": self.credentials.version,
            },
        )

    # --- readings -------------------------------------------------------------------------
    async def read(self) -> list[int | None]:
        oids = [p.power_oid for p in self.points] + [p.energy_oid for p in self.points if p.energy_oid]
        return await self.get(oids)

    async def start(self, mark: str, interval_ms: int) -> None:
        readings = PduReadings(self.points, use_energy=self.source == "energy")

        async def next_sample() -> Sample | None:
            return readings.accept(time.time_ns(), await self.read())

        self._sampling.start(interval_ms, next_sample)

    async def poll(self) -> list[Sample]:
        return self._sampling.drain()

    async def stop(self) -> None:
        await self._sampling.stop()

    async def reconnect(self) -> None:
        await self.stop()
        self._close_engine()
        await self.connect()

    async def resume(self, mark: str, interval_ms: int) -> bool:
        """The PDU kept measuring; only readings it made while we were away are missed."""
        await self.start(mark, interval_ms)
        return False


class PduReadings:
    """Polls to samples: the power sum, or with ``use_energy`` ΔE/Δt from the energy counters (a
    counter that went down has wrapped once). A missing or negative power value is an error
    reading (-1). SNMP carries no timestamps, so a steady load and a frozen agent look alike;
    where the outlets have energy counters, counters that stay still while the power read says
    they should have moved ``STALE_UNITS`` steps are a frozen agent: no new sample."""

    def __init__(self, points: Sequence[Point], use_energy: bool = False) -> None:
        self.points = list(points)
        self.metered = [p for p in self.points if p.energy_oid]
        self.use_energy = use_energy
        self._still: tuple[int, list[int]] | None = None  # since when the counters have not moved
        self._energy: tuple[int, list[int]] | None = None  # the last ΔE/Δt baseline

    def accept(self, t_ns: int, values: list[int | None]) -> Sample | None:
        powers, energies = values[: len(self.points)], values[len(self.points) :]
        if any(v is None or v < 0 for v in powers):
            return Sample(t_ns, ERROR_READING)
        watts = sum(float(v or 0) * p.watts_per_unit for v, p in zip(powers, self.points, strict=True))
        counters = [int(e) for e in energies if e is not None]
        if len(counters) != len(self.metered) or not counters:
            return None if self.use_energy else Sample(t_ns, watts)
        if self._frozen(t_ns, watts, counters):
            return None
        return self._from_energy(t_ns, watts, counters) if self.use_energy else Sample(t_ns, watts)

    def _frozen(self, t_ns: int, watts: float, counters: list[int]) -> bool:
        if self._still is None or counters != self._still[1]:
            self._still = (t_ns, counters)
            return False
        unit_j = max(p.joules_per_unit for p in self.metered)
        return watts * (t_ns - self._still[0]) / 1e9 / unit_j > STALE_UNITS

    def _from_energy(self, t_ns: int, watts: float, counters: list[int]) -> Sample | None:
        previous = self._energy
        if previous is not None and counters == previous[1]:
            return None  # no new energy yet: wait for the counters to move
        self._energy = (t_ns, counters)
        if previous is None:
            return Sample(t_ns, watts)  # the counters' baseline: the power read with it
        joules = 0.0
        for old, new, point in zip(previous[1], counters, self.metered, strict=True):
            delta = new - old
            joules += (delta + point.wraps_at if delta < 0 else delta) * point.joules_per_unit
        span_s = (t_ns - previous[0]) / 1e9
        return Sample(t_ns, joules / span_s if span_s > 0 else math.nan)
