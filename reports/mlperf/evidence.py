"""What MLCommons keeps in a power run's ``power/``: server.json, client.json and ptd_logs.txt.

Formats as in real published runs (mlcommons/inference_results_v1.1 … v4.1, copied under
tests/fixtures/real-submissions/) and as power-dev's ``compliance/check.py`` (c4b3ad82) reads
them: ``phases`` are four ``[wall s, monotonic s]`` stamps per phase (start, analyzer started,
workload done, stop); ``timezone`` is seconds west of UTC; ``ptd_messages`` are PTDaemon's
commands and replies; ptd_logs.txt lines are ``MM-DD-YYYY HH:MM:SS.fff: TEXT``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import FormatError
from analyzer_drivers.formats.timefmt import parse_mlperf_time

_STAMP = re.compile(rb"^(\d\d-\d\d-\d\d\d\d \d\d:\d\d:\d\d\.\d\d\d): (.*?)\r?$", re.MULTILINE)
# PTDaemon 1.9/1.10 write "Uncertainty 1.07% above 1.00% limit for the last measurement sample!";
# check.py (c4b3ad82) also matches "Uncertainty 1.07%, which is above 1.00% limit ...".
_ABOVE_LIMIT = re.compile(r"Uncertainty (\d+\.\d+)%,? (?:which is )?above (\d+\.\d+)% limit")
_UNKNOWN = "Uncertainty unknown for the last measurement sample"
_GO = re.compile(r"Go with mark '(.*)'")
# PTDaemon asks a Yokogawa its crest factor first ("Writing query string :CFAC?;:CURR:RANG?;…",
# then "...response of 26 bytes: 3;500.0E-03;0;300.0E+00;0": v2.0 Krai ptd_logs.txt).
_CREST_FACTOR_QUERY = re.compile(r"Writing query string :CFAC\?")
_REPLY = re.compile(r"\.\.\.response of \d+ bytes: (.*)")
#: check.py's COMMON_ERROR_RANGING: errors accepted while ranging (auto-ranging causes them).
RANGING_ERRORS = (
    "Can't evaluate uncertainty of this sample!", "Bad watts reading nan from ",
    "Bad amps reading nan from ", "Bad pf reading nan from ", "Bad volts reading nan from ",
    "Current appears to be too high for set range",
)


class EvidenceError(FormatError):
    """A file in ``power/`` is there but unreadable."""


@dataclass(frozen=True, slots=True)
class PtdLine:
    t_ns: int  # as stamped (UTC, or local time in v1.0 runs)
    kind: str  # "warning", "error" or "info"
    text: str


@dataclass
class PtdLog:
    lines: list[PtdLine] = field(default_factory=list)
    marks: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # mark -> (Go, Completed)
    uncertainty_activated: bool = False
    crest_factor: str | None = None  # the meter's answer to PTDaemon's :CFAC? (its first field)

    def phase_span(self, suffix: str) -> tuple[int, int | None] | None:
        """(Go, Completed test) stamps of the measurement whose mark ends with ``suffix``."""
        for mark, span in self.marks.items():
            if mark.endswith(suffix):
                return span
        return None

    def within(self, begin_ns: int, end_ns: int, kind: str) -> list[PtdLine]:
        return [line for line in self.lines if line.kind == kind and begin_ns < line.t_ns < end_ns]


def parse_ptd_log(data: bytes) -> PtdLog:
    """PTDaemon's console log: warnings, errors, and each measurement's Go and Completed stamps."""
    log = PtdLog()
    open_mark: str | None = None
    asked_crest_factor = False
    for match in _STAMP.finditer(data):
        text = match.group(2).decode("utf-8", "replace").strip()
        try:
            t_ns = parse_mlperf_time(match.group(1).decode())
        except ValueError:
            continue
        if text.startswith("WARNING:") or text.startswith("ERROR:"):
            kind, _, rest = text.partition(":")
            log.lines.append(PtdLine(t_ns, kind.lower(), rest.strip()))
            continue
        go = _GO.fullmatch(text)
        if go:
            open_mark = go.group(1)
            log.marks[open_mark] = (t_ns, None)
        elif text == "Completed test" and open_mark is not None:
            log.marks[open_mark] = (log.marks[open_mark][0], t_ns)
            open_mark = None
        elif text.startswith("Uncertainty checking for") and text.endswith("is activated"):
            log.uncertainty_activated = True
        elif _CREST_FACTOR_QUERY.match(text):
            asked_crest_factor = True
        elif asked_crest_factor and (reply := _REPLY.fullmatch(text)):
            log.crest_factor, asked_crest_factor = reply.group(1).split(";")[0].strip(), False
    return log


def above_limit(line: PtdLine) -> float | None:
    """The percentage of an "Uncertainty … above 1.00 % limit" warning, else None."""
    match = _ABOVE_LIMIT.search(line.text)
    return float(match.group(1)) if match else None


def is_unknown_uncertainty(line: PtdLine) -> bool:
    return line.text.startswith(_UNKNOWN)


def is_ranging_error(line: PtdLine) -> bool:
    return any(line.text.startswith(common) for common in RANGING_ERRORS)


@dataclass
class Evidence:
    """Everything read from ``power/`` (each part None when its file is absent)."""

    server: dict[str, Any] | None
    client: dict[str, Any] | None
    ptd_log: PtdLog | None

    @property
    def server_timezone_s(self) -> int:
        return _timezone(self.server)

    @property
    def client_timezone_s(self) -> int:
        return _timezone(self.client)

    def phases(self, which: str = "client") -> dict[str, list[list[float]]]:
        source = self.client if which == "client" else self.server
        phases = source.get("phases") if source else None
        return phases if isinstance(phases, dict) else {}

    def identify(self) -> str:
        for message in (self.server or {}).get("ptd_messages", []) or []:
            if isinstance(message, dict) and message.get("cmd") == "Identify":
                return str(message.get("reply", ""))
        return ""

    def analyzer_model(self) -> str:
        """``WT333E`` from Identify's ``*IDN?`` field, else from its driver name."""
        fields = self.identify().split(",")
        idn = fields[-1].split(";") if fields else []
        if len(idn) >= 2 and idn[1].upper().startswith("WT"):
            return idn[1]
        name = fields[0] if fields else ""
        return name.removeprefix("Yokogawa").removesuffix("_multichannel")

    def channels(self) -> list[int] | None:
        config = (self.server or {}).get("ptd_config")
        channel = config.get("channel") if isinstance(config, dict) else None
        return [int(c) for c in channel] if isinstance(channel, list) else None

    def testing_ranges(self) -> dict[str, float]:
        """The ranges set after ranging's Stop (``SR,V,x`` / ``SR,A,y``); Auto gives none."""
        ranges: dict[str, float] = {}
        stops = 0
        for message in (self.server or {}).get("ptd_messages", []) or []:
            cmd = str(message.get("cmd", "")) if isinstance(message, dict) else ""
            stops += cmd == "Stop"
            parts = cmd.split(",")
            if stops == 1 and len(parts) == 3 and parts[0] == "SR" and parts[1] in ("V", "A"):
                try:
                    ranges["volts" if parts[1] == "V" else "amps"] = float(parts[2])
                except ValueError:
                    continue
        return ranges

    def phase_clock_diff_s(self) -> float | None:
        """The largest difference between client.json's and server.json's phase stamps."""
        client, server = self.phases("client"), self.phases("server")
        diffs = [abs(float(c[0]) - float(s[0]))
                 for phase in ("ranging", "testing")
                 for c, s in zip(client.get(phase, []), server.get(phase, []), strict=False)]
        return max(diffs) if diffs else None


def _timezone(descriptor: dict[str, Any] | None) -> int:
    value = (descriptor or {}).get("timezone", 0)
    return int(value) if isinstance(value, (int, float)) else 0


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{path} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else None


def read_evidence(run_dir: Path) -> Evidence:
    power = run_dir / "power"
    ptd_path = power / "ptd_logs.txt"
    return Evidence(
        server=_json(power / "server.json"),
        client=_json(power / "client.json"),
        ptd_log=parse_ptd_log(ptd_path.read_bytes()) if ptd_path.is_file() else None,
    )
