"""One director consuming N meters over MQTT (meter agents → mosquitto → ``mqtt-stream`` meters).

    python bench/fleet.py [--full] [--seconds S] [--repeat R] [--meters-per-agent K | --agents A]
                          [--sizes-1hz N ...] [--sizes-10hz N ...]

For each N and rate: meter-agent processes share N simulated meters (read in-process,
``sim_direct``; each agent publishes one batch per interval for all its meters), the director
(this process's main thread) runs N ``mqtt-stream`` meters over one shared broker connection and,
once every agent's clock has settled (as in a session's testing phase, which follows a ranging
phase as long; until then each agent's clock is measured every 10 s, then every 30 s), measures
``--seconds`` (default 30: one settled clock cycle, each agent's exchanges in it once): it
polls them as a session does (every ``AT_SOURCE_POLL_S``: their agents journal them; each
batch journaled and tallied) and journals every sample. In the same process and run, on its own
thread and event loop, a bare aiomqtt subscriber receives the same messages and appends them to a
file: the floor. Figures per run: samples stamped in the measured seconds and received (after a
drain) / expected (every sequence number accounted: lost = holes given up), the director's CPU
(this process's, less the floor thread's: any thread the director starts counts) and the floor's
(% of one core, from /proc over the measured seconds) and their ratio, agents' CPU per meter,
latency (median / p99, the agent's stamp on our clock to arrival). Each size runs ``--repeat``
times (default 3; the floor's cost, and so the ratio, moves with the machine's load): the figure
is the largest N with zero loss in every run and a median run's cost ≤ 2× the floor's: target
≥ 1,000 at 1 Hz, ≥ 128 at 10 Hz.

Two layouts of the agents, each its own figure (the ratio depends on it: the floor pays per
message, the director per sample): ``--meters-per-agent 32`` (the default), one agent per rack
(16 two-supply servers read through their BMCs, or two 16-outlet PDUs: our guess at a typical
rack, not a measured census), and ``--agents 4``, every meter on four agents (256 samples a
message at 1,024 meters: the floor's best case).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.session_layout import samples_path
from bench.common import Figure, figure_table
from power_director.config.sections import SessionConfig
from power_director.fleet.agent_clock import CLOCK_PERIOD_S, SETTLED_ESTIMATES, SETTLED_PERIODS
from power_director.fleet.mqtt_stream import MqttStreamAnalyzer
from power_director.fleet.wire import ROOT
from power_director.session.journal import AT_SOURCE_POLL_S, Journal
from power_director.session.ranging import PhaseTally
from reports.spl import read_spl
from tests.fleet_util import start_agent, stop_agents, wait_connected
from tests.mqtt_broker import Mosquitto

RATIO_LIMIT = 2.0
SETTLE_LIMIT_S = 60.0
#: One settled clock cycle: every agent's clock exchanges fall in it once.
MEASURED_S = SETTLED_PERIODS * CLOCK_PERIOD_S
REPEATS = 3  # runs per size: the floor's cost, and so the ratio, moves with the machine's load
TARGETS = {1: 1000, 10: 128}


class BareSubscriber(threading.Thread):
    """The floor: every agent's batches, appended to a file, on its own thread and event loop."""

    def __init__(self, port: int, path: Path) -> None:
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.ready, self.messages = threading.Event(), 0
        self._stop_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._stop_event = asyncio.get_running_loop(), asyncio.Event()
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="bare-floor") as client:
            await client.subscribe(f"{ROOT}/+/samples", qos=1)
            self.ready.set()
            receiving = asyncio.create_task(self._receive(client))
            await self._stop_event.wait()
            receiving.cancel()

    async def _receive(self, client: aiomqtt.Client) -> None:
        with self.path.open("ab") as out:
            async for message in client.messages:
                out.write(bytes(message.payload) + b"\n")
                self.messages += 1

    def stop(self) -> None:
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout=10)


