"""``power-director submission``: a session laid into MLPerf Inference's submission tree.

``<out>/<division>/<submitter>/results/<system>/<model>/<scenario>/performance/`` gets
``ranging/`` and ``run_1/`` (the two LoadGen logs and ``spl.txt``, nothing else: the
submission checker fails any other file there) and ``power/`` (client.json, client.log,
ptd_logs.txt, server.json, server.log); ``<scenario>/`` gets ``analyzer_table.md`` and
``power_settings.md``, the two files the submission checker requires beside a power result
(REQUIRED_POWER_MEASURE_FILES). Source: mlcommons/inference
tools/submission/submission_structure.md and submission_checker/constants.py at
b66003e10e2db4b8c36a448b0545ec90fcc6e9e9. Nothing already in the tree is overwritten.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.identity import meter_identity
from analyzer_drivers.formats.session_layout import REPORT_JSON, SESSION_META
from analyzer_drivers.formats.session_meta import RangeRecord, SessionMeta
from reports.mlperf.layout import identify_channels
from reports.model.report import SessionReport

PERF_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "spl.txt")
POWER_FILES = ("client.json", "client.log", "ptd_logs.txt", "server.json", "server.log")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


@dataclass(frozen=True, slots=True)
class Placement:
    submitter: str
    system: str
    model: str
    division: str = "closed"


def _load(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ReportError(f"{path} is not a JSON object")
    return loaded


def _check_names(place: Placement) -> None:
    for what, value in (("submitter", place.submitter), ("system", place.system), ("model", place.model)):
        if not NAME.fullmatch(value):
            raise ReportError(f"--{what} {value!r}: use letters, digits and ._+- (no path separators)")
    if place.division not in ("closed", "open"):
        raise ReportError(f"--division {place.division!r}: closed or open")


def analyzer_table(meta: SessionMeta) -> str:
    analyzer = meta.primary
    identify = analyzer.identify or ""
    through_ptd = "version=" in identify  # PTDaemon's Identify reply (mlperf_analyzer's test too)
    version = analyzer.version if through_ptd and analyzer.version else "n/a (not through PTDaemon)"
    # An imported run's analyzer has only PTDaemon's Identify: its *IDN? part names the maker.
    vendor = analyzer.vendor or (meter_identity(identify).manufacturer if ";" in identify else "")
    rows = [
        ("Vendor", vendor or "unknown"),
        ("Model", analyzer.model or ""), ("PTDaemon driver", analyzer.name or ""),
        ("Serial number", analyzer.serial or "unknown: set [analyzer] serial"),
        ("Firmware", analyzer.firmware or "unknown"),
        ("Calibration date", analyzer.calibration_date or "unknown: set [analyzer] calibration_date"),
        ("PTDaemon version", version), ("Channels", str(identify_channels(identify))),
    ]
    lines = ["# Power analyzer", "", "| Field | Value |", "|---|---|"]
    lines += [f"| {field} | {value} |" for field, value in rows]
    return "\n".join(lines) + "\n"


def _describe_ranges(ranges: RangeRecord | None) -> str:
    if ranges is None or not ranges.is_set:
        return "Auto, Auto"
    units = ((ranges.volts, "V"), (ranges.amps, "A"))
    return ", ".join(f"{value:g} {unit}" if value else "Auto" for value, unit in units)


def power_settings(meta: SessionMeta, report: SessionReport) -> str:
    ranges = meta.ranges
    lines = [
        "# Power settings", "",
        "## Measurement (written by power-director from the session)", "",
        f"- Session: {meta.session_name or ''}",
        f"- Sampling interval: {meta.sampling_ms} ms",
        f"- Ranging run ranges (voltage, current): {_describe_ranges(ranges.get('ranging'))}",
        f"- Testing run ranges (voltage, current): {_describe_ranges(ranges.get('testing'))}",
        f"- Result: {report.power.avg_watts if report.power else None} W average over the testing run",
        "", "## System (fill in)", "",
        "- BIOS / firmware power settings: ",
        "- OS power governor and settings: ",
        "- Power supply units and how they were measured: ",
    ]
    return "\n".join(lines) + "\n"


def lay_out(session_dir: Path, place: Placement, out: Path, allow_invalid: bool = False) -> Path:
    """Copy the session into the tree; returns the scenario directory."""
    _check_names(place)
    meta_path = session_dir / SESSION_META
    meta = SessionMeta.from_json(_load(meta_path), str(meta_path))
    report = SessionReport.read(session_dir / REPORT_JSON)
    if not report.mlperf_valid and not allow_invalid:
        reasons = report.mlperf_problems or report.problems or ["see report.json"]
        raise ReportError(f"{session_dir.name} is not MLPerf-valid: {'; '.join(reasons)}")
    scenario = report.scenario or ""
    if scenario not in ("Offline", "Server", "SingleStream", "MultiStream"):
        raise ReportError(f"{session_dir.name}: no LoadGen scenario in report.json")
    target = out / place.division / place.submitter / "results" / place.system / place.model / scenario
    performance = target / "performance"
    copies = [(session_dir / d / f, performance / d / f) for d in ("ranging", "run_1") for f in PERF_FILES]
    copies += [(session_dir / "power" / f, performance / "power" / f) for f in POWER_FILES]
    missing = [str(src.relative_to(session_dir)) for src, _ in copies if not src.is_file()]
    if missing:
        raise ReportError(f"{session_dir.name} lacks {', '.join(missing)}")
    written = {target / "analyzer_table.md": analyzer_table(meta),
               target / "power_settings.md": power_settings(meta, report)}
    clashes = [str(p) for p in [*(dst for _, dst in copies), *written] if p.exists()]
    if clashes:
        raise ReportError(f"{clashes[0]} already exists: nothing written")
    for src, dst in copies:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    for path, text in written.items():
        path.write_text(text, encoding="utf-8")
    return target
