"""MLCommons' power checker restated as its code runs today, rule by rule, from the run's files.

Source: mlcommons/power-dev ``compliance/check.py`` at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2
(byte-identical to mlcommons/inference ``tools/submission/power/power_checker.py`` at
b66003e10e2db4b8c36a448b0545ec90fcc6e9e9, which the submission checker calls). Line numbers
below are that file's. Each rule returns what ``check_with_logging`` (lines 746-764) logs:
``pass`` (``[x]``), ``warning`` (``[x]`` after a ``CheckerWarning``, which also ends the rule
there), ``fail`` (``[ ]`` after an ``AssertionError`` or any other exception). Where the code
is lenient by a bug, we restate the bug (the verdict is the checker's) and say so in
``lenient``: ``reports/mlperf/checker_column.py`` puts that beside our own verdict. The two
source-checksum rules need power-dev's ``sources_checksums.json`` (not shipped): ``unknown``.
Compared with the real checker on the six real runs in tests/test_mlcommons_checker.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from analyzer_drivers.formats.errors import PowerDirectorError

CHECKER_COMMIT = "c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2"
Status = Literal["pass", "warning", "fail", "unknown"]
SUPPORTED_VERSION = ("1.11.1",)  # lines 43-56
SUPPORTED_MODEL = {
    "YokogawaWT210": 8, "YokogawaWT500": 35, "YokogawaWT500_multichannel": 48,
    "YokogawaWT310": 49, "YokogawaWT310E": 49, "YokogawaWT330": 52, "YokogawaWT330E": 52,
    "YokogawaWT330_multichannel": 77, "YokogawaWT210_DC": 508, "YokogawaWT310_DC": 549,
    "YokogawaWT330_DC": 586,
}
RESULT_PATHS = ("power/client.log", "power/ptd_logs.txt", "power/server.log",  # lines 61-73
                *(f"{d}/{f}" for d in ("ranging", "run_1")
                  for f in ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "spl.txt")))
COMMON_ERROR_RANGING = ("Can't evaluate uncertainty of this sample!", "Bad watts reading nan from ",
                        "Bad amps reading nan from ", "Bad pf reading nan from ",
                        "Bad volts reading nan from ", "Current appears to be too high for set range")
COMMON_ERROR_TESTING = ("USB.",)
UNCERTAINTY_ERROR = re.compile(r"Uncertainty \d+.\d+%, which is above 1.00% limit for the last sample!")
#: What PTDaemon 1.9/1.10 write (the real runs' ptd_logs.txt): the checker's pattern misses it.
OLD_WORDING = re.compile(r"Uncertainty \d+\.\d+% above \d+\.\d+% limit for the last measurement sample!")
#: Line 87: ``TIME_DELTA_TOLERANCE = 800  # in milliseconds``. Compared as ms with the phases
#: (line 345, ``/ 1000``), added as seconds to LoadGen's window in the PTD log rule (line 628).
TIME_DELTA_TOLERANCE = 800
DST_WORKAROUND_S = 3600  # lines 366-374
GO_REPLY = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
STAMP_FORMAT = "%m-%d-%Y %H:%M:%S.%f"
LOG_STAMP = re.compile(r"^\d\d-\d\d-\d\d\d\d \d\d:\d\d:\d\d.\d\d\d")


class CheckerWarning(PowerDirectorError):
    """The checker's own ``CheckerWarning``: the rule passes with a warning, and ends."""


@dataclass(frozen=True)
class RuleVerdict:
    rule: str
    status: Status
    reason: str = ""
    lenient: str = ""  # where it passes only by a bug of the code, what the bug let through

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "status": self.status, "reason": self.reason, "lenient": self.lenient}


@dataclass
class Run:
    """The files one check reads, read once."""

    path: Path
    client: dict[str, Any]
    server: dict[str, Any]
    lenient: list[str]


