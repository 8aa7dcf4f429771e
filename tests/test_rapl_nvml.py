"""Software meters: RAPL on a sysfs-shaped tree whose counters really advance, and NVML."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import os
import time
from pathlib import Path

import pytest

from analyzer_drivers.base import AnalyzerError, Ranges
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.meters.energy import Counter, energy_delta_j
from analyzer_drivers.meters.nvml import NvmlAnalyzer
from analyzer_drivers.meters.rapl import RaplAnalyzer

MAX_RANGE_UJ = 262_143_328_850  # a real package's max_energy_range_uj


def make_zone(root: Path, zone: str, name: str, energy_uj: int = 0) -> Path:
    path = root / zone
    path.mkdir(parents=True)
    (path / "name").write_text(name + "\n")
    (path / "max_energy_range_uj").write_text(f"{MAX_RANGE_UJ}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    return path


@pytest.fixture
def powercap(tmp_path: Path) -> Path:
    (tmp_path / "intel-rapl").mkdir()  # the control type directory: not a zone
    make_zone(tmp_path, "intel-rapl:0", "package-0")
    make_zone(tmp_path, "intel-rapl:0:0", "core")
    make_zone(tmp_path, "intel-rapl:0:1", "dram")
    make_zone(tmp_path, "intel-rapl:1", "package-1")
    return tmp_path


async def advance_counters(zones: dict[Path, tuple[float, int]], stop: asyncio.Event,
                           gaps_s: list[float] | None = None) -> None:
    """Write each zone's energy_uj as ``start + watts × elapsed`` (wrapping), every 2 ms; the
    time between writes goes into ``gaps_s`` (on a busy machine the writer runs late)."""
    t0 = last = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if gaps_s is not None:
            gaps_s.append(now - last)
        last, elapsed_s = now, now - t0
        for zone, (watts, start_uj) in zones.items():
            energy_uj = (start_uj + int(watts * elapsed_s * 1e6)) % MAX_RANGE_UJ
            (zone / "energy_uj").write_text(f"{energy_uj}\n")
        await asyncio.sleep(0.002)
    if gaps_s is not None:
        gaps_s.append(time.monotonic() - last)


def test_rapl_sums_packages_across_a_wrap(powercap: Path) -> None:
    # Package 0 starts 2 J below its wrap point: at 50 W it wraps after 40 ms.
    zones = {
        powercap / "intel-rapl:0": (50.0, MAX_RANGE_UJ - 2_000_000),
        powercap / "intel-rapl:1": (30.0, 5_000_000),
        powercap / "intel-rapl:0:1": (7.0, 0),  # dram: not counted by default
    }

    gaps_s: list[float] = []
    started_ns: list[int] = []

    async def main() -> tuple[list[Sample], Ranges, str]:
        stop = asyncio.Event()
        writer = asyncio.create_task(advance_counters(zones, stop, gaps_s))
        await asyncio.sleep(0.01)
        try:
            async with RaplAnalyzer(powercap) as meter:
                info = await meter.identify()
                await meter.set_ranges(Ranges(volts=230.0, amps=1.0))  # a no-op
                await meter.start("m", 100)
                started_ns.append(time.time_ns())  # the first counter read was before this
                await asyncio.sleep(0.85)
                await meter.stop()
                return await meter.poll(), await meter.get_ranges(), info.raw
        finally:
            stop.set()
            await writer

    samples, ranges, zone_names = asyncio.run(main())
    assert zone_names == "package-0,package-1"
    assert ranges == Ranges.auto()
    assert 6 <= len(samples) <= 9
    # Every sample, the one across the wrap included, is the 80 W the counters advance at: a
    # missed wrap would read −2.6 MW. The counters a read sees are as old as the writer's last
    # write, at most its longest gap (ms on a quiet machine, more on a busy one), so a sample
    # over dt seconds is off by at most 80 W × that gap / dt, and the mean over the whole
    # measurement by 80 W × the gap / its length.
    lag_s = max(gaps_s)
    stamps_ns = [started_ns[0], *(s.t_ns for s in samples)]
    spans_s = [(b - a) / 1e9 for a, b in itertools.pairwise(stamps_ns)]
    bounds = [80.0 * lag_s / dt + 0.5 for dt in spans_s]
    assert all(abs(s.watts - 80.0) <= bound for s, bound in zip(samples, bounds, strict=True)), (
        [round(s.watts, 1) for s in samples], [round(dt, 4) for dt in spans_s], lag_s)
    mean_watts = sum(s.watts * dt for s, dt in zip(samples, spans_s, strict=True)) / sum(spans_s)
    assert abs(mean_watts - 80.0) <= 80.0 * lag_s / sum(spans_s) + 0.5, (mean_watts, lag_s)
    assert all(s.volts != s.volts and s.amps != s.amps for s in samples)  # NaN: no V or A


def test_rapl_domain_choice_and_clear_errors(
    powercap: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async def zones(domains: tuple[str, ...]) -> list[str]:
        meter = RaplAnalyzer(powercap, domains)
        await meter.connect()
        return [z.name for z in meter.zones]

    assert asyncio.run(zones(("package", "dram"))) == ["intel-rapl:0", "intel-rapl:0:1", "intel-rapl:1"]
    with pytest.raises(AnalyzerError, match=r"no RAPL zones under .* intel_rapl driver"):
        asyncio.run(RaplAnalyzer(tmp_path_factory.mktemp("empty")).connect())
    with pytest.raises(AnalyzerError, match=r"no RAPL zone under .* is one of psys"):
        asyncio.run(zones(("psys",)))
    (powercap / "intel-rapl:1" / "energy_uj").write_text("garbage\n")
    with pytest.raises(AnalyzerError, match="holds 'garbage', not a counter"):
        asyncio.run(zones(("package",)))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: run as a normal user to check")
def test_rapl_unreadable_counter_says_root_only(powercap: Path) -> None:
    (powercap / "intel-rapl:0" / "energy_uj").chmod(0)
    with pytest.raises(AnalyzerError, match="permission denied; RAPL energy counters are root-only"):
        asyncio.run(RaplAnalyzer(powercap).connect())


def test_energy_delta_handles_wraps_and_refuses_a_backward_counter() -> None:
    rapl = [Counter("a", 1e-6, wraps_at=1000), Counter("b", 1e-6, wraps_at=1000)]
    assert energy_delta_j([990, 100], [10, 150], rapl) == pytest.approx(70e-6)
    nvml = [Counter("gpu0", 1e-3)]
    assert energy_delta_j([5_000], [7_500], nvml) == pytest.approx(2.5)
    with pytest.raises(AnalyzerError, match="gpu0 went backwards"):
        energy_delta_j([7_500], [5_000], nvml)


def _nvml_usable() -> bool:
    if importlib.util.find_spec("pynvml") is None:
        return False
    try:
        asyncio.run(NvmlAnalyzer().connect())
    except AnalyzerError:
        return False
    return True


NVML_USABLE = _nvml_usable()


@pytest.mark.skipif(NVML_USABLE, reason="this machine has a usable NVIDIA GPU")
def test_nvml_without_the_library_or_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(AnalyzerError, match=r"nvidia-ml-py|NVML is not available|NVML sees no GPU") as caught:
        asyncio.run(NvmlAnalyzer().connect())
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(not NVML_USABLE, reason="needs nvidia-ml-py and an NVIDIA GPU (Volta or newer)")
def test_nvml_measures_the_gpus() -> None:
    async def main() -> tuple[str, list[Sample]]:
        async with NvmlAnalyzer() as meter:
            info = await meter.identify()
            await meter.start("m", 100)
            await asyncio.sleep(1.05)
            await meter.stop()
            return info.raw, await meter.poll()

    names, samples = asyncio.run(main())
    assert names
    assert 8 <= len(samples) <= 11
    assert all(0 < s.watts < 2000 for s in samples)
