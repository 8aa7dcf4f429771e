"""power-dev's own ``server.conf``, read as its server reads it, into the director's config.

Source: mlcommons/power-dev ``ptd_client_server/lib/server.py`` ``ServerConfig`` and
``server.template.conf`` at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2 (Apache-2.0). Since late
2024 the server reads each analyzer's options from ``[analyzer1]``, ``[analyzer2]``, … (count:
``[ptd] analyzerCount``) and refuses its own template, which still keeps them in ``[ptd]``
("config error: No section: 'analyzer1'"). We accept both: ``[analyzerN]`` when present,
else the template's ``[ptd]``. Each analyzer becomes a PTDaemon the director starts; a second
and later analyzer add to the wall power (power-dev sums their watts).
"""

from __future__ import annotations

import configparser
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.meters.ptd_launch import DEFAULT_NETWORK_PORT, PtdLaunch, parse_channel
from power_director.config.loader import AnalyzerConfig, Config, ConfigError, ExtraAnalyzer
from power_director.config.meters.ptd import PtdConfig

DEFAULT_LISTEN = ("0.0.0.0", 4950)  # power-dev's common.DEFAULT_PORT
_ANALYZER_OPTIONS = {"devicetype", "interfaceflag", "deviceport", "networkport", "channel", "gpibboard",
                     "dcflag"}
_KNOWN = {"server": {"ntpserver", "listen", "rangingmode"},
          "ptd": {"ptd", "analyzercount", *_ANALYZER_OPTIONS}}


@dataclass(frozen=True, slots=True)
class PowerDevConf:
    path: Path
    ntp_server: str
    listen: tuple[str, int]
    listen_given: bool
    launches: tuple[PtdLaunch, ...]
    ignored: tuple[str, ...]  # what power-dev would warn about, and what we do not use
    in_ptd_section: bool = False  # the analyzer's options in [ptd] (the template's layout)


def _get(conf: configparser.ConfigParser, section: str, option: str, fallback: str | None = None) -> str:
    if conf.has_option(section, option):
        return conf.get(section, option)
    if fallback is None:
        raise ConfigError(f"no {option} in [{section}]")
    return fallback


def _int(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a number") from None


def _launch(conf: configparser.ConfigParser, ptd: str, section: str) -> PtdLaunch:
    board = _get(conf, section, "gpibBoard", "")
    channel = _get(conf, section, "channel", "")
    try:
        channels = parse_channel(channel) if channel else None
    except AnalyzerError as exc:
        raise ConfigError(f"[{section}] {exc}") from None
    launch = PtdLaunch(
        ptd=ptd, device_type=_int(_get(conf, section, "deviceType"), "deviceType"),
        device_port=_get(conf, section, "devicePort"),
        interface_flag=_get(conf, section, "interfaceFlag"),
        network_port=_int(_get(conf, section, "networkPort", str(DEFAULT_NETWORK_PORT)), "networkPort"),
        channel=channels, gpib_board=_int(board, "gpibBoard") if board else None,
        dc_flag=_get(conf, section, "dcFlag", "") or None,
    )
    problems = launch.problems()
    if problems:
        raise ConfigError(f"[{section}] " + "; ".join(problems))
    return launch


def _known(section: str) -> set[str]:
    if section.lower().startswith("analyzer"):
        return _ANALYZER_OPTIONS
    return _KNOWN.get(section.lower(), set())


def _listen(text: str) -> tuple[str, int]:
    host, _, port = text.strip().partition(" ")
    if not host or not port.strip():
        raise ConfigError(f"listen {text!r} is not 'ADDRESS PORT'")
    return host, _int(port.strip(), "listen port")


def read_power_dev_conf(path: Path, engine: bool = False) -> PowerDevConf:
    """ConfigError (naming the file) for anything power-dev's server would refuse, and for
    ``rangingMode: MAX`` unless power-dev's own server will read it (``engine``)."""
    conf = configparser.ConfigParser()
    try:
        with path.open(encoding="utf-8") as text:
            conf.read_file(text)
    except OSError as exc:
        raise ConfigError(f"cannot read power-dev config {path}: {exc.strerror or exc}") from None
    except configparser.Error as exc:
        raise ConfigError(f"{path} is not a power-dev server.conf: {exc}".replace("\n", " ")) from None
    try:
        return _read(conf, path, engine)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _read(conf: configparser.ConfigParser, path: Path, engine: bool) -> PowerDevConf:
    ntp = _get(conf, "server", "ntpServer")  # power-dev's order: [server] first
    ptd = _get(conf, "ptd", "ptd")
    count = _int(_get(conf, "ptd", "analyzerCount", "1"), "analyzerCount")
    if count < 1:
        raise ConfigError(f"analyzerCount {count} must be at least 1")
    sections = [f"analyzer{i}" for i in range(1, count + 1)]
    if not conf.has_section("analyzer1") and count == 1:
        sections = ["ptd"]  # the template's layout, and power-dev's before analyzerCount
    launches = tuple(_launch(conf, ptd, section) for section in sections)
    ports = [launch.network_port for launch in launches]
    if len(set(ports)) != len(ports):
        raise ConfigError(f"two analyzers share the PTDaemon port: {ports}")
    ignored = [f"[{s}] {o}" for s in conf.sections() for o in conf[s] if o not in _known(s)]
    mode = _get(conf, "server", "rangingMode", "AUTO")
    if mode not in ("AUTO", "MAX"):
        raise ConfigError(f"rangingMode {mode!r} is not AUTO or MAX")
    if mode == "MAX" and not engine:
        raise ConfigError("rangingMode MAX is power-dev's experimental mode; the director ranges "
                          "automatically (AUTO): run power-dev's own server for MAX (--power-dev DIR)")
    listen_given = conf.has_option("server", "listen")
    listen = _listen(conf.get("server", "listen")) if listen_given else DEFAULT_LISTEN
    return PowerDevConf(path, ntp, listen, listen_given, launches, tuple(ignored), sections == ["ptd"])


def managed_meter(base: AnalyzerConfig, launch: PtdLaunch) -> PtdConfig:
    """``base``'s timeouts, interval and papers with this PTDaemon to start."""
    common = {f.name: getattr(base, f.name) for f in dataclasses.fields(AnalyzerConfig)}
    return PtdConfig(
        **common, host="127.0.0.1", port=launch.network_port, ptd_command=(), ptd_timezone="UTC",
        ptd_path=launch.ptd, device_type=launch.device_type, device_port=launch.device_port,
        interface_flag=launch.interface_flag, ptd_channel=",".join(str(c) for c in launch.channel or ()),
        gpib_board=-1 if launch.gpib_board is None else launch.gpib_board, dc_flag=launch.dc_flag or "",
    )


def apply_power_dev_conf(config: Config, conf: PowerDevConf, *, service: bool = False) -> Config:
    """The config with its meters replaced by server.conf's analyzers (started by the director);
    ``service``: its ``listen``, when given, is where ``serve`` listens for v3 clients."""
    primary, *more = (managed_meter(config.analyzer, launch) for launch in conf.launches)
    changed = dataclasses.replace(config, analyzer=primary,
                                  extra_analyzers=tuple(ExtraAnalyzer("sum", meter) for meter in more))
    if service and conf.listen_given:
        host, port = conf.listen
        service_config = dataclasses.replace(config.service, host=host, port=port)
        changed = dataclasses.replace(changed, service=service_config)
    return changed.validate()
