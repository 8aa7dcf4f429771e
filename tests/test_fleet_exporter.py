"""The director's exporter: counters that only grow although a meter's figures reset each phase,
and the energy counter, read back in Prometheus' text format (prometheus-client's own parser);
the stream meter's journal epochs."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from analyzer_drivers.formats.sample import ERROR_READING, Sample
from analyzer_drivers.formats.session_meta import SessionMeta
from power_director.fleet.clock import ClockModel
from power_director.fleet.mqtt_stream import MqttStreamAnalyzer
from power_director.fleet.sign import sign
from power_director.fleet.wire import agent_topic, encode_samples
from power_director.observe.exporter import DirectorExporter


def _values(exporter: DirectorExporter, name: str) -> dict[str, float]:
    text = generate_latest(exporter._server.registry).decode()
    return {s.labels["meter"]: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name}


def test_lost_samples_only_grow_across_phases_and_energy_integrates() -> None:
    stream = MqttStreamAnalyzer("127.0.0.1:1", "a1/psu1")  # never connected: its counts are set here
    exporter = DirectorExporter()
    try:
        exporter.watch([stream])
        meta = SessionMeta.new()
        exporter.on_state("ranging", meta)
        stream.lost = 3  # three sequence numbers given up in ranging
        assert _values(exporter, "power_director_samples_lost_total") == {stream.name: 3.0}
        exporter.on_state("testing", meta)
        stream._reset_phase_stats()  # what start() does: the per-phase figure is 0 again
        assert _values(exporter, "power_director_samples_lost_total") == {stream.name: 3.0}
        stream.lost = 5  # more than before the reset: still added, not mistaken for growth from 3
        exporter.on_samples(stream.name, [
            Sample(1_000_000_000, 100.0), Sample(1_500_000_000, 200.0), Sample(2_000_000_000, ERROR_READING),
            Sample(3_000_000_000, 300.0), Sample(9_000_000_000, 400.0),  # after a 6 s silence: not integrated
        ])
        assert _values(exporter, "power_director_samples_lost_total") == {stream.name: 9.0}  # 3 + 5 + 1 error
        exporter.on_result(None)  # type: ignore[arg-type]
        assert _values(exporter, "power_director_samples_lost_total") == {stream.name: 9.0}
        joules = 200.0 * 0.5 + 300.0 * 1.5
        assert _values(exporter, "power_director_energy_joules_total") == {stream.name: joules}
    finally:
        exporter.close()


def test_an_older_epoch_is_refused_and_a_newer_one_restarts_numbering() -> None:
    """A genuine signed message of an older journal (a replay of an earlier run) changes nothing
    and is counted; a newer epoch (the agent's journal began again) restarts the numbering."""
    key = b"k" * 64
    topic = agent_topic("a1", "psu1", "samples")
    stream = MqttStreamAnalyzer("127.0.0.1:1", "a1/psu1", keys={"a1": key})

    def deliver(epoch: int, first: int, watts: float) -> None:
        rows = [(first + k, Sample(1_000_000_000 * (first + k), watts)) for k in range(3)]
        stream.handle(topic, sign("a1", key, topic, encode_samples(rows, epoch)))

    deliver(200, 50, 100.0)
    assert (stream._next_seq, stream.received, stream.forged) == (50, 3, 0)  # held until the clock is known
    deliver(100, 53, 999.0)  # an older run's messages, signed by the real key
    assert (stream.received, stream.forged, stream.forged_why) == (3, 1, {"older epoch": 1})
    deliver(300, 1, 120.0)
    assert (stream.received, stream.agent_restarts, stream._next_seq) == (6, 1, 1)
    assert sorted(stream._pending) == [1, 2, 3] and {row[2] for row in stream._pending.values()} == {120.0}
    assert stream.evidence().forged == 1


def test_a_new_epoch_hands_on_the_old_journals_held_samples() -> None:
    """Samples held behind a hole when the agent's journal begins again are handed on (the hole
    can never be filled now: it is lost, marked by one error reading), not dropped."""
    asyncio.run(_new_epoch_after_a_hole())


async def _new_epoch_after_a_hole() -> None:
    topic = agent_topic("a1", "psu1", "samples")
    stream = MqttStreamAnalyzer("127.0.0.1:1", "a1/psu1")  # never connected: its replay requests go nowhere
    stream._clock.model = ClockModel(ref_ns=0, offset_ns=0, drift_ppm=0.0, bound_ns=0)  # as if measured
    await stream.start("testing", 1000)  # opens the window now: the samples are stamped after it

    def deliver(epoch: int, seqs: list[int], watts: float) -> None:
        rows = [(seq, Sample(time.time_ns() + 1_000_000 * seq, watts)) for seq in seqs]
        stream.handle(topic, encode_samples(rows, epoch))

    deliver(200, [1, 2], 100.0)
    deliver(200, [4, 5], 110.0)  # 3 is missing: 4 and 5 wait for it
    deliver(300, [1], 120.0)  # the agent's journal began again
    handed = await stream.poll()
    assert [s.watts for s in handed] == [100.0, 100.0, ERROR_READING, 110.0, 110.0, 120.0]
    assert (stream.lost, stream.agent_restarts, stream._next_seq, stream._pending) == (1, 1, 2, {})
    await asyncio.sleep(0)  # the replay request's task ends
