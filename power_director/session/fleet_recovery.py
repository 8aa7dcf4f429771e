"""A fleet session whose director died: pull what its stream meters' agents journaled.

``power-director report DIR --config FILE`` (the director's config: brokers, credentials, keys).
For each ``mqtt-stream`` meter of the session, the agent is asked for every sample it stamped
from one interval before the testing phase began to one after it ended (its LoadGen window's end
when the log is complete, else when the director was last seen: ``raw/alive``), on its clock as
measured now; the samples the session's raw file lacks are appended to it with the phase's mark
(nothing already there is changed). What is still missing is said exactly: each gap of over 1.5
intervals, per meter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_layout import ALIVE_FILE, RAW_DIR, phase_dir, samples_path
from analyzer_drivers.formats.session_meta import SessionMeta
from loadgen_bridge.detail_log import DETAIL_LOG, LoadgenLogError, parse_detail_log
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import Config
from power_director.config.meters.mqtt_stream import MqttStreamConfig
from power_director.fleet.mqtt_stream import MqttStreamAnalyzer
from power_director.fleet.wire import Row, agent_topic, sample_at
from power_director.session.journal import Journal
from reports.mlperf.layout import read_events
from reports.spl import read_spl

QUIET_S = 1.5  # no more replayed samples for this long: the agent has sent them all
PULL_TIMEOUT_S = 60.0


def testing_span_ns(session_dir: Path, meta: SessionMeta) -> tuple[int, int] | None:
    """When testing began, and when it ended (LoadGen's window, else the director's last sign
    of life); None when it never began."""
    began = [e["t_ns"] for e in read_events(session_dir) if e.get("kind") == "phase_start"
             and e.get("phase") == "testing" and isinstance(e.get("t_ns"), int)]
    if not began:
        return None
    try:
        window = parse_detail_log(session_dir / phase_dir("testing") / DETAIL_LOG)
        return began[-1], window.end_ns
    except LoadgenLogError:
        raw = session_dir / RAW_DIR
        try:
            return began[-1], int((raw / ALIVE_FILE).read_text(encoding="utf-8").strip())
        except (OSError, ValueError):  # a director older than raw/alive: its last write
            return began[-1], max(p.stat().st_mtime_ns for p in raw.iterdir())


async def recover_fleet(
    session_dir: Path, meta: SessionMeta, config: Config, say: Callable[[str], None]
) -> list[str]:
    """Pull each stream meter's missing testing samples; what is still missing, one line each."""
    span = testing_span_ns(session_dir, meta)
    mark = meta.phase("testing").mark
    if span is None or not mark:
        return []
    drivers = {str(a.driver) for a in meta.analyzers}
    missing: list[str] = []
    for stream_config in stream_configs(config):
        stream = make_analyzer(stream_config)
        assert isinstance(stream, MqttStreamAnalyzer)
        if stream.name not in drivers:
            continue
        interval_ns = stream_config.interval_ms * 1_000_000
        begin_ns, end_ns = span[0] - interval_ns, span[1] + interval_ns
        pulled = await _pull(stream, begin_ns, end_ns)
        added = _append_missing(session_dir, stream.name, mark, pulled, interval_ns)
        say(f"  {stream.name}: {len(pulled)} samples in the agent's journal for testing, "
            f"{added} were missing and are added")
        missing += _gaps(session_dir, stream.name, mark, (span[0], span[1]), interval_ns)
    return missing


async def _pull(stream: MqttStreamAnalyzer, begin_ns: int, end_ns: int) -> list[Sample]:
    """The agent's samples stamped in [begin_ns, end_ns] (our clock), on our clock."""
    rows: dict[int, Row] = {}
    heard = [time.monotonic()]
    since = until = 0

    def tap(batch: list[Row]) -> None:
        """The replayed samples (the agent's live ones, stamped later, are not waited for)."""
        wanted = [(row[0], row) for row in batch if since <= row[1] <= until]
        if wanted:
            rows.update(wanted)
            heard[0] = time.monotonic()

    async with stream:
        await stream.identify()  # the agent is there and its clock is measured
        clock = stream.clock
        assert clock is not None
        since, until = begin_ns + clock.offset_at(begin_ns), end_ns + clock.offset_at(end_ns)
        stream.tap = tap
        await stream.ask(agent_topic(stream.agent, "replay"), {"meter": stream.meter, "from_t_ns": since,
                                                               "to_t_ns": until})
        deadline = time.monotonic() + PULL_TIMEOUT_S
        heard[0] = time.monotonic()
        while time.monotonic() - heard[0] < QUIET_S and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            stream.take_held()
        stream.tap = None
    kept = [sample_at(row, clock.to_director_ns(row[1])) for row in rows.values()]
    return sorted(kept, key=lambda s: s.t_ns)


def _append_missing(session_dir: Path, driver: str, mark: str, pulled: list[Sample], interval_ns: int) -> int:
    """Append the pulled samples the raw file lacks (none within half an interval of theirs)."""
    path = samples_path(session_dir / RAW_DIR, driver)
    have = np.sort(read_spl(path).with_mark(mark).t_ns) if path.is_file() else np.array([], np.int64)
    new = []
    for sample in pulled:
        k = int(np.searchsorted(have, sample.t_ns))
        near = [have[j] for j in (k - 1, k) if 0 <= j < len(have)]
        if not any(abs(int(t) - sample.t_ns) < interval_ns // 2 for t in near):
            new.append(sample)
    if new:
        journal = Journal(session_dir / RAW_DIR)
        try:
            journal.record_samples(driver, new, mark)
        finally:
            journal.close()
    return len(new)


def _gaps(session_dir: Path, driver: str, mark: str, span: tuple[int, int], interval_ns: int) -> list[str]:
    """Each stretch of the testing span over 1.5 intervals without a sample of this meter."""
    path = samples_path(session_dir / RAW_DIR, driver)
    stamps = np.sort(read_spl(path).with_mark(mark).t_ns) if path.is_file() else np.array([], np.int64)
    edges = np.concatenate(([span[0]], stamps[(stamps > span[0]) & (stamps < span[1])], [span[1]]))
    out = []
    for k in np.flatnonzero(np.diff(edges) > 1.5 * interval_ns):
        out.append(f"{driver}: no sample from {int(edges[k])} to {int(edges[k + 1])} ns "
                   f"({(edges[k + 1] - edges[k]) / 1e9:.1f} s): neither the session nor the agent's "
                   "journal has it")
    return out


def stream_configs(config: Config) -> list[MqttStreamConfig]:
    meters = (config.analyzer, *(extra.meter for extra in config.extra_analyzers))
    return [meter for meter in meters if isinstance(meter, MqttStreamConfig)]
