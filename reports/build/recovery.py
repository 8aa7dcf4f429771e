"""A report for a session whose director died: what was measured, and what is missing.

Pure: from the session's files (and the metadata recovered from its journal) to a result.
"""

from __future__ import annotations

import json
from pathlib import Path

from analyzer_drivers.formats.json_record import dump
from analyzer_drivers.formats.session_layout import PHASE_DIRS, REPORT_JSON, analyzer_of, raw_sample_paths
from analyzer_drivers.formats.session_meta import SessionMeta
from loadgen_bridge.detail_log import DETAIL_LOG, LoadgenLogError, parse_detail_log
from reports.model.report import SessionReport
from reports.report_json import JsonDict, json_dict, json_list
from reports.spl import read_spl


def raw_sample_files(session_dir: Path) -> list[Path]:
    return raw_sample_paths(session_dir)


def recovered_samples(session_dir: Path, meta: SessionMeta) -> dict[str, dict[str, int]]:
    """Samples on disk per phase and analyzer, counted by the phase's mark."""
    marks = {phase: info.mark for phase, info in meta.phases.items()}
    counts: dict[str, dict[str, int]] = {phase: {} for phase in PHASE_DIRS}
    for path in raw_sample_files(session_dir):
        series = read_spl(path)
        driver = analyzer_of(path)
        for phase in PHASE_DIRS:
            mark = marks.get(phase)
            counts[phase][driver] = int((series.marks == mark).sum()) if mark else 0
    return counts


def missing_logs(session_dir: Path) -> list[str]:
    """One problem per phase whose LoadGen log is missing or has no complete window."""
    problems = []
    for phase, sub in PHASE_DIRS.items():
        try:
            parse_detail_log(session_dir / sub / DETAIL_LOG)
        except LoadgenLogError:
            problems.append(f"session aborted: no {phase} LoadGen log")
    return problems


def recovered_report(session_dir: Path, meta: SessionMeta, reason: str) -> JsonDict:
    """``report.json`` of a session that never finished measuring: invalid, with what was kept."""
    problems = missing_logs(session_dir) or [f"session aborted: {reason}"]
    status = meta.status if meta.has("status") else "unknown"
    if status != "completed":
        problems.append(f"the director did not finish the session (status {status})")
    return {
        "session": meta.session_name if meta.has("session_name") else session_dir.name,
        "label": meta.label,
        "scenario": None,
        "valid": False,
        "mlperf_valid": False,
        "problems": json_list(problems),
        "warnings": [],
        "error": reason,
        "recovered": {"samples": {phase: json_dict(counts) for phase, counts in
                                  recovered_samples(session_dir, meta).items()}, "status": status},
        "analyzer": meta.primary.to_json(),
        "ranges": dump(meta.ranges),
    }


def write_recovered_report(session_dir: Path, meta: SessionMeta, reason: str) -> SessionReport:
    """Write it; the report as every reader of ``report.json`` sees it."""
    report = recovered_report(session_dir, meta, reason)
    (session_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return SessionReport.from_json(report)
