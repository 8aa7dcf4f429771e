"""The director's TOML configuration, validated with errors that name the bad key.

Example::

    [analyzer]
    type = "ptd"            # SPEC PTDaemon, or our simulator of it
    host = "127.0.0.1"
    port = 8888
    interval_ms = 1000      # MLPerf samples at 1 s
    ptd_timezone = "UTC"    # zone of PTDaemon's stamps: "UTC", "auto", "+08:00", "Europe/Berlin"

    [session]
    label = "resnet50-offline"
    out_dir = "power-runs"
    settle_s = 1.0          # pause after a range change; MLPerf's workflow sleeps 10 s

    [service]               # ``power-director serve``: the director for remote SUT agents
    host = "127.0.0.1"      # any other address needs token_file
    port = 4950
    token_file = "/etc/power-director/token"   # shared secret, also given to the agent
    v3_allowed_addresses = ["192.168.1.20"]    # MLCommons v3 clients allowed from here

    [telemetry]             # live state, samples and result over MQTT (see power_director.telemetry)
    broker = "127.0.0.1:1883"   # empty: no telemetry (``--mqtt HOST:PORT`` overrides)
    director_id = "lab-rack-3"  # topics power-director/<director_id>/...; default: the host name

Other meters (keys of other types are left at their defaults)::

    type = "yokogawa"       # WT310/WT310E/WT330E/WT333E over VISA (pyvisa-py)
    resource = "TCPIP::192.168.1.20::INSTR"
    element = "1"           # "1".."3", or "sum" for Σ on a WT330E/WT333E
    crest_factor = 3        # 3 or 6
    interval_ms = 1000      # an update interval: 100, 250, 500, 1000, 2000, 5000, 10000, 20000

    type = "tasmota"        # or "shelly": a smart plug over MQTT
    broker = "127.0.0.1:1883"
    topic = "plug1"         # Tasmota topic, the Shelly Gen2 topic prefix, or the Gen1 device id
    full_topic = "%prefix%/%topic%/"   # Tasmota FullTopic
    channel = "sum"         # Tasmota multi-channel devices: "sum" or "1", "2", ...
    shelly_component = "switch:0"      # or pm1:0, em:0, em1:1; Gen1: relay:0, emeter:0

    type = "rapl"           # CPU package energy counters (root only)
    type = "nvml"           # NVIDIA GPU energy counters (pip install 'power-director[nvml]')

    type = "redfish"        # a BMC's chassis power (pip install 'power-director[datacenter]')
    url = "https://10.0.0.9"
    username = "power"
    password_file = "/etc/power-director/bmc-password"
    ca_file = "/etc/power-director/bmc-ca.pem"   # or insecure = true

    type = "snmp"           # a rack PDU's outlets
    host = "10.0.0.10"
    port = 161
    snmp_family = "raritan" # raritan, apc, sentry4, entity
    outlets = ["1.3", "1.4"]
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from analyzer_drivers.formats.errors import ConfigError as ConfigError
from analyzer_drivers.meters import METERS, WT300_UPDATE_INTERVALS_S
from analyzer_drivers.plug import parse_broker
from analyzer_drivers.plug_shelly import component_error
from analyzer_drivers.plug_tasmota import DEFAULT_FULL_TOPIC, channel_error, full_topic_error
from analyzer_drivers.ptd_zone import zone_error
from power_director.system_name import system_name_problem

if TYPE_CHECKING:
    from power_director.system_config import SystemConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


ANALYZER_TYPES = ("ptd", "yokogawa", "tasmota", "shelly", "rapl", "nvml", "redfish", "snmp", "mqtt-stream")
YOKOGAWA_MODELS = tuple(model for model in METERS if model.startswith("WT3"))
YOKOGAWA_INTERVALS_MS = tuple(round(s * 1000) for s in WT300_UPDATE_INTERVALS_S)
_VISA_RESOURCE = re.compile(
    r"(TCPIP\d*::[^:\s]+::\d+::SOCKET|TCPIP\d*::[^:\s]+(::[^:\s]+)?::INSTR"
    r"|USB\d*::[^:\s]+::[^:\s]+::[^:\s]+(::\d+)?::INSTR|GPIB\d*::\d+(::\d+)?::INSTR"
    r"|ASRL[^:\s]+::INSTR)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AnalyzerConfig:
    type: str = "ptd"
    host: str = "127.0.0.1"
    port: int = 8888
    interval_ms: int = 1000
    connect_timeout_s: float = 30.0
    reply_timeout_s: float = 10.0
    # ptd: the zone of the daemon's stamps: "UTC" (power-dev starts PTDaemon with TZ=UTC),
    # "auto" (from its first samples against our clock), "+08:00", or an IANA zone name
    ptd_timezone: str = "UTC"
    # yokogawa
    resource: str = ""
    visa_library: str = "@py"
    model: str = ""  # empty: the model *IDN? names
    element: str = "1"
    crest_factor: int = 3
    rate_header: str = ":RATE"  # the update-interval command (inferred; some firmware differs)
    # tasmota, shelly, mqtt-stream ("AGENT/METER" for a meter agent's meter)
    broker: str = "127.0.0.1:1883"
    topic: str = ""
    full_topic: str = DEFAULT_FULL_TOPIC  # Tasmota's FullTopic template
    channel: str = "sum"  # a multi-channel Tasmota device: "sum" or a channel number from 1
    shelly_component: str = "switch:0"  # Gen2+: switch:<id>, pm1:<id>, em:<id>, em1:<id>; Gen1: relay:<n>
    # mqtt-stream: the broker's TLS CA is ca_file, its credentials username + password_file (below)
    # rapl
    rapl_root: str = "/sys/class/powercap"
    rapl_domains: str = "package"  # comma list of zone names: package, dram, psys, core, uncore
    # nvml
    gpu_index: int = -1  # -1: the sum of all GPUs
    # the meter's papers, for MLPerf (else what Identify/*IDN? reports)
    serial: str = ""
    calibration_date: str = ""  # YYYY-MM-DD
    # redfish (a BMC): url = "https://bmc:443"; password from password_file, never the config
    url: str = ""
    chassis: str = ""  # empty: the first chassis
    username: str = ""
    password_file: str = ""
    auth: str = "session"  # session, basic, or none (plain http only)
    ca_file: str = ""
    insecure: bool = False  # skip TLS verification: say so explicitly
    source: str = "auto"  # auto (energy counter when present), power, energy
    # snmp (a rack PDU): host, port = 161; v3 keys from files, never the config
    snmp_family: str = "raritan"  # raritan, apc, sentry4, entity
    outlets: tuple[str, ...] = ()  # indexes: raritan "pdu.outlet", sentry4 "unit.cord.outlet"
    inlets: tuple[str, ...] = ()  # raritan "pdu.inlet"
    snmp_version: str = "2c"  # or "3" (authPriv)
    community: str = "public"
    snmp_user: str = ""
    auth_key_file: str = ""
    priv_key_file: str = ""
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"
    snmp_context: str = ""
    # a saved calibration (power-director calibrate) applied in the report of an informative meter
    calibration_file: str = ""

    def validate(self) -> None:
        if self.type not in ANALYZER_TYPES:
            raise ConfigError(
                f"[analyzer] type {self.type!r} is not known; use one of {', '.join(ANALYZER_TYPES)}"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"[analyzer] port {self.port} is not a TCP port")
        if not 10 <= self.interval_ms <= 60_000:
            raise ConfigError(f"[analyzer] interval_ms {self.interval_ms} is outside 10..60000")
        _positive("analyzer", "connect_timeout_s", self.connect_timeout_s)
        _positive("analyzer", "reply_timeout_s", self.reply_timeout_s)
        if self.calibration_date and not re.fullmatch(r"\d{4}-\d\d-\d\d", self.calibration_date):
            raise ConfigError(f"[analyzer] calibration_date {self.calibration_date!r} is not YYYY-MM-DD")
        if (zone_problem := zone_error(self.ptd_timezone)) is not None:
            raise ConfigError(f"[analyzer] ptd_timezone {zone_problem}")
        {
            "yokogawa": self._validate_yokogawa,
            "tasmota": self._validate_plug,
            "shelly": self._validate_plug,
            "rapl": self._validate_rapl,
            "nvml": self._validate_nvml,
            "redfish": self._validate_redfish,
            "snmp": self._validate_snmp,
            "mqtt-stream": self._validate_stream,
        }.get(self.type, lambda: None)()

    def _validate_yokogawa(self) -> None:
        if not self.resource:
            raise ConfigError("[analyzer] type 'yokogawa' needs resource, e.g. 'TCPIP::192.168.1.20::INSTR'")
        if not _VISA_RESOURCE.fullmatch(self.resource):
            raise ConfigError(
                f"[analyzer] resource {self.resource!r} is not a VISA resource string "
                "(TCPIP::host::INSTR, TCPIP::host::port::SOCKET, USB::vid::pid::serial::INSTR, "
                "GPIB::addr::INSTR, ASRL<port>::INSTR)"
            )
        if self.model and self.model.upper() not in YOKOGAWA_MODELS:
            raise ConfigError(
                f"[analyzer] model {self.model!r} is not known; use one of {', '.join(YOKOGAWA_MODELS)}"
            )
        if self.element.lower() not in ("1", "2", "3", "sum"):
            raise ConfigError(f"[analyzer] element {self.element!r} must be '1', '2', '3' or 'sum'")
        if self.crest_factor not in (3, 6):
            raise ConfigError(f"[analyzer] crest_factor {self.crest_factor} must be 3 or 6")
        if self.interval_ms not in YOKOGAWA_INTERVALS_MS:
            choices = ", ".join(str(i) for i in YOKOGAWA_INTERVALS_MS)
            raise ConfigError(
                f"[analyzer] interval_ms {self.interval_ms} is not a WT300E update interval ({choices})"
            )
        if not re.fullmatch(r":?[A-Za-z]+(:[A-Za-z]+)*", self.rate_header):
            raise ConfigError(f"[analyzer] rate_header {self.rate_header!r} is not a SCPI header")

    def _validate_plug(self) -> None:
        try:
            parse_broker(self.broker)
        except ValueError as exc:
            raise ConfigError(f"[analyzer] {exc}") from exc
        if not self.topic or any(c in self.topic for c in "#+ "):
            raise ConfigError(
                f"[analyzer] type {self.type!r} needs topic: the plug's MQTT topic, without # + or spaces"
            )
        problems = ((full_topic_error(self.full_topic), channel_error(self.channel))
                    if self.type == "tasmota" else (component_error(self.shelly_component),))
        for problem in problems:
            if problem is not None:
                raise ConfigError(f"[analyzer] {problem.replace('component', 'shelly_component', 1)}")

    def _validate_stream(self) -> None:
        self._validate_plug()
        agent, _, meter = self.topic.partition("/")
        if not agent or not meter or "/" in meter:
            raise ConfigError(
                f"[analyzer] type 'mqtt-stream' needs topic = \"AGENT/METER\", not {self.topic!r}"
            )

    def _validate_rapl(self) -> None:
        if not self.rapl_root.startswith("/"):
            raise ConfigError(f"[analyzer] rapl_root {self.rapl_root!r} must be an absolute path")
        if not all(d.strip() for d in self.rapl_domains.split(",")):
            raise ConfigError(f"[analyzer] rapl_domains {self.rapl_domains!r} must be a comma list of names")

    def _validate_nvml(self) -> None:
        if self.gpu_index < -1:
            raise ConfigError(f"[analyzer] gpu_index {self.gpu_index} must be -1 (all GPUs) or a GPU index")


    def _validate_redfish(self) -> None:
        from analyzer_drivers.redfish import AUTH_METHODS, SOURCES

        if not re.fullmatch(r"https?://[^/\s]+/?", self.url):
            raise ConfigError(f"[analyzer] type 'redfish' needs url 'https://host[:port]', not {self.url!r}")
        if self.auth not in AUTH_METHODS:
            raise ConfigError(f"[analyzer] auth {self.auth!r} must be one of {', '.join(AUTH_METHODS)}")
        if self.source not in SOURCES:
            raise ConfigError(f"[analyzer] source {self.source!r} must be one of {', '.join(SOURCES)}")
        if self.auth != "none" and not self.url.startswith("https://"):
            raise ConfigError("[analyzer] credentials over plain http are refused: "
                              "use https, or auth = 'none'")
        if self.auth != "none" and not (self.username and self.password_file):
            raise ConfigError("[analyzer] auth needs username and password_file")
        if self.url.startswith("https://") and not (self.ca_file or self.insecure):
            raise ConfigError("[analyzer] https needs ca_file (the BMC's CA) or an explicit insecure = true")


    def _validate_snmp(self) -> None:
        from analyzer_drivers.snmp import AUTH_PROTOCOLS, FAMILIES, INLET_FAMILIES, PRIV_PROTOCOLS

        if self.port == AnalyzerConfig.port:
            raise ConfigError("[analyzer] type 'snmp' needs port (an SNMP agent listens on 161)")
        if self.snmp_family not in FAMILIES:
            raise ConfigError(f"[analyzer] snmp_family {self.snmp_family!r} must be one of "
                              f"{', '.join(FAMILIES)}")
        if not self.outlets and not self.inlets:
            raise ConfigError("[analyzer] type 'snmp' needs outlets or inlets, e.g. outlets = ['1.1', '1.2']")
        if self.inlets and self.snmp_family not in INLET_FAMILIES:
            raise ConfigError(f"[analyzer] snmp_family {self.snmp_family!r} has no inlets here; use outlets")
        for index in (*self.outlets, *self.inlets):
            if not re.fullmatch(r"\d+(\.\d+)*", index):
                raise ConfigError(f"[analyzer] outlet/inlet index {index!r} must be numbers joined by dots")
        if self.source not in ("auto", "power", "energy"):
            raise ConfigError(f"[analyzer] source {self.source!r} must be power or energy")
        if self.snmp_version not in ("2c", "3"):
            raise ConfigError(f"[analyzer] snmp_version {self.snmp_version!r} must be '2c' or '3'")
        if self.snmp_version == "3" and not (self.snmp_user and self.auth_key_file and self.priv_key_file):
            raise ConfigError("[analyzer] SNMPv3 needs snmp_user, auth_key_file and priv_key_file (authPriv)")
        if self.auth_protocol not in AUTH_PROTOCOLS or self.priv_protocol not in PRIV_PROTOCOLS:
            raise ConfigError(f"[analyzer] auth_protocol must be one of {', '.join(AUTH_PROTOCOLS)}, "
                              f"priv_protocol one of {', '.join(PRIV_PROTOCOLS)}")


@dataclass(frozen=True)
class SessionConfig:
    label: str = "run"
    out_dir: str = "power-runs"
    settle_s: float = 1.0
    poll_interval_s: float = 0.5
    reconnect_timeout_s: float = 30.0  # how long a phase waits for a lost analyzer to come back
    results_url: str = ""  # a lab's results store, postgresql://… (reports.store_pg); empty: none
    system: str = ""  # the system under test's name; empty: the SUT agent's host, else this host

    def validate(self) -> None:
        if problem := system_name_problem(self.system):
            raise ConfigError(problem)
        if not self.label or any(c in self.label for c in "/\\,\n"):
            raise ConfigError(f"[session] label {self.label!r} must be non-empty, without / \\ , or newline")
        if self.settle_s < 0:
            raise ConfigError("[session] settle_s cannot be negative")
        _positive("session", "poll_interval_s", self.poll_interval_s)
        _positive("session", "reconnect_timeout_s", self.reconnect_timeout_s)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = 4950
    token_file: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    v3_allowed_addresses: tuple[str, ...] = ()
    max_message_bytes: int = 65_536
    max_file_bytes: int = 512 * 1024 * 1024
    read_timeout_s: float = 30.0
    handshake_timeout_s: float = 10.0
    keepalive_s: float = 5.0
    clock_rounds: int = 16
    v3_phase_timeout_s: float = 7200.0  # v3 clients are silent while LoadGen runs

    def validate(self) -> None:
        if not 0 <= self.port < 65536:
            raise ConfigError(f"[service] port {self.port} is not a TCP port")
        if not self.token_file and not _is_loopback(self.host):
            raise ConfigError(
                f"[service] refusing to listen on {self.host} without token_file; "
                "only loopback may go unauthenticated"
            )
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("[service] tls_cert and tls_key go together: give both or neither")
        for address in self.v3_allowed_addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ConfigError(
                    f"[service] v3_allowed_addresses: {address!r} is not an IP address"
                ) from None
        if not 1024 <= self.max_message_bytes <= 16 * 1024 * 1024:
            raise ConfigError(
                f"[service] max_message_bytes {self.max_message_bytes} is outside 1024..16777216"
            )
        _positive("service", "max_file_bytes", self.max_file_bytes)
        _positive("service", "read_timeout_s", self.read_timeout_s)
        _positive("service", "handshake_timeout_s", self.handshake_timeout_s)
        _positive("service", "keepalive_s", self.keepalive_s)
        _positive("service", "v3_phase_timeout_s", self.v3_phase_timeout_s)
        if self.keepalive_s * 2 > self.read_timeout_s:
            raise ConfigError("[service] keepalive_s must be at most half of read_timeout_s")
        if not 4 <= self.clock_rounds <= 1000:
            raise ConfigError(f"[service] clock_rounds {self.clock_rounds} is outside 4..1000")


@dataclass(frozen=True)
class TelemetryConfig:
    broker: str = ""  # empty: telemetry off
    director_id: str = ""  # empty: this host's name
    prometheus_port: int = 0  # > 0: a Prometheus exporter on prometheus_host:port (power_director.exporter)
    prometheus_host: str = "127.0.0.1"  # the address it listens on ("0.0.0.0": every interface)
    queue_size: int = 1000
    flush_timeout_s: float = 2.0

    def validate(self) -> None:
        if self.broker:
            try:
                parse_broker(self.broker)
            except ValueError as exc:
                raise ConfigError(f"[telemetry] {exc}") from exc
        if any(c in self.director_id for c in "#+/ \0"):
            raise ConfigError(f"[telemetry] director_id {self.director_id!r} must not hold # + / or spaces")
        if not 10 <= self.queue_size <= 1_000_000:
            raise ConfigError(f"[telemetry] queue_size {self.queue_size} is outside 10..1000000")
        _positive("telemetry", "flush_timeout_s", self.flush_timeout_s)
        if not 0 <= self.prometheus_port < 65536:
            raise ConfigError(f"[telemetry] prometheus_port {self.prometheus_port} is not a TCP port")


@dataclass(frozen=True)
class Config:
    analyzer: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    #: (role, meter): "sum" meters add to the wall power, "beside" meters are shown next to it.
    extra_analyzers: tuple[tuple[str, AnalyzerConfig], ...] = ()
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    #: ``[[node]]``/``[[switch]]``: a multi-node system (power_director.system_config)
    system: SystemConfig | None = None

    def validate(self) -> Config:
        self.analyzer.validate()
        for _, extra in self.extra_analyzers:
            extra.validate()
        self.session.validate()
        self.service.validate()
        self.telemetry.validate()
        return self


def _positive(section: str, key: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"[{section}] {key} must be positive, not {value}")


Section = TypeVar("Section", AnalyzerConfig, SessionConfig, ServiceConfig, TelemetryConfig)

#: The keys each meter type reads, beyond the ones every meter has (COMMON_METER_KEYS): a key
#: of another type is an error, not silently ignored.
COMMON_METER_KEYS = frozenset({"type", "interval_ms", "connect_timeout_s", "reply_timeout_s", "serial",
                               "calibration_date", "calibration_file"})
_PLUG_KEYS = frozenset({"broker", "topic", "full_topic", "channel", "shelly_component"})
METER_KEYS: dict[str, frozenset[str]] = {
    "ptd": frozenset({"host", "port", "ptd_timezone"}),
    "yokogawa": frozenset({"resource", "visa_library", "model", "element", "crest_factor", "rate_header"}),
    "tasmota": _PLUG_KEYS,
    "shelly": _PLUG_KEYS,
    "rapl": frozenset({"rapl_root", "rapl_domains"}),
    "nvml": frozenset({"gpu_index"}),
    "redfish": frozenset({"url", "chassis", "username", "password_file", "auth", "ca_file", "insecure",
                          "source"}),
    "snmp": frozenset({"host", "port", "snmp_family", "outlets", "inlets", "snmp_version", "community",
                       "snmp_user", "auth_key_file", "priv_key_file", "auth_protocol", "priv_protocol",
                       "snmp_context", "source"}),
    "mqtt-stream": frozenset({"broker", "topic", "ca_file", "username", "password_file"}),
}
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               tuple: "a list of strings"}


def _unknown_key(name: str, key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"[{name}] has an unknown key {key!r}{hint}"


def _foreign_keys(name: str, table: dict[str, Any]) -> list[str]:
    """Keys that belong to another meter type than the table's ``type``."""
    meter_type = table.get("type", AnalyzerConfig.type)
    own = METER_KEYS.get(meter_type) if isinstance(meter_type, str) else None
    if own is None:
        return []  # an unknown type is reported by validate()
    return [f"[{name}] {key} is not a key of type {meter_type!r} meters"
            for key in table if key not in own and key not in COMMON_METER_KEYS
            and any(key in keys for keys in METER_KEYS.values())]


