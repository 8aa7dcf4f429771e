"""CPU energy from Linux powercap RAPL counters (docs/protocols.md#software-meters).

``<root>/intel-rapl:<n>[:<m>]/{name,energy_uj,max_energy_range_uj}``; the packages
(and any other zones asked for, e.g. ``dram``) are summed. ``energy_uj`` is root-only
since the 2020 Platypus fix (CVE-2020-8694).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo
from analyzer_drivers.meters.energy import Counter, EnergyCounterAnalyzer

ZONE_DIR = re.compile(r"intel-rapl:\d+(:\d+)?")
JOULES_PER_MICROJOULE = 1e-6


def zone_kind(name: str) -> str:
    """``package-0`` → ``package``; ``dram`` → ``dram``."""
    return re.sub(r"-\d+$", "", name.strip())


class RaplAnalyzer(EnergyCounterAnalyzer):
    """The sum of the chosen RAPL zones' energy counters."""

    def __init__(self, root: Path | str = "/sys/class/powercap", domains: Sequence[str] = ("package",)):
        super().__init__()
        self.root = Path(root)
        self.domains = tuple(d.strip() for d in domains)
        self.name = "rapl-" + "-".join(self.domains)
        self.zones: list[Path] = []

    async def connect(self) -> None:
        # sysfs lists every zone at the top, sub-zones (intel-rapl:0:1) included.
        zones = sorted(
            (p for p in self.root.glob("intel-rapl:*") if ZONE_DIR.fullmatch(p.name)),
            key=lambda p: [int(n) for n in p.name.split(":")[1:]],
        )
        if not zones:
            raise AnalyzerError(f"no RAPL zones under {self.root} (is the intel_rapl driver loaded?)")
        self.zones = [z for z in zones if zone_kind(self._read_text(z / "name")) in self.domains]
        if not self.zones:
            raise AnalyzerError(f"no RAPL zone under {self.root} is one of {', '.join(self.domains)}")
        self.counters = [
            Counter(z.name, JOULES_PER_MICROJOULE, int(self._read_text(z / "max_energy_range_uj")))
            for z in self.zones
        ]
        self.read_counters()  # fail now, not mid-run, when energy_uj is not readable

    def _read_text(self, path: Path) -> str:
        try:
            return path.read_text(encoding="ascii").strip()
        except PermissionError as exc:
            raise AnalyzerError(
                f"cannot read {path}: permission denied; RAPL energy counters are root-only since the "
                "2020 Platypus fix (CVE-2020-8694): run as root or grant read access to energy_uj"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise AnalyzerError(f"cannot read {path}: {exc}") from exc

    def read_counters(self) -> list[int]:
        values = []
        for zone in self.zones:
            text = self._read_text(zone / "energy_uj")
            if not text.isdigit():
                raise AnalyzerError(f"{zone / 'energy_uj'} holds {text[:40]!r}, not a counter")
            values.append(int(text))
        return values

    async def identify(self) -> AnalyzerInfo:
        names = [self._read_text(z / "name") for z in self.zones]
        return AnalyzerInfo(
            name="RAPL", model="RAPL", averaging_ms=0, raw=",".join(names),
            extra={"zones": ",".join(z.name for z in self.zones)},
        )
