"""A BMC's DCMI power reading, through ipmitool or FreeIPMI's ipmi-dcmi (the tool is run per poll).

The two tools print (format strings of ipmitool 1.8.19 ``lib/ipmi_dcmi.c`` and FreeIPMI 1.6.10
``ipmi-dcmi/ipmi-dcmi.c``, read from the installed binaries; outputs quoted in
docs/datacenter-redfish.md and tests/fixtures/ipmi_dcmi/):

- ``ipmitool dcmi power reading``: ``Instantaneous power reading: %8d Watts``, the Min/Max/
  Average "during sampling period", ``Sampling period: %08u Seconds.`` and
  ``Power reading state is: activated|deactivated``;
- ``ipmi-dcmi --get-system-power-statistics``: ``Current Power : %u Watts``, the Min/Max/Average
  "over sampling duration", ``Statistics reporting time period : %u milliseconds`` and
  ``Power Measurement : Active|Not Available``.

The sampling period is the window of the Min/Max/Average, not of the current reading (DCMI 1.5,
Get Power Reading): the current reading's own averaging is not stated, nor when the BMC made it,
so each poll is a sample stamped when read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo, PacedAnalyzer, PacedSampler
from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.meters.ipmi_ident import parse_bmc_identity

TOOLS = {"ipmitool": "ipmitool", "freeipmi": "ipmi-dcmi"}
#: Who the BMC is (Get Device ID): the executable and its arguments, per tool.
IDENTITY_COMMANDS = {"ipmitool": ("ipmitool", "mc", "info"), "freeipmi": ("bmc-info", "--get-device-id")}
DEBIAN_PACKAGES = {"ipmitool": "ipmitool", "freeipmi": "freeipmi-tools"}
LOCAL_HOSTS = ("", "local")  # the BMC of this machine, in-band (FreeIPMI takes localhost as in-band too)
TOOL_SLACK_S = 3.0


@dataclass(frozen=True, slots=True)
class DcmiReading:
    watts: float | None  # None: the BMC says power measurement is not active
    period_s: float | None  # the window of its Min/Max/Average


_IPMITOOL = (re.compile(r"Instantaneous power reading:\s*(\d+)\s*Watts"),
             re.compile(r"Sampling period:\s*(\d+)\s*Seconds"),
             re.compile(r"Power reading state is:\s*(\w+)"), "activated", 1.0)
_FREEIPMI = (re.compile(r"^\s*Current Power\s*:\s*(\d+)\s*[Ww]atts", re.M),
             re.compile(r"Statistics reporting time period\s*:\s*(\d+)\s*milliseconds"),
             re.compile(r"Power Measurement\s*:\s*(.+?)\s*$", re.M), "Active", 0.001)


def parse_dcmi(tool: str, text: str) -> DcmiReading:
    """One reading from the tool's output; ValueError when it is not that tool's output."""
    power, period, state, active, to_s = _IPMITOOL if tool == "ipmitool" else _FREEIPMI
    watts, seconds, status = power.search(text), period.search(text), state.search(text)
    if status is None or (watts is None and status.group(1) == active):
        first = next((line.strip() for line in text.splitlines() if line.strip()), "no output")
        raise ValueError(f"not a DCMI power reading: {first[:120]!r}")
    return DcmiReading(float(watts.group(1)) if watts and status.group(1) == active else None,
                       float(seconds.group(1)) * to_s if seconds else None)


class IpmiDcmiAnalyzer(PacedAnalyzer):
    """The DCMI power reading of a BMC, one run of the tool per poll; every poll is a sample."""

    reads_volts_amps = False

    def __init__(self, tool: str = "ipmitool", host: str = "", *, username: str = "", password: str = "",
                 timeout_s: float = 5.0) -> None:
        if tool not in TOOLS:
            raise AnalyzerError(f"ipmi-dcmi tool {tool!r} is not one of {', '.join(TOOLS)}")
        self.tool, self.host, self.timeout_s = tool, host, timeout_s
        self.username, self.password = username, password
        self.name = f"ipmi-dcmi-{host if host not in LOCAL_HOSTS else 'local'}"
        self._sampling = PacedSampler(self.name, timeout_s)
        self._first: tuple[str, DcmiReading] | None = None
        #: Who the BMC says it is (``ipmi_ident``), read once, and the IDs it gave.
        self.identity: tuple[MeterIdentity, dict[str, str]] | None = None

    def _command(self, config_file: str, identity: bool = False) -> list[str]:
        exe_name, *args = IDENTITY_COMMANDS[self.tool] if identity else (TOOLS[self.tool],)
        exe = shutil.which(exe_name)
        if exe is None:
            raise AnalyzerError(f"{self.name}: {exe_name} not found on PATH "
                                f"(Debian: apt install {DEBIAN_PACKAGES[self.tool]})")
        if self.tool == "ipmitool":
            # -N 1 -R n: n tries of 1 s (a dead BMC: "Unable to establish IPMI v2 / RMCP+ session")
            remote = ["-I", "lanplus", "-H", self.host, "-U", self.username, "-E",
                      "-N", "1", "-R", str(max(1, int(self.timeout_s // 2)))]
            args = args or ["dcmi", "power", "reading"]
        else:
            # a dead BMC: "connection timeout"
            remote = ["-h", self.host, "--config-file", config_file,
                      f"--session-timeout={max(1000, int(800 * self.timeout_s))}"]
            args = args or ["--get-system-power-statistics"]
        return [exe, *([] if self.host in LOCAL_HOSTS else remote), *args]

    async def _run(self) -> tuple[str, DcmiReading]:
        text = await self._output()
        try:
            return text, parse_dcmi(self.tool, text)
        except ValueError as exc:
            raise AnalyzerError(f"{self.name}: {TOOLS[self.tool]}: {exc}") from None

    async def read_identity(self) -> tuple[MeterIdentity, dict[str, str]]:
        """Who the BMC says it is (``mc info`` / ``bmc-info``); a tool that fails, or says
        nothing, gives empty fields: it never fails a reading."""
        try:
            return parse_bmc_identity(await self._output(identity=True))
        except AnalyzerError:
            return MeterIdentity(), {}

    async def _output(self, identity: bool = False) -> str:
        """What the tool printed; AnalyzerError (one line) when it failed or did not answer."""
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as config:
            # FreeIPMI reads the credentials from a config file (as prometheus ipmi_exporter passes
            # them), ipmitool from IPMI_PASSWORD (-E): never on the command line
            config.write(f"username {self.username}\npassword {self.password}\n")
            config.flush()
            command = self._command(config.name, identity)
            process = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "IPMI_PASSWORD": self.password})
            try:
                # the tool's own timeout comes first, with its own words
                out, err = await asyncio.wait_for(process.communicate(), self.timeout_s + TOOL_SLACK_S)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
                raise AnalyzerError(f"{self.name}: {TOOLS[self.tool]} gave no answer within "
                                    f"{self.timeout_s:g} s") from None
        text = out.decode(errors="replace")
        if process.returncode != 0:
            said = " ".join((err.decode(errors="replace") or text).split()) or "no output"
            raise AnalyzerError(f"{self.name}: {TOOLS[self.tool]} failed (exit {process.returncode}): "
                                f"{said[:200]}")
        return text

    async def connect(self) -> None:
        self._first = await self._run()
        if self._first[1].watts is None:
            raise AnalyzerError(f"{self.name}: the BMC's power measurement is not active "
                                f"({TOOLS[self.tool]} says so)")

    async def close(self) -> None:
        await self.stop()

    async def identify(self) -> AnalyzerInfo:
        text, reading = self._first or await self._run()
        extra = {"tool": TOOLS[self.tool], "reading_time": "unknown: each poll is stamped when read"}
        if reading.period_s is not None:
            extra["stats_period_s"] = f"{reading.period_s:g}"  # the window of Min/Max/Average only
        if self.identity is None:
            self.identity = await self.read_identity()
        identity, said = self.identity
        return AnalyzerInfo(name=f"IPMI DCMI ({TOOLS[self.tool]})", model=identity.model or "IPMI-DCMI",
                            averaging_ms=0, raw=" ".join(text.split())[:500], extra={**extra, **said},
                            identity=identity)

    async def start(self, mark: str, interval_ms: int) -> None:
        async def next_sample() -> Sample:
            watts = (await self._run())[1].watts
            return Sample(time.time_ns(), -1.0 if watts is None else watts)  # stamped when the tool answered

        self._sampling.start(interval_ms, next_sample)

    async def reconnect(self) -> None:
        await self.stop()
        await self.connect()