def thread_cpu_s(native_id: int | None) -> float:
    """One thread of this process: its user + system CPU seconds (Linux /proc, via psutil)."""
    for thread in psutil.Process().threads():
        if thread.id == native_id:
            return float(thread.user_time + thread.system_time)
    return float("nan")


def process_cpu_s() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def _agent_toml(agent: str, broker: str, journal: Path, meters: list[str], interval_ms: int) -> str:
    lines = ["[agent]", f'id = "{agent}"', f'broker = "{broker}"', f'journal_dir = "{journal}"']
    for name in meters:
        lines += ["[[meter]]", f'name = "{name}"', "sim_watts = 200.0", "sim_dynamic_watts = 0.0",
                  "sim_direct = true", f"interval_ms = {interval_ms}"]
    return "\n".join(lines) + "\n"


async def _consume(
    broker: str, topics: list[str], interval_ms: int, seconds: float, mark: Callable[[], None]
) -> dict[str, float]:
    """Measure for ``seconds`` once the clocks have settled; ``mark()`` is called as the measured
    seconds begin and end (the agents' CPU is read there)."""
    streams = [MqttStreamAnalyzer(broker, t, connect_timeout_s=60.0, reply_timeout_s=5.0) for t in topics]
    with tempfile.TemporaryDirectory() as raw:
        floor = BareSubscriber(int(broker.rsplit(":", 1)[1]), Path(raw) / "floor.jsonl")
        floor.start()
        floor.ready.wait(30)
        journal = Journal(Path(raw), [s.name for s in streams])  # as a session opens it
        for stream in streams:
            await stream.connect()
        await asyncio.gather(*(s.identify() for s in streams))
        for stream in streams:
            await stream.start("settle", interval_ms)
        await _settle(streams, journal)
        for stream in streams:  # the measured phase, as a session's testing phase begins
            await stream.stop()
            await stream.start("bench", interval_ms)
        mark()
        ours0, floor0 = process_cpu_s() - thread_cpu_s(floor.native_id), thread_cpu_s(floor.native_id)
        start_ns, wall0 = time.time_ns(), time.monotonic()
        tallies, silent = await _poll(streams, journal, "bench", seconds)
        wall_s, stop_ns = time.monotonic() - wall0, time.time_ns()
        floor_s = thread_cpu_s(floor.native_id) - floor0
        ours_s = process_cpu_s() - thread_cpu_s(floor.native_id) - ours0
        mark()
        await _drain(streams, journal, stop_ns, tallies)
        for stream in streams:
            await stream.close()
        journal.close()
        floor.stop()
        received = sum(len(read_spl(samples_path(Path(raw), s.name), start_ns, stop_ns, watts_only=True))
                       for s in streams)
    expected = len(topics) * (stop_ns - start_ns) / 1e6 / interval_ms
    return _figures(streams, received, silent, expected, wall_s, ours_s, floor_s)


