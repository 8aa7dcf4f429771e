"""``report.json``'s ``eehpc``: the EEHPC (Green500) level a run meets, why it misses the ones
above, and the facts it was graded on (``reports.mlperf.eehpc`` grades; this is its record)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from analyzer_drivers.formats.json_record import list_of, text
from reports.report_json import ReportRecord, count, maybe_real, named, part, real, words, yes_no


@dataclass(frozen=True)
class RunFacts(ReportRecord):
    """What a measured run says about itself. Built in code, a figure that is not finite (no
    reading at all: an infinite interval) is left out of the JSON."""

    core_phase_s: float = real()
    readings_in_core: int = count()  # the fewest of any meter
    max_interval_s: float = real(math.inf)  # the longest gap between two readings in the core phase
    covers_core_phase: bool = yes_no()
    nodes_measured: int = count()
    nodes_total: int = count()
    measured_kw: float = real()
    accuracy_pct: float | None = maybe_real()  # combined relative uncertainty of the power; None: unknown
    idle_watts: float | None = maybe_real()
    interconnect: str = words()  # "measured", "estimated", "none" (not counted) or "not used" (one node)

    def written_keys(self) -> tuple[str, ...]:
        keys = super().written_keys()
        if self.json_keys is not None:
            return keys
        return tuple(k for k in keys if not _not_finite(getattr(self, k, None)))


def _not_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


@dataclass(frozen=True)
class EehpcSection(ReportRecord):
    """The level met (0: not even level 1), the methodology, per level not met why, the facts."""

    level: int = count()
    methodology: str = words()
    not_met: Mapping[str, tuple[str, ...]] = named(list_of(text))  # level (as text) → why not
    facts: RunFacts = part(RunFacts)
