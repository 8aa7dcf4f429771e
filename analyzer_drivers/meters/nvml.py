"""NVIDIA GPU energy from NVML's total-energy counter (docs/protocols.md#software-meters).

``nvmlDeviceGetTotalEnergyConsumption`` is a millijoule counter since the driver
loaded (Volta and newer); better than ``nvmlDeviceGetPowerUsage``, often a 1 s average.
Needs the optional ``nvidia-ml-py`` (``pip install 'power-director[nvml]'``).
"""

from __future__ import annotations

import contextlib
import importlib
from types import ModuleType
from typing import Any

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo
from analyzer_drivers.meters.energy import Counter, EnergyCounterAnalyzer

JOULES_PER_MILLIJOULE = 1e-3


def load_pynvml() -> ModuleType:
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        raise AnalyzerError(
            "the NVML meter needs nvidia-ml-py: pip install 'power-director[nvml]'"
        ) from exc


class NvmlAnalyzer(EnergyCounterAnalyzer):
    """The sum of the chosen GPUs' energy counters (``gpu_index`` -1: every GPU)."""

    def __init__(self, gpu_index: int = -1) -> None:
        super().__init__()
        self.gpu_index = gpu_index
        self.name = "nvml-all" if gpu_index < 0 else f"nvml-gpu{gpu_index}"
        self._nvml: ModuleType | None = None
        self._handles: list[Any] = []
        self._names: list[str] = []

    def _call(self, what: str, function: str, *args: Any) -> Any:
        assert self._nvml is not None
        try:
            return getattr(self._nvml, function)(*args)
        except self._nvml.NVMLError as exc:
            raise AnalyzerError(f"NVML {what} failed: {exc}") from exc

    async def connect(self) -> None:
        self._nvml = load_pynvml()
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as exc:
            raise AnalyzerError(f"NVML is not available (no NVIDIA driver or GPU?): {exc}") from exc
        count = int(self._call("device count", "nvmlDeviceGetCount"))
        if count == 0:
            raise AnalyzerError("NVML sees no GPU")
        if self.gpu_index >= count:
            raise AnalyzerError(f"there is no GPU {self.gpu_index}: NVML sees {count}")
        indices = range(count) if self.gpu_index < 0 else [self.gpu_index]
        self._handles = [self._call(f"GPU {i}", "nvmlDeviceGetHandleByIndex", i) for i in indices]
        self._names = [_text(self._call("device name", "nvmlDeviceGetName", h)) for h in self._handles]
        self.counters = [Counter(f"gpu{i}", JOULES_PER_MILLIJOULE) for i in indices]
        self.read_counters()  # pre-Volta GPUs have no energy counter: fail now

    def read_counters(self) -> list[int]:
        return [
            int(self._call("energy counter read", "nvmlDeviceGetTotalEnergyConsumption", h))
            for h in self._handles
        ]

    async def identify(self) -> AnalyzerInfo:
        version = _text(self._call("driver version", "nvmlSystemGetDriverVersion"))
        return AnalyzerInfo(
            name="NVML", model="NVML", averaging_ms=0, version=version, raw=";".join(self._names),
        )

    async def close(self) -> None:
        await super().close()
        nvml, self._nvml = self._nvml, None
        if nvml is not None:
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