def _value(name: str, key: str, value: Any, expected: type) -> tuple[Any, str | None]:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if expected is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = tuple(value)
    if type(value) is not expected:
        return value, (f"[{name}] {key} must be {_TYPE_NAMES.get(expected, expected.__name__)}, "
                       f"not {type(value).__name__} {value!r}")
    return value, None


def _section(cls: type[Section], name: str, table: Any, problems: list[str]) -> Section | None:
    """The section from its TOML table; every problem with its keys and value types is added
    to ``problems`` (None then)."""
    if not isinstance(table, dict):
        problems.append(f"[{name}] must be a table")
        return None
    known = [f.name for f in fields(cls)]
    found = [_unknown_key(name, key, known) for key in table if key not in known]
    if cls is AnalyzerConfig:
        found += _foreign_keys(name, table)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in known:
            values[key], problem = _value(name, key, value, type(getattr(cls(), key)))
            found += [problem] if problem else []
    problems += found
    return None if found else cls(**values)


EXTRA_ROLES = ("sum", "beside")


def _extra_analyzers(tables: Any, problems: list[str]) -> tuple[tuple[str, AnalyzerConfig], ...]:
    """``[[extra_analyzer]]`` tables: an analyzer's keys plus ``role = "sum" | "beside"``."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append("extra_analyzer must be an array of tables: [[extra_analyzer]]")
        return ()
    extras = []
    for table in tables:
        keys = dict(table)
        role = keys.pop("role", None)
        if role not in EXTRA_ROLES:
            problems.append(f"[[extra_analyzer]] role must be 'sum' or 'beside', not {role!r}")
        meter = _section(AnalyzerConfig, "extra_analyzer", keys, problems)
        if meter is not None and role in EXTRA_ROLES:
            extras.append((str(role), meter))
    return tuple(extras)


SECTIONS = ("analyzer", "session", "service", "telemetry", "extra_analyzer")
SYSTEM_SECTIONS = ("node", "switch")  # a multi-node system: power_director.system_config


def _checked(sections: Sequence[AnalyzerConfig | SessionConfig | ServiceConfig | TelemetryConfig | None],
             ) -> list[str]:
    """Each section's own validation: the first problem of each."""
    problems = []
    for section in sections:
        try:
            if section is not None:
                section.validate()
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


