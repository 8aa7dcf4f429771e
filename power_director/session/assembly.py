"""The one place a Session is built from a Config: its meters (each with its own interval),
its observers and its telemetry. ``run``, ``demo``, ``serve`` (both protocols) and the
Python API all come through here, so none of them can forget a part of the config."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

from analyzer_drivers.base import Analyzer
from loadgen_bridge.workload import Workload
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import AnalyzerConfig, Config, TelemetryConfig
from power_director.observe.exporter import DirectorExporter
from power_director.observe.observer import SessionObserver
from power_director.observe.telemetry import MqttTelemetry
from power_director.session.parts import ExtraMeter, session_meters
from power_director.session.session import Session


def build_meter(config: AnalyzerConfig) -> tuple[Analyzer, int]:
    """The configured driver and the interval (ms) it samples at."""
    return make_analyzer(config), config.interval_ms


def build_extra_meters(config: Config) -> list[ExtraMeter]:
    """Every ``[[extra_analyzer]]``: (driver, role, its own ``interval_ms``)."""
    extras: list[ExtraMeter] = []
    for extra in config.extra_analyzers:
        analyzer, interval_ms = build_meter(extra.meter)
        extras.append(ExtraMeter(analyzer, extra.role, interval_ms))
    return extras


def check_session_config(config: Config) -> None:
    """Every check ``run`` makes of a config before it measures (no meter is opened)."""
    primary, _interval_ms = build_meter(config.analyzer)
    session_meters(config, primary, build_extra_meters(config))


def build_session(
    config: Config,
    workload: Workload,
    *,
    out_root: Path,
    label: str | None = None,
    say: Callable[[str], None] = print,
    observers: Sequence[SessionObserver] = (),
    telemetry: MqttTelemetry | None = None,
    repeat: int = 1,
    reuse_ranging: Path | None = None,
    ranging: bool = True,
) -> Session:
    """A Session over the config's primary meter, its extra meters, the observers given
    and (when open) the config's telemetry. ``ranging=False``: no ranging run, auto ranges
    (``measure``)."""
    primary, _interval_ms = build_meter(config.analyzer)  # the Session reads it from config
    watching = [*observers, *([telemetry] if telemetry is not None else [])]
    session = Session(
        config, primary, workload, out_root=out_root, label=label, say=say,
        extra_analyzers=build_extra_meters(config), observers=watching,
        repeat=repeat, reuse_ranging=reuse_ranging, ranging=ranging,
    )
    for observer in watching:
        if isinstance(observer, DirectorExporter):  # it exports each meter's own evidence too
            observer.watch([meter.analyzer for meter in session.meters])
    return session


@contextlib.asynccontextmanager
async def open_telemetry(config: TelemetryConfig, broker: str = "") -> AsyncIterator[MqttTelemetry | None]:
    """The ``[telemetry]`` publisher (``broker`` overrides the config's), or None when off."""
    broker = broker or config.broker
    if not broker:
        yield None
        return
    async with MqttTelemetry(broker, config.director_id, queue_size=config.queue_size,
                             flush_timeout_s=config.flush_timeout_s) as telemetry:
        yield telemetry


@contextlib.contextmanager
def open_exporter(config: TelemetryConfig) -> Iterator[DirectorExporter | None]:
    """The ``[telemetry]`` Prometheus exporter, or None when ``prometheus_port`` is 0."""
    if not config.prometheus_port:
        yield None
        return
    exporter = DirectorExporter(config.prometheus_port, config.prometheus_host)
    try:
        yield exporter
    finally:
        exporter.close()
