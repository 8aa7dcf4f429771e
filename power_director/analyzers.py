"""Build the configured analyzer driver."""

from __future__ import annotations

from collections.abc import Callable

from analyzer_drivers.base import Analyzer
from analyzer_drivers.nvml import NvmlAnalyzer
from analyzer_drivers.plug import ShellyPlug, TasmotaPlug
from analyzer_drivers.ptd import PtdAnalyzer
from analyzer_drivers.rapl import RaplAnalyzer
from analyzer_drivers.yokogawa import YokogawaAnalyzer
from power_director.config import AnalyzerConfig
from power_director.fleet_wire import BrokerAuth
from power_director.mqtt_stream import MqttStreamAnalyzer


def _ptd(config: AnalyzerConfig) -> Analyzer:
    return PtdAnalyzer(
        config.host,
        config.port,
        connect_timeout_s=config.connect_timeout_s,
        reply_timeout_s=config.reply_timeout_s,
    )


def _yokogawa(config: AnalyzerConfig) -> Analyzer:
    return YokogawaAnalyzer(
        config.resource,
        visa_library=config.visa_library,
        model=config.model or None,
        element=config.element,
        crest_factor=config.crest_factor,
        rate_header=config.rate_header,
        timeout_s=config.reply_timeout_s,
    )


def _plug(config: AnalyzerConfig) -> Analyzer:
    plug = TasmotaPlug if config.type == "tasmota" else ShellyPlug
    return plug(
        config.broker,
        config.topic,
        connect_timeout_s=config.connect_timeout_s,
        reply_timeout_s=config.reply_timeout_s,
    )


def _stream(config: AnalyzerConfig) -> Analyzer:
    auth = BrokerAuth(config.tls_ca, config.username, config.password_file)
    return MqttStreamAnalyzer(
        config.broker, config.topic, auth=auth,
        connect_timeout_s=config.connect_timeout_s, reply_timeout_s=config.reply_timeout_s,
    )


def _rapl(config: AnalyzerConfig) -> Analyzer:
    return RaplAnalyzer(config.rapl_root, config.rapl_domains.split(","))


def _nvml(config: AnalyzerConfig) -> Analyzer:
    return NvmlAnalyzer(config.gpu_index)


BUILDERS: dict[str, Callable[[AnalyzerConfig], Analyzer]] = {
    "ptd": _ptd,
    "yokogawa": _yokogawa,
    "tasmota": _plug,
    "shelly": _plug,
    "rapl": _rapl,
    "nvml": _nvml,
    "mqtt-stream": _stream,
}


def make_analyzer(config: AnalyzerConfig) -> Analyzer:
    return BUILDERS[config.type](config)
