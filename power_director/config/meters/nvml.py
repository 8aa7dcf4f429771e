"""``type = "nvml"``: NVIDIA GPUs' energy counters (pip install 'power-director[nvml]')."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from power_director.config.meters.base import AnalyzerConfig, key

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class NvmlConfig(AnalyzerConfig):
    """NVIDIA GPU energy counters through NVML: an estimate, not a wall meter."""

    type = "nvml"
    gpu_index: int = key(-1, "the GPU to read; -1: the sum of all GPUs")

    def type_problems(self) -> list[str]:
        if self.gpu_index < -1:
            return [f"[analyzer] gpu_index {self.gpu_index} must be -1 (all GPUs) or a GPU index"]
        return []

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.nvml import NvmlAnalyzer

        return NvmlAnalyzer(self.gpu_index)
