"""Rack PDU power over SNMP (pysnmp's asyncio API, SNMPv2c or v3 authPriv).

One GET per poll carries every point (outlet, inlet, phase, input cord, the device total …), so
their sum is taken at one instant: the sample's watts. Which table the points come from is the
``snmp_source``: ``auto`` walks the family's sources in order (``analyzer_drivers.meters.snmp_mibs``, where
every OID, unit and decimal-digit rule is cited from its MIB) and takes the first whose rows answer
a reading; a named source, or ``outlets``/``inlets`` rows, pin it. A reading the MIB marks as none
(-1 "not supported", a Raritan sensor not available or in state unavailable, an ENTITY-SENSOR whose
entPhySensorOperStatus is not ok(1)) is an error reading, never 0 W.

Where the agent stamps its readings (Raritan measurementsInletSensorTimeStamp) a poll whose stamps
did not move is the same reading again: no new sample. Elsewhere SNMP carries no timestamps: where
the points have energy counters, counters that stand still while the power says they should have
moved are an agent that stopped updating (no samples).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo, PacedSampler, RangelessAnalyzer
from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.meters.snmp_ident import ident_oids, identity_of
from analyzer_drivers.meters.snmp_mibs import (
    ENTITY,
    ENTITY_OK,
    ENTITY_UNITS_SCALE,
    ENTITY_WATTS,
    FAMILIES,
    RARITAN,
    RARITAN_UNAVAILABLE,
    TRUE,
    Source,
    inlet_source,
    outlet_source,
    source,
)
from analyzer_drivers.meters.snmp_readings import STALE_UNITS, Gate, PduReadings, Point, _point_oids, _reading

__all__ = ["STALE_UNITS", "Gate", "PduReadings", "Point", "SnmpCredentials", "SnmpPduAnalyzer"]

try:  # optional: pip install 'power-director[datacenter]'
    from pysnmp.hlapi.v3arch import asyncio as snmp
except ImportError:  # pragma: no cover
    snmp = None

SOURCES = ("power", "energy")
AUTH_PROTOCOLS = ("SHA", "SHA256", "MD5")
PRIV_PROTOCOLS = ("AES", "AES256", "DES")
FAMILY_NAMES = tuple(FAMILIES)
_PERIOD = f"{RARITAN}.3.2.4.1.2.{{pdu}}"  # Raritan measurementPeriod, s
_NO_OBJECT = ("NoSuchObject", "NoSuchInstance", "EndOfMibView")


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
    """The summed active power of a PDU's points, from the source its agent answers."""

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
        snmp_source: str = "auto",
    ) -> None:
        if snmp is None:
            raise AnalyzerError("the snmp driver needs pip install 'power-director[datacenter]'")
        if family not in FAMILIES or source not in SOURCES:
            raise AnalyzerError(f"snmp family {family!r} / source {source!r} not known")
        if snmp_source != "auto" and snmp_source not in (s.name for s in FAMILIES[family]):
            raise AnalyzerError(f"snmp: family {family!r} has no source {snmp_source!r}")
        if inlets and inlet_source(family) is None:
            raise AnalyzerError(f"snmp: family {family!r} has no inlet objects here; use outlets")
        self.host, self.port, self.family, self.source = host, port, family, source
        self.snmp_source = snmp_source
        self.outlets, self.inlets = tuple(outlets), tuple(inlets)
        self.credentials = credentials or SnmpCredentials()
        self.timeout_s = timeout_s
        self.name = f"snmp-{host}-{port}"
        self.points: list[Point] = []
        self.used_source = ""
        self.period_s: float | None = None
        self._engine: Any = None
        self._target: Any = None
        #: Who the agent says it is (``snmp_ident``), read once, and what else it said of itself.
        self.identity: tuple[MeterIdentity, dict[str, str]] | None = None
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

    async def get(self, oids: Sequence[str]) -> list[int | None]:
        """One GET of ``oids``: each value, or None where the agent has no such object."""
        return [_integer(self.name, oid, value) for oid, value in await self._get(oids)]

    async def _get(self, oids: Sequence[str]) -> list[tuple[str, Any]]:
        try:
            error, status, index, binds = await snmp.get_cmd(
                self._engine,
                self._auth(),
                self._target,
                self._context(),
                *(snmp.ObjectType(snmp.ObjectIdentity(oid)) for oid in oids),
            )
        except Exception as exc:  # pysnmp's failures are not one exception type
            raise AnalyzerError(f"{self.name}: SNMP GET failed: {exc}") from exc
        if error:
            hint = (" (or the SNMPv3 credentials were refused)" if self.credentials.version == "3"
                    else " (no agent there, or it refused the community)")
            raise AnalyzerError(f"{self.name}: {error}{hint}")
        if status:
            raise AnalyzerError(f"{self.name}: agent says {status.prettyPrint()} at varbind {index}")
        return [(str(oid), value) for oid, value in binds]

    def _context(self) -> Any:
        if self.credentials.context:
            return snmp.ContextData(contextName=self.credentials.context)
        return snmp.ContextData()

    async def walk(self, column: str) -> list[tuple[str, int | None]]:
        """Every (OID, value) under ``column`` (GETNEXT until the agent leaves it)."""
        found: list[tuple[str, int | None]] = []
        try:
            async for error, status, _, binds in snmp.walk_cmd(
                self._engine, self._auth(), self._target, self._context(),
                snmp.ObjectType(snmp.ObjectIdentity(column)), lexicographicMode=False,
            ):
                if error or status:
                    raise AnalyzerError(f"{self.name}: walking {column}: {error or status.prettyPrint()}")
                found += [(str(oid), _integer(self.name, str(oid), value)) for oid, value in binds]
        except AnalyzerError:
            raise
        except Exception as exc:  # pysnmp's failures are not one exception type
            raise AnalyzerError(f"{self.name}: SNMP walk failed: {exc}") from exc
        return found

    async def _discover(self) -> list[Point]:
        await self._get(["1.3.6.1.2.1.1.1.0"])  # sysDescr: a wrong community or key fails here, once
        if self.outlets or self.inlets:
            points = await self._named_points()
        else:
            points = await self._auto_points()
        if self.family == "raritan":
            pdu = points[0].power_oid.split(".")[len(RARITAN.split(".")) + 5]
            (period,) = await self.get([_PERIOD.format(pdu=pdu)])
            self.period_s = float(period) if period else None
        return points

    async def _named_points(self) -> list[Point]:
        outlet, inlet = outlet_source(self.family), inlet_source(self.family)
        points = [await self._point(outlet, i, f"{outlet.name} {i}") for i in self.outlets]
        if inlet is not None:
            points += [await self._point(inlet, i, f"{inlet.name} {i}") for i in self.inlets]
        for point in points:
            (value,) = await self.get([point.power_oid])
            if value is None:
                raise AnalyzerError(f"{self.name}: the agent has no {self.family} power object "
                                    f"{point.power_oid} ({point.label})")
        self.used_source = ", ".join(sorted({p.label.split(" ")[0] for p in points}))
        return points

    async def _auto_points(self) -> list[Point]:
        if self.family == "entity":
            await self._refuse_unnamed_sensors()
        sources = FAMILIES[self.family]
        if self.snmp_source != "auto":
            sources = (source(self.family, self.snmp_source),)
        looked: list[str] = []
        for candidate in sources:
            rows = [row for oid, _ in await self.walk(candidate.column) if (row := candidate.row(oid))]
            points = [await self._point(candidate, row, f"{candidate.name} {row}") for row in rows]
            readable = [p for p in points if _reading(p, await self.get(_point_oids(p)))]
            looked.append(f"{candidate.name} {candidate.power.format(i='*')}")
            if readable:
                self.used_source = candidate.name
                return readable
        raise AnalyzerError(
            f"{self.name}: the agent answers no {self.family} power reading; looked for {'; '.join(looked)}"
        )

    async def _refuse_unnamed_sensors(self) -> None:
        """ENTITY-SENSOR agents mix supply, consumer and optical-port watts sensors, so which to
        sum is the user's choice: list the watts(6) sensors there are."""
        types = await self.walk(f"{ENTITY}.1")
        watts = [oid.rsplit(".", 1)[1] for oid, kind in types if kind == ENTITY_WATTS]
        if not watts:
            raise AnalyzerError(
                f"{self.name}: the agent has no watts(6) sensor (entPhySensorType {ENTITY}.1.*)"
            )
        listed = ", ".join(watts[:8]) + (f" … ({len(watts)} in all)" if len(watts) > 8 else "")
        raise AnalyzerError(f"{self.name}: name the ENTITY-SENSOR sensors to sum in outlets; "
                            f"watts(6) sensors here: {listed}")

    async def _point(self, src: Source, index: str, label: str) -> Point:
        watts_per_unit, joules_per_unit = src.watts_per_unit, src.joules_per_unit
        gates: list[Gate] = []
        if self.family == "entity":
            kind, scale, precision = await self.get([f"{ENTITY}.{k}.{index}" for k in (1, 2, 3)])
            if kind != ENTITY_WATTS:
                raise AnalyzerError(f"{self.name}: entPhySensorType.{index} is {kind}, not watts(6)")
            watts_per_unit = 10.0 ** (
                3 * ((scale or ENTITY_UNITS_SCALE) - ENTITY_UNITS_SCALE) - (precision or 0)
            )
        if src.digits:
            power_digits, energy_digits = await self.get(
                [src.digits.format(i=index) + ".5", src.digits.format(i=index) + ".8"]
            )
            watts_per_unit *= 10.0 ** -(power_digits or 0)
            joules_per_unit *= 10.0 ** -(energy_digits or 0)
        if src.available:
            gates.append(Gate(src.available.format(i=index), good=frozenset({TRUE})))
        if src.state:
            gates.append(Gate(src.state.format(i=index), bad=frozenset({RARITAN_UNAVAILABLE})))
        if src.status:
            gates.append(Gate(src.status.format(i=index), good=frozenset({ENTITY_OK})))
        time_oid = src.timestamp.format(i=index) if src.timestamp else None
        if time_oid and (await self.get([time_oid]))[0] is None:
            time_oid = None
        return Point(
            label, src.power.format(i=index), src.energy.format(i=index) if src.energy else None,
            watts_per_unit, joules_per_unit, src.wraps_at, tuple(gates), time_oid,
        )

    def _close_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            with contextlib.suppress(Exception):
                engine.close_dispatcher()

    async def close(self) -> None:
        await self.stop()
        self._close_engine()

    async def read_identity(self) -> tuple[MeterIdentity, dict[str, str]]:
        """Who the agent says it is: one GETNEXT of ``ident_oids``. Whatever it does not say, or
        a failed request, is an empty field: it never fails a reading."""
        oids = ident_oids(self.family)
        try:
            error, status, _, binds = await snmp.next_cmd(
                self._engine, self._auth(), self._target, self._context(),
                *(snmp.ObjectType(snmp.ObjectIdentity(oid)) for oid in oids))
        except Exception:  # pysnmp's failures are not one exception type
            return MeterIdentity(), {}
        if error or status or len(binds) != len(oids):
            return MeterIdentity(), {}
        return identity_of(self.family, {oid: (str(answered), _text(value))
                                         for oid, (answered, value) in zip(oids, binds, strict=True)})

    async def identify(self) -> AnalyzerInfo:
        if self.identity is None:
            self.identity = await self.read_identity()
        identity, said = self.identity
        labels = ", ".join(p.label for p in self.points)
        return AnalyzerInfo(
            name=" ".join(part for part in (f"SNMP PDU ({self.family})", identity.model) if part),
            model=identity.model or f"PDU-{self.family.upper()}",
            averaging_ms=round(1000 * self.period_s) if self.period_s else 0,
            raw=labels,
            extra={
                "family": self.family,
                "points": labels,
                "source": self.source,
                "snmp_source": self.used_source,
                "snmp_version": self.credentials.version,
                **said,
            },
            identity=identity,
        )

    # --- readings -------------------------------------------------------------------------
    async def read(self) -> list[int | None]:
        return await self.get(PduReadings.oids(self.points))

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


def _integer(name: str, oid: str, value: Any) -> int | None:
    if value.__class__.__name__ in _NO_OBJECT:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnalyzerError(f"{name}: {oid} is {value.prettyPrint()!r}, not a number") from None


def _text(value: Any) -> str:
    """An answer as text: a string's bytes (UTF-8, padding stripped), an OID dotted, a number."""
    if value.__class__.__name__ in _NO_OBJECT:
        return ""
    if hasattr(value, "asOctets"):
        return str(value.asOctets().decode("utf-8", "replace")).strip(" \t\r\n\x00")
    if value.__class__.__name__ in ("ObjectIdentifier", "ObjectIdentity"):  # dotted, not MIB names
        return str(value)
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return str(value.prettyPrint())
