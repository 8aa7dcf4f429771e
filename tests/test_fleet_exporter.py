"""The director's exporter: counters that only grow although a meter's figures reset each phase,
and the energy counter, read back in Prometheus' text format (prometheus-client's own parser)."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from analyzer_drivers.formats.sample import ERROR_READING, Sample
from analyzer_drivers.formats.session_meta import SessionMeta
from power_director.exporter import DirectorExporter
from power_director.mqtt_stream import MqttStreamAnalyzer


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
