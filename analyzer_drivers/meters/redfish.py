"""A BMC's chassis power over Redfish, with DMTF's asyncio client (``redfish.aio``).

Two schemas are in the field (DMTF mockup ``public-rackmount1``, Redfish-Mockup-Server commit
9a86585f5e93a6b102d5f32bcc20a6cd9fbe9474):

- legacy ``Chassis/<id>/Power``: ``PowerControl[0].PowerConsumedWatts`` and ``PowerMetrics``
  (``IntervalInMin``, ``AverageConsumedWatts``); no timestamp, so a reading equal to the last
  one is the BMC not having updated, not a new sample;
- newer ``Chassis/<id>/EnvironmentMetrics``: ``PowerWatts`` / ``EnergykWh`` excerpts whose
  ``DataSourceUri`` names a ``Sensor`` with ``Reading``, ``ReadingTime``, ``SensingInterval``
  (ISO 8601 duration) and ``Accuracy`` (%). A sample is new when ``ReadingTime`` changes.
  With an energy sensor, watts = ΔkWh / Δ``ReadingTime``: averages are then exact.

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

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo, PacedSampler, RangelessAnalyzer
from analyzer_drivers.formats.sample import Sample

try:  # optional: pip install 'power-director[datacenter]'
    import aiohttp
    from redfish.aio import AsyncRedfishClient, RedfishError
except ImportError:  # pragma: no cover - exercised only without the extra
    aiohttp = None  # type: ignore[assignment]

JOULES_PER_KWH = 3.6e6
AUTH_METHODS = ("session", "basic", "none")
SOURCES = ("auto", "power", "energy")
_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"P(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?")


def iso_duration_s(text: str) -> float | None:
    """``PT0.25S`` → 0.25 (Redfish ``SensingInterval``: an ISO 8601 duration, days to seconds)."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


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


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _link(resource: dict[str, Any], key: str) -> str | None:
    target = resource.get(key)
    uri = target.get("@odata.id") if isinstance(target, dict) else None
    return uri if isinstance(uri, str) else None


