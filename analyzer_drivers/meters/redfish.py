"""A BMC's chassis power over Redfish, with DMTF's asyncio client (``redfish.aio``).

Where the power is read (EnvironmentMetrics, PowerSubsystem supplies, chassis Sensors, the
legacy Power resource) is found once, by ``analyzer_drivers.meters.redfish_plan``; each poll then GETs
those resources and sums the readings. docs/datacenter-redfish.md names the DMTF schema text.

Every poll is a sample, stamped when read: a BMC that reports a steady whole-watt figure is
measuring a steady load, not failing to update. Where the BMC gives a ``ReadingTime`` (a
``Sensor``), a changed one marks an update: the updates' spacing is kept as evidence, and an
energy counter's ΔkWh is divided by the Δ``ReadingTime`` between updates. Without one (the
legacy ``Power`` resource, excerpts), the BMC's own update time is unknown, and the
identification says so (``reading_time``).

The client is DMTF's ``redfish`` package (python-redfish-library), chosen over OpenStack's
``sushy`` because it has an asyncio client (``AsyncRedfishClient`` on aiohttp) with session
and basic auth, and few dependencies; ``sushy`` is synchronous and pulls in the OpenStack stack.
DMTF's client refuses credentials over plain HTTP: ``auth = "none"`` is the only choice there.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo, PacedAnalyzer, PacedSampler
from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.meters.redfish_ident import KIND, device_identity
from analyzer_drivers.meters.redfish_plan import SCHEMAS, Choice, Plan, find_plan, iso_duration_s, number

try:  # optional: pip install 'power-director[datacenter]'
    import aiohttp
    from redfish.aio import AsyncRedfishClient, RedfishError
except ImportError:  # pragma: no cover - exercised only without the extra
    aiohttp = None  # type: ignore[assignment]

__all__ = ["AUTH_METHODS", "SCHEMAS", "SOURCES", "NewReadings", "Reading", "RedfishAnalyzer",
           "iso_duration_s", "reading_time_ns"]

JOULES_PER_KWH = 3.6e6
AUTH_METHODS = ("session", "basic", "none")
SOURCES = ("auto", "power", "energy")


def reading_time_ns(text: Any) -> int | None:
    """A Redfish ``ReadingTime`` (ISO 8601 with offset) as epoch ns; None when absent or bad."""
    if not isinstance(text, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None
    return int(stamp.timestamp() * 1e9)


def _at(resource: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    value: Any = resource
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and step < len(value) else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True, slots=True)
class Reading:
    """One poll's answer: watts (or None: no reading), the BMC's reading time, energy in J."""

    watts: float | None
    bmc_t_ns: int | None = None
    energy_j: float | None = None


class RedfishAnalyzer(PacedAnalyzer):
    """Chassis power of a BMC, polled every interval; every poll is a sample."""

    reads_volts_amps = False

    def __init__(
        self,
        base_url: str,
        *,
        chassis: str = "",
        username: str = "",
        password: str = "",
        auth: str = "session",
        ca_file: str = "",
        insecure: bool = False,
        timeout_s: float = 5.0,
        source: str = "auto",
        schema: str = "auto",
        sensor: str = "",
        power_control: str = "auto",
    ) -> None:
        if aiohttp is None:
            raise AnalyzerError("the redfish driver needs pip install 'power-director[datacenter]'")
        if auth not in AUTH_METHODS or source not in SOURCES or schema not in SCHEMAS:
            raise AnalyzerError(f"redfish auth {auth!r} / source {source!r} / schema {schema!r} not known")
        self.base_url = base_url.rstrip("/")
        self.username, self.password, self.auth = username, password, auth
        self.ca_file, self.insecure, self.timeout_s = ca_file, insecure, timeout_s
        self.choice = Choice(schema, chassis, sensor, power_control or "auto", source)
        host = re.sub(r"^https?://", "", self.base_url).replace(":", "-")
        self.name = f"redfish-{host}"
        self.plan: Plan | None = None
        self._http: aiohttp.ClientSession | None = None
        self._client: AsyncRedfishClient | None = None
        self._sampling = PacedSampler(self.name, timeout_s)
        self._chassis_info: dict[str, Any] = {}
        #: Who the reading comes from (``redfish_ident``), and what else the BMC said of it.
        self.identity: tuple[MeterIdentity, dict[str, str]] | None = None
        #: Seconds between the BMC's updates seen so far (its real update period).
        self.update_periods_s: list[float] = []

    # --- connection -----------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.base_url.startswith("https://"):
            return False
        if self.insecure:
            return False
        try:
            return ssl.create_default_context(cafile=self.ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise AnalyzerError(f"{self.name}: cannot load CA file {self.ca_file!r}: {exc}") from exc

    async def connect(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self._ssl())
        self._http = aiohttp.ClientSession(connector=connector)
        user = (self.username, self.password) if self.auth != "none" else (None, None)
        try:
            self._client = AsyncRedfishClient(
                self.base_url, username=user[0], password=user[1], session=self._http, timeout=self.timeout_s
            )
            if self.auth != "none":
                await self._client.login(auth=self.auth)
            if self.plan is None:
                self.plan, self._chassis_info = await find_plan(self._get_optional, self.choice, self.name)
            if self.identity is None:
                self.identity = await device_identity(self._get_optional, self.plan, self._chassis_info)
        except AnalyzerError:
            await self._close_http()
            raise
        except (RedfishError, ValueError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            await self._close_http()
            raise AnalyzerError(str(exc) if isinstance(exc, ValueError) and str(exc).startswith(self.name)
                                else f"{self.name}: {_describe(exc)}") from exc

    async def _get(self, uri: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        assert self._client is not None
        try:
            reply = await self._client.get(uri)
            if reply.status in (401, 403):
                raise AnalyzerError(f"{self.name}: GET {uri}: HTTP {reply.status}, authentication refused")
            if reply.status == 404 and missing_ok:
                return None
            if reply.status != 200:
                raise AnalyzerError(f"{self.name}: GET {uri}: HTTP {reply.status}")
            body = reply.dict
        except (RedfishError, aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise AnalyzerError(f"{self.name}: GET {uri}: {_describe(exc)}") from exc
        if not isinstance(body, dict):
            raise AnalyzerError(f"{self.name}: GET {uri}: not a JSON object")
        return body

    async def _get_optional(self, uri: str) -> dict[str, Any] | None:
        """A resource found by a link while looking for power: None when the BMC has none (404)."""
        return await self._get(uri, missing_ok=True)

    async def _close_http(self) -> None:
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    async def close(self) -> None:
        await self.stop()
        if self._client is not None:
            with contextlib.suppress(RedfishError, aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                await self._client.logout()
        await self._close_http()

    async def identify(self) -> AnalyzerInfo:
        assert self.plan is not None and self.identity is not None
        plan, (identity, said) = self.plan, self.identity
        energy_timed = plan.energy is not None and plan.energy.timed
        timed = (len(plan.power) == 1 and plan.power[0].timed) or energy_timed
        extra = {"schema": plan.schema, "chassis": plan.chassis_uri, "power_uri": plan.power[0].uri,
                 "reads": plan.described, "energy_uri": plan.energy.uri if plan.energy else "",
                 "reading_time": "the BMC's ReadingTime marks its updates; each poll is stamped when read"
                 if timed else "unknown: the BMC gives none, each poll is stamped when read"}
        if plan.accuracy_pct is not None:
            extra["accuracy_pct"] = f"{plan.accuracy_pct:g}"
        if plan.stats_interval_min is not None:
            extra["stats_interval_min"] = f"{plan.stats_interval_min:g}"
        return AnalyzerInfo(
            name=" ".join(part for part in ("Redfish", identity.manufacturer, identity.model) if part),
            model=identity.model or KIND,
            averaging_ms=round(1000 * plan.interval_s) if plan.interval_s else 0,
            raw=plan.chassis_uri, extra={**extra, **said}, identity=identity,
        )

    # --- readings -------------------------------------------------------------------------
    async def read(self) -> Reading:
        """One poll of the BMC: the plan's power terms summed, and its energy counter."""
        assert self.plan is not None
        resources: dict[str, dict[str, Any]] = {}
        for term in (*self.plan.power, *([self.plan.energy] if self.plan.energy else [])):
            if term.uri not in resources:
                resources[term.uri] = await self._get(term.uri) or {}
        values = [number(_at(resources[t.uri], t.path)) for t in self.plan.power]
        watts = None if any(v is None for v in values) else sum(v for v in values if v is not None)
        single = self.plan.power[0] if len(self.plan.power) == 1 and self.plan.power[0].timed else None
        t_ns = reading_time_ns(resources[single.uri].get("ReadingTime")) if single else None
        if self.plan.energy is None:
            return Reading(watts, t_ns)
        counter = resources[self.plan.energy.uri]
        kwh = number(_at(counter, self.plan.energy.path))
        energy_t_ns = reading_time_ns(counter.get("ReadingTime")) if self.plan.energy.timed else None
        return Reading(watts, energy_t_ns or t_ns, None if kwh is None else kwh * JOULES_PER_KWH)

    async def start(self, mark: str, interval_ms: int) -> None:
        tracker = NewReadings()

        async def next_sample() -> Sample | None:
            sample = tracker.accept(time.time_ns(), await self.read())
            self.update_periods_s = tracker.update_periods_s
            return sample

        self._sampling.start(interval_ms, next_sample)

    async def reconnect(self) -> None:
        await self.stop()
        await self._close_http()
        await self.connect()


