"""Build the configured analyzer driver."""

from __future__ import annotations

from collections.abc import Callable

from analyzer_drivers.base import Analyzer
from analyzer_drivers.meters.nvml import NvmlAnalyzer
from analyzer_drivers.meters.plug_shelly import GEN1_KINDS, ShellyGen1Plug, ShellyPlug
from analyzer_drivers.meters.plug_tasmota import TasmotaPlug
from analyzer_drivers.meters.ptd import PtdAnalyzer
from analyzer_drivers.meters.ptd_managed import ManagedPtdAnalyzer
from analyzer_drivers.meters.rapl import RaplAnalyzer
from analyzer_drivers.meters.yokogawa import YokogawaAnalyzer
from power_director.config.loader import AnalyzerConfig
from power_director.fleet.mqtt_stream import MqttStreamAnalyzer
from power_director.fleet.sign import load_key
from power_director.fleet.wire import BrokerAuth


def _ptd(config: AnalyzerConfig) -> Analyzer:
    managed = config.managed_launch()
    if managed is not None:
        launch, log_path = managed
        return ManagedPtdAnalyzer(launch, log_path=log_path, connect_timeout_s=config.connect_timeout_s,
                                  reply_timeout_s=config.reply_timeout_s)
    return PtdAnalyzer(
        config.host,
        config.port,
        connect_timeout_s=config.connect_timeout_s,
        reply_timeout_s=config.reply_timeout_s,
        timezone=config.ptd_timezone,
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
    timeouts = {"connect_timeout_s": config.connect_timeout_s, "reply_timeout_s": config.reply_timeout_s}
    if config.type == "tasmota":
        return TasmotaPlug(config.broker, config.topic, full_topic=config.full_topic,
                           channel=config.channel, **timeouts)
    if config.shelly_component.split(":")[0] in GEN1_KINDS:
        return ShellyGen1Plug(config.broker, config.topic, component=config.shelly_component, **timeouts)
    return ShellyPlug(config.broker, config.topic, component=config.shelly_component, **timeouts)


def _stream(config: AnalyzerConfig) -> Analyzer:
    auth = BrokerAuth(config.ca_file, config.username, config.password_file)
    keys = {}
    if config.signing_key_file:
        key_id = config.key_id or config.topic.partition("/")[0]
        keys[key_id] = load_key(config.signing_key_file, f"[analyzer] mqtt-stream {config.topic}")
    return MqttStreamAnalyzer(
        config.broker, config.topic, auth=auth,
        connect_timeout_s=config.connect_timeout_s, reply_timeout_s=config.reply_timeout_s, keys=keys,
    )


def _rapl(config: AnalyzerConfig) -> Analyzer:
    return RaplAnalyzer(config.rapl_root, config.rapl_domains.split(","))


def _nvml(config: AnalyzerConfig) -> Analyzer:
    return NvmlAnalyzer(config.gpu_index)


def _redfish(config: AnalyzerConfig) -> Analyzer:
    from analyzer_drivers.meters.redfish import RedfishAnalyzer

    password = _secret(config.password_file, "password_file")
    return RedfishAnalyzer(
        config.url, chassis=config.chassis, username=config.username, password=password,
        auth=config.auth, ca_file=config.ca_file, insecure=config.insecure,
        timeout_s=config.reply_timeout_s, source=config.source, schema=config.redfish_schema,
        sensor=config.sensor, power_control=config.power_control,
    )


def _ipmi_dcmi(config: AnalyzerConfig) -> Analyzer:
    from analyzer_drivers.meters.ipmi_dcmi import IpmiDcmiAnalyzer

    return IpmiDcmiAnalyzer(config.ipmi_tool, config.host, username=config.username,
                            password=_secret(config.password_file, "password_file"),
                            timeout_s=config.reply_timeout_s)


def _secret(path: str, what: str) -> str:
    from pathlib import Path

    from analyzer_drivers.base import AnalyzerError

    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AnalyzerError(f"cannot read {what} {path}: {exc.strerror}") from exc


def _snmp(config: AnalyzerConfig) -> Analyzer:
    from analyzer_drivers.meters.snmp import SnmpCredentials, SnmpPduAnalyzer

    credentials = SnmpCredentials(
        config.snmp_version, config.community, config.snmp_user,
        _secret(config.auth_key_file, "auth_key_file"), _secret(config.priv_key_file, "priv_key_file"),
        config.auth_protocol, config.priv_protocol, config.snmp_context,
    )
    return SnmpPduAnalyzer(
        config.host, config.port, family=config.snmp_family, outlets=config.outlets, inlets=config.inlets,
        credentials=credentials, timeout_s=config.reply_timeout_s,
        source="energy" if config.source == "energy" else "power", snmp_source=config.snmp_source,
    )


BUILDERS: dict[str, Callable[[AnalyzerConfig], Analyzer]] = {
    "ptd": _ptd,
    "yokogawa": _yokogawa,
    "tasmota": _plug,
    "shelly": _plug,
    "rapl": _rapl,
    "nvml": _nvml,
    "redfish": _redfish,
    "snmp": _snmp,
    "mqtt-stream": _stream,
    "ipmi-dcmi": _ipmi_dcmi,
}


def make_analyzer(config: AnalyzerConfig) -> Analyzer:
    analyzer = BUILDERS[config.type](config)
    if config.calibration_file:
        from power_director.config.calibration import load_calibration

        analyzer.calibration = load_calibration(config.calibration_file, analyzer.name)
    return analyzer
