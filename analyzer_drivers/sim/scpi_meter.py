"""The WT300E's state and readings, with no server: its identity and spec, input ranges, numeric
items, status and error queue, and the values an update computes from a PowerModel's reading
(an input above 140 % of its range reads over-range). ``scpi_commands`` runs commands on it,
``scpi_server`` serves it over TCP (docs/protocols.md#yokogawa-wt300)."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field

from analyzer_drivers.meters.specs import METERS, OVER_RANGE_FRACTION, MeterSpec
from analyzer_drivers.sim.models import CpuUtilisationModel, PowerModel, Reading
from analyzer_drivers.sim.scpi_syntax import ScpiError, nr3

MAX_ERRORS = 16
# ASCII numeric format: over-range INF, no data NAN (IM WT310E-17EN; 9.9E+37 and 9.91E+37 are
# the binary format's codes). docs/protocols.md#real-devices.
OVER_RANGE_TEXT = "INF"
NO_DATA_TEXT = "NAN"
FUNCTIONS = ("U", "I", "P", "S", "Q", "LAMBDA")
SUM = "SIGMA"

#: *IDN? of each family member. Real ones: WT310E and WT333E (PTDaemon logs in
#: fixtures/real-submissions v2.0 Krai and v4.1 NVIDIA), WT333 with firmware F1.04EM (v3.0 Dell),
#: WT333 F1.01EM and WT310 (docs/protocols.md#real-devices). The others follow their pattern (serials
#: made up).
IDENTITIES = {
    "wt310": ("YOKOGAWA,WT310,C2PH13047V,F1.03", "WT310"),
    "wt310hc": ("YOKOGAWA,WT310HC,C2PH13048V,F1.03", "WT310HC"),
    "wt310e": ("YOKOGAWA,WT310E,C3XA04010E,F1.04", "WT310E"),
    "wt310eh": ("YOKOGAWA,WT310EH,C3XA04011E,F1.04", "WT310EH"),
    "wt330": ("YOKOGAWA,WT330,C2SF14010V,F1.01", "WT330"),
    "wt332": ("YOKOGAWA,WT332,C2SF14012V,F1.01EM", "WT332"),
    "wt333": ("YOKOGAWA,WT333,C2SF14011V,F1.01EM", "WT333"),
    "wt330e": ("YOKOGAWA,WT330E,C2XC17003V,F1.04", "WT330E"),
    "wt332e": ("YOKOGAWA,WT332E,C2XC17005V,F1.04", "WT332E"),
    "wt333e": ("YOKOGAWA,WT333E,C2XL24034V,F1.04", "WT333E"),
}
#: The crest factors a WT300E takes; A6 is 6A as the command writes it (inferred: the manual
#: names the setting "6A"; the driver reads either).
CREST_FACTORS = {"3": "3", "6": "6", "6A": "A6", "A6": "A6"}


@dataclass
class Inputs:
    crest_factor: str = "3"
    volts_range: float = 600.0
    amps_range: float = 20.0
    volts_auto: bool = True
    amps_auto: bool = True


@dataclass
class NumericItems:
    items: list[tuple[str, str]] = field(
        default_factory=lambda: [("U", "1"), ("I", "1"), ("P", "1"), ("S", "1"), ("Q", "1"),
                                 ("LAMBDA", "1")]
    )
    count: int = 6


class Wt300Meter:
    """The meter's settings and latest readings; commands and the server build on it."""

    def __init__(self, model: PowerModel | None, identity: str, update_interval_s: float,
                 compat_mode: str | None) -> None:
        if identity not in IDENTITIES:
            raise ValueError(f"unknown identity {identity!r}; known: {', '.join(IDENTITIES)}")
        self.idn, spec_name = IDENTITIES[identity]
        self.spec: MeterSpec = METERS[spec_name]
        self.compat_mode = compat_mode or ("WT300E" if spec_name.endswith(("E", "EH")) else "WT300")
        self.model = model or CpuUtilisationModel()
        self.update_interval_s = self._power_on_interval_s = update_interval_s
        self.rate_auto = False
        self.inputs = Inputs()
        self.numeric = NumericItems()
        self.header = True
        self.verbose = False
        self.remote = False
        self.filters: dict[int, str] = {}
        self.eesr = 0
        self.errors: deque[str] = deque(maxlen=MAX_ERRORS)
        self.updates = 0
        # How a Σ meter's elements share the load: (share of the watts, λ) each; None: equal
        # shares at the reading's λ.
        self.loads: tuple[tuple[float, float], ...] | None = None
        self.latest: dict[tuple[str, str], float] | None = None  # None: no data since a change
        self._latest_reading: tuple[int, Reading] | None = None
        self._updated = asyncio.Condition()

    @property
    def phase(self) -> str:
        """The phase a fault sees: auto ranges are ranging, fixed ranges testing."""
        return "ranging" if self.inputs.volts_auto and self.inputs.amps_auto else "testing"

    def _power_cycle(self) -> None:
        self._reset_settings()
        self.header, self.verbose, self.remote = True, False, False
        self.update_interval_s = self._power_on_interval_s
        self.errors.clear()
        self.eesr = 0

    def _push_error(self, error: ScpiError) -> None:
        self.errors.append(str(error))

    def _reset_settings(self) -> None:
        self.inputs, self.numeric, self.filters = Inputs(), NumericItems(), {}
        self._invalidate()

    def _parse_item(self, argument: str) -> tuple[str, str]:
        function, _, element = (p.strip().upper() for p in argument.partition(","))
        function = "LAMBDA" if function in ("LAMB", "LAMBDA") else function
        if function not in (*FUNCTIONS, "NONE"):
            raise ScpiError(-224, "Illegal parameter value")
        element = element or "1"
        if element not in (SUM, *(str(e) for e in self.spec.numbers)):
            raise ScpiError(-224, "Illegal parameter value")
        if element == SUM and self.spec.elements < 2:
            raise ScpiError(-224, "Illegal parameter value")
        return function, element

    @staticmethod
    def _item_text(values: dict[tuple[str, str], float] | None, item: tuple[str, str]) -> str:
        if values is None or item not in values:
            return NO_DATA_TEXT
        value = values[item]
        if math.isinf(value):
            return OVER_RANGE_TEXT
        return NO_DATA_TEXT if math.isnan(value) else nr3(value)

    def _spec(self) -> MeterSpec:
        return self.spec.at_crest_factor(self.inputs.crest_factor)

    def _invalidate(self) -> None:
        self.latest = self._latest_reading = None

    async def _update(self, t_ns: int) -> None:
        reading = self.model.reading(t_ns)
        self.latest, self._latest_reading = self.values(reading), (t_ns, reading)
        self.updates += 1
        # Bit 0 of the extended event register: UPD; a data update completes on its falling edge.
        if self.filters.get(1, "NEVER") != "NEVER":
            self.eesr |= 1
        async with self._updated:
            self._updated.notify_all()

    def values(self, reading: Reading) -> dict[tuple[str, str], float]:
        """Every function of every element (and Σ) for a total reading split over the elements
        (``loads``); Σ adds P, S and Q, and its λ is ΣP / ΣS."""
        numbers = self.spec.numbers
        table: dict[tuple[str, str], float] = {}
        for index, number in enumerate(numbers):
            share, pf = self.loads[index] if self.loads else (1 / len(numbers), reading.pf)
            watts = reading.watts * share
            amps = reading.amps * share if self.loads is None else watts / (reading.volts * pf)
            table.update(self._element(str(number), reading.volts, watts, amps, pf))
        if len(numbers) > 1:
            for f in ("P", "S", "Q"):
                table[(f, SUM)] = sum(table[(f, str(e))] for e in numbers)
            table[("U", SUM)], table[("I", SUM)] = table[("U", "1")], table[("I", "1")]
            table[("LAMBDA", SUM)] = table[("P", SUM)] / table[("S", SUM)] if table[("S", SUM)] else 0.0
        return table

    def _element(self, element: str, volts: float, watts: float, amps: float, pf: float
                 ) -> dict[tuple[str, str], float]:
        volts_over, amps_over = self._over_range(volts, amps)
        values = {
            "U": math.inf if volts_over else volts,
            "I": math.inf if amps_over else amps,
            "P": math.inf if volts_over or amps_over else watts,
            "S": volts * amps,
            "Q": volts * amps * math.sqrt(max(0.0, 1 - pf**2)),
            "LAMBDA": pf,
        }
        return {(f, element): v for f, v in values.items()}

    def _over_range(self, volts: float, amps: float) -> tuple[bool, bool]:
        spec = self._spec()
        volts_range = max(spec.volts_ranges) if self.inputs.volts_auto else self.inputs.volts_range
        amps_range = max(spec.amps_ranges) if self.inputs.amps_auto else self.inputs.amps_range
        if self.inputs.volts_auto:
            volts_range = next((r for r in sorted(spec.volts_ranges) if r >= volts), volts_range)
        if self.inputs.amps_auto:
            amps_range = next((r for r in sorted(spec.amps_ranges) if r >= amps), amps_range)
        # 280 % at crest factor 6A (IM WT310E-02EN 1.5 "Overrange Indication").
        fraction = OVER_RANGE_FRACTION * (2 if self.inputs.crest_factor == "A6" else 1)
        return volts > fraction * volts_range, amps > fraction * amps_range