def utc_s(text: str) -> float:
    """``get_time_from_line`` with offset 0 (lines 124-131): stamps read as UTC. strptime once
    per day (a run's ptd_logs.txt has ~10,000 stamps); ValueError where strptime would raise."""
    day, _, clock = text.partition(" ")
    hours, minutes, seconds = clock.split(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
        raise ValueError(f"time data {text!r} does not match format {STAMP_FORMAT!r}")
    return _day_start_s(day) + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@functools.lru_cache(maxsize=64)
def _day_start_s(day: str) -> float:
    return dt.datetime.strptime(day, "%m-%d-%Y").replace(tzinfo=dt.timezone.utc).timestamp()


def descriptor(path: Path) -> dict[str, Any]:
    """``SessionDescriptor`` (lines 134-156): the JSON with its required fields."""
    data: dict[str, Any] = json.loads(path.read_text())
    required = {"version", "timezone", "modules", "sources", "messages", "uuid", "session_name",
                "results", "phases"}
    absent = required - data.keys()
    assert not absent, f"Required fields {', '.join(sorted(absent))!r} does not exist in {path.name!r}"
    return data


def loadgen_window(run_dir: Path) -> tuple[float, float]:
    """Lines 290-320: the first line naming each of power_begin / power_end, until both seen."""
    begin = end = None
    with (run_dir / "mlperf_log_detail.txt").open(errors="replace") as log:
        for line in log:
            stamp = re.search(r"(\d*-\d*-\d* \d*:\d*:\d*\.\d*)", line)
            if "power_begin" in line.lower():
                begin = utc_s(stamp.group(0)) if stamp else _no_stamp(line)
            elif "power_end" in line.lower():
                end = utc_s(stamp.group(0)) if stamp else _no_stamp(line)
            if begin and end:
                break
    assert begin is not None, f"Can not get power_begin time from {run_dir.name}/mlperf_log_detail.txt"
    assert end is not None, f"Can not get power_end time from {run_dir.name}/mlperf_log_detail.txt"
    return begin, end


def _no_stamp(line: str) -> float:
    raise ValueError(f"{line.strip()[:80]!r} has no time stamp")  # LineWithoutTimeStamp: unhandled


def ptd_messages(run: Run) -> None:
    """Lines 192-274. Only ``Go,1000,`` replies are compared; the 3rd *and* 4th ``SR,A`` must
    exist before either is compared with the initial range (lines 266-272)."""
    msgs = run.server["ptd_messages"]
    identify = next((m["reply"] for m in msgs if m["cmd"] == "Identify"), "")
    assert identify, "There is no answer to the 'Identify' command for PTD."
    found = re.search(r"(?<=version=)(.+?)-", identify)
    version = found.group(1) if found else ""
    assert version in SUPPORTED_VERSION, f"PTD version {version!r} is not supported"
    model = identify.split(",")[0]
    assert model in SUPPORTED_MODEL, f"Power meter {model!r} is not supported"
    for prefix, expected in (("SR,A", "Range A changed"), ("SR,V", "Range V changed"),
                             ("Go,1000,", GO_REPLY), ("Stop", "Stopping untimed measurement")):
        stops = 0
        for msg in (m for m in msgs if m["cmd"].startswith(prefix)):
            if msg["cmd"] == "Stop":
                expected = "Error: no measurement to stop" if stops == 2 else expected
                stops += 1
            assert msg["reply"] == expected, f"Wrong reply for {msg['cmd']!r}: {msg['reply']!r}"
    amps, volts = _initial(msgs[2]["reply"], 1), _initial(msgs[2]["reply"], 3)
    sr_a = [m["cmd"] for m in msgs if m["cmd"].startswith("SR,A")]
    sr_v = [m["cmd"] for m in msgs if m["cmd"].startswith("SR,V")]
    assert len(sr_a) >= 4, f"Can not find the {min(len(sr_a) + 1, 4)} command starting with 'SR,A'."
    assert len(sr_v) >= 3, "Can not find the 3 command starting with 'SR,V'."
    assert f"SR,A,{amps}" in sr_a[2:4], f"Do not set Amps range as initial. Expected 'SR,A,{amps}'"
    assert sr_v[2] == f"SR,V,{volts}", f"Do not set Volts range as initial. Expected 'SR,V,{volts}'"


def _initial(reply: str, index: int) -> str:
    fields = reply.split(",")
    try:
        return fields[index + 1] if fields[index] == "0" and float(fields[index + 1]) > 0 else "Auto"
    except (ValueError, IndexError):
        raise AssertionError(f"Can not get power meters initial values from {reply!r}") from None


def uuids(run: Run) -> None:
    for side in ("client", "server"):
        same = uuid.UUID(run.client["uuid"][side]) == uuid.UUID(run.server["uuid"][side])
        assert same, f"'{side} uuid' is not equal."


def session_name(run: Run) -> None:
    assert run.client["session_name"] == run.server["session_name"], "Session name is not equal."


def time_difference(run: Run) -> None:
    """Lines 323-454: phases within 800 ms; LoadGen's window inside the client's phase (or an
    hour later); a testing run over 50 % shorter is a warning that ends the rule; testing
    power more than 5 % below ranging fails, averaging -1 for a phase with no sample."""
    for phase in ("ranging", "testing"):
        c, s = run.client["phases"][phase], run.server["phases"][phase]
        assert len(c) == len(s), f"Phases amount is not equal for {phase} mode."
        for i, (a, b) in enumerate(zip(c, s, strict=False)):
            assert abs(a[0] - b[0]) <= TIME_DELTA_TOLERANCE / 1000, \
                f"The time difference for {i + 1} phase of {phase} mode is more than 800ms."
    windows = {phase: loadgen_window(run.path / sub)
               for phase, sub in (("ranging", "ranging"), ("testing", "run_1"))}
    for phase, window in windows.items():
        _inside_phase(run, window, run.client["phases"][phase], phase)
    ranging_s, testing_s = (windows[p][1] - windows[p][0] for p in ("ranging", "testing"))
    if (ranging_s - testing_s) / ranging_s > 0.5:
        raise CheckerWarning(f"Duration of the testing mode ({round(testing_s, 2)}) is lower than that of "
                             f"ranging mode ({round(ranging_s, 2)}) by more than 50 percent")
    ranging_w = round(_avg_watts(run.path / "ranging", windows["ranging"]), 5)
    testing_w = round(_avg_watts(run.path / "run_1", windows["testing"]), 5)
    if ranging_w == testing_w == -1.0:
        run.lenient.append("no spl.txt sample inside either LoadGen window as written: it compares "
                           "-1 W with -1 W (a 0 % drop)")
    delta = round((testing_w / ranging_w - 1) * 100, 2)
    assert power_drop_ok(testing_w, ranging_w), (f"Average power during the testing mode run is lower than "
                                                 f"that during the ranging run by more than 5%. Observed "
                                                 f"delta is {delta}%")


def power_drop_ok(testing_watts: float, ranging_watts: float) -> bool:
    """Lines 440-452: ``delta = round((round(t, 5) / round(r, 5) - 1) * 100, 2); delta > -5``."""
    return round((round(testing_watts, 5) / round(ranging_watts, 5) - 1) * 100, 2) > -5


def _inside_phase(run: Run, window: tuple[float, float], phases: list[list[float]], phase: str) -> None:
    for name, t in zip(("begin", "end"), window, strict=True):
        plain = phases[1][0] < t < phases[2][0]
        shifted = phases[1][0] < t - DST_WORKAROUND_S < phases[2][0]
        assert plain or shifted, f"Loadgen test {name} time is not within {phase} mode time interval."
        if shifted and not plain:
            run.lenient.append(f"the {phase} LoadGen {name} lies in the phase only an hour earlier "
                               "(its 3600 s daylight-saving workaround)")


def _avg_watts(run_dir: Path, window: tuple[float, float]) -> float:
    """Lines 392-438: mean of the positive watts strictly inside the window; -1 with none."""
    watts = []
    with (run_dir / "spl.txt").open(errors="replace") as spl:
        for line in spl:
            if line.startswith("Time"):
                fields = line.split(",")
                if window[0] < utc_s(fields[1]) < window[1] and float(fields[3]) > 0:
                    watts.append(float(fields[3]))
    return sum(watts) / len(watts) if watts else -1.0


def client_server_messages(run: Run) -> None:
    mc, ms = run.client["messages"], run.server["messages"]
    assert len(mc) == len(ms), f"Client commands list length ({len(mc)}) != server's ({len(ms)})"
    for i, (c, s) in enumerate(zip(mc, ms, strict=True)):
        assert c["cmd"] == s["cmd"], f"Commands {i} are different."
        same = c["cmd"] == "time" or c["reply"] == s["reply"]
        assert same, f"Replies on command {c['cmd']!r} are different."
    client = re.search(r"mlcommons\/power client v(\d+)$", ms[0]["cmd"])
    server = re.search(r"mlcommons\/power server v(\d+)$", ms[0]["reply"])
    assert client and server, "Server version is not defined"
    assert client.group(1) == server.group(1), "Client.py version is not equal server.py version."


def results_checksum(run: Run) -> None:
    """Lines 506-578: the required files' sha1 as both descriptors list them."""
    actual = {name: hashlib.sha1((run.path / name).read_bytes()).hexdigest()
              for name in RESULT_PATHS if (run.path / name).is_file()}
    listed_c = {k: v for k, v in run.client["results"].items() if k in RESULT_PATHS}
    listed_s = {k: v for k, v in run.server["results"].items() if k in RESULT_PATHS}
    differ = [k for k in listed_c.keys() & listed_s.keys() if listed_c[k] != listed_s[k]]
    assert not differ, f"server.json and client.json results checksums differ for {', '.join(sorted(differ))}"
    listed = {**listed_c, **listed_s}
    assert not listed.keys() - actual.keys(), f"Missing {', '.join(sorted(listed.keys() - actual.keys()))!r}"
    assert not actual.keys() - listed.keys(), f"Extra {', '.join(sorted(actual.keys() - listed.keys()))!r}"
    wrong = sorted(k for k in listed if listed[k] != actual[k])
    assert not wrong, f"listed checksums differ from the files for {', '.join(wrong)}"
    absent = set(RESULT_PATHS) - listed.keys()
    assert not absent, f"There are absent files {', '.join(sorted(absent))!r}"


def ptd_configuration(run: Run) -> None:
    """Lines 704-736: a list of analyzers with supported device numbers; 77 needs two channels."""
    for analyzer in run.server["ptd_config"]:
        device_type = analyzer["device_type"]  # a pre-v3.1 dict or string: TypeError, unhandled
        assert device_type in SUPPORTED_MODEL.values(), f"Device number {device_type} is not supported."
        if device_type == 77:
            command = analyzer["command"]
            channels = command[command.index("-c") + 1] if "-c" in command else ""
            two = len(channels.split(",")) == 2 and analyzer["channel"] and len(analyzer["channel"]) == 2
            assert two, "Expected multichannel mode for YokogawaWT330_multichannel, but got 1-channel."


def debug_disabled(run: Run) -> None:
    assert run.server.get("debug", False) is False, "Server was running in debug mode"


def ptd_logs(run: Run, tolerance_s: float = TIME_DELTA_TOLERANCE) -> None:
    """Lines 581-701. The ranging run is bounded by ``Go with mark '<session>_ranging'`` and the
    next ``Completed test``; ``Uncertainty checking for Yokogawa… is activated`` must come
    before it. Then line by line, the first of these ends the rule: a ``WARNING:`` inside the
    testing LoadGen window narrowed by 800 *seconds* at each end (the bug: 800 is meant as ms,
    line 628) fails when it is an uncertainty over 1 %, else warns; an ``ERROR: USB.`` warns;
    another ``ERROR:`` outside the ranging run fails; one inside it that is not a common
    ranging error warns."""
    lines = (run.path / "power" / "ptd_logs.txt").read_text(errors="replace").splitlines(keepends=True)
    go, done = _ranging_run(lines, f": Go with mark '{run.server['session_name']}_ranging'")
    activated = next((line for line in lines
                      if re.search(r"Uncertainty checking for Yokogawa\S+ is activated", line)), None)
    assert activated is not None, \
        "ptd_logs.txt: Line 'Uncertainty checking for Yokogawa... is activated' is not found."
    stamp = LOG_STAMP.search(activated)
    if stamp is None:
        raise ValueError("ptd_logs.txt: no time stamp on the 'Uncertainty checking' line")
    assert utc_s(stamp.group(0)) < go, \
        "ptd_logs.txt: Uncertainty checking Yokogawa... was activated after ranging mode was started."
    begin, end = loadgen_window(run.path / "run_1")
    for line in lines:
        _warning_line(run, line, (begin, end), tolerance_s)
        _error_line(line, go, done)


def _ranging_run(lines: list[str], go_line: str) -> tuple[float, float]:
    go = done = None
    for line in lines:
        stamp = LOG_STAMP.search(line)
        message = line[stamp.end():].strip() if stamp else line
        if go is None and message == go_line and stamp:
            go = utc_s(stamp.group(0))
        elif go is not None and message == ": Completed test" and stamp:
            done = utc_s(stamp.group(0))
            break
    assert go is not None and done is not None, "Can not find ranging time in ptd_logs.txt."
    return go, done


def _line_time(line: str) -> float:
    stamp = LOG_STAMP.search(line)
    if stamp is None:
        raise ValueError(f"{line.strip()[:80]!r} in ptd_logs.txt has no time stamp")  # unhandled
    return utc_s(stamp.group(0))


def _warning_line(run: Run, line: str, window: tuple[float, float], tolerance_s: float) -> None:
    problem = re.search("(?<=WARNING:).+", line)
    if not problem or not problem.group(0):
        return
    t = _line_time(line)
    begin, end = window
    text = problem.group(0).strip()
    if begin < t < end and OLD_WORDING.search(text):
        run.lenient.append(f"{line.strip()!r} lies inside the testing LoadGen window, in PTDaemon "
                           "1.9/1.10's wording, which its pattern (lines 83-85) never matches")
    elif begin < t < end and UNCERTAINTY_ERROR.search(text) and tolerance_s > 1 and \
            not begin + tolerance_s < t < end - tolerance_s:
        run.lenient.append(f"{line.strip()!r} lies inside the testing LoadGen window but within 800 s of "
                           "its edge (800 'ms' of TIME_DELTA_TOLERANCE added to seconds)")
    if begin + tolerance_s < t < end - tolerance_s:
        assert not UNCERTAINTY_ERROR.search(text), f"{line.strip()!r} during testing phase."
        raise CheckerWarning(f"{line.strip()!r} in ptd_log.txt during load stage")


def _error_line(line: str, go: float, done: float) -> None:
    problem = re.search("(?<=ERROR:).+", line)
    if not problem or not problem.group(0):
        return
    t = _line_time(line)
    text = problem.group(0).strip()
    if text in COMMON_ERROR_TESTING:
        raise CheckerWarning(f"{line.strip()!r} in ptd_log.txt during testing stage but it is accepted")
    assert go < t < done, f"{line.strip()!r} in ptd_log.txt"
    if not any(text.startswith(common) for common in COMMON_ERROR_RANGING):
        raise CheckerWarning(f"{line.strip()!r} in ptd_log.txt during ranging stage. Treated as WARNING")


RULES: dict[str, Callable[[Run], None]] = {  # check(), lines 767-787, in its order
    "Check PTD commands and replies": ptd_messages,
    "Check UUID": uuids,
    "Check session name": session_name,
    "Check time difference": time_difference,
    "Check client server messages": client_server_messages,
    "Check results checksum": results_checksum,
    "Check errors and warnings from PTD logs": ptd_logs,
    "Check PTD configuration": ptd_configuration,
    "Check debug is disabled on server-side": debug_disabled,
}
SOURCE_RULES = ("Check client sources checksum", "Check server sources checksum")
SOURCES_UNKNOWN = ("compares the descriptor's source hashes with power-dev's sources_checksums.json "
                   "(lines 180-189): passes only for power-dev's own client and server, unknown here")


def check_run(path: Path) -> list[RuleVerdict]:
    """Every rule of ``check()``, in its order, as ``check_with_logging`` reports it."""
    verdicts = [RuleVerdict(rule, "unknown", SOURCES_UNKNOWN) for rule in SOURCE_RULES]
    try:
        load_run(path)
    except (OSError, ValueError, AssertionError) as exc:  # check() itself stops here
        return verdicts + [RuleVerdict(rule, "fail", f"the checker cannot start: {exc}") for rule in RULES]
    return verdicts + [_verdict(rule, check, load_run(path)) for rule, check in RULES.items()]


def load_run(path: Path) -> Run:
    """The two descriptors as ``check()`` loads them first (lines 768-769)."""
    client, server = (descriptor(path / "power" / name) for name in ("client.json", "server.json"))
    return Run(path, client, server, [])


def _verdict(rule: str, check: Callable[[Run], None], run: Run) -> RuleVerdict:
    try:
        check(run)
    except AssertionError as exc:
        return RuleVerdict(rule, "fail", str(exc))
    except CheckerWarning as exc:
        return RuleVerdict(rule, "warning", str(exc), "; ".join(run.lenient))
    except Exception as exc:  # the checker logs any other exception as a failed rule
        return RuleVerdict(rule, "fail", f"unhandled exception: {type(exc).__name__}: {exc}")
    return RuleVerdict(rule, "pass", "", "; ".join(run.lenient))