class NewReadings:
    """Turns polls into samples, one per poll, stamped when read.

    An update of the BMC is a changed ``ReadingTime`` where it gives one, else a changed value;
    the spacing of updates is kept (``update_periods_s``). With an energy counter, watts =
    ΔJ / Δt between updates (Δt from the BMC's reading times when it gives them); until the
    counter updates again a poll repeats the last such figure. The first reading (the
    counter's baseline) and a counter that went down (reset or wrap) give the power reading.
    A reading that is missing (``null``) is an error sample (-1).
    """

    def __init__(self) -> None:
        self._last: Reading | None = None
        self._last_new_ns: int | None = None
        self._last_watts: float | None = None
        self.update_periods_s: list[float] = []

    def accept(self, t_ns: int, reading: Reading) -> Sample:
        if reading.watts is None and reading.energy_j is None:
            return Sample(t_ns, -1.0)
        last = self._last
        if last is not None and _same_update(last, reading) and self._last_watts is not None:
            return Sample(t_ns, self._last_watts)
        self._last = reading
        if last is not None and self._last_new_ns is not None:
            self.update_periods_s.append((t_ns - self._last_new_ns) / 1e9)
        self._last_new_ns = t_ns
        watts = reading.watts
        if last is not None and reading.energy_j is not None and last.energy_j is not None \
                and reading.energy_j >= last.energy_j:
            span_ns = _span_ns(last, reading)
            if span_ns:
                watts = (reading.energy_j - last.energy_j) * 1e9 / span_ns
        self._last_watts = watts
        return Sample(t_ns, -1.0 if watts is None else watts)


def _same_update(before: Reading, after: Reading) -> bool:
    """The BMC has not updated: the same reading time, or (without one) the same values."""
    if after.bmc_t_ns is not None:
        return after.bmc_t_ns == before.bmc_t_ns
    return (after.watts, after.energy_j) == (before.watts, before.energy_j)


def _span_ns(before: Reading, after: Reading) -> int | None:
    if before.bmc_t_ns is None or after.bmc_t_ns is None or after.bmc_t_ns <= before.bmc_t_ns:
        return None
    return after.bmc_t_ns - before.bmc_t_ns


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause):
        text += f" ({cause})"
    elif isinstance(cause, asyncio.TimeoutError):
        text += " (timed out)"
    return text
