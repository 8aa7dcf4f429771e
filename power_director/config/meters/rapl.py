"""``type = "rapl"``: the CPU's RAPL energy counters (powercap sysfs, root only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from power_director.config.meters.base import AnalyzerConfig, key

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class RaplConfig(AnalyzerConfig):
    """CPU package (and DRAM, psys…) energy counters from Linux powercap: an estimate, not a wall meter."""

    type = "rapl"
    rapl_root: str = key("/sys/class/powercap", "the powercap sysfs directory")
    rapl_domains: str = key("package", "comma list of zone names: package, dram, psys, core, uncore")

    def type_problems(self) -> list[str]:
        found = []
        if not self.rapl_root.startswith("/"):
            found.append(f"[analyzer] rapl_root {self.rapl_root!r} must be an absolute path")
        if not all(d.strip() for d in self.rapl_domains.split(",")):
            found.append(f"[analyzer] rapl_domains {self.rapl_domains!r} must be a comma list of names")
        return found

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.rapl import RaplAnalyzer

        return RaplAnalyzer(self.rapl_root, self.rapl_domains.split(","))
