"""Live fleet metrics for Prometheus (prometheus-client), from the director and from meter agents.

Director (a session observer; ``[telemetry] prometheus_port``):
``power_director_meter_watts``, ``power_director_samples_received_total``,
``power_director_samples_lost_total``, ``power_director_energy_joules_total``,
``power_director_messages_forged_total`` (refused: unsigned, wrongly signed, an older epoch),
``power_director_session_state``, ``power_director_clock_offset_seconds`` / ``_bound_seconds``
(meters read through agents). Counters only grow for the director's life: a meter's per-phase
figures are added up as they reset.

Meter agent (``[agent] metrics_port``), each with an ``agent`` label: ``power_director_agent_watts``,
``power_director_agent_samples_total``, ``power_director_agent_published_total``,
``power_director_agent_replayed_total``, ``power_director_agent_broker_connected``,
``power_director_agent_broker_outages_total``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from analyzer_drivers.base import Analyzer
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_meta import SessionMeta
from reports.model.report import SessionReport


class _Journalled(Protocol):
    @property
    def last_seq(self) -> int: ...


class _AgentMeterView(Protocol):
    """What the agent exporter reads of one ``meter_agent.AgentMeter``."""

    @property
    def name(self) -> str: ...
    @property
    def journal(self) -> _Journalled: ...
    @property
    def published_seq(self) -> int: ...
    @property
    def replayed(self) -> int: ...
    @property
    def last_watts(self) -> float: ...


class AgentView(Protocol):
    """What the agent exporter reads of a ``meter_agent.MeterAgent`` (a protocol, so this
    module needs no import of the agent, which imports it)."""

    @property
    def agent_id(self) -> str: ...
    @property
    def meters(self) -> Mapping[str, _AgentMeterView]: ...
    @property
    def connected(self) -> bool: ...
    @property
    def outages(self) -> int: ...

STATES = ("identify", "ranging", "testing", "completed", "aborted")
ENERGY_GAP_S = 5.0  # a longer silence between two samples is not integrated


class _Accumulated:
    """A counter over figures that reset (a meter's per-phase losses): it only grows."""

    def __init__(self) -> None:
        self.total: dict[str, int] = {}
        self._seen: dict[str, int] = {}

    def update(self, figures: Mapping[str, int]) -> dict[str, int]:
        for name, value in figures.items():
            seen = self._seen.get(name, 0)
            self.total[name] = self.total.get(name, 0) + (value - seen if value >= seen else value)
            self._seen[name] = value
        return dict(self.total)

    def restart(self) -> None:
        """The figures start again from 0 (a meter starts a phase)."""
        self._seen = {}


class _Server:
    """An HTTP endpoint for one registry, on a thread; ``close()`` stops it."""

    def __init__(self, collector: Collector, port: int, host: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(collector)
        self._server, self._thread = start_http_server(port, host, self.registry)
        self.port: int = self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class DirectorExporter(Collector):
    """A session observer that serves what it sees to Prometheus."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._watts: dict[str, float] = {}
        self._received: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._joules: dict[str, float] = {}
        self._last_ns: dict[str, int] = {}
        self._lost = _Accumulated()
        self._forged = _Accumulated()
        self._state = "identify"
        self._analyzers: list[Analyzer] = []
        self._server = _Server(self, port, host)
        self.port = self._server.port

    def watch(self, analyzers: Sequence[Analyzer]) -> None:
        """Meters whose own evidence (clock, losses) is exported too."""
        self._analyzers = list(analyzers)

    def close(self) -> None:
        self._server.close()

    # --- SessionObserver ----------------------------------------------------------------
    def on_state(self, phase: str, meta: SessionMeta) -> None:
        self._lost_so_far()  # before the meters start the phase and reset their figures
        if phase == "ranging" or phase.startswith("testing"):
            with self._lock:
                self._lost.restart()
                self._forged.restart()
        self._state = "testing" if phase.startswith("testing") else phase

    def on_samples(self, analyzer: str, samples: Sequence[Sample]) -> None:
        with self._lock:
            self._received[analyzer] = self._received.get(analyzer, 0) + len(samples)
            valid = [s for s in samples if s.is_valid]
            self._errors[analyzer] = self._errors.get(analyzer, 0) + len(samples) - len(valid)
            if valid:
                self._watts[analyzer] = valid[-1].watts
            self._integrate(analyzer, valid)

    def _integrate(self, analyzer: str, valid: Sequence[Sample]) -> None:
        """Each sample's watts over the time since the meter's previous valid sample."""
        joules, last_ns = self._joules.get(analyzer, 0.0), self._last_ns.get(analyzer)
        for sample in valid:
            if last_ns is not None and 0 < sample.t_ns - last_ns <= ENERGY_GAP_S * 1e9:
                joules += sample.watts * (sample.t_ns - last_ns) / 1e9
            if last_ns is None or sample.t_ns > last_ns:
                last_ns = sample.t_ns
        self._joules[analyzer] = joules
        if last_ns is not None:
            self._last_ns[analyzer] = last_ns

    def on_result(self, report: SessionReport) -> None:
        self._lost_so_far()

    def _lost_so_far(self) -> dict[str, int]:
        with self._lock:
            evidence = [(a.name, e) for a in self._analyzers if (e := a.evidence()) is not None]
            lost = self._lost.update({name: int(e.lost or 0) for name, e in evidence})
            self._forged.update({name: int(e.forged) for name, e in evidence if e.forged is not None})
            errors = dict(self._errors)
        return {name: lost.get(name, 0) + errors.get(name, 0) for name in {*lost, *errors}}

    # --- Collector ----------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        lost = self._lost_so_far()
        with self._lock:
            watts, received, joules = dict(self._watts), dict(self._received), dict(self._joules)
        yield _gauge("power_director_meter_watts", "Last valid reading per meter (W)", "meter", watts)
        yield _counter("power_director_samples_received", "Samples received per meter", "meter", received)
        yield _counter("power_director_samples_lost",
                       "Samples lost per meter (sequence holes and error readings)", "meter", lost)
        yield _counter("power_director_energy_joules", "Energy of the samples received per meter (J)",
                       "meter", joules)
        with self._lock:
            forged = dict(self._forged.total)
        yield _counter("power_director_messages_forged", "Messages refused per meter: unsigned, wrongly "
                       "signed, or of an older journal epoch", "meter", forged)
        evidence = {a.name: e for a in self._analyzers if (e := a.evidence()) is not None}
        state = GaugeMetricFamily(
            "power_director_session_state", "1 for the session's state", labels=["state"]
        )
        for name in STATES:
            state.add_metric([name], 1.0 if name == self._state else 0.0)
        yield state
        clocks = {n: e.clock for n, e in evidence.items() if e.clock is not None}
        yield _gauge("power_director_clock_offset_seconds", "Agent clock minus director clock", "meter",
                     {n: (c.offset_ns or 0) / 1e9 for n, c in clocks.items()})
        yield _gauge("power_director_clock_bound_seconds", "Error bound of the clock offset", "meter",
                     {n: (c.bound_ns or 0) / 1e9 for n, c in clocks.items()})


class AgentExporter(Collector):
    """A meter agent's own metrics."""

    def __init__(self, agent: AgentView, port: int, host: str = "127.0.0.1") -> None:
        self.agent = agent
        self._server = _Server(self, port, host)
        self.port = self._server.port

    def close(self) -> None:
        self._server.close()

    def collect(self) -> Iterator[Metric]:
        meters, agent = self.agent.meters.values(), self.agent.agent_id
        yield _gauge("power_director_agent_watts", "Last reading per meter (W)", "meter",
                     {m.name: m.last_watts for m in meters if math.isfinite(m.last_watts)}, agent)
        yield _counter("power_director_agent_samples", "Samples read and journaled", "meter",
                       {m.name: m.journal.last_seq for m in meters}, agent)
        yield _counter("power_director_agent_published", "Samples the broker acknowledged", "meter",
                       {m.name: m.published_seq for m in meters}, agent)
        yield _counter("power_director_agent_replayed", "Samples sent again on a director's request",
                       "meter", {m.name: m.replayed for m in meters}, agent)
        connected = GaugeMetricFamily("power_director_agent_broker_connected", "1 while connected",
                                      labels=["agent"])
        connected.add_metric([agent], 1.0 if self.agent.connected else 0.0)
        yield connected
        outages = CounterMetricFamily("power_director_agent_broker_outages", "Lost broker connections",
                                      labels=["agent"])
        outages.add_metric([agent], float(self.agent.outages))
        yield outages


def _gauge(
    name: str, doc: str, label: str, values: Mapping[str, float], agent: str = ""
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["agent", label] if agent else [label])
    for key, value in sorted(values.items()):
        family.add_metric([agent, key] if agent else [key], value)
    return family


def _counter(
    name: str, doc: str, label: str, values: Mapping[str, float], agent: str = ""
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["agent", label] if agent else [label])
    for key, value in sorted(values.items()):
        family.add_metric([agent, key] if agent else [key], float(value))
    return family
