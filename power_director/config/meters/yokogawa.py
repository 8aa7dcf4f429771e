"""``type = "yokogawa"``: a Yokogawa WT300/WT300E power analyzer over VISA (pyvisa-py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analyzer_drivers.meters.specs import METERS, WT300_UPDATE_INTERVALS_S
from power_director.config.meters.base import AnalyzerConfig, key

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer

MODELS = tuple(model for model in METERS if model.startswith("WT3"))
INTERVALS_MS = tuple(round(s * 1000) for s in WT300_UPDATE_INTERVALS_S)
_VISA_RESOURCE = re.compile(
    r"(TCPIP\d*::[^:\s]+::\d+::SOCKET|TCPIP\d*::[^:\s]+(::[^:\s]+)?::INSTR"
    r"|USB\d*::[^:\s]+::[^:\s]+::[^:\s]+(::\d+)?::INSTR|GPIB\d*::\d+(::\d+)?::INSTR"
    r"|ASRL[^:\s]+::INSTR)",
    re.IGNORECASE,
)


@dataclass(frozen=True, kw_only=True)
class YokogawaConfig(AnalyzerConfig):
    """A Yokogawa WT310/WT310E/WT330E/WT333E read directly over VISA (no PTDaemon)."""

    type = "yokogawa"
    resource: str = key("", "the VISA resource, e.g. TCPIP::192.168.1.20::INSTR or USB0::…::INSTR")
    visa_library: str = key("@py", "the VISA backend (@py: pyvisa-py)")
    model: str = key("", "WT310, WT310E, WT330E, …; empty: the model *IDN? names")
    element: str = key("1", "the input element: 1, 2, 3, or sum (Σ on a WT330E/WT333E)")
    crest_factor: int = key(3, "3 or 6")
    rate_header: str = key(":RATE", "the update-interval command (inferred; some firmware differs)")

    def type_problems(self) -> list[str]:
        found = self._resource_problems()
        if self.model and self.model.upper() not in MODELS:
            found.append(f"[analyzer] model {self.model!r} is not known; use one of {', '.join(MODELS)}")
        if self.element.lower() not in ("1", "2", "3", "sum"):
            found.append(f"[analyzer] element {self.element!r} must be '1', '2', '3' or 'sum'")
        if self.crest_factor not in (3, 6):
            found.append(f"[analyzer] crest_factor {self.crest_factor} must be 3 or 6")
        if 10 <= self.interval_ms <= 60_000 and self.interval_ms not in INTERVALS_MS:
            choices = ", ".join(str(i) for i in INTERVALS_MS)
            found.append(f"[analyzer] interval_ms {self.interval_ms} is not a WT300E update interval "
                         f"({choices})")
        if not re.fullmatch(r":?[A-Za-z]+(:[A-Za-z]+)*", self.rate_header):
            found.append(f"[analyzer] rate_header {self.rate_header!r} is not a SCPI header")
        return found

    def _resource_problems(self) -> list[str]:
        if not self.resource:
            return [f"[analyzer] type {self.type!r} needs resource, e.g. 'TCPIP::192.168.1.20::INSTR'"]
        if not _VISA_RESOURCE.fullmatch(self.resource):
            return [f"[analyzer] resource {self.resource!r} is not a VISA resource string "
                    "(TCPIP::host::INSTR, TCPIP::host::port::SOCKET, USB::vid::pid::serial::INSTR, "
                    "GPIB::addr::INSTR, ASRL<port>::INSTR)"]
        return []

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.yokogawa import YokogawaAnalyzer

        return YokogawaAnalyzer(self.resource, visa_library=self.visa_library, model=self.model or None,
                                element=self.element, crest_factor=self.crest_factor,
                                rate_header=self.rate_header, timeout_s=self.reply_timeout_s)