async def _settle(streams: list[MqttStreamAnalyzer], journal: Journal) -> None:
    """Poll until every agent's clock has settled (``SETTLED_ESTIMATES`` fitted: its exchanges
    are then every ``SETTLED_PERIODS`` periods), at most ``SETTLE_LIMIT_S``: a session's testing
    phase follows its ranging phase, as long, so its clocks have settled."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while time.monotonic() < deadline and not all(_settled(s) for s in streams):
        await _poll(streams, journal, "settle", 1.0)
    await _poll(streams, journal, "settle", 1.0)  # the last estimate's exchanges answered


def _settled(stream: MqttStreamAnalyzer) -> bool:
    clock = stream.evidence().clock
    return clock is not None and (clock.batches or 0) >= SETTLED_ESTIMATES


async def _poll(streams: list[MqttStreamAnalyzer], journal: Journal, mark: str, seconds: float
                ) -> tuple[dict[str, PhaseTally], int]:
    """Poll every stream as a session polls meters journaled at their source, every
    ``AT_SOURCE_POLL_S`` (power_director/session/session.py ``_poll_all``/``_keep``): each batch
    journaled and tallied."""
    tallies = {s.name: PhaseTally() for s in streams}
    silent, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        silent += await _poll_once(streams, journal, mark, tallies)
        await asyncio.sleep(max(SessionConfig().poll_interval_s, AT_SOURCE_POLL_S))
    return tallies, silent


async def _poll_once(streams: list[MqttStreamAnalyzer], journal: Journal, mark: str,
                     tallies: dict[str, PhaseTally]) -> int:
    """One poll of every stream, each batch journaled and tallied; how many were silent (a
    session would reconnect them; here they are counted)."""
    silent = 0
    for stream in streams:
        try:
            batch = await stream.poll()
        except AnalyzerError:
            silent += 1
            continue
        if batch:
            journal.record_samples(stream.name, batch, mark)
            tallies[stream.name].add(batch)
    return silent


async def _drain(streams: list[MqttStreamAnalyzer], journal: Journal, stop_ns: int,
                 tallies: dict[str, PhaseTally]) -> None:
    """After the measured seconds (not counted): journal the samples stamped in them that were
    still on their way, until every stream has one stamped after them (at most 10 s)."""
    for stream in streams:
        await stream.stop()
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and any((tallies[s.name].last_t_ns or 0) < stop_ns for s in streams):
        await _poll_once(streams, journal, "bench", tallies)
        await asyncio.sleep(0.1)


def _figures(streams: list[MqttStreamAnalyzer], received: int, silent: int, expected: float, wall_s: float,
             ours_s: float, floor_s: float) -> dict[str, float]:
    latencies = sorted(x for s in streams for x in s.latencies_ns)
    return {
        "received": received, "expected": expected, "lost": sum(s.lost for s in streams), "silent": silent,
        "cpu_pct": 100 * ours_s / wall_s, "floor_cpu_pct": 100 * floor_s / wall_s,
        "ratio": ours_s / floor_s if floor_s > 0 else float("inf"),
        "latency_median_ms": statistics.median(latencies) / 1e6 if latencies else float("nan"),
        "latency_p99_ms": latencies[int(0.99 * (len(latencies) - 1))] / 1e6 if latencies else float("nan"),
    }


@dataclass(frozen=True)
class Layout:
    """How the meters are spread over agents: ``per_agent`` meters each, or ``agents`` in all."""

    per_agent: int = 0
    agents: int = 0

    def agents_for(self, meters: int) -> int:
        return self.agents or -(-meters // self.per_agent)

    def describe(self) -> str:
        return f"{self.agents} agents" if self.agents else f"{self.per_agent} meters per agent"


RACKS, FOUR_AGENTS = Layout(per_agent=32), Layout(agents=4)


def run_one(meters: int, rate_hz: int, seconds: float, agents: int) -> dict[str, float]:
    interval_ms = 1000 // rate_hz
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        broker = Mosquitto(directory).start()
        names = [[f"m{k}" for k in range(a, meters, agents)] for a in range(agents)]
        processes = [
            start_agent(directory, f"b{a}", _agent_toml(f"b{a}", broker.address, directory / f"j{a}", ms,
                                                        interval_ms))
            for a, ms in enumerate(names) if ms
        ]
        try:
            wait_connected(directory, [f"b{a}" for a, ms in enumerate(names) if ms])
            agent_cpu = [psutil.Process(p.pid) for p in processes]
            marks: list[tuple[float, float]] = []  # (agents' CPU s, wall s) at the window's ends

            def mark() -> None:
                cpu_s = sum(t.user + t.system for t in (p.cpu_times() for p in agent_cpu))
                marks.append((cpu_s, time.monotonic()))

            topics = [f"b{a}/{m}" for a, ms in enumerate(names) for m in ms]
            result = asyncio.run(_consume(broker.address, topics, interval_ms, seconds, mark))
            (cpu0, wall0), (cpu1, wall1) = marks
            result["agent_cpu_pct_per_meter"] = 100 * (cpu1 - cpu0) / (wall1 - wall0) / meters
        finally:
            stop_agents(processes)
            broker.stop()
    return result


def _row(meters: int, rate_hz: int, agents: int, r: dict[str, float]) -> str:
    return (f"{meters} meters on {agents} agents at {rate_hz} Hz: {r['received']:.0f} received of "
            f"~{r['expected']:.0f}, "
            f"{r['lost']:.0f} lost, {r['silent']:.0f} silences; director {r['cpu_pct']:.1f} % CPU, "
            f"bare subscriber {r['floor_cpu_pct']:.1f} %: {r['ratio']:.2f}× the floor; agents "
            f"{r['agent_cpu_pct_per_meter']:.3f} % CPU per meter; latency median "
            f"{r['latency_median_ms']:.1f} ms, p99 {r['latency_p99_ms']:.1f} ms")


def largest(rate_hz: int, sizes: list[int], seconds: float, layout: Layout, repeats: int = 1
            ) -> tuple[int, int, list[str]]:
    """The largest N meeting the target (zero loss in every run, the median run ≤ RATIO_LIMIT×
    the floor) and the largest with zero loss; every size is tried (a miss at one size says
    nothing of the next's loss)."""
    best = lossless = 0
    rows = []
    for meters in sizes:
        agents = layout.agents_for(meters)
        runs = []
        for _ in range(repeats):
            runs.append(run_one(meters, rate_hz, seconds, agents))
            print(_row(meters, rate_hz, agents, runs[-1]), file=sys.stderr)
        runs.sort(key=lambda r: r["ratio"])
        median = runs[len(runs) // 2]
        listed = ", ".join(f"{r['ratio']:.2f}" for r in runs)
        ratios = "" if repeats == 1 else f" (median of {repeats} runs; their ratios {listed})"
        rows.append(_row(meters, rate_hz, agents, median) + ratios)
        # Each meter's count of whole intervals in the window may be one short of the expected.
        if all(r["lost"] == 0 and r["silent"] == 0 and r["received"] >= r["expected"] - meters for r in runs):
            lossless = max(lossless, meters)
            if median["ratio"] <= RATIO_LIMIT:
                best = max(best, meters)
    return best, lossless, rows


def run(full: bool, seconds: float = MEASURED_S, layouts: tuple[Layout, ...] = (RACKS, FOUR_AGENTS),
        sizes_1hz: list[int] | None = None, sizes_10hz: list[int] | None = None, repeats: int = REPEATS
        ) -> list[Figure]:
    plans = {1: sizes_1hz or ([256, 512, 1024, 2048] if full else [1024]),
             10: sizes_10hz or ([64, 128, 256] if full else [128])}
    figures = []
    for layout in layouts:
        for rate_hz, sizes in plans.items():
            best, lossless, rows = largest(rate_hz, sizes, seconds * (2 if full else 1), layout, repeats)
            target = TARGETS[rate_hz]
            figures.append(Figure(
                f"fleet, {layout.describe()}: largest N at {rate_hz} Hz with zero loss, director ≤ "
                f"{RATIO_LIMIT:g}× a bare subscriber (tried {', '.join(map(str, sizes))})",
                f"{best} (zero loss up to {lossless}); " + " / ".join(rows), f"≥ {target}", best >= target,
            ))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--seconds", type=float, default=MEASURED_S)
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--meters-per-agent", type=int, help="only this layout (default: 32, then 4 agents)")
    layout.add_argument("--agents", type=int, help="only this many agents in all")
    parser.add_argument("--sizes-1hz", type=int, nargs="+")
    parser.add_argument("--sizes-10hz", type=int, nargs="+")
    parser.add_argument("--repeat", type=int, default=REPEATS,
                        help="runs per size (default 3): the ratio moves with the load; the median counts")
    args = parser.parse_args()
    layouts = ((Layout(per_agent=args.meters_per_agent),) if args.meters_per_agent else
               (Layout(agents=args.agents),) if args.agents else (RACKS, FOUR_AGENTS))
    print(figure_table(run(args.full, args.seconds, layouts, args.sizes_1hz, args.sizes_10hz, args.repeat)))


if __name__ == "__main__":
    main()