@dataclass(frozen=True, slots=True)
class Reading:
    """One poll's answer: watts (or None: no reading), the BMC's reading time, energy in J."""

    watts: float | None
    bmc_t_ns: int | None = None
    energy_j: float | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the chassis power is read: ``schema`` legacy or environment, and the URIs."""

    schema: str
    power_uri: str
    energy_uri: str | None = None
    interval_s: float | None = None  # the BMC's stated averaging or sensing interval
    accuracy_pct: float | None = None


class RedfishAnalyzer(RangelessAnalyzer):
    """Chassis power of a BMC, polled every interval; a sample is a reading the BMC updated."""

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
    ) -> None:
        if aiohttp is None:
            raise AnalyzerError("the redfish driver needs pip install 'power-director[datacenter]'")
        if auth not in AUTH_METHODS or source not in SOURCES:
            raise AnalyzerError(f"redfish auth {auth!r} / source {source!r} not known")
        self.base_url = base_url.rstrip("/")
        self.chassis, self.username, self.password, self.auth = chassis, username, password, auth
        self.ca_file, self.insecure, self.timeout_s, self.source = ca_file, insecure, timeout_s, source
        host = re.sub(r"^https?://", "", self.base_url).replace(":", "-")
        self.name = f"redfish-{host}"
        self.plan: Plan | None = None
        self._http: aiohttp.ClientSession | None = None
        self._client: AsyncRedfishClient | None = None
        self._sampling = PacedSampler(self.name, timeout_s)
        self._chassis_info: dict[str, Any] = {}
        #: Seconds between the BMC's updates seen so far (its real averaging/update period).
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
            self.plan = self.plan or await self._discover()
        except AnalyzerError:
            await self._close_http()
            raise
        except (RedfishError, ValueError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            await self._close_http()
            raise AnalyzerError(f"{self.name}: {_describe(exc)}") from exc

    async def _get(self, uri: str) -> dict[str, Any]:
        assert self._client is not None
        try:
            reply = await self._client.get(uri)
            if reply.status in (401, 403):
                raise AnalyzerError(f"{self.name}: GET {uri}: HTTP {reply.status}, authentication refused")
            if reply.status != 200:
                raise AnalyzerError(f"{self.name}: GET {uri}: HTTP {reply.status}")
            body = reply.dict
        except (RedfishError, aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise AnalyzerError(f"{self.name}: GET {uri}: {_describe(exc)}") from exc
        if not isinstance(body, dict):
            raise AnalyzerError(f"{self.name}: GET {uri}: not a JSON object")
        return body

    async def _discover(self) -> Plan:
        root = await self._get("/redfish/v1/")
        collection_uri = _link(root, "Chassis") or "/redfish/v1/Chassis"
        members = (await self._get(collection_uri)).get("Members", [])
        uris = [m.get("@odata.id") for m in members if isinstance(m, dict)]
        chosen = [u for u in uris if isinstance(u, str) and (not self.chassis or u.rstrip("/").endswith(
            "/" + self.chassis))]
        if not chosen:
            raise AnalyzerError(f"{self.name}: no chassis {self.chassis or ''} among {uris}")
        chassis = self._chassis_info = await self._get(chosen[0])
        environment = _link(chassis, "EnvironmentMetrics")
        if environment:
            plan = await self._environment_plan(environment)
            if plan is not None:
                return plan
        legacy = _link(chassis, "Power")
        if legacy is None:
            raise AnalyzerError(f"{self.name}: chassis {chosen[0]} has neither EnvironmentMetrics "
                                "power nor a Power resource")
        control = self._power_control(await self._get(legacy))
        metrics = control.get("PowerMetrics") if isinstance(control.get("PowerMetrics"), dict) else {}
        minutes = _number(metrics.get("IntervalInMin")) if metrics else None
        return Plan("legacy", legacy, interval_s=None if minutes is None else 60 * minutes)

    async def _environment_plan(self, uri: str) -> Plan | None:
        metrics = await self._get(uri)
        power = metrics.get("PowerWatts")
        energy = metrics.get("EnergykWh")
        power_uri = power.get("DataSourceUri") if isinstance(power, dict) else None
        energy_uri = energy.get("DataSourceUri") if isinstance(energy, dict) else None
        if not isinstance(power_uri, str):
            return None
        sensor = await self._get(power_uri)
        use_energy = self.source != "power" and isinstance(energy_uri, str)
        if self.source == "energy" and not use_energy:
            raise AnalyzerError(f"{self.name}: source 'energy' but {uri} has no EnergykWh sensor")
        return Plan(
            "environment", power_uri, energy_uri if use_energy else None,
            iso_duration_s(str(sensor.get("SensingInterval", ""))), _number(sensor.get("Accuracy")),
        )

    def _power_control(self, power: dict[str, Any]) -> dict[str, Any]:
        controls = power.get("PowerControl")
        if not isinstance(controls, list) or not controls or not isinstance(controls[0], dict):
            raise AnalyzerError(f"{self.name}: the Power resource has no PowerControl")
        return controls[0]

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
        assert self.plan is not None
        chassis = self._chassis_info
        interval_ms = round(1000 * self.plan.interval_s) if self.plan.interval_s else 0
        extra = {"schema": self.plan.schema, "power_uri": self.plan.power_uri,
                 "energy_uri": self.plan.energy_uri or ""}
        if self.plan.accuracy_pct is not None:
            extra["accuracy_pct"] = f"{self.plan.accuracy_pct:g}"
        return AnalyzerInfo(
            name=f"Redfish {chassis.get('Manufacturer', '')} {chassis.get('Model', '')}".strip(),
            model="REDFISH-BMC", averaging_ms=interval_ms, raw=str(chassis.get("@odata.id", "")), extra=extra,
        )

    # --- readings -------------------------------------------------------------------------
    async def read(self) -> Reading:
        """One poll of the BMC."""
        assert self.plan is not None
        if self.plan.schema == "legacy":
            control = self._power_control(await self._get(self.plan.power_uri))
            return Reading(_number(control.get("PowerConsumedWatts")))
        sensor = await self._get(self.plan.power_uri)
        watts, t_ns = _number(sensor.get("Reading")), reading_time_ns(sensor.get("ReadingTime"))
        if self.plan.energy_uri is None:
            return Reading(watts, t_ns)
        counter = await self._get(self.plan.energy_uri)
        kwh = _number(counter.get("Reading"))
        energy_t_ns = reading_time_ns(counter.get("ReadingTime"))
        return Reading(watts, energy_t_ns or t_ns, None if kwh is None else kwh * JOULES_PER_KWH)

    async def start(self, mark: str, interval_ms: int) -> None:
        tracker = NewReadings()

        async def next_sample() -> Sample | None:
            sample = tracker.accept(time.time_ns(), await self.read())
            self.update_periods_s = tracker.update_periods_s
            return sample

        self._sampling.start(interval_ms, next_sample)

    async def poll(self) -> list[Sample]:
        return self._sampling.drain()

    async def stop(self) -> None:
        await self._sampling.stop()

    async def reconnect(self) -> None:
        await self.stop()
        await self._close_http()
        await self.connect()

    async def resume(self, mark: str, interval_ms: int) -> bool:
        """The BMC kept measuring; only readings it made while we were away are missed."""
        await self.start(mark, interval_ms)
        return False


class NewReadings:
    """Turns polls into samples: a reading the BMC did not update is not a new sample.

    New means: a changed ``ReadingTime`` where the BMC gives one, else a changed value. With
    an energy counter, watts = ΔJ / Δt between updates (Δt from the BMC's reading times when
    it gives them); the first reading (the counter's baseline) and a counter that went down
    (reset or wrap) give the power reading.
    A reading that is missing (``null``) is an error sample (-1).
    """

    def __init__(self) -> None:
        self._last: Reading | None = None
        self._last_new_ns: int | None = None
        self.update_periods_s: list[float] = []

    def accept(self, t_ns: int, reading: Reading) -> Sample | None:
        last, self._last = self._last, reading
        if last is not None and _same_update(last, reading):
            return None
        if reading.watts is None and reading.energy_j is None:
            return Sample(t_ns, -1.0)
        if last is None:  # with an energy counter: its baseline, and the power read with it
            self._last_new_ns = t_ns
            return self._power(t_ns, reading)
        if self._last_new_ns is not None:
            self.update_periods_s.append((t_ns - self._last_new_ns) / 1e9)
        self._last_new_ns = t_ns
        if reading.energy_j is not None and last.energy_j is not None and reading.energy_j >= last.energy_j:
            span_ns = _span_ns(last, reading)
            if span_ns:
                return Sample(t_ns, (reading.energy_j - last.energy_j) * 1e9 / span_ns)
        return self._power(t_ns, reading)

    @staticmethod
    def _power(t_ns: int, reading: Reading) -> Sample:
        return Sample(t_ns, -1.0 if reading.watts is None else reading.watts)


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
