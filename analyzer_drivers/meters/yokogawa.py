"""Yokogawa WT300/WT300E family (WT310, WT310HC, WT332, WT333, WT310E, WT310EH, WT332E,
WT333E) over SCPI with pyvisa (docs/protocols.md#yokogawa-wt300).

``YokogawaAnalyzer`` runs ``wt300_scpi.Wt300`` on worker threads behind the async
``Analyzer`` interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyvisa
import pyvisa.errors
import pyvisa.resources

from analyzer_drivers.base import Analyzer, AnalyzerError, AnalyzerInfo, Ranges, SampleBuffer
from analyzer_drivers.formats.identity import meter_identity
from analyzer_drivers.formats.sample import ERROR_READING, Channel, Sample
from analyzer_drivers.meters.accuracy import MeterSetup
from analyzer_drivers.meters.specs import METERS, WT300_UPDATE_INTERVALS_S, MeterSpec, family_spec
from analyzer_drivers.meters.wt300_scpi import SUM_ELEMENT, Wt300, crest_factor_name, parse_values

#: The command-set modes whose replies this driver reads (IM WT310E-17EN: WT200, WT300, WT300E).
COMPAT_MODES = ("WT300E", "WT300")

__all__ = ["ItemPlan", "YokogawaAnalyzer", "parse_values", "update_interval_s"]


@dataclass(frozen=True, slots=True)
class ItemPlan:
    """Which numeric items to read, and how a reply becomes a Sample."""

    items: tuple[str, ...]
    elements: tuple[int, ...]
    summed: bool

    @classmethod
    def for_element(cls, element: str, spec: MeterSpec) -> ItemPlan:
        if element.upper() in ("SUM", SUM_ELEMENT):
            if spec.elements < 2:
                raise AnalyzerError(f"the {spec.model} has one element: it has no sum (Σ) to read")
            elements = spec.numbers
            # Each element's λ too, for the Σ's ± (docs/uncertainty.md): 14 items on a WT333E.
            # The WT300E takes up to 255 (IM WT310E-17EN :NUMeric:NORMal:NUMber; recalled, not
            # checked against the page: a meter that refuses says so in its error queue at setup).
            per_element = tuple(f"{fn},{e}" for e in elements for fn in ("U", "I", "P", "LAMB"))
            items = (f"P,{SUM_ELEMENT}", f"LAMB,{SUM_ELEMENT}", *per_element)
            return cls(items, elements, summed=True)
        if not element.isdigit() or int(element) not in spec.numbers:
            numbers = ", ".join(map(str, spec.numbers))
            raise AnalyzerError(f"the {spec.model} has element(s) {numbers}, not {element!r}")
        e = int(element)
        return cls((f"U,{e}", f"I,{e}", f"P,{e}", f"LAMB,{e}"), (e,), summed=False)

    def sample(self, t_ns: int, values: Sequence[float], where: str) -> Sample:
        if len(values) != len(self.items):
            raise AnalyzerError(f"{where} sent {len(values)} values for {len(self.items)} items")
        if not self.summed:
            volts, amps, watts, pf = values
            return Sample(t_ns, _watts(watts, volts, amps), volts, amps, pf)
        per_element = [values[i : i + 4] for i in range(2, len(values), 4)]
        volts = max(v for v, _, _, _ in per_element)
        amps = max(a for _, a, _, _ in per_element)
        watts = _watts(values[0], volts, amps)
        channels = tuple(Channel(p, v, a, pf) for v, a, p, pf in per_element)
        return Sample(t_ns, watts, volts, amps, values[1], channels)


def _watts(watts: float, volts: float, amps: float) -> float:
    """An over-ranged input makes the power reading an error, as PTDaemon reports it."""
    return ERROR_READING if ERROR_READING in (watts, volts, amps) else watts


@dataclass(frozen=True, slots=True)
class _Settings:
    """What the meter was set to before we touched it, restored at the end."""

    crest_factor: str
    volts_range: float
    amps_range: float
    volts_auto: bool
    amps_auto: bool
    update_interval: str  # as the meter said it: seconds or AUTO
    items: tuple[str, ...]


def update_interval_s(interval_ms: int) -> float:
    seconds = interval_ms / 1000
    if not any(math.isclose(seconds, s) for s in WT300_UPDATE_INTERVALS_S):
        choices = ", ".join(f"{s:g}" for s in WT300_UPDATE_INTERVALS_S)
        raise AnalyzerError(f"a WT300E updates every {choices} s, not every {seconds:g} s")
    return seconds


class YokogawaAnalyzer(Analyzer):
    """A WT300E-family meter on a VISA resource (USBTMC, VXI-11, GPIB, serial or a socket)."""

    def __init__(
        self,
        resource: str,
        *,
        visa_library: str = "@py",
        model: str | None = None,
        element: str = "1",
        crest_factor: int = 3,
        rate_header: str = ":RATE",
        timeout_s: float = 5.0,
    ) -> None:
        self.resource_name = resource
        self.visa_library = visa_library
        self.expected_model = model
        self.element = element
        self.crest_factor = crest_factor
        self.rate_header = rate_header
        self.timeout_s = timeout_s
        self.name = "yokogawa-" + "".join(c if c.isalnum() else "-" for c in resource).strip("-")
        self.where = f"Yokogawa at {resource}"
        self._manager: pyvisa.ResourceManager | None = None
        self._meter: Wt300 | None = None
        self._idn = ""
        self._spec: MeterSpec | None = None  # at the crest factor in use
        self._setup: MeterSetup | None = None
        self._plan: ItemPlan | None = None
        self._initial: _Settings | None = None
        self._ranges = Ranges.auto()
        self._buffer = SampleBuffer()
        self._uncertainties: list[float] = []
        self._reader: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._lost = False  # a measurement failed: no restoring until resume() succeeds

    # --- connection ------------------------------------------------------------------
    async def connect(self) -> None:
        await asyncio.to_thread(self._open)
        try:
            await asyncio.to_thread(self._prepare)
        except AnalyzerError:
            await self.close()
            raise

    def _open(self) -> None:
        try:
            self._manager = pyvisa.ResourceManager(self.visa_library)
            resource = self._manager.open_resource(
                self.resource_name,
                read_termination="\n",
                write_termination="\n",
                timeout=int(self.timeout_s * 1000),
            )
        except (pyvisa.errors.Error, ValueError, OSError) as exc:
            raise AnalyzerError(f"cannot open {self.where}: {_one_line(exc)}") from exc
        if not isinstance(resource, pyvisa.resources.MessageBasedResource):
            raise AnalyzerError(f"{self.where} is not a message-based instrument")
        self._meter = Wt300(resource, self.where, self.rate_header)
        self._meter.on_exchange = self._log_exchange

    def _log_exchange(self, command: str, reply: str, sent_ns: int, replied_ns: int) -> None:
        if self.on_exchange is not None and not command.startswith((":STAT:EESR", ":COMM:WAIT")):
            self.on_exchange(command, reply, sent_ns, replied_ns)

    def _prepare(self) -> None:
        meter = self._require_meter()
        self._idn = meter.identity()
        spec = self._spec_from_idn(self._idn)
        self._plan = ItemPlan.for_element(self.element, spec)
        self._setup = MeterSetup(spec, str(self.crest_factor), self._plan.elements)
        self._spec = self._setup.ranged
        meter.setup()
        mode = meter.compat_mode()
        if mode not in COMPAT_MODES:
            raise AnalyzerError(
                f"{self.where} is in the {mode} command-compatibility mode; set it to WT300E "
                "(or WT300): Communication > Command (:SYSTem:COMMunicate:COMMand)"
            )
        # After a reconnect the settings found before the first connect stay the ones to restore.
        reconnected = self._initial is not None
        if self._initial is None:
            self._initial = _Settings(
                meter.crest_factor, meter.volts_range, meter.amps_range, meter.volts_auto,
                meter.amps_auto, meter.update_interval_text(), tuple(meter.items()),
            )
        crest_factor = meter.crest_factor if reconnected else self._initial.crest_factor
        if crest_factor_name(crest_factor) != str(self.crest_factor):
            meter.crest_factor = str(self.crest_factor)
        meter.set_items(self._plan.items)
        meter.check_errors("crest factor and numeric item setup")

    def _spec_from_idn(self, idn: str) -> MeterSpec:
        """The family member *IDN? names, by model prefix: ``YOKOGAWA,WT333,C2SF14011V,F1.01EM``
        is a WT333 (docs/protocols.md#real-devices; Intel's yoko-tool accepts wt310/wt330/wt332/wt333
        prefixes)."""
        fields = [f.strip() for f in idn.split(",")]
        if len(fields) < 2 or fields[0].upper() != "YOKOGAWA":
            raise AnalyzerError(f"{self.where} is not a Yokogawa meter: *IDN? gave {idn[:80]!r}")
        model = (self.expected_model or fields[1]).upper()
        spec = family_spec(model)
        if spec is None:
            known = ", ".join(m for m in METERS if m.startswith("WT3"))
            raise AnalyzerError(f"Yokogawa model {model!r} is not one we know ({known})")
        return spec

    async def close(self) -> None:
        await self._stop_reader()
        if self._meter is not None and self._initial is not None and not self._lost:
            with contextlib.suppress(AnalyzerError):
                await asyncio.to_thread(self._restore, self._initial)
            self._initial = None
        meter, self._meter = self._meter, None
        if meter is not None:
            with contextlib.suppress(pyvisa.errors.Error, OSError):
                await asyncio.to_thread(meter.resource.close)
        manager, self._manager = self._manager, None
        if manager is not None:
            with contextlib.suppress(pyvisa.errors.Error, OSError):
                await asyncio.to_thread(manager.close)

    def _restore(self, initial: _Settings) -> None:
        meter = self._require_meter()
        if meter.failed:
            raise AnalyzerError(f"{self.where} is not answering: its settings stay as they are")
        meter.crest_factor = initial.crest_factor
        self._apply_ranges(
            meter, initial.volts_range, initial.amps_range, initial.volts_auto, initial.amps_auto
        )
        meter.set_update_interval_s(initial.update_interval)
        if initial.items:
            meter.set_items(initial.items)
        meter.go_local()

    def _require_meter(self) -> Wt300:
        if self._meter is None:
            raise AnalyzerError(f"not connected to {self.where}")
        return self._meter

    # --- the Analyzer interface --------------------------------------------------------
    async def identify(self) -> AnalyzerInfo:
        meter = self._require_meter()
        assert self._spec is not None
        interval_s = await asyncio.to_thread(meter.update_interval_s)
        fields = [f.strip() for f in self._idn.split(",")]
        return AnalyzerInfo(
            name=f"Yokogawa{fields[1]}",
            model=self._spec.model,
            averaging_ms=0 if interval_s is None else round(interval_s * 1000),  # 0: AUTO
            version=fields[3] if len(fields) > 3 else "",
            raw=self._idn, identity=meter_identity(self._idn),
            extra={"serial": fields[2] if len(fields) > 2 else "", "element": self.element,
                   **(self._setup.facts() if self._setup else {})},
        )

    async def get_ranges(self) -> Ranges:
        meter = self._require_meter()

        def read() -> Ranges:
            volts = None if meter.volts_auto else meter.volts_range
            amps = None if meter.amps_auto else meter.amps_range
            return Ranges(volts, amps)

        return await asyncio.to_thread(read)

    async def set_ranges(self, ranges: Ranges) -> None:
        meter, spec = self._require_meter(), self._spec
        assert spec is not None
        volts = None if ranges.volts is None else spec.snap_volts(ranges.volts)
        amps = None if ranges.amps is None else spec.snap_amps(ranges.amps)

        def apply() -> None:
            self._apply_ranges(meter, volts, amps, volts is None, amps is None)
            meter.check_errors(f"setting ranges {ranges.describe()}")

        await asyncio.to_thread(apply)
        self._ranges = Ranges(volts, amps)

    @staticmethod
    def _apply_ranges(
        meter: Wt300, volts: float | None, amps: float | None, volts_auto: bool, amps_auto: bool
    ) -> None:
        if volts_auto:
            meter.volts_auto = True
        elif volts is not None:
            meter.volts_range = volts
        if amps_auto:
            meter.amps_auto = True
        elif amps is not None:
            meter.amps_range = amps

    async def start(self, mark: str, interval_ms: int) -> None:
        self._uncertainties = []
        await self._measure(interval_ms)

    async def _measure(self, interval_ms: int) -> None:
        meter = self._require_meter()
        seconds = update_interval_s(interval_ms)
        if self._reader is not None:
            raise AnalyzerError(f"{self.where}: a measurement is already running")

        def arm() -> None:
            meter.set_update_interval_s(seconds)
            meter.arm_update_wait()
            meter.check_errors(f"setting the update interval to {seconds:g} s")
            # A fresh-data wait lasts up to one update interval.
            meter.resource.timeout = int((2 * seconds + self.timeout_s) * 1000)

        await asyncio.to_thread(arm)
        self._buffer.clear()
        self._stopping.clear()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    async def _read_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sample = await asyncio.to_thread(self._read_sample)
            except AnalyzerError as exc:
                self._lost = True
                self._buffer.fail(exc)
                return
            self._buffer.append(sample)
            self._uncertainties.append(self._sample_uncertainty(sample))

    def _read_sample(self) -> Sample:
        assert self._plan is not None
        values = self._require_meter().read_fresh_values()
        return self._plan.sample(time.time_ns(), values, self.where)

    def _sample_uncertainty(self, sample: Sample) -> float:
        assert self._setup is not None
        return self._setup.sample_uncertainty(sample, self._ranges.volts, self._ranges.amps)

    async def resume(self, mark: str, interval_ms: int) -> bool:
        """After a reconnect: set the ranges again (a restarted meter lost them) and measure on.
        The meter keeps no readings, so those in between are lost."""
        await self.set_ranges(self._ranges)
        await self._measure(interval_ms)
        self._lost = False
        return True

    async def poll(self) -> list[Sample]:
        return self._buffer.drain()

    async def stop(self) -> None:
        await self._stop_reader()

    async def _stop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is None:
            return
        self._stopping.set()
        # The worker thread finishes its read (≤ one update interval); then the loop ends.
        with contextlib.suppress(asyncio.CancelledError):
            await reader

    async def uncertainty(self) -> float | None:
        known = [u for u in self._uncertainties if math.isfinite(u)]
        return sum(known) / len(known) if known else None

    def sample_uncertainties(self) -> list[float]:
        """Per-sample uncertainty (fraction) of the last measurement, inf where unknown."""
        return list(self._uncertainties)


def _one_line(exc: BaseException) -> str:
    text: Any = getattr(exc, "description", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())