def _raise_all(problems: list[str]) -> None:
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f"{len(problems)} problems: " + "; ".join(problems))


def config_from_dict(data: dict[str, Any]) -> Config:
    """The config from a parsed TOML document; every problem found is reported in one error."""
    from power_director.system_config import system_from_dict  # it builds on this module

    problems = []
    for key in data:
        if key not in (*SECTIONS, *SYSTEM_SECTIONS):
            close = difflib.get_close_matches(key, SECTIONS, n=1)
            problems.append(f"unknown section [{key}]" + (f" (did you mean [{close[0]}]?)" if close else ""))
    analyzer = _section(AnalyzerConfig, "analyzer", data.get("analyzer", {}), problems)
    session = _section(SessionConfig, "session", data.get("session", {}), problems)
    service = _section(ServiceConfig, "service", data.get("service", {}), problems)
    extras = _extra_analyzers(data.get("extra_analyzer", []), problems)
    telemetry = _section(TelemetryConfig, "telemetry", data.get("telemetry", {}), problems)
    problems += _checked([analyzer, *(meter for _, meter in extras), session, service, telemetry])
    try:
        system = system_from_dict(data)
    except ConfigError as exc:
        problems.append(str(exc))
    _raise_all(problems)
    config = (Config(analyzer, session, service, extras, telemetry, system)
              if analyzer and session and service and telemetry else None)
    assert config is not None  # a section that could not be built added a problem
    return config


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    if not data:
        raise ConfigError(f"{path} holds no settings: give at least an [analyzer] table")
    return config_from_dict(data)
