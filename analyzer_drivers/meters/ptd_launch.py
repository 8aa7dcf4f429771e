"""SPEC PTDaemon's launch line, built and read as MLCommons' power-dev server builds it.

Source: mlcommons/power-dev ``ptd_client_server/lib/server.py`` at
c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2 (Apache-2.0): ``ServerConfig`` builds
``ptd -l <log> -p <port> [-b board] [-c ch,ch] [dcFlag] [interfaceFlag] <deviceType> <devicePort>``,
``ServerConfig._check`` its channel rules, ``Ptd._start`` runs it with ``TZ=UTC``, and
``ptd_summary`` is what server.json keeps as ``ptd_config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analyzer_drivers.base import AnalyzerError

#: power-dev's MULTICHANNEL_DEVICES and DEVICE_TYPE_WT500 (lib/server.py, commit above).
MULTICHANNEL_DEVICES = (48, 59, 61, 77)
DEVICE_TYPE_WT500 = 48
INTERFACE_FLAGS = ("", "-n", "-g", "-y", "-U")
DEFAULT_NETWORK_PORT = 8888


@dataclass(frozen=True, slots=True)
class PtdLaunch:
    """How to start one PTDaemon: power-dev's ``[ptd]``/``[analyzerN]`` options."""

    ptd: str
    device_type: int
    device_port: str
    interface_flag: str = ""
    network_port: int = DEFAULT_NETWORK_PORT
    channel: tuple[int, ...] | None = None
    gpib_board: int | None = None
    dc_flag: str | None = None

    def command(self, log_path: str) -> list[str]:
        """The argv power-dev's server runs, in its order."""
        return [
            self.ptd, "-l", log_path, "-p", str(self.network_port),
            *([] if self.gpib_board is None else ["-b", str(self.gpib_board)]),
            *([] if self.channel is None else ["-c", ",".join(str(c) for c in self.channel)]),
            *([] if self.dc_flag is None else [self.dc_flag]),
            *([] if self.interface_flag == "" else [self.interface_flag]),
            str(self.device_type), self.device_port,
        ]

    def ptd_config(self, log_path: str) -> dict[str, Any]:
        """One entry of server.json's ``ptd_config`` (power-dev's ``ptd_summary``)."""
        return {
            "command": self.command(log_path),
            "device_type": self.device_type,
            "interface_flag": self.interface_flag,
            "dc_flag": self.dc_flag,
            "device_port": self.device_port,
            "channel": None if self.channel is None else list(self.channel),
        }

    def problems(self) -> list[str]:
        """power-dev's ``ServerConfig._check`` channel rules, and what a launch line needs."""
        found = []
        if not self.ptd:
            found.append("no PTDaemon executable given")
        if not 0 < self.network_port < 65536:
            found.append(f"PTDaemon port {self.network_port} is not a TCP port")
        if self.interface_flag not in INTERFACE_FLAGS:
            found.append(f"interface flag {self.interface_flag!r} is not one of -n, -g, -y, -U or empty")
        channels = self.channel or ()
        if self.device_type in MULTICHANNEL_DEVICES:
            wanted = 1 if self.device_type == DEVICE_TYPE_WT500 else 2
            if len(channels) != wanted:
                found.append(f"channel must be {'one number' if wanted == 1 else 'two numbers'} "
                             f"for the multichannel device type {self.device_type}")
        elif len(channels) > 1:
            found.append("channel must be one number or unset for the 1-channel device type "
                         f"{self.device_type}")
        return found


def parse_channel(text: str) -> tuple[int, ...]:
    try:
        channels = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise AnalyzerError(f"channel {text!r} is not numbers joined by a comma") from None
    if any(c < 1 for c in channels):
        raise AnalyzerError(f"channel {text!r}: channels count from 1")
    return channels


_VALUE_OPTIONS = ("-l", "-p", "-b", "-c")


def _int_option(option: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise AnalyzerError(f"PTDaemon option {option} wants a number, not {text!r}") from None


def read_command(argv: Sequence[str]) -> tuple[PtdLaunch, str]:
    """A PTDaemon command line (as power-dev builds it) → the launch and its ``-l`` log path
    ("" when absent). AnalyzerError names what is wrong."""
    if not argv:
        raise AnalyzerError("an empty PTDaemon command")
    values: dict[str, str] = {}
    flags: list[str] = []
    positional: list[str] = []
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg in _VALUE_OPTIONS:
            if not args:
                raise AnalyzerError(f"PTDaemon option {arg} needs a value")
            values[arg] = args.pop(0)
        elif arg in ("-D", *INTERFACE_FLAGS[1:]):
            flags.append(arg)
        elif arg.startswith("-") and not positional:
            raise AnalyzerError(f"PTDaemon option {arg!r} is not one power-dev's server uses "
                                "(-l -p -b -c -D -n -g -y -U)")
        else:
            positional.append(arg)
    if len(positional) != 2:
        raise AnalyzerError(f"a PTDaemon command ends with <deviceType> <devicePort>, not {positional}")
    interface = [f for f in flags if f != "-D"]
    if len(interface) > 1:
        raise AnalyzerError(f"PTDaemon takes one interface flag, not {' '.join(interface)}")
    launch = PtdLaunch(
        ptd=argv[0], device_type=_int_option("deviceType", positional[0]), device_port=positional[1],
        interface_flag=interface[0] if interface else "",
        network_port=_int_option("-p", values.get("-p", str(DEFAULT_NETWORK_PORT))),
        channel=parse_channel(values["-c"]) if "-c" in values else None,
        gpib_board=_int_option("-b", values["-b"]) if "-b" in values else None,
        dc_flag="-D" if "-D" in flags else None,
    )
    return launch, values.get("-l", "")
