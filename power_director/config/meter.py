"""``[analyzer]`` (and each ``[[extra_analyzer]]``): one meter's settings and their checks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.meters.plug import parse_broker
from analyzer_drivers.meters.plug_shelly import component_error
from analyzer_drivers.meters.plug_tasmota import DEFAULT_FULL_TOPIC, channel_error, full_topic_error
from analyzer_drivers.meters.ptd_launch import PtdLaunch, parse_channel, read_command
from analyzer_drivers.meters.ptd_zone import zone_error
from analyzer_drivers.meters.specs import METERS, WT300_UPDATE_INTERVALS_S
from power_director.config.sections import positive, raise_all

ANALYZER_TYPES = ("ptd", "yokogawa", "tasmota", "shelly", "rapl", "nvml", "redfish", "snmp", "mqtt-stream",
                  "ipmi-dcmi")
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
    # ptd, managed (analyzer_drivers.meters.ptd_managed): the director starts PTDaemon itself, from its
    # whole command line, or from power-dev's [ptd] options (networkPort is ``port``)
    ptd_command: tuple[str, ...] = ()
    ptd_path: str = ""  # power-dev's ``ptd``: the PTDaemon executable
    device_type: int = 0  # deviceType, e.g. 49 WT310, 77 WT330 multichannel
    device_port: str = ""  # devicePort, e.g. COM1, /dev/ttyUSB0, 192.168.1.123
    interface_flag: str = ""  # interfaceFlag: "" (RS232), -n, -g, -y, -U
    ptd_channel: str = ""  # channel: "1,2" for a multichannel device
    gpib_board: int = -1  # gpibBoard (-b); -1: none
    dc_flag: str = ""  # dcFlag: "-D" for a DC meter
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
    # mqtt-stream: the broker's TLS CA is ca_file, its credentials username + password_file (below);
    # signing_key_file: the agent's key (only messages it signed count), key_id its id (default: the agent)
    signing_key_file: str = ""
    key_id: str = ""
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
    chassis: str = ""  # empty: every chassis in turn, the first with power
    redfish_schema: str = "auto"  # auto, environment, supplies, sensors, legacy (redfish_plan.SCHEMAS)
    sensor: str = ""  # a chassis Power sensor's Id, where a chassis has several
    power_control: str = "auto"  # legacy Power: PhysicalContext Chassis entries (else all), "sum", a MemberId
    username: str = ""
    password_file: str = ""
    auth: str = "session"  # session, basic, or none (plain http only)
    ca_file: str = ""
    insecure: bool = False  # skip TLS verification: say so explicitly
    source: str = "auto"  # auto (energy counter when present), power, energy
    # ipmi-dcmi (a BMC's DCMI power reading): host ("local": this machine's BMC), username, password_file
    ipmi_tool: str = "ipmitool"  # or "freeipmi" (ipmi-dcmi)
    # snmp (a rack PDU): host, port = 161; v3 keys from files, never the config
    snmp_family: str = "raritan"  # raritan, apc, sentry4, sentry3, entity, ups
    snmp_source: str = "auto"  # auto: the family's first table the agent answers; or device, inlet, …
    outlets: tuple[str, ...] = ()  # rows to sum: raritan "pdu.outlet", sentry4 "unit.cord.outlet"
    inlets: tuple[str, ...] = ()  # raritan "pdu.inlet", sentry4 "unit.cord", sentry3 "tower.infeed"
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
        raise_all(self.problems())

    def problems(self) -> list[str]:
        """Every problem with these settings, one line each (a problem that follows from one
        already listed is not listed again)."""
        found = []
        if self.type not in ANALYZER_TYPES:
            found.append(f"[analyzer] type {self.type!r} is not known; "
                         f"use one of {', '.join(ANALYZER_TYPES)}")
        if not 0 < self.port < 65536:
            found.append(f"[analyzer] port {self.port} is not a TCP port")
        if not 10 <= self.interval_ms <= 60_000:
            found.append(f"[analyzer] interval_ms {self.interval_ms} is outside 10..60000")
        found += positive("analyzer", "connect_timeout_s", self.connect_timeout_s)
        found += positive("analyzer", "reply_timeout_s", self.reply_timeout_s)
        if self.calibration_date and not re.fullmatch(r"\d{4}-\d\d-\d\d", self.calibration_date):
            found.append(f"[analyzer] calibration_date {self.calibration_date!r} is not YYYY-MM-DD")
        if (zone_problem := zone_error(self.ptd_timezone)) is not None:
            found.append(f"[analyzer] ptd_timezone {zone_problem}")
        found += self._managed_problems()
        return found + {
            "yokogawa": self._yokogawa_problems,
            "tasmota": self._plug_problems,
            "shelly": self._plug_problems,
            "rapl": self._rapl_problems,
            "nvml": self._nvml_problems,
            "redfish": self._redfish_problems,
            "snmp": self._snmp_problems,
            "mqtt-stream": self._stream_problems,
            "ipmi-dcmi": self._ipmi_problems,
        }.get(self.type, list)()

    def managed_launch(self) -> tuple[PtdLaunch, str] | None:
        """The PTDaemon to start (and an explicit command's ``-l`` log), or None: connect to a
        running one. AnalyzerError for settings that cannot be launched."""
        if self.type != "ptd" or not (self.ptd_command or self.ptd_path):
            return None
        if self.ptd_command:
            return read_command(self.ptd_command)
        channel = parse_channel(self.ptd_channel) if self.ptd_channel else None
        launch = PtdLaunch(self.ptd_path, self.device_type, self.device_port, self.interface_flag,
                           self.port, channel, None if self.gpib_board < 0 else self.gpib_board,
                           self.dc_flag or None)
        return launch, ""

    def _managed_problems(self) -> list[str]:
        if self.ptd_command and self.ptd_path:
            return ["[analyzer] give ptd_command or ptd_path (with device_type, device_port), not both"]
        try:
            managed = self.managed_launch()
        except AnalyzerError as exc:
            return [f"[analyzer] ptd_command: {exc}"]
        if managed is None:
            return []
        found = [f"[analyzer] managed PTDaemon: {problem}" for problem in managed[0].problems()]
        if self.ptd_path and not self.device_port:
            found.append("[analyzer] ptd_path needs device_port (power-dev's devicePort)")
        if self.host not in ("127.0.0.1", "localhost"):
            found.append(f"[analyzer] a PTDaemon the director starts listens on 127.0.0.1, not {self.host}")
        return found

    def _yokogawa_problems(self) -> list[str]:
        found = []
        if not self.resource:
            found.append("[analyzer] type 'yokogawa' needs resource, e.g. 'TCPIP::192.168.1.20::INSTR'")
        elif not _VISA_RESOURCE.fullmatch(self.resource):
            found.append(f"[analyzer] resource {self.resource!r} is not a VISA resource string "
                         "(TCPIP::host::INSTR, TCPIP::host::port::SOCKET, USB::vid::pid::serial::INSTR, "
                         "GPIB::addr::INSTR, ASRL<port>::INSTR)")
        if self.model and self.model.upper() not in YOKOGAWA_MODELS:
            found.append(f"[analyzer] model {self.model!r} is not known; "
                         f"use one of {', '.join(YOKOGAWA_MODELS)}")
        if self.element.lower() not in ("1", "2", "3", "sum"):
            found.append(f"[analyzer] element {self.element!r} must be '1', '2', '3' or 'sum'")
        if self.crest_factor not in (3, 6):
            found.append(f"[analyzer] crest_factor {self.crest_factor} must be 3 or 6")
        if 10 <= self.interval_ms <= 60_000 and self.interval_ms not in YOKOGAWA_INTERVALS_MS:
            choices = ", ".join(str(i) for i in YOKOGAWA_INTERVALS_MS)
            found.append(f"[analyzer] interval_ms {self.interval_ms} is not a WT300E update interval "
                         f"({choices})")
        if not re.fullmatch(r":?[A-Za-z]+(:[A-Za-z]+)*", self.rate_header):
            found.append(f"[analyzer] rate_header {self.rate_header!r} is not a SCPI header")
        return found

    def _topic_ok(self) -> bool:
        return bool(self.topic) and not any(c in self.topic for c in "#+ ")

    def _plug_problems(self) -> list[str]:
        found = []
        try:
            parse_broker(self.broker)
        except ValueError as exc:
            found.append(f"[analyzer] {exc}")
        if not self._topic_ok():
            found.append(f"[analyzer] type {self.type!r} needs topic: "
                         "the plug's MQTT topic, without # + or spaces")
        problems = ((full_topic_error(self.full_topic), channel_error(self.channel))
                    if self.type == "tasmota" else (component_error(self.shelly_component),))
        return found + [f"[analyzer] {problem.replace('component', 'shelly_component', 1)}"
                        for problem in problems if problem is not None]

    def _stream_problems(self) -> list[str]:
        found = self._plug_problems()
        agent, _, meter = self.topic.partition("/")
        if self._topic_ok() and (not agent or not meter or "/" in meter):
            found.append(f"[analyzer] type 'mqtt-stream' needs topic = \"AGENT/METER\", not {self.topic!r}")
        return found

    def _rapl_problems(self) -> list[str]:
        found = []
        if not self.rapl_root.startswith("/"):
            found.append(f"[analyzer] rapl_root {self.rapl_root!r} must be an absolute path")
        if not all(d.strip() for d in self.rapl_domains.split(",")):
            found.append(f"[analyzer] rapl_domains {self.rapl_domains!r} must be a comma list of names")
        return found

    def _nvml_problems(self) -> list[str]:
        if self.gpu_index < -1:
            return [f"[analyzer] gpu_index {self.gpu_index} must be -1 (all GPUs) or a GPU index"]
        return []

    def _redfish_problems(self) -> list[str]:
        from analyzer_drivers.meters.redfish import AUTH_METHODS, SCHEMAS, SOURCES

        found = []
        url_ok = re.fullmatch(r"https?://[^/\s]+/?", self.url) is not None
        if not url_ok:
            found.append(f"[analyzer] type 'redfish' needs url 'https://host[:port]', not {self.url!r}")
        if self.auth not in AUTH_METHODS:
            found.append(f"[analyzer] auth {self.auth!r} must be one of {', '.join(AUTH_METHODS)}")
        if self.source not in SOURCES:
            found.append(f"[analyzer] source {self.source!r} must be one of {', '.join(SOURCES)}")
        if self.redfish_schema not in SCHEMAS:
            found.append(f"[analyzer] redfish_schema {self.redfish_schema!r} must be one of "
                         f"{', '.join(SCHEMAS)}")
        credentials = self.auth in AUTH_METHODS and self.auth != "none"
        if credentials and url_ok and not self.url.startswith("https://"):
            found.append("[analyzer] credentials over plain http are refused: use https, or auth = 'none'")
        if credentials and not (self.username and self.password_file):
            found.append("[analyzer] auth needs username and password_file")
        if self.url.startswith("https://") and not (self.ca_file or self.insecure):
            found.append("[analyzer] https needs ca_file (the BMC's CA) or an explicit insecure = true")
        return found

    def _ipmi_problems(self) -> list[str]:
        from analyzer_drivers.meters.ipmi_dcmi import LOCAL_HOSTS, TOOLS

        found = []
        if self.ipmi_tool not in TOOLS:
            found.append(f"[analyzer] ipmi_tool {self.ipmi_tool!r} must be one of {', '.join(TOOLS)}")
        if self.host == AnalyzerConfig.host:
            found.append("[analyzer] type 'ipmi-dcmi' needs host: the BMC's address, or 'local' for this "
                         "machine's own BMC")
        elif self.host not in LOCAL_HOSTS and not (self.username and self.password_file):
            found.append("[analyzer] a remote BMC needs username and password_file")
        return found

    def _snmp_problems(self) -> list[str]:
        from analyzer_drivers.meters.snmp import AUTH_PROTOCOLS, PRIV_PROTOCOLS
        from analyzer_drivers.meters.snmp_mibs import FAMILIES, SOURCE_NAMES, inlet_source

        found = []
        if self.port == AnalyzerConfig.port:
            found.append("[analyzer] type 'snmp' needs port (an SNMP agent listens on 161)")
        if self.snmp_family not in FAMILIES:
            found.append(f"[analyzer] snmp_family {self.snmp_family!r} must be one of {', '.join(FAMILIES)}")
        elif self.snmp_source not in ("auto", *SOURCE_NAMES[self.snmp_family]):
            found.append(f"[analyzer] snmp_source {self.snmp_source!r} must be auto or one of "
                         f"{', '.join(SOURCE_NAMES[self.snmp_family])} for {self.snmp_family}")
        elif self.inlets and inlet_source(self.snmp_family) is None:
            found.append(f"[analyzer] snmp_family {self.snmp_family!r} has no inlets here; use outlets")
        if self.snmp_source != "auto" and (self.outlets or self.inlets):
            found.append("[analyzer] snmp_source names a table, outlets/inlets name rows: "
                         "use one or the other")
        found += [f"[analyzer] outlet/inlet index {index!r} must be numbers joined by dots"
                  for index in (*self.outlets, *self.inlets) if not re.fullmatch(r"\d+(\.\d+)*", index)]
        if self.source not in ("auto", "power", "energy"):
            found.append(f"[analyzer] source {self.source!r} must be power or energy")
        if self.snmp_version not in ("2c", "3"):
            found.append(f"[analyzer] snmp_version {self.snmp_version!r} must be '2c' or '3'")
        if self.snmp_version == "3" and not (self.snmp_user and self.auth_key_file and self.priv_key_file):
            found.append("[analyzer] SNMPv3 needs snmp_user, auth_key_file and priv_key_file (authPriv)")
        if self.auth_protocol not in AUTH_PROTOCOLS or self.priv_protocol not in PRIV_PROTOCOLS:
            found.append(f"[analyzer] auth_protocol must be one of {', '.join(AUTH_PROTOCOLS)}, "
                         f"priv_protocol one of {', '.join(PRIV_PROTOCOLS)}")
        return found
